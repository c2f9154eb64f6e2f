import { createRouter, createWebHashHistory } from 'vue-router';
import { startLive, stopLive } from './live/store.js';
import { onSessionChange, restoreSession, session } from './session/session.js';
import AuthView from './views/AuthView.vue';
import ConfigView from './views/ConfigView.vue';
import DashboardView from './views/DashboardView.vue';
import LoginView from './views/LoginView.vue';
import MappingsView from './views/MappingsView.vue';

export const TABS = [
  { path: '/dashboard', title: 'Dashboard' },
  { path: '/mappings', title: 'Proxy Mappings' },
  { path: '/config', title: 'Configuration' },
  { path: '/auth', title: 'Authentication' },
] as const;

// Hash history: the api serves the bundle as static files, so deep links need no server fallback.
export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: '/login', component: LoginView, meta: { title: 'Log in', public: true } },
    { path: '/', redirect: '/dashboard' },
    { path: '/dashboard', component: DashboardView, meta: { title: 'Dashboard' } },
    { path: '/mappings', component: MappingsView, meta: { title: 'Proxy Mappings' } },
    { path: '/config', component: ConfigView, meta: { title: 'Configuration' } },
    { path: '/auth', component: AuthView, meta: { title: 'Authentication' } },
    { path: '/:rest(.*)*', redirect: '/dashboard' },
  ],
});

let restoring: Promise<void> | null = null;
router.beforeEach(async (to) => {
  restoring ??= restoreSession().catch(() => undefined);
  await restoring;
  if (!to.meta.public && !session.user) return { path: '/login', query: to.fullPath === '/dashboard' ? {} : { next: to.fullPath } };
  if (to.path === '/login' && session.user) return { path: '/dashboard' };
  return true;
});

router.afterEach((to) => {
  document.title = `${String(to.meta.title ?? 'Console')} · pgw`;
});

onSessionChange((user) => {
  if (user) {
    startLive();
  } else {
    stopLive();
    const current = router.currentRoute.value;
    if (!current.meta.public) void router.push({ path: '/login', query: { next: current.fullPath } });
  }
});
