import t, { type Test } from 'tap';
import { connect, type NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { ManualClock } from '../../engine/clock.js';
import { loadDefaultBook } from '../../engine/crm/book.js';
import { CrmStore } from '../../engine/crm/store.js';
import { CrmError } from '../../engine/errors.js';
import { startBroker } from '../helpers/nats.js';
import { captureLog, config, nextChange, record, sleep, storeOpts, universe } from './helpers.js';

const broker = await startBroker(t);
const conns: NatsConnection[] = [];
async function conn(): Promise<NatsConnection> {
  const nc = await connect({ servers: broker.url });
  conns.push(nc);
  return nc;
}
t.teardown(async () => {
  for (const nc of conns) await nc.close();
});
const enc = new TextEncoder();
async function freshStore(t: Test, o: Partial<Parameters<typeof CrmStore.open>[1]> = {}) {
  const nc = await conn();
  const log = captureLog();
  const store = await CrmStore.open(nc, { ...storeOpts(log), ...o });
  t.teardown(() => store.close());
  return { nc, store, log };
}
/** wipe the bucket between tests: every test starts from a bucket that never held a key */
async function wipe() {
  const nc = await conn();
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete('KV_crm').catch(() => undefined); // absent on the first test
}

t.test('crm - open creates the bucket, seeds the default book once, lists it and keeps it across restarts', async (t) => {
  await wipe();
  const { store } = await freshStore(t);
  t.same(store.list(), [], 'an empty bucket');
  const book = loadDefaultBook(universe);
  const seeded = await store.seedIfEmpty(book);
  t.same(seeded, { clients: 9, axes: true });
  t.same(
    store.list().map((c) => [c.id, c.tier]),
    config.clients.filter((c) => c.role === 'client').map((c) => [c.id, c.tier]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    'the 9 configured clients with their configured tiers',
  );
  t.equal(store.get('meridian')?.agreements.find((a) => a.instrument === 'UST-10Y')?.shadingBps, 0.5);
  t.match(store.axes().axes, [{ instrument: 'UMBR-28', side: 'sell', size: 3_000_000 }]);
  t.equal(store.get('northwind')?.updatedBy, 'seed');
  t.ok(Object.isFrozen(store.get('northwind')) && Object.isFrozen(store.get('northwind')!.agreements), 'readers get frozen values');
  t.same(await store.seedIfEmpty(book), { clients: 0, axes: false }, 'a second seed writes nothing');

  // a second process (fresh connection, fresh store) loads what is there
  const other = await freshStore(t);
  t.equal(other.store.list().length, 9);
  t.equal(other.store.effectiveTier('halcyon', Date.now()), 1);
  t.equal(other.store.effectiveTier('nobody', Date.now()), undefined);

  // a book whose clients were all deleted is not re-seeded (delete markers count)
  const kv = await (await conn()).jetstream().views.kv('crm');
  for (const c of store.list()) await kv.delete(`client.${c.id}`);
  const third = await freshStore(t);
  t.equal(third.store.list().length, 0);
  t.same(await third.store.seedIfEmpty(book), { clients: 0, axes: false });
});

t.test('crm - a KV put or delete from another connection is applied in memory and fires onChange within 1 s', async (t) => {
  await wipe();
  const { store } = await freshStore(t);
  await store.importClients([record('atlas'), record('orbit')], 'test');
  const kv = await (await conn()).jetstream().views.kv('crm');

  const seen = nextChange(store, (k) => k.kind === 'client' && k.clientId === 'atlas');
  await kv.put('client.atlas', enc.encode(JSON.stringify(record('atlas', { creditLimit: 42_000_000, tier: 2 }))));
  const { afterMs } = await seen;
  t.ok(afterMs < 1_000, `applied after ${afterMs.toFixed(1)} ms`);
  t.equal(store.get('atlas')?.creditLimit, 42_000_000);
  t.equal(store.effectiveTier('atlas', Date.now()), 2);

  const scoreSeen = nextChange(store, (k) => k.kind === 'score' && k.clientId === 'atlas');
  const score = { clientId: 'atlas', score: 55, components: { volume: 1, profitability: 0.5, flowQuality: 0.5, diversification: 0 }, proposedTier: 2, computedAtMs: 1, trades: 3 };
  await kv.put('score.atlas', enc.encode(JSON.stringify(score)));
  await scoreSeen;
  t.equal(store.score('atlas')?.score, 55);

  const axesSeen = nextChange(store, (k) => k.kind === 'axes');
  await kv.put('desk.axes', enc.encode(JSON.stringify({ axes: [{ instrument: 'EURUSD', side: 'buy', size: 5e6 }] })));
  await axesSeen;
  t.match(store.axes().axes, [{ instrument: 'EURUSD', side: 'buy', size: 5e6, note: '' }]);

  const gone = nextChange(store, (k) => k.kind === 'client' && k.clientId === 'orbit');
  await kv.delete('client.orbit');
  await gone;
  t.equal(store.get('orbit'), undefined);
  t.same(store.list().map((c) => c.id), ['atlas']);
});

t.test('crm - invalid values are rejected, counted and logged with key and issue paths; the previous value stays', async (t) => {
  await wipe();
  const registry = new Registry();
  const { store, log } = await freshStore(t, { registry });
  await store.importClients([record('atlas', { creditLimit: 7e6 }), record('orbit')], 'test');
  const kv = await (await conn()).jetstream().views.kv('crm');
  const bad: [string, string | Uint8Array][] = [
    ['client.atlas', '{ not json'],
    ['client.atlas', new Uint8Array([0xff, 0xfe, 0x7b, 0x7d])],
    ['client.atlas', JSON.stringify({ ...record('atlas'), creditLimit: -1 })],
    ['client.atlas', JSON.stringify({ ...record('atlas'), tier: 4, backdoor: true })],
    ['client.atlas', '{"__proto__": {"polluted": true}, "id": "atlas"}'],
    ['client.atlas', JSON.stringify(record('orbit'))],
    ['client.atlas', JSON.stringify({ ...record('atlas'), agreements: [{ shadingBps: 1 }] })],
    ['score.atlas', JSON.stringify({ clientId: 'atlas', score: 250 })],
    ['desk.axes', JSON.stringify({ axes: [{ instrument: 'EURUSD', side: 'both', size: 1 }] })],
    ['something.else', '{}'],
  ];
  const kinds: string[] = [];
  store.onChange((k) => kinds.push(`${k.kind}:${k.clientId ?? ''}`));
  for (const [key, v] of bad) await kv.put(key, typeof v === 'string' ? enc.encode(v) : v);
  // the watch is ordered: once this later change is applied, every bad value before it was seen
  const marker = nextChange(store, (k) => k.clientId === 'orbit');
  await kv.put('client.orbit', enc.encode(JSON.stringify(record('orbit', { creditLimit: 1 }))));
  await marker;

  t.equal(store.get('atlas')?.creditLimit, 7e6, 'the last good record is kept');
  t.equal(store.get('atlas')?.tier, 3);
  t.equal(store.score('atlas'), undefined);
  t.same(store.axes().axes, []);
  t.same(kinds, ['client:orbit'], 'no listener fired for a rejected value');
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
  t.equal(store.invalidCount('decode'), 3, 'not JSON, not UTF-8, a __proto__ key');
  t.equal(store.invalidCount('schema'), 5, 'negative limit, bad tier + unknown key, agreement naming neither, bad score, bad axes');
  t.equal(store.invalidCount('key'), 2, 'record stored under another client key, unknown key');
  const metric = await registry.getSingleMetricAsString('qe_crm_invalid_total');
  t.match(metric, /qe_crm_invalid_total\{reason="decode"\} 3/);
  t.match(metric, /qe_crm_invalid_total\{reason="schema"\} 5/);

  const warns = log.lines.filter((l) => l.level === 'warn');
  t.equal(warns.length, 10);
  const neg = warns.find((w) => (w.obj.issues as string[]).some((i) => i.startsWith('creditLimit:')));
  t.match(neg?.obj, { key: 'client.atlas', reason: 'schema' }, 'logged with the key and the issue path');
  t.ok(warns.some((w) => (w.obj.issues as string[]).some((i) => /^tier:/.test(i))) && warns.some((w) => (w.obj.issues as string[]).some((i) => /backdoor/.test(i))));
  t.ok(warns.some((w) => w.obj.key === 'something.else'));

  // a good value after bad ones applies normally
  const fixed = nextChange(store, (k) => k.clientId === 'atlas');
  await kv.put('client.atlas', enc.encode(JSON.stringify(record('atlas', { creditLimit: 9e6 }))));
  await fixed;
  t.equal(store.get('atlas')?.creditLimit, 9e6);
});

t.test('crm - writers refuse bad input with coded errors and write nothing', async (t) => {
  await wipe();
  const { store, nc } = await freshStore(t);
  await store.importClients([record('atlas')], 'test');
  const js = nc.jetstream();
  const kv = await js.views.kv('crm');
  const before = (await kv.status()).values;

  const refused = async (p: Promise<unknown>, code: string, issue?: RegExp) => {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    t.type(e, CrmError);
    t.equal((e as CrmError).code, code);
    if (issue) t.ok((e as CrmError).issues.some((i) => issue.test(i)), `${(e as CrmError).issues.join(' | ')} ~ ${issue}`);
  };
  await refused(store.putClient(record('atlas', { creditLimit: Number.NaN }), 'rm'), 'QE_CRM_INVALID', /^creditLimit:/);
  await refused(store.putClient(record('atlas', { maxOrderSize: -0.01 }), 'rm'), 'QE_CRM_INVALID', /^maxOrderSize:/);
  await refused(store.putClient(record('atlas', { creditLimit: Infinity }), 'rm'), 'QE_CRM_INVALID', /^creditLimit:/);
  await refused(store.putClient(record('atlas', { instrumentMaxSize: { NOPE: 1 } }), 'rm'), 'QE_CRM_INVALID', /instrumentMaxSize\.NOPE: unknown instrument/);
  await refused(store.putClient(record('atlas', { agreements: [{ assetClass: 'crypto', shadingBps: 1 }] }), 'rm'), 'QE_CRM_INVALID', /agreements\.0\.assetClass/);
  await refused(store.putClient(record('bad id!'), 'rm'), 'QE_CRM_INVALID', /^id:/);
  await refused(store.putClient(record('atlas'), ''), 'QE_CRM_INVALID', /^author:/);
  await refused(store.setOverride('ghost', { tier: 1, reason: 'x', expiresAtMs: Date.now() + 60_000 }, 'rm'), 'QE_CRM_UNKNOWN_CLIENT');
  await refused(store.setOverride('atlas', { tier: 1, reason: 'x', expiresAtMs: Date.now() - 1 }, 'rm'), 'QE_CRM_INVALID', /expiresAtMs/);
  await refused(store.setOverride('atlas', { tier: 1, reason: 'x', expiresAtMs: Date.now() + 91 * 86_400_000 }, 'rm'), 'QE_CRM_INVALID', /at most 90 days/);
  await refused(store.setOverride('atlas', { tier: 4 as 1, reason: 'x', expiresAtMs: Date.now() + 60_000 }, 'rm'), 'QE_CRM_INVALID', /override\.tier/);
  await refused(store.setOverride('atlas', { tier: 1, reason: '', expiresAtMs: Date.now() + 60_000 }, 'rm'), 'QE_CRM_INVALID', /override\.reason/);
  const longOverride = { tier: 1 as const, reason: 'x', author: 'rm', setAtMs: Date.now(), expiresAtMs: Date.now() + 365 * 86_400_000 };
  await refused(store.importClients([record('orbit', { override: longOverride })], 'rm'), 'QE_CRM_INVALID', /^\[0\]\.override\.expiresAtMs: an override may last at most 90 days/);
  await refused(store.patchClient('atlas', { tier: 0 as 1 }, 'rm'), 'QE_CRM_INVALID', /^tier:/);
  await refused(store.patchClient('ghost', { tier: 1 }, 'rm'), 'QE_CRM_UNKNOWN_CLIENT');
  await refused(store.importClients([record('orbit'), record('pinecrest', { tier: 7 as 1 }), record('orbit')], 'rm'), 'QE_CRM_INVALID', /^\[1\]\.tier:/);
  await refused(store.importClients([record('orbit'), record('orbit')], 'rm'), 'QE_CRM_INVALID', /^\[1\]\.id: duplicate/);
  await refused(store.putAxes({ axes: [{ instrument: 'EURUSD', side: 'buy', size: 1 }, { instrument: 'EURUSD', side: 'sell', size: 1 }] }), 'QE_CRM_INVALID', /duplicate axe/);
  await refused(store.putAxes({ axes: [{ instrument: 'EURUSD', side: 'buy', size: -5 }] }), 'QE_CRM_INVALID', /axes\.0\.size/);
  await refused(store.putScore({ clientId: 'atlas', score: 101, components: { volume: 0, profitability: 0, flowQuality: 0, diversification: 0 }, proposedTier: 1, computedAtMs: 0, trades: 0 }), 'QE_CRM_INVALID', /^score:/);

  t.equal((await kv.status()).values, before, 'nothing was written');
  t.same(store.list().map((c) => c.id), ['atlas']);
  t.equal(store.get('atlas')?.override, null);
});

t.test('crm - override precedence, expiry on a manual clock re-tiers by timer, autoTier', async (t) => {
  await wipe();
  const clock = new ManualClock(Date.now());
  const auto = await freshStore(t, { clock, autoTier: true });
  const manual = await freshStore(t, { clock, autoTier: false });
  const store = auto.store;
  await store.importClients([record('atlas', { tier: 3 }), record('orbit', { tier: 2 })], 'test');
  t.equal(store.effectiveTier('atlas', clock.nowMs()), 3, 'record tier');

  await store.putScore({ clientId: 'atlas', score: 58, components: { volume: 1, profitability: 0.5, flowQuality: 0.4, diversification: 0.2 }, proposedTier: 2, computedAtMs: 1, trades: 10 });
  t.same(store.explainTier('atlas', clock.nowMs()), { tier: 2, source: 'score' }, 'autoTier: the proposed tier applies');
  await sleep(50);
  t.same(manual.store.explainTier('atlas', clock.nowMs()), { tier: 3, source: 'record' }, 'autoTier off: the score is advisory');

  const expiresAtMs = Math.floor(clock.nowMs()) + 150;
  const rec = await store.setOverride('atlas', { tier: 1, reason: 'onboarding a new desk, pending review', expiresAtMs }, 'rm.jane');
  t.match(rec.override, { tier: 1, author: 'rm.jane', expiresAtMs, reason: /onboarding/ });
  t.equal(rec.updatedBy, 'rm.jane');
  t.same(store.explainTier('atlas', expiresAtMs - 1), { tier: 1, source: 'override' }, 'an override wins over the score');
  t.equal(store.effectiveTier('atlas', expiresAtMs), 2, 'at expiresAtMs it has expired');
  await sleep(50);
  t.equal(manual.store.effectiveTier('atlas', clock.nowMs()), 1, 'override wins over the record tier too');

  // the timer fires after ~150 ms of real time but the (manual) clock has not moved: no re-tier
  const events: string[] = [];
  store.onChange((k) => events.push(`${k.kind}:${k.clientId}`));
  await sleep(400);
  t.same(events, [], 'an override the clock says is live does not re-tier');
  t.equal(store.effectiveTier('atlas', clock.nowMs()), 1);

  // now the clock passes the expiry: the re-armed timer notices on its own
  const retier = nextChange(store, (k) => k.kind === 'client' && k.clientId === 'atlas', 2_000);
  clock.advance(150);
  await retier;
  t.equal(store.effectiveTier('atlas', clock.nowMs()), 2, 'back to the score');
  t.equal(store.get('atlas')?.override?.tier, 1, 'the expired override is still on record (who/why), just ignored');

  // clearing an override applies at once and fires onChange
  const exp2 = Math.floor(clock.nowMs()) + 86_400_000;
  await store.setOverride('orbit', { tier: 3, reason: 'credit watch', expiresAtMs: exp2 }, 'risk.sam');
  t.equal(store.effectiveTier('orbit', clock.nowMs()), 3);
  const cleared = nextChange(store, (k) => k.clientId === 'orbit');
  await store.setOverride('orbit', null, 'risk.sam');
  await cleared;
  t.equal(store.effectiveTier('orbit', clock.nowMs()), 2);
  t.equal(store.get('orbit')?.override, null);
});

t.test('crm - concurrent read-modify-writes from two processes both land; import and putClient keep an override unless told', async (t) => {
  await wipe();
  const a = await freshStore(t);
  const b = await freshStore(t);
  await a.store.importClients([record('atlas')], 'test');
  await sleep(50);
  const exp = Date.now() + 86_400_000;
  await Promise.all([
    a.store.patchClient('atlas', { creditLimit: 33e6 }, 'rm.a'),
    b.store.setOverride('atlas', { tier: 2, reason: 'trial', expiresAtMs: exp }, 'rm.b'),
    a.store.patchClient('atlas', { maxOrderSize: 3e6 }, 'rm.a'),
  ]);
  await sleep(100);
  for (const s of [a.store, b.store]) {
    t.match(s.get('atlas'), { creditLimit: 33e6, maxOrderSize: 3e6, override: { tier: 2, author: 'rm.b' } }, 'no update lost');
  }
  await a.store.importClients([record('atlas', { creditLimit: 1e6 })], 'import');
  t.match(a.store.get('atlas'), { creditLimit: 1e6, override: { tier: 2 } }, 'import without override keeps it');
  await a.store.putClient({ ...record('atlas'), override: null }, 'rm.a');
  t.equal(a.store.get('atlas')?.override, null, 'explicit null clears it');
});

t.test('crm - a throwing listener does not stop the others or the watch', async (t) => {
  await wipe();
  const { store, log } = await freshStore(t);
  store.onChange(() => {
    throw new Error('boom');
  });
  const seen = nextChange(store, (k) => k.clientId === 'atlas');
  await store.importClients([record('atlas')], 'test');
  await seen;
  const again = nextChange(store, (k) => k.clientId === 'orbit');
  await store.importClients([record('orbit')], 'test');
  await again;
  t.ok(log.lines.some((l) => l.level === 'error' && l.msg === 'crm listener threw'));
});

t.test('crm - the watch survives a broker restart: a change made after it still applies', async (t) => {
  await wipe();
  const nc = await connect({ servers: broker.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  t.teardown(() => nc.close());
  const store = await CrmStore.open(nc, storeOpts(captureLog()));
  t.teardown(() => store.close());
  await store.importClients([record('atlas')], 'test');
  await broker.restart(200);
  const writer = await conn();
  const kv = await writer.jetstream().views.kv('crm');
  const seen = nextChange(store, (k) => k.clientId === 'atlas', 8_000);
  await kv.put('client.atlas', enc.encode(JSON.stringify(record('atlas', { creditLimit: 123 }))));
  const { afterMs } = await seen;
  t.equal(store.get('atlas')?.creditLimit, 123, `applied ${afterMs.toFixed(0)} ms after the put`);
});
