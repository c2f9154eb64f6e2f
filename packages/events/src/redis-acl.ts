import { createHash } from 'node:crypto';
import { DEFAULT_STREAM } from './event-bus.js';
import { PROBE_QUEUE } from './probe-queue.js';
import { CONSUMER_SOURCES, type EventPublisher, streamKey } from './routing.js';
import { CLIENT_USAGE_KEY } from './client-usage.js';
import { AGENT_NEIGHBOURS_PREFIX, agentNeighboursKey } from './neighbour-record.js';
import { AGENT_STATUS_PREFIX, agentStatusKey, FORWARDER_STATUS_PREFIX, forwarderStatusKey } from './status-records.js';
import { HA_STATUS_PREFIX, haStatusKey, NODES_KEY } from './ha.js';
import { nodeNameSchema } from './client-usage.js';

/**
 * The one definition of what each service may do in Redis. The lab, the demo and the deployment
 * files (docker/redis-users.acl.in, written by docker/render-redis-acl.ts) are all rendered from it.
 * Each grant becomes an ACL selector, so its commands apply only to its keys: the api may XADD to
 * its own stream but not to the health service's, may GET the status keys but SET none of them.
 * An HA pair's agents and forwarders each get a user of their node (issue 18), granted only that
 * node's keys: node a's agent cannot overwrite node b's status, HA state or neighbour table.
 */
export const REDIS_SERVICES = ['api', 'health', 'agent', 'forwarder'] as const;
export type RedisService = (typeof REDIS_SERVICES)[number];

export interface RedisNames {
  /** Base of the event streams (EventBusOptions.stream). */
  readonly streamBase: string;
  /** BullMQ key prefix; the probe queue's keys are `<prefix>:pgw-probes:*`. */
  readonly queuePrefix: string;
}
export const DEFAULT_REDIS_NAMES: RedisNames = { streamBase: DEFAULT_STREAM, queuePrefix: 'bull' };

/** Commands (without the leading +/-) allowed on keys (ACL patterns: `~p` read/write, `%R~p` read only). */
export interface RedisGrant {
  readonly why: string;
  readonly commands: readonly string[];
  readonly keys: readonly string[];
}

export interface RedisUserAcl {
  readonly user: string;
  /** Key-less commands: PING (readiness), INFO (ioredis' ready check, BullMQ's version check). */
  readonly connection: readonly string[];
  readonly grants: readonly RedisGrant[];
}

/** The services whose records are per gateway node: in an HA pair each node's has its own user. */
export const NODE_SERVICES = ['agent', 'forwarder'] as const;
export type NodeService = (typeof NODE_SERVICES)[number];

/** `pgw-<service>`, or for a node's own user (HA pair) `pgw-<service>-<node>`. */
export function redisUser(service: RedisService, node?: string): string {
  return node === undefined ? `pgw-${service}` : `pgw-${service}-${node}`;
}

const publish = (names: RedisNames, publisher: EventPublisher): RedisGrant => ({
  why: `publish its own notices (${publisher} stream only)`,
  commands: ['xadd'],
  keys: [`~${streamKey(names.streamBase, publisher)}`],
});

const consume = (names: RedisNames, group: keyof typeof CONSUMER_SOURCES): RedisGrant => ({
  why: `read the ${CONSUMER_SOURCES[group].join(' and ')} streams with its consumer group (no XADD there)`,
  commands: ['xgroup|create', 'xreadgroup', 'xack', 'xautoclaim'],
  keys: CONSUMER_SOURCES[group].map((publisher) => `~${streamKey(names.streamBase, publisher)}`),
});

/** Every node's records: what the api reads, and what a single gateway's users (no node given) write. */
const AGENT_STATUS_KEY = `${AGENT_STATUS_PREFIX}*`;
const FORWARDER_STATUS_KEY = `${FORWARDER_STATUS_PREFIX}*`;
const AGENT_NEIGHBOURS_KEY = `${AGENT_NEIGHBOURS_PREFIX}*`;
/**
 * The node list and the usage hash are one key each for all nodes: Redis grants keys, not members or
 * hash fields, so a node's user can still add another node's name or usage field there (a wrong
 * listing or sample, never a status, HA state or neighbour table of the other node).
 */
const registerNode: RedisGrant = { why: 'list its node among the gateway nodes, forget nodes gone for a day', commands: ['zadd', 'zremrangebyscore'], keys: [`~${NODES_KEY}`] };
const ownHaState = (key: string): RedisGrant => ({ why: "write its node's HA state", commands: ['set'], keys: [`~${key}`] });

const ownStatus = (...keys: string[]): RedisGrant => ({ why: 'write its own status key', commands: ['set'], keys: keys.map((key) => `~${key}`) });

/** The agent's usage sample: one field (its node name) of one hash, written whole (docs/contracts.md, "Client usage"). */
const publishUsage: RedisGrant = { why: 'publish its client usage sample (its node\'s field of the usage hash)', commands: ['hset'], keys: [`~${CLIENT_USAGE_KEY}`] };
/** Quota counts survive a reboot or failover (issue 16): every node's last sample seeds the quota objects. */
const readUsage: RedisGrant = { why: 'read every node\'s usage sample: the stored quota counts', commands: ['hgetall'], keys: [`%R~${CLIENT_USAGE_KEY}`] };

/** What BullMQ's Queue.add (addStandardJob) and Job.waitUntilFinished (isFinished, QueueEvents) read. */
const QUEUE_READS = ['exists', 'get', 'hget', 'hmget', 'hgetall', 'hexists', 'llen', 'lrange', 'scard', 'smembers', 'zscore', 'zcard', 'zrange', 'zrangebyscore', 'zrevrange', 'zrevrangebyscore', 'xread', 'xrevrange', 'xlen', 'pttl'];

function probeProducer(queue: string): RedisGrant[] {
  return [
    {
      why: "run BullMQ's scripts on the probe queue; each command inside is checked against the grants below",
      commands: ['evalsha', 'eval'],
      keys: [`~${queue}:*`],
    },
    { why: 'read job states and wait for results', commands: QUEUE_READS, keys: [`%R~${queue}:*`] },
    { why: 'take the next job id', commands: ['incr'], keys: [`~${queue}:id`] },
    { why: 'store its own jobs (numeric ids; the health service uses named ids)', commands: ['hmset', 'hset'], keys: [`~${queue}:[0-9]*`] },
    { why: 'queue a job and wake the worker', commands: ['lpush', 'rpush', 'zadd'], keys: [`~${queue}:wait`, `~${queue}:paused`, `~${queue}:marker`] },
    { why: "announce the job on the queue's event stream", commands: ['xadd', 'xtrim'], keys: [`~${queue}:events`] },
  ];
}

/** The health service owns the probe queue: any non-dangerous command, on the queue's keys only. */
function probeOwner(queue: string): RedisGrant {
  return {
    why: 'own the probe queue: add jobs, run the worker, move jobs to completed or failed',
    commands: ['@all', '-@dangerous', '-@pubsub', '-@connection', '-function', '-script|flush', '-script|kill', '-scan', '-randomkey', '-dbsize', '-move', '-copy'],
    keys: [`~${queue}:*`],
  };
}

/**
 * A service's user. With `node` (agent and forwarder of an HA pair's node) the user is that node's,
 * its writes granted on that node's keys only.
 */
export function redisUserAcl(service: RedisService, names: RedisNames = DEFAULT_REDIS_NAMES, node?: string): RedisUserAcl {
  const queue = `${names.queuePrefix}:${PROBE_QUEUE}`;
  if (node !== undefined && !(NODE_SERVICES as readonly string[]).includes(service)) throw new Error(`${service} has no per-node Redis user (only ${NODE_SERVICES.join(', ')})`);
  // The node name ends key patterns: one with a glob character would grant other nodes' keys.
  if (node !== undefined && !nodeNameSchema.safeParse(node).success) throw new Error(`node name ${JSON.stringify(node)} is not a valid PGW_NODE_NAME`);
  const own = (prefix: string, key: (node: string) => string) => (node === undefined ? `${prefix}*` : key(node));
  const user = redisUser(service, node);
  switch (service) {
    case 'api':
      return {
        user,
        connection: ['ping', 'info', 'client|setname'],
        grants: [
          publish(names, 'api'),
          { why: 'tail every stream for the console (SSE)', commands: ['xread', 'xrevrange', 'xrange'], keys: [`%R~${names.streamBase}:*`] },
          { why: 'show what the agent and forwarder report', commands: ['get', 'mget'], keys: [`%R~${AGENT_STATUS_KEY}`, `%R~${FORWARDER_STATUS_KEY}`, `%R~${AGENT_NEIGHBOURS_KEY}`] },
          { why: 'read every node\'s client usage sample (issue 16)', commands: ['hgetall', 'hget'], keys: [`%R~${CLIENT_USAGE_KEY}`] },
          { why: 'list the gateway nodes and their HA state', commands: ['zrange', 'get', 'mget'], keys: [`%R~${NODES_KEY}`, `%R~${HA_STATUS_PREFIX}*`] },
          ...probeProducer(queue),
        ],
      };
    case 'health':
      return { user, connection: ['ping', 'info', 'client|setname'], grants: [publish(names, 'health'), consume(names, 'health'), probeOwner(queue)] };
    case 'agent':
      return { user, connection: ['ping', 'info'], grants: [publish(names, 'agent'), consume(names, 'agent'), ownStatus(own(AGENT_STATUS_PREFIX, agentStatusKey), own(AGENT_NEIGHBOURS_PREFIX, agentNeighboursKey)), publishUsage, readUsage, registerNode, ownHaState(own(HA_STATUS_PREFIX, haStatusKey))] };
    case 'forwarder':
      return { user, connection: ['ping', 'info'], grants: [publish(names, 'forwarder'), consume(names, 'forwarder'), ownStatus(own(FORWARDER_STATUS_PREFIX, forwarderStatusKey))] };
  }
}

const rule = (command: string) => (command.startsWith('-') ? command : `+${command}`);

/** One aclfile line: `passwordHash` is the SHA-256 of the password in hex (or a placeholder a generator replaces). */
export function renderAclUser(acl: RedisUserAcl, passwordHash: string): string {
  const selectors = acl.grants.map((grant) => `(${[...grant.commands.map(rule), ...grant.keys].join(' ')})`);
  return ['user', acl.user, 'on', `#${passwordHash}`, 'resetkeys', 'resetchannels', 'nocommands', ...acl.connection.map(rule), ...selectors].join(' ');
}

/** Without credentials a client may only PING (health checks); everything else needs a service's user. */
export const DEFAULT_USER_LINE = 'user default on nopass resetkeys resetchannels nocommands +ping';

/** An HA pair's node: its name and the password hashes of its agent's and forwarder's users. */
export interface RedisNodeUsers {
  readonly node: string;
  readonly passwordHashes: Readonly<Record<NodeService, string>>;
}

/**
 * The whole aclfile for the four services, given each one's password hash. With `nodes` (an HA pair)
 * the agent and forwarder have one user per node instead of one shared (their hashes above unused).
 */
export function renderAclFile(passwordHashes: Readonly<Record<RedisService, string>>, names: RedisNames = DEFAULT_REDIS_NAMES, nodes: readonly RedisNodeUsers[] = []): string {
  const shared = REDIS_SERVICES.filter((service) => nodes.length === 0 || !(NODE_SERVICES as readonly string[]).includes(service));
  const perNode = nodes.flatMap(({ node, passwordHashes: hashes }) => NODE_SERVICES.map((service) => renderAclUser(redisUserAcl(service, names, node), hashes[service])));
  return [DEFAULT_USER_LINE, ...shared.map((service) => renderAclUser(redisUserAcl(service, names), passwordHashes[service])), ...perNode].join('\n') + '\n';
}

export function sha256Hex(password: string): string {
  return createHash('sha256').update(password).digest('hex');
}

/**
 * A service's PGW_REDIS_URL: `redis://user:password@host:port` for TCP, or for the Unix socket
 * `/path/redis.sock?username=user&password=password` (the form ioredis reads for a socket path).
 */
export function redisServiceUrl(base: string, username: string, password: string): string {
  if (base.startsWith('/')) {
    return `${base}?${new URLSearchParams({ username, password }).toString()}`;
  }
  const url = new URL(base);
  url.username = encodeURIComponent(username);
  url.password = encodeURIComponent(password);
  return url.toString();
}

/** Where the node's name goes in docker/redis-node-users.acl.in. */
export const NODE_NAME_PLACEHOLDER = '@PGW_NODE_NAME@';

/**
 * An HA pair node's agent and forwarder users with `@PGW_NODE_NAME@` for the node's name and
 * `@PGW_REDIS_HASH_AGENT@`/`_FORWARDER@` for the hashes: docker/generate-env.sh fills them in when
 * PGW_NODE_NAME is set. Rendered for a stand-in name (the renderer checks names) put back as the placeholder.
 */
export function redisNodeAclTemplate(): string {
  const standIn = 'pgw-node-name-placeholder';
  const lines = NODE_SERVICES.map((service) => renderAclUser(redisUserAcl(service, DEFAULT_REDIS_NAMES, standIn), `@PGW_REDIS_HASH_${service.toUpperCase()}@`));
  return lines.join('\n').replaceAll(standIn, NODE_NAME_PLACEHOLDER) + '\n';
}

/** The aclfile with `@PGW_REDIS_HASH_<SERVICE>@` for each hash: docker/generate-env.sh fills them in (no Node needed there). */
export function redisAclTemplate(): string {
  const placeholders = Object.fromEntries(REDIS_SERVICES.map((service) => [service, `@PGW_REDIS_HASH_${service.toUpperCase()}@`])) as Record<RedisService, string>;
  return renderAclFile(placeholders);
}
