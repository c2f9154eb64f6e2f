export type Role = 'admin' | 'viewer';

/** Who is calling, established from a verified, unrevoked token. */
export interface AuthContext {
  readonly userId: number;
  readonly username: string;
  readonly role: Role;
  readonly jti: string;
  /** The user's token_version the token was issued under; a password or role change bumps it. */
  readonly tokenVersion: number;
  readonly expiresAt: Date;
  /** Cookie sessions need a CSRF token on state-changing requests; bearer tokens do not. */
  readonly via: 'cookie' | 'bearer';
}
