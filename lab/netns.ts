import { execa } from 'execa';
import type { ExecOptions, ExecResult } from './types.js';

/** argv prefixed so that it runs inside network namespace `ns` (no prefix when ns is undefined). */
export function nsArgv(ns: string | undefined, argv: readonly string[]): string[] {
  if (argv.length === 0) throw new Error('nsArgv: empty argv');
  return ns ? ['ip', 'netns', 'exec', ns, ...argv] : [...argv];
}

/** Runs a command to completion, inside `ns` when given. */
export async function execIn(ns: string | undefined, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = nsArgv(ns, argv) as [string, ...string[]];
  const result = await execa(file, args, {
    reject: opts.reject ?? true,
    input: opts.input,
    timeout: opts.timeoutMs,
    env: opts.env,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
  });
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `ip -batch -` (one process for many ip commands), inside `ns` when given. */
export async function ipBatch(ns: string | undefined, commands: readonly string[]): Promise<void> {
  if (commands.length === 0) return;
  const argv = ns ? ['ip', '-n', ns, '-batch', '-'] : ['ip', '-batch', '-'];
  await execIn(undefined, argv, { input: commands.join('\n') + '\n' });
}
