/** Why a connection was refused before any dial. */
export type LimitRefusal = 'limit_global' | 'limit_mapping';

/**
 * Global and per-mapping relay accounting. One instance for the process; each mapping keeps
 * its own count in a MappingSlots object so the hot path does no map lookups.
 */
export class ConnectionLimits {
  private active = 0;

  constructor(
    readonly maxGlobal: number,
    readonly maxPerMapping: number,
  ) {
    if (!(maxGlobal >= 1 && maxPerMapping >= 1)) throw new Error('connection limits must be at least 1');
  }

  get activeConnections(): number {
    return this.active;
  }

  /** Takes one slot, or returns why not (nothing taken then). */
  acquire(slots: MappingSlots): LimitRefusal | null {
    if (this.active >= this.maxGlobal) return 'limit_global';
    if (slots.active >= this.maxPerMapping) return 'limit_mapping';
    this.active++;
    slots.active++;
    return null;
  }

  /** Gives back a slot taken by acquire(); exactly once per successful acquire. */
  release(slots: MappingSlots): void {
    if (slots.active <= 0 || this.active <= 0) throw new Error('connection limits: release without acquire');
    this.active--;
    slots.active--;
  }
}

export class MappingSlots {
  active = 0;
}
