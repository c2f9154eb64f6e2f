import { ref, shallowRef } from 'vue';
import { errorMessage } from '../api/http.js';

/**
 * A FormDialog that acts on one item: `target` is the item it is open for (null: closed), `open`
 * shows it with no error, `submit` runs `act` on it with `busy` set and closes the dialog when it
 * succeeds; a failure stays in the dialog as `error`, for the next try.
 */
export function useDialogAction<T>(act: (item: T) => Promise<void>) {
  const target = shallowRef<T | null>(null);
  const busy = ref(false);
  const error = ref<string | null>(null);
  function open(item: T): void {
    target.value = item;
    error.value = null;
  }
  async function submit(): Promise<void> {
    const item = target.value;
    if (!item) return;
    busy.value = true;
    error.value = null;
    try {
      await act(item);
      target.value = null;
    } catch (failure) {
      error.value = errorMessage(failure);
    } finally {
      busy.value = false;
    }
  }
  return { target, busy, error, open, submit };
}
