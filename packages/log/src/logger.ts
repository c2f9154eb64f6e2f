import winston from 'winston';
import { currentLogContext } from './context.js';

export type Logger = winston.Logger;

const addContext = winston.format((info) => Object.assign(info, currentLogContext()));

/** JSON lines on stdout: time, level, service, message, and the correlation id of the current request or job. */
export function createLogger(service: string, level = 'info'): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { service },
    format: winston.format.combine(addContext(), winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}
