// Runs a command with one system call denied (EPERM) by a seccomp filter, as a hardened unit's
// SystemCallFilter= or a container runtime's profile could: the kernel's own refusal, no mock.
// The small C wrapper is compiled once per process into a directory removed at exit.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DENY_SYSCALL_C = `
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 3) return 126;
  unsigned int nr;
  if (strcmp(argv[1], "splice") == 0) nr = __NR_splice;
  else if (strcmp(argv[1], "accept4") == 0) nr = __NR_accept4;
  else return 126;
  struct sock_filter filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { sizeof filter / sizeof filter[0], filter };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return 125;
  execvp(argv[2], argv + 2);
  return 127;
}
`;

/** The calls tests deny (the wrapper knows their numbers on this machine's architecture). */
export type DeniedSyscall = 'splice' | 'accept4';

let wrapper: string | null = null;

function compiled(): string {
  if (wrapper !== null) return wrapper;
  const dir = mkdtempSync(join(tmpdir(), 'pgw-deny-syscall-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'deny-syscall.c'), DENY_SYSCALL_C);
  execFileSync('cc', ['-O2', '-o', join(dir, 'deny-syscall'), join(dir, 'deny-syscall.c')]);
  wrapper = join(dir, 'deny-syscall');
  return wrapper;
}

/** A Node ES module script (`source`, run with the repo's source conditions) under the filter; its stdout. */
export function nodeScriptWithout(syscall: DeniedSyscall, source: string, timeoutMs = 30_000): string {
  return execFileSync(compiled(), [syscall, process.execPath, '--conditions=pgw-source', '--import', 'tsx', '--input-type=module', '-e', source], {
    timeout: timeoutMs,
    encoding: 'utf8',
  });
}
