import { nextTick, ref, shallowRef, type Ref } from 'vue';

/**
 * "Delete …?" behind a ConfirmDialog: `target` is what the dialog asks about (null: closed), `confirm`
 * runs `remove` on it with `busy` set, then closes the dialog whether `remove` succeeded or not.
 *
 * Closing the dialog gives the focus back to the row's Delete button, which the list's reload then
 * takes away, leaving the keyboard on <body>. So, once the dialog has closed, the focus moves to
 * `outcome` (the panel's notice that says what happened; it needs tabindex="-1"), which outlives
 * the row.
 */
export function useConfirmedDelete<T>(remove: (item: T) => Promise<void>, outcome: Ref<HTMLElement | null>) {
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
    await nextTick(); // the dialog's close (a post-flush watcher) restores its opener's focus first
    outcome.value?.focus();
  }
  return { target, busy, confirm };
}
