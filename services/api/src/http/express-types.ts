import type { AuthContext } from '../auth/auth-context.js';
import type { ApiOperation } from '../logic/operation-matcher.js';

// Per-request facts the middlewares attach for the handlers.
declare module 'express-serve-static-core' {
  interface Request {
    requestId: string;
    auth?: AuthContext;
    /** The spec operation this request is (resolveOperation); access and metrics read it. */
    operation?: ApiOperation;
  }
}
