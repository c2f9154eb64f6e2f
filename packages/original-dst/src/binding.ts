import { createRequire } from 'node:module';
import type { AcceptedHandler, AcceptErrorHandler, DialRelay, NativeDial, NativeDialDone, NativeDialStage, OriginalDst, SpliceClosed, SplicedRelay, TcpAcceptor, TransparentDatagram } from './native-types.js';

export interface SocketDescription {
  readonly isSocket: boolean;
  readonly inode: number;
  /** The uid that created the socket (its inode's owner); kept when the descriptor is passed on. */
  readonly ownerUid: number;
  readonly tcp?: boolean;
  readonly listening?: boolean;
  readonly reusePort?: boolean;
  /** IP_TRANSPARENT: nft's tproxy may place connections on it (TPROXY mode). */
  readonly transparent?: boolean;
  /** TCP only: TCP_NODELAY, and the keepalive idle time, probe interval (seconds) and probe count (null: keepalive off). */
  readonly noDelay?: boolean;
  readonly keepAliveIdleS?: number | null;
  readonly keepAliveIntervalS?: number | null;
  readonly keepAliveCount?: number | null;
  /** 4, 6, or 0 for any other family. */
  readonly family?: 0 | 4 | 6;
  readonly address?: string;
  readonly port?: number;
}

export interface PeerCredentials {
  readonly fd: number;
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

export interface RawPacket {
  readonly data: Buffer;
  readonly fds: number[];
}

export interface Binding {
  getOriginalDst(fd: number): OriginalDst;
  setTcpKeepalive(fd: number, idleS: number, intervalS: number, count: number): void;
  tcpListenLoopback(port: number, backlog: number, transparent: boolean, mark: number): number;
  setTransparent(fd: number, mark: number): void;
  describeSocket(fd: number): SocketDescription;
  closeFd(fd: number): void;
  dupFd(fd: number): number;
  unwatchFd(fd: number): void;
  seqpacketListen(path: string, mode: number, gid: number): number;
  seqpacketAccept(fd: number): PeerCredentials | null;
  seqpacketConnect(path: string): PeerCredentials;
  sendPacket(fd: number, data: Buffer, fds: readonly number[]): void;
  recvPacket(fd: number, maxBytes: number): RawPacket | null;
  FdWatcher: new (fd: number, onReadable: () => void) => { close(): void };
  DescriptorWatch: new (fd: number, onReadable: () => void) => { close(): void };
  netlinkTalk(protocol: number, request: Buffer, answers: number): Promise<Buffer>;
  openTun(name: string): number;
  SpliceRelay: new (
    clientFd: number,
    upstreamFd: number,
    idleTimeoutMs: number,
    toClient: Buffer | undefined,
    toUpstream: Buffer | undefined,
    onClosed: SpliceClosed,
  ) => SplicedRelay;
  /** null when splice(2) works here, else why not (see native/splice_relay.cc). */
  spliceUnavailable(): string | null;
  /** Empty pipes the splice relays' pool keeps for reuse. */
  splicePipesIdle(): number;
  TcpAcceptor: new (listenFd: number, backlog: number, onAccepted: AcceptedHandler, onError: AcceptErrorHandler) => TcpAcceptor;
  resetFd(fd: number): void;
  takeSocketError(fd: number): number;
  unacknowledgedBytes(fd: number): number;
  resetOnClose(fd: number): void;
  udpTransparentSocket(address: string, port: number, recvOrigDst: boolean, connectAddress: string | null, connectPort: number, mark: number, receiveBuffer: number): number;
  udpRecv(fd: number): TransparentDatagram | null;
  udpSend(fd: number, data: Buffer): boolean;
  UpstreamDial: new (
    upstreamFd: number,
    address: string | null,
    port: number,
    stages: readonly NativeDialStage[],
    timeoutMs: number,
    onDone: NativeDialDone,
    earlyFd: number,
    fastOpen: boolean,
    idle: boolean,
    relay: DialRelay | undefined,
  ) => NativeDial;
}

// src/ and dist/ are both one level below the package root, so this path serves both.
const ADDON_PATH = '../build/Release/original_dst.node';

function loadBinding(): Binding {
  try {
    return createRequire(import.meta.url)(ADDON_PATH) as Binding;
  } catch (cause) {
    throw new Error(
      `@pgw/original-dst: native addon ${ADDON_PATH} is not loadable; run "npm run build -w @pgw/original-dst"`,
      { cause },
    );
  }
}

export const binding = loadBinding();

/** The errno name of a failed syscall (EADDRINUSE, EAGAIN, ...), as Node's system errors carry it. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
