import { errorCode, listenLoopbackTcp } from '@pgw/original-dst';

/** A listening descriptor on a free 127.0.0.1 port, made as the agent makes them (listenLoopbackTcp). */
export function loopbackListenFd(backlog: number): { fd: number; port: number } {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    try {
      return { fd: listenLoopbackTcp(port, backlog), port };
    } catch (error) {
      if (errorCode(error) !== 'EADDRINUSE') throw error;
    }
  }
  throw new Error('no free loopback port in 20 tries');
}
