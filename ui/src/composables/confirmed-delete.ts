import { ref, shallowRef } from 'vue';

/**
 * "Delete …?" behind a ConfirmDialog: `target` is what the dialog asks about (null: closed), `confirm`
 * runs `remove` on it with `busy` set, then closes the dialog whether `remove` succeeded or not.
 */
export function useConfirmedDelete<T>(remove: (item: T) => Promise<void>) {
  const target = shallowRef<T | null>(null);
  const busy = ref(false);
  async function confirm(): Promise<void> {
    const item = target.value;
    if (!item) return;
    busy.value = true;
    try {
      await remove(item);
    } finally {
      busy.value = false;
      target.value = null;
    }
  }
  return { target, busy, confirm };
}
