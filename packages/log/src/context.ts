import { AsyncLocalStorage } from 'node:async_hooks';

/** Correlation fields that every log line inside a request or job carries. */
export interface LogContext {
  requestId?: string;
  [key: string]: unknown;
}

const storage = new AsyncLocalStorage<LogContext>();

export function withLogContext<T>(context: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...context }, fn);
}

export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}
