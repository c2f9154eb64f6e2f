import { type PgwEvent, pgwEventSchema, type ReceivedEvent } from './events.js';
import { type EventPublisher, PUBLISHER_OF } from './routing.js';

/** Stream entry layout: `type <type> at <iso time> data <json>`. */
export function encodeEvent(event: PgwEvent, at: Date): string[] {
  return ['type', event.type, 'at', at.toISOString(), 'data', JSON.stringify(event)];
}

/** Decodes an entry read from `from`'s stream; a notice that only another service may publish is an error. */
export function decodeEvent(id: string, fields: string[], from: EventPublisher): ReceivedEvent | { id: string; error: string } {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  let raw: unknown;
  try {
    raw = JSON.parse(map.get('data') ?? '');
  } catch {
    return { id, error: 'data is not JSON' };
  }
  const parsed = pgwEventSchema.safeParse(raw);
  if (!parsed.success) return { id, error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  const owner = PUBLISHER_OF[parsed.data.type];
  if (owner !== from) return { id, error: `${parsed.data.type} is published only by ${owner}, not found in the ${from} stream` };
  // The publisher's time when it reads as one, else Redis's: the entry id's milliseconds (an
  // Invalid Date threw where the console's frames are made, and the rest of the batch was lost).
  const written = new Date(map.get('at') ?? Number.NaN);
  const at = Number.isNaN(written.getTime()) ? new Date(Number(id.split('-')[0])) : written;
  return { id, at, event: parsed.data };
}
