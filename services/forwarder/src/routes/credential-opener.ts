import { decryptSecret } from '@pgw/crypto';

/**
 * Opens sealed proxy passwords, remembering the last load's results so a resync every 2 s does
 * not decrypt every password again. Only passwords still in use are kept.
 */
export class CredentialOpener {
  private previous = new Map<string, string>();
  private current = new Map<string, string>();

  constructor(private readonly key: Buffer) {}

  readonly open = (sealed: string): string => {
    let plain = this.current.get(sealed) ?? this.previous.get(sealed);
    if (plain === undefined) plain = decryptSecret(sealed, this.key);
    this.current.set(sealed, plain);
    return plain;
  };

  /** Call after each load: forgets passwords that the load did not use. */
  endLoad(): void {
    this.previous = this.current;
    this.current = new Map();
  }
}
