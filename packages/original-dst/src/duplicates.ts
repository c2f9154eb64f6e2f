import { binding } from './binding.js';

/**
 * `start` on close-on-exec duplicates of `fds`, for a native object that takes descriptors over
 * while Node closes its own. null when a duplicate cannot be made or `start` throws: the
 * duplicates made are closed, the originals are untouched.
 */
export function onDuplicates<T>(fds: readonly number[], start: (copies: readonly number[]) => T): T | null {
  const copies: number[] = [];
  try {
    for (const fd of fds) copies.push(binding.dupFd(fd));
    return start(copies);
  } catch {
    for (const copy of copies) binding.closeFd(copy);
    return null;
  }
}
