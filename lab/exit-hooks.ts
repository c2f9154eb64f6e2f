/**
 * Synchronous teardowns run when this process exits, including on SIGINT/SIGTERM
 * (a listener replaces Node's default exit on those signals, so it exits explicitly).
 */
const teardowns = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const teardown of teardowns) {
    try {
      teardown();
    } catch {
      // keep cleaning the others
    }
  }
  teardowns.clear();
}

export function onProcessExit(teardown: () => void): () => void {
  if (!installed) {
    installed = true;
    process.on('exit', runAll);
    process.once('SIGINT', () => process.exit(130));
    process.once('SIGTERM', () => process.exit(143));
  }
  teardowns.add(teardown);
  return () => teardowns.delete(teardown);
}
