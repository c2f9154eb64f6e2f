import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '@pgw/runtime';
import type { DesiredProxyWithCredentials, DesiredState } from '@pgw/db';
import { backupProxyIdsSchema, failPolicySchema, ipv4Schema, portSchema, PROXY_HANDSHAKE_MODES, PROXY_PROTOCOLS, PROXY_STATUSES, privateDestinationsSchema, settingsSchema } from '@pgw/domain';
import { z } from 'zod';

export type ForwarderState = DesiredState<DesiredProxyWithCredentials>;

const FILE = 'desired-state.json';
const id = z.number().int().positive();
const handshake = z.enum(PROXY_HANDSHAKE_MODES);

/** Read back like any input: the file decides which upstream each client's traffic goes to. */
const stateSchema = z.object({
  version: z.literal(1),
  state: z.object({
    settings: settingsSchema,
    proxies: z.array(
      z.object({
        id,
        protocol: z.enum(PROXY_PROTOCOLS),
        host: z.string().min(1),
        port: portSchema,
        status: z.enum(PROXY_STATUSES),
        // Absent in files written before fail policies (issue 17): the status' age is not known.
        statusSince: z.number().nullable().optional(),
        username: z.string().nullable(),
        // Sealed with PGW_SECRET_KEY as in Postgres: the file holds no password in clear.
        passwordEnc: z.string().nullable(),
        handshakeMode: handshake,
        handshakeLearned: handshake.exclude(['auto']).nullable(),
      }),
    ),
    mappings: z.array(
      z.object({
        id,
        clientIp: ipv4Schema,
        proxyId: id,
        listenPort: portSchema,
        enabled: z.boolean(),
        description: z.string(),
        privateDestinations: privateDestinationsSchema.nullable(),
        // Absent in files written before fail policies (issue 17): closed, no backups.
        failPolicy: failPolicySchema.optional(),
        backupProxyIds: backupProxyIdsSchema.optional(),
      }),
    ),
    rejected: z.array(z.object({ mappingId: id, reason: z.string() })),
  }),
});

/**
 * The last desired state the forwarder loaded from Postgres, on disk (mode 0600 in its own state
 * directory), so that a forwarder starting while Postgres is unreachable serves the mappings that
 * were in force, as the agent enforces its own state file. Written atomically: a crash leaves the
 * old file or the new one.
 */
export class ForwarderStateCache {
  private lastWritten = '';
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {}

  /** null when there is no file yet; throws naming the first invalid field when it is not a state. */
  async load(): Promise<ForwarderState | null> {
    const text = await readFileIfExists(this.dir, FILE);
    if (text === null) return null;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new Error(`${join(this.dir, FILE)} is not JSON`);
    }
    const parsed = stateSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`${join(this.dir, FILE)}: ${issue.path.join('.')}: ${issue.message}`);
    }
    this.lastWritten = text;
    return parsed.data.state as ForwarderState;
  }

  /** Writes are serialized; an unchanged state is not written again. */
  save(state: ForwarderState): Promise<void> {
    const write = this.writing.then(() => this.write(state));
    this.writing = write.catch(() => undefined);
    return write;
  }

  private async write(state: ForwarderState): Promise<void> {
    const text = JSON.stringify({ version: 1, state }) + '\n';
    if (text === this.lastWritten) return;
    await writeFileAtomic(this.dir, FILE, text);
    this.lastWritten = text;
  }
}
