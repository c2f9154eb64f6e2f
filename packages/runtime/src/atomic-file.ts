import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Replaces `dir/name` with `text` so that a crash or a full disk leaves the old file or the new one,
 * never a mix: written to a temporary file (mode 0600), flushed, renamed over the target, and the
 * directory flushed so the rename survives a power loss. A failed write removes its temporary file.
 */
export async function writeFileAtomic(dir: string, name: string, text: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const target = join(dir, name);
  const temp = `${target}.${process.pid}.tmp`;
  try {
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The text of `dir/name`, or null when there is no such file (any other error is thrown). */
export async function readFileIfExists(dir: string, name: string): Promise<string | null> {
  try {
    return await readFile(join(dir, name), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
