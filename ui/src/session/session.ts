import { computed, reactive } from 'vue';
import { api } from '../api/client.js';
import { ApiError, setCsrfToken, setSessionUserId, setUnauthenticatedHandler } from '../api/http.js';
import type { Session, User } from '../api/types.js';

/** Who is logged in. The cookie is httpOnly, so the console learns it from /auth/me. */
export const session = reactive({ user: null as User | null, restored: false, expiredNotice: false });
export const isAdmin = computed(() => session.user?.role === 'admin');

const listeners = new Set<(user: User | null) => void>();

/** Lets the live store start/stop and the router redirect when the user changes. */
export function onSessionChange(listener: (user: User | null) => void): void {
  listeners.add(listener);
}

function setUser(user: User | null): void {
  session.user = user;
  setSessionUserId(user?.id ?? null);
  for (const listener of listeners) listener(user);
}

setUnauthenticatedHandler(() => {
  if (!session.user) return;
  setCsrfToken(null);
  session.expiredNotice = true;
  setUser(null);
});

/** After a page reload: is the cookie still good? Then fetch a CSRF token for it. */
export async function restoreSession(): Promise<void> {
  try {
    const user = await api.me();
    setCsrfToken((await api.csrf()).csrfToken);
    setUser(user);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) throw error;
  } finally {
    session.restored = true;
  }
}

export function adoptSession(s: Session): void {
  setCsrfToken(s.csrfToken);
  session.expiredNotice = false;
  setUser(s.user);
}

export async function login(username: string, password: string): Promise<void> {
  adoptSession(await api.login(username, password));
}

/**
 * Ends the session at the api, then here. A refused logout (the api unreachable, a refused token)
 * keeps the console signed in and throws: showing the login page while the session cookie still
 * works would tell the operator they were signed out when a reload signs them back in.
 */
export async function logout(): Promise<void> {
  try {
    await api.logout();
  } catch (error) {
    // Already over (expired, revoked): signed out all the same.
    if (!(error instanceof ApiError && error.status === 401)) throw error;
  }
  setCsrfToken(null);
  setUser(null);
}
