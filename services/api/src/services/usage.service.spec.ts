import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { DomainError } from '../logic/domain-errors.js';
import { ACTOR, FakeProber, FakePublisher, FakeStore } from '../../test/fake-store.js';
import { MappingService } from './mapping.service.js';
import { type UsageBucket, type UsageHistory, UsageService } from './usage.service.js';

const now = new Date('2026-12-01T12:00:00.000Z');
const H = 3_600_000;

/** An in-memory history: buckets per (resolution, client), and the calls it answered. */
class FakeHistory implements UsageHistory {
  readonly calls: string[] = [];
  readonly buckets_ = new Map<string, UsageBucket[]>();
  async retentionMs() {
    return { minute: 24 * H, hour: 30 * 24 * H, day: 365 * 24 * H };
  }
  async buckets(clientIp: string, resolution: 'minute' | 'hour' | 'day', from: Date, to: Date) {
    this.calls.push(`${resolution} ${clientIp} ${from.toISOString()} ${to.toISOString()}`);
    return (this.buckets_.get(`${resolution} ${clientIp}`) ?? []).filter((b) => Date.parse(b.at) >= from.getTime() && Date.parse(b.at) < to.getTime());
  }
  async top(resolution: 'minute' | 'hour' | 'day', from: Date, _to: Date, limit: number) {
    this.calls.push(`top ${resolution} ${limit} from ${from.toISOString()}`);
    return [{ clientIp: '192.168.2.10', mappingId: 1, description: 'rig', bytesUp: 5, bytesDown: 50 }];
  }
}

let store: FakeStore;
let history: FakeHistory;
let usage: UsageService;
let mappingId: number;

beforeEach(async () => {
  store = new FakeStore();
  history = new FakeHistory();
  usage = new UsageService({ mappings: store.mappings, history, now: () => now });
  const proxyId = store.addProxy('dante').id;
  mappingId = await new MappingService({ store, prober: new FakeProber(), publisher: new FakePublisher(), probeWaitMarginMs: 0 }).create({ clientIp: '192.168.2.10', proxyId }, ACTOR);
});

test("a client's usage: the mapping's address, the resolution from the range, points and totals", async () => {
  history.buckets_.set('hour 192.168.2.10', [
    { at: '2026-12-01T09:00:00.000Z', bytesUp: 10, bytesDown: 100, connections: 1 },
    { at: '2026-12-01T10:00:00.000Z', bytesUp: 20, bytesDown: 200, connections: 2 },
  ]);
  const result = await usage.client(mappingId, undefined, undefined);
  assert.deepEqual(history.calls, ['hour 192.168.2.10 2026-11-30T12:00:00.000Z 2026-12-01T12:00:00.000Z']);
  assert.equal(result.resolution, 'hour');
  assert.equal(result.points.length, 2);
  assert.deepEqual(result.totals, { bytesUp: 30, bytesDown: 300, connections: 3 });
  assert.equal((await usage.client(mappingId, '2026-12-01T11:00:00Z', undefined)).resolution, 'minute');
});

test('the bucket holding `from` is read too: a range that starts within a bucket has its traffic in its first bar and totals', async () => {
  history.buckets_.set('hour 192.168.2.10', [
    { at: '2026-11-30T09:00:00.000Z', bytesUp: 1, bytesDown: 10, connections: 1 },
    { at: '2026-11-30T10:00:00.000Z', bytesUp: 2, bytesDown: 20, connections: 1 },
  ]);
  const result = await usage.client(mappingId, '2026-11-30T09:30:00Z', '2026-12-01T09:30:00Z');
  assert.equal(result.resolution, 'hour');
  assert.deepEqual(result.points.map((p) => p.at), ['2026-11-30T09:00:00.000Z', '2026-11-30T10:00:00.000Z']);
  assert.deepEqual(result.totals, { bytesUp: 3, bytesDown: 30, connections: 2 });
  assert.equal(result.from, '2026-11-30T09:30:00.000Z', 'the range answered is the one asked');
  await usage.top('2026-11-01T09:30:00Z', '2026-12-01T09:30:00Z', 10);
  assert.equal(history.calls.at(-1), 'top day 10 from 2026-11-01T00:00:00.000Z');
});

test('an unknown mapping is 404; a backwards range is refused naming from, before any read', async () => {
  await assert.rejects(usage.client(99, undefined, undefined), (e: unknown) => e instanceof DomainError && e.kind === 'not_found');
  await assert.rejects(usage.client(mappingId, '2026-12-01T12:00:00Z', '2026-12-01T10:00:00Z'), (e: unknown) => e instanceof DomainError && e.field === 'from');
  assert.deepEqual(history.calls, []);
});

test('top talkers over 30 days read the day buckets', async () => {
  const result = await usage.top('2026-11-01T12:00:00Z', undefined, 5);
  assert.deepEqual(history.calls, ['top day 5 from 2026-11-01T00:00:00.000Z']);
  assert.equal(result.items[0]!.clientIp, '192.168.2.10');
});
