import { onBeforeUnmount, ref } from 'vue';

/** A clock for "x s ago" labels, ticking while the component is mounted. */
export function useNow(intervalMs = 5000) {
  const now = ref(Date.now());
  const timer = setInterval(() => (now.value = Date.now()), intervalMs);
  onBeforeUnmount(() => clearInterval(timer));
  return now;
}
