import { Router } from 'express';

/**
 * Every route of the api is case-sensitive and strict (a trailing slash is another path), like the
 * app: resolveOperation already refuses other spellings, and the routers must not be laxer than it.
 */
export const strictRouter = (): Router => Router({ caseSensitive: true, strict: true });
