import type { AuthContext } from '../auth/auth-context.js';

// Per-request facts the middlewares attach for the handlers.
declare module 'express-serve-static-core' {
  interface Request {
    requestId: string;
    auth?: AuthContext;
    openapi?: { openApiRoute?: string; schema?: { operationId?: string } };
  }
}
