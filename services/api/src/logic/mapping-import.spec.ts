import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SETTINGS, ipv4CidrSchema, portSchema } from '@pgw/domain';
import { DomainError } from './domain-errors.js';
import { importPlanVersion, planImport } from './mapping-import.js';

const UNLIMITED_ROW = { rateDownKbit: null, rateUpKbit: null, quotaBytes: null, failPolicy: 'closed' as const };
const snapshot = {
  settings: DEFAULT_SETTINGS,
  proxies: [{ id: 1, name: 'dante' }, { id: 2, name: 'tiny' }],
  mappings: [
    { id: 9, clientIp: '192.168.2.10', listenPort: 20000, proxyId: 1, backupProxyIds: [], enabled: true, description: '', macAddress: null, ...UNLIMITED_ROW, tags: ['kiosk', 'floor-2'] },
    { id: 10, clientIp: '192.168.2.50', listenPort: 20001, proxyId: 2, backupProxyIds: [1], enabled: false, description: 'printer', macAddress: '52:54:00:ab:cd:0f', rateDownKbit: 1000, rateUpKbit: null, quotaBytes: '5000000', tags: [], failPolicy: 'closed' as const },
  ],
};

test('a backup made the primary leaves the backups; other rows do not name them', () => {
  const plan = planImport('client_ip,proxy_name,enabled\n192.168.2.50,dante,false\n', snapshot);
  assert.deepEqual([plan[0]!.proxyId, plan[0]!.backupProxyIds], [1, []]);
});

test('creates new clients, updates existing ones, allocates free ports', () => {
  const plan = planImport('client_ip,proxy_name,listen_port,enabled,description\n192.168.2.10,tiny,,false,desk\n192.168.2.11,dante,,,\n192.168.2.12,dante,20005,yes,"a, b"\n', snapshot);
  assert.deepEqual(plan, [
    { line: 2, existingId: 9, change: 'update', clientIp: '192.168.2.10', proxyId: 2, listenPort: 20000, enabled: false, description: 'desk' },
    { line: 3, existingId: null, change: 'create', clientIp: '192.168.2.11', proxyId: 1, listenPort: 20002, enabled: true, description: '' },
    { line: 4, existingId: null, change: 'create', clientIp: '192.168.2.12', proxyId: 1, listenPort: 20005, enabled: true, description: 'a, b' },
  ]);
});

test('a row equal to the stored mapping is unchanged; any differing field makes it an update', () => {
  const header = 'client_ip,proxy_name,listen_port,enabled,description,mac_address\n';
  const changes = (row: string) => planImport(header + row + '\n', snapshot).map((p) => p.change);
  assert.deepEqual(changes('192.168.2.50,tiny,20001,false,printer,52:54:00:AB:CD:0F'), ['unchanged']);
  assert.deepEqual(changes('192.168.2.10,dante,,true,,'), ['unchanged'], 'an empty listen_port keeps the stored port');
  assert.deepEqual(changes('192.168.2.50,dante,20001,false,printer,52:54:00:ab:cd:0f'), ['update']);
  assert.deepEqual(changes('192.168.2.50,tiny,20003,false,printer,52:54:00:ab:cd:0f'), ['update']);
  assert.deepEqual(changes('192.168.2.50,tiny,20001,true,printer,52:54:00:ab:cd:0f'), ['update']);
  assert.deepEqual(changes('192.168.2.50,tiny,20001,false,Printer,52:54:00:ab:cd:0f'), ['update']);
  assert.deepEqual(changes('192.168.2.50,tiny,20001,false,printer,'), ['update'], 'an empty mac_address unpins');
  assert.deepEqual(planImport('client_ip,proxy_name,enabled,description\n192.168.2.50,tiny,false,printer\n', snapshot).map((p) => p.change), ['unchanged'], 'no mac_address column leaves the pin');
});

test('a full port range is a conflict that names no column (the user left the cell empty)', () => {
  const full = { ...snapshot, settings: { ...DEFAULT_SETTINGS, forwarderPortMin: portSchema.parse(20000), forwarderPortMax: portSchema.parse(20001) } };
  assert.throws(() => planImport('client_ip,proxy_name\n192.168.2.11,dante\n', full), (e: unknown) => e instanceof DomainError && e.kind === 'conflict' && e.field === undefined && /no free forwarder port/.test(e.message));
});

test('every bad row is reported with its line and column; the first names the field', () => {
  assert.throws(
    () => planImport('client_ip,proxy_name,listen_port\n10.0.0.1,dante,\n192.168.2.20,nope,\n192.168.2.21,dante,40000\n', snapshot),
    (e: unknown) => {
      assert.ok(e instanceof DomainError);
      assert.equal(e.kind, 'invalid');
      assert.equal(e.field, 'client_ip');
      assert.deepEqual((e.details as { rows: { line: number; field: string }[] }).rows.map((r) => [r.line, r.field]), [[2, 'client_ip'], [3, 'proxy_name'], [4, 'listen_port']]);
      return true;
    },
  );
});

test('duplicates inside the file or against other mappings are conflicts', () => {
  const conflictOf = (text: string) => {
    try {
      planImport(text, snapshot);
    } catch (e) {
      assert.ok(e instanceof DomainError && e.kind === 'conflict');
      return [e.field, e.message];
    }
    assert.fail('expected a conflict');
  };
  assert.deepEqual(conflictOf('client_ip,proxy_id\n192.168.2.30,1\n192.168.2.30,2\n'), ['client_ip', 'line 3: client_ip 192.168.2.30 is also on line 2']);
  assert.deepEqual(conflictOf('client_ip,proxy_id,listen_port\n192.168.2.31,1,20001\n'), ['listen_port', 'line 2: listen_port 20001 is already used by the mapping of 192.168.2.50']);
});

test('a header without the needed columns is refused', () => {
  assert.throws(() => planImport('proxy_name\ndante\n', snapshot), /no client_ip column/);
  assert.throws(() => planImport('client_ip,colour\n', snapshot), /unknown column "colour"/);
  assert.throws(() => planImport('', snapshot), /empty/);
});

test('mac_address pins a client (normalised), an empty cell unpins it, and without the column a pin is left as it is', () => {
  const plan = planImport('client_ip,proxy_name,mac_address\n192.168.2.10,dante,52-54-00-AB-CD-0F\n192.168.2.11,dante,\n', snapshot);
  assert.deepEqual(plan.map((p) => [p.clientIp, p.macAddress]), [['192.168.2.10', '52:54:00:ab:cd:0f'], ['192.168.2.11', null]]);
  const without = planImport('client_ip,proxy_name\n192.168.2.10,dante\n', snapshot);
  assert.equal('macAddress' in without[0]!, false);
});

test('a mac_address that is no unicast MAC rejects the file, naming line and column', () => {
  assert.throws(
    () => planImport('client_ip,proxy_name,mac_address\n192.168.2.10,dante,ff:ff:ff:ff:ff:ff\n192.168.2.11,dante,nope\n', snapshot),
    (e: unknown) => {
      assert.ok(e instanceof DomainError);
      assert.equal(e.kind, 'invalid');
      assert.equal(e.field, 'mac_address');
      assert.match(e.message, /line 2: mac_address ff:ff:ff:ff:ff:ff is the broadcast address/);
      assert.deepEqual((e.details as { rows: { line: number; field: string }[] }).rows.map((r) => [r.line, r.field]), [[2, 'mac_address'], [3, 'mac_address']]);
      return true;
    },
  );
});

test('limit columns: kbit/s and bytes set or (empty) lift a limit, without the column limits stay; bad cells name line and column', () => {
  const plan = planImport('client_ip,proxy_name,rate_down_kbit,rate_up_kbit,quota_bytes\n192.168.2.10,dante,50000,20000,10000000\n192.168.2.11,dante,,,\n', snapshot);
  assert.deepEqual(plan.map((p) => [p.rateDownKbit, p.rateUpKbit, p.quotaBytes]), [[50_000, 20_000, 10_000_000], [null, null, null]]);
  assert.equal(planImport('client_ip,proxy_name\n192.168.2.10,dante\n', snapshot)[0]!.rateDownKbit, undefined, 'no column: left as it is');
  assert.throws(
    () => planImport('client_ip,proxy_name,rate_down_kbit,quota_bytes\n192.168.2.10,dante,63,\n192.168.2.11,dante,,1.5e9\n', snapshot),
    (e: unknown) => {
      assert.ok(e instanceof DomainError);
      assert.equal(e.field, 'rate_down_kbit');
      assert.match(e.message, /line 2: rate_down_kbit 63 must be at least 64 kbit\/s/);
      assert.deepEqual((e.details as { rows: { line: number; field: string }[] }).rows.map((r) => [r.line, r.field]), [[2, 'rate_down_kbit'], [3, 'quota_bytes']]);
      return true;
    },
  );
});

test('a row equal to the stored limits is unchanged (bigint quota as pg returns it); another limit is an update', () => {
  const row = (limits: string) => planImport(`client_ip,proxy_name,listen_port,enabled,description,rate_down_kbit,rate_up_kbit,quota_bytes\n192.168.2.50,tiny,20001,false,printer,${limits}\n`, snapshot)[0]!.change;
  assert.equal(row('1000,,5000000'), 'unchanged');
  assert.equal(row('1000,,6000000'), 'update');
  assert.equal(row(',,5000000'), 'update');
});

test('tags: a space-separated cell sets them (each once, in order), empty removes them, without the column they stay; order counts', () => {
  const plan = planImport('client_ip,proxy_name,tags\n192.168.2.10,dante,kiosk floor-2\n192.168.2.50,tiny,printer  printer lab\n192.168.2.11,dante,\n', snapshot);
  assert.deepEqual(plan.map((p) => [p.change, p.tags]), [['unchanged', ['kiosk', 'floor-2']], ['update', ['printer', 'lab']], ['create', []]]);
  assert.deepEqual(planImport('client_ip,proxy_name,tags\n192.168.2.10,dante,floor-2 kiosk\n', snapshot).map((p) => p.change), ['update'], 'the export keeps the order');
  const without = planImport('client_ip,proxy_name\n192.168.2.10,dante\n', snapshot);
  assert.deepEqual([without[0]!.change, 'tags' in without[0]!], ['unchanged', false]);
});

test('a bad tag or more than 16 rejects the file, naming line and column', () => {
  const many = Array.from({ length: 17 }, (_, i) => `t${i}`).join(' ');
  assert.throws(
    () => planImport(`client_ip,proxy_name,tags\n192.168.2.10,dante,Kiosk\n192.168.2.11,dante,${many}\n`, snapshot),
    (e: unknown) => {
      assert.ok(e instanceof DomainError);
      assert.equal(e.field, 'tags');
      assert.match(e.message, /line 2: tag "Kiosk" must be 1-32 lower-case letters/);
      assert.deepEqual((e.details as { rows: { line: number; message: string }[] }).rows.map((r) => [r.line, r.message]).slice(1), [[3, 'more than 16 tags']]);
      return true;
    },
  );
});

test('a file full of bad rows is refused with its first problems and their count, not all of them (an upload answered with ~100 MB of JSON took the api past its memory limit)', () => {
  const bad = 'x'.repeat(300);
  const text = `client_ip,proxy_name,listen_port,enabled,mac_address,tags\n${`${bad},,${bad},${bad},${bad},!\n`.repeat(5_000)}`;
  try {
    planImport(text, snapshot);
    assert.fail('planned');
  } catch (error) {
    assert.ok(error instanceof DomainError);
    const rows = (error.details as { rows: { line: number; message: string }[] }).rows;
    assert.ok(rows.length <= 100, `${rows.length} problems listed`);
    assert.match(error.message, /^client_ip: line 2: .* \(and 29999 more\)$|line 2: .*\(and 29999 more\)/);
    assert.ok(rows.every((r) => r.message.length <= 200), 'a cell is not echoed whole');
    assert.ok(JSON.stringify(error.details).length < 40_000);
  }
});

test('a file with more rows than the forwarder port range holds is refused before its rows are judged', () => {
  const settings = { ...DEFAULT_SETTINGS, forwarderPortMin: portSchema.parse(20000), forwarderPortMax: portSchema.parse(20003) };
  const rows = Array.from({ length: 5 }, (_, i) => `192.168.2.${100 + i},dante,,`).join('\n');
  assert.throws(() => planImport(`client_ip,proxy_name,listen_port,enabled\n${rows}\n`, { ...snapshot, mappings: [], settings }), /5 rows, but the forwarder port range 20000-20003 holds at most 4 mappings/);
});

test('free ports for rows without one are allocated in one pass: 20000 new clients in a wide range', () => {
  const settings = { ...DEFAULT_SETTINGS, lanCidr: ipv4CidrSchema.parse('10.0.0.0/16'), forwarderPortMin: portSchema.parse(20000), forwarderPortMax: portSchema.parse(60000) };
  const rows = Array.from({ length: 20_000 }, (_, i) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 2},dante,,`).join('\n');
  // The port of a stored mapping the file does not touch stays taken.
  const stored = [{ ...snapshot.mappings[0]!, clientIp: '10.0.200.1', listenPort: 20002 }];
  const started = performance.now();
  const plan = planImport(`client_ip,proxy_name,listen_port,enabled\n${rows}\n`, { ...snapshot, mappings: stored, settings });
  const ms = performance.now() - started;
  assert.deepEqual(plan.slice(0, 4).map((p) => p.listenPort), [20000, 20001, 20003, 20004]);
  assert.equal(plan.at(-1)!.listenPort, 20000 + 20_000);
  assert.equal(new Set(plan.map((p) => p.listenPort)).size, 20_000);
  // Not a speed goal, a complexity guard: one Set per row made this 27 s (quadratic); linear is ~0.1 s.
  assert.ok(ms < 10_000, `${Math.round(ms)} ms`);
});

test('a row that makes a mapping’s only backup its primary leaves it fail-closed, not "backup" with none', () => {
  const withBackup = { ...snapshot, mappings: [{ ...snapshot.mappings[0]!, backupProxyIds: [2], failPolicy: 'backup' as const }] };
  const [row] = planImport('client_ip,proxy_name,enabled\n192.168.2.10,tiny,true\n', withBackup);
  assert.deepEqual([row!.proxyId, row!.backupProxyIds, row!.failPolicy], [2, [], 'closed']);
});

test('a column the file lacks, or an empty enabled cell, keeps what the stored mapping has: a disabled client stays disabled', () => {
  // An admin disabled 192.168.2.50 (quarantined) and described it; a file of clients and proxies only
  // must not switch it back on nor wipe the description.
  const [bare] = planImport('client_ip,proxy_name\n192.168.2.50,tiny\n', snapshot);
  assert.deepEqual([bare!.enabled, bare!.description, bare!.change], [false, 'printer', 'unchanged']);
  const [emptyCell] = planImport('client_ip,proxy_name,enabled,description\n192.168.2.50,tiny,,printer\n', snapshot);
  assert.deepEqual([emptyCell!.enabled, emptyCell!.change], [false, 'unchanged']);
  // A new client: enabled unless the file says otherwise, no description.
  const [created] = planImport('client_ip,proxy_name\n192.168.2.77,tiny\n', snapshot);
  assert.deepEqual([created!.enabled, created!.description, created!.change], [true, '', 'create']);
  // An empty description cell is a description cleared, as an empty mac_address cell unpins.
  const [cleared] = planImport('client_ip,proxy_name,description\n192.168.2.50,tiny,\n', snapshot);
  assert.deepEqual([cleared!.description, cleared!.change], ['', 'update']);
});

test('a file whose shape is unclear is refused naming the line: repeated or unused columns, rows of another length', () => {
  const refused = (csv: string, message: RegExp) =>
    assert.throws(() => planImport(csv, snapshot), (e: unknown) => e instanceof DomainError && e.kind === 'invalid' && message.test(e.message), csv);
  // The second mac_address would have been read as empty: the pin removed.
  refused('client_ip,proxy_name,mac_address,mac_address\n192.168.2.50,tiny,,52:54:00:ab:cd:0f\n', /line 1: column "mac_address" is repeated/);
  // Short: the missing cells read as empty (enabled on). Long: the extra cells dropped.
  refused('client_ip,proxy_name,enabled\n192.168.2.50,tiny\n', /line 2: has 2 fields, the header has 3/);
  refused('client_ip,proxy_name,enabled,description\n192.168.2.50,tiny,false,a,b,c\n', /line 2: has 6 fields, the header has 4/);
  // An id column was accepted and never read: a row meant to update mapping 10 created another.
  refused('id,client_ip,proxy_name\n10,192.168.2.51,tiny\n', /unknown column "id"/);
});

test('the plan version covers what each row would write, not only its line and kind', () => {
  // An import sent with the preview's If-Match but another file of the same rows and kinds (other
  // proxies, ports, descriptions) was written: API_SPEC promises a 412 when the plan is not as previewed.
  const stored = new Map(snapshot.mappings.map((m) => [m.id, m]));
  const version = (file: string) => importPlanVersion(planImport(file, snapshot), stored);
  const header = 'client_ip,proxy_name,listen_port,description\n';
  const previewed = version(`${header}192.168.2.10,tiny,,desk\n192.168.2.11,dante,20005,\n`);
  assert.equal(version(`${header}192.168.2.10,tiny,,desk\n192.168.2.11,dante,20005,\n`), previewed, 'the same file');
  for (const other of [`${header}192.168.2.10,tiny,,kiosk\n192.168.2.11,dante,20005,\n`, `${header}192.168.2.10,tiny,,desk\n192.168.2.11,tiny,20005,\n`, `${header}192.168.2.10,tiny,,desk\n192.168.2.11,dante,20006,\n`, `${header}192.168.2.10,tiny,,desk\n192.168.2.12,dante,20005,\n`]) {
    assert.notEqual(version(other), previewed, other);
  }
});

test("an enabled cell naming an Object property (constructor, __proto__, toString) is refused as not true/false", () => {
  for (const cell of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    assert.throws(
      () => planImport(`client_ip,proxy_name,enabled\n192.168.2.60,dante,${cell}\n`, snapshot),
      (e: unknown) => e instanceof DomainError && e.kind === 'invalid' && e.field === 'enabled',
      cell,
    );
  }
});
