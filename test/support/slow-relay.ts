import net from 'node:net';

/** An endpoint as host and port. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** A working proxy that is slow to answer: what a probe through it waits for, an edit can land meanwhile. */
export interface SlowRelay {
  /** Resolves at the next connection, with the promise of that connection's end. */
  nextConnection(): Promise<{ readonly ended: Promise<void> }>;
  /** The most connections that were open at once since the relay started or the last reset. */
  mostAtOnce(): number;
  resetMostAtOnce(): void;
  close(): void;
}

/**
 * Listens at `at`; each connection waits `delayMs`, then is piped to `target` (a proxy), so a
 * probe through it takes that long. The client's bytes wait in the kernel meanwhile.
 */
export function startSlowRelay(at: HostPort, target: HostPort, delayMs: number): Promise<SlowRelay> {
  let next: ((held: { ended: Promise<void> }) => void) | null = null;
  let open = 0;
  let most = 0;
  const server = net.createServer((client) => {
    most = Math.max(most, ++open);
    client.once('close', () => open--);
    next?.({ ended: new Promise((resolve) => client.once('close', () => resolve())) });
    next = null;
    client.pause();
    const timer = setTimeout(() => {
      const upstream = net.connect(target, () => {
        client.pipe(upstream).pipe(client);
        client.resume();
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    }, delayMs);
    client.on('error', () => undefined);
    client.on('close', () => clearTimeout(timer));
  });
  return new Promise((resolve, reject) =>
    server.once('error', reject).listen(at.port, at.host, () =>
      resolve({
        nextConnection: () => new Promise((arrived) => (next = arrived)),
        mostAtOnce: () => most,
        resetMostAtOnce: () => void (most = open),
        close: () => server.close(),
      }),
    ),
  );
}
