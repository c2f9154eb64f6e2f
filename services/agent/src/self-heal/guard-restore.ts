import { access, constants } from 'node:fs/promises';
import { execa } from 'execa';

const TIMEOUT_MS = 10_000;

/**
 * Re-loads the static guard table inet pgw_guard from its file, exactly as the boot guard does
 * (`nft -f <file>`: one transaction that re-creates the table whole). The agent never renders or
 * edits the guard: the file stays the operator's, owned by no service, and a reload of it is the
 * same whoever runs it.
 */
export interface GuardLoader {
  readonly file: string;
  load(): Promise<void>;
}

/**
 * Checks at start that the file is there, readable, and a valid nft file (`nft -c -f`: a dry run,
 * nothing changes), so a wrong PGW_GUARD_FILE stops the agent instead of failing at the first heal.
 * onSpawn gets the pid of each nft that writes, so its transaction is known as the agent's own.
 */
export async function openGuardFile(nftBin: string, file: string, onSpawn: (pid: number) => void): Promise<GuardLoader> {
  try {
    await access(file, constants.R_OK);
  } catch (error) {
    throw new Error(`PGW_GUARD_FILE: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const check = await execa(nftBin, ['-c', '-f', file], { reject: false, timeout: TIMEOUT_MS });
  if (check.exitCode !== 0) throw new Error(`PGW_GUARD_FILE: ${file} is not a valid nft file: ${firstLine(check.stderr || check.stdout)}`);
  return {
    file,
    async load() {
      const child = execa(nftBin, ['-f', file], { reject: false, timeout: TIMEOUT_MS });
      if (child.pid !== undefined) onSpawn(child.pid);
      const result = await child;
      if (result.exitCode !== 0) throw new Error(`nft -f ${file} failed (exit ${result.exitCode ?? result.signal}): ${firstLine(result.stderr)}`);
    },
  };
}

function firstLine(text: string): string {
  return text.trim().split('\n').slice(0, 3).join(' | ').slice(0, 500);
}
