import type { GatewayNode } from '../api/types.js';
import type { Label } from './labels.js';

/** A node's role in the HA pair as the console shows it (issue 18). */
export function haStateLabel(state: GatewayNode['haState']): Label {
  switch (state) {
    case 'MASTER':
      return { tone: 'ok', text: 'master' };
    case 'BACKUP':
      return { tone: 'idle', text: 'backup' };
    case 'FAULT':
      return { tone: 'bad', text: 'fault' };
    case 'STOP':
      return { tone: 'bad', text: 'keepalived stopped' };
    case null:
      return { tone: 'warn', text: 'unknown' };
  }
}

/** Both claimants of a split brain, for the warning. */
export function conflictText(nodes: readonly GatewayNode[]): string {
  const masters = nodes.filter((n) => n.haState === 'MASTER').map((n) => n.name);
  return `Split brain: ${masters.join(' and ')} both claim to be master. Each still enforces the same rules, but a client reaches whichever node answered its ARP last. Check the link that carries VRRP between the nodes.`;
}
