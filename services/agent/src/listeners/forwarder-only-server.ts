import type { Logger } from '@pgw/log';
import { closeFd, type Packet, PacketServer, PacketSocket } from '@pgw/original-dst';

export interface ForwarderOnlyHandlers {
  onPacket(session: PacketSocket, packet: Packet): void;
  /** The forwarder connected (its pid, from SO_PEERCRED). */
  onConnect?(pid: number): void;
  onClose?(error: Error | null, pid: number): void;
}

/**
 * A SEQPACKET server that hands out descriptors to the forwarder alone (the listener and the UDP
 * socket protocols): the socket file is 0660 of the forwarder's group, and a peer whose uid
 * (SO_PEERCRED) is not the forwarder's is closed before anything is read. Its sessions close with it.
 */
export function serveForwarderOnly(
  path: string,
  forwarder: { readonly uid: number; readonly gid: number },
  name: string,
  logger: Logger,
  handlers: ForwarderOnlyHandlers,
): { close(): void; broadcast(data: Buffer): number } {
  const sessions = new Set<PacketSocket>();
  const server = new PacketServer(
    path,
    { mode: 0o660, gid: forwarder.gid },
    (peer) => {
      if (peer.uid !== forwarder.uid) {
        logger.warn(`${name}: refused a peer that is not the forwarder`, { uid: peer.uid, pid: peer.pid });
        closeFd(peer.fd);
        return;
      }
      const session: PacketSocket = new PacketSocket(peer, {
        onPacket: (packet) => handlers.onPacket(session, packet),
        onClose: (error) => {
          sessions.delete(session);
          handlers.onClose?.(error, peer.pid);
        },
      });
      sessions.add(session);
      handlers.onConnect?.(peer.pid);
    },
    (error) => logger.warn(`${name}: accept failed`, { error: error.message }),
  );
  return {
    close() {
      server.close();
      for (const session of sessions) session.close();
    },
    /** Sends `data` on every open session; returns on how many it went. */
    broadcast(data) {
      let sent = 0;
      for (const session of sessions) {
        try {
          session.send(data, []);
          sent++;
        } catch (error) {
          session.close(error as Error);
        }
      }
      return sent;
    },
  };
}
