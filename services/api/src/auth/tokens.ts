import { createSecretKey, type KeyObject, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { z } from 'zod';

const claimsSchema = z.object({ sub: z.string().regex(/^\d+$/), jti: z.string().min(1), ver: z.number().int(), exp: z.number() });
export type TokenClaims = { userId: number; jti: string; tokenVersion: number; expiresAt: Date };

/** HS256 JWTs: `ver` is the user's token_version, so a password change revokes every older token. */
export class TokenIssuer {
  /** Built once: jsonwebtoken would otherwise derive a KeyObject from the string on every verify. */
  private readonly secret: KeyObject;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.secret = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  issue(userId: number, tokenVersion: number): { token: string; claims: TokenClaims } {
    const jti = randomUUID();
    const token = jwt.sign({ ver: tokenVersion }, this.secret, { algorithm: 'HS256', subject: String(userId), jwtid: jti, expiresIn: this.ttlSeconds });
    const { exp } = jwt.decode(token) as { exp: number };
    return { token, claims: { userId, jti, tokenVersion, expiresAt: new Date(exp * 1000) } };
  }

  /** Null for anything not signed by us with HS256, expired, or malformed. */
  verify(token: string): TokenClaims | null {
    try {
      const payload = claimsSchema.safeParse(jwt.verify(token, this.secret, { algorithms: ['HS256'] }));
      if (!payload.success) return null;
      const { sub, jti, ver, exp } = payload.data;
      return { userId: Number(sub), jti, tokenVersion: ver, expiresAt: new Date(exp * 1000) };
    } catch {
      return null;
    }
  }
}
