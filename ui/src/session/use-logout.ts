import { ref } from 'vue';
import { errorMessage } from '../api/http.js';
import { logout } from './session.js';

/** A Log out button's action, and why it failed (shown beside it; the console stays signed in then). */
export function useLogout() {
  const error = ref<string | null>(null);
  async function run(): Promise<void> {
    error.value = null;
    try {
      await logout();
    } catch (e) {
      error.value = errorMessage(e);
    }
  }
  return { error, run };
}
