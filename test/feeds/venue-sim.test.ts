import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { connect, type NatsConnection } from 'nats';
import { encode } from '@msgpack/msgpack';
import { ManualClock } from '../../engine/clock.js';
import { loadDefaultConfig } from '../../engine/config.js';
import { ErrorCode } from '../../engine/errors.js';
import { NatsVenueAdapter, type VenueFill, type VenueOrderRequest } from '../../engine/hedging/venue.js';
import { makeVenueDecoder, venueReplyWireSchema, type VenueReplyWire } from '../../engine/wire/venue.js';
import { SyntheticMarket, type MdSink, type VenueBook } from '../../feeds/synthetic.js';
import { startVenueSim, type VenueSimHandle, type VenueSimOptions } from '../../feeds/venue-sim.js';
import { startBroker } from '../helpers/nats.js';

const START = 1_700_000_000_000;
const config = loadDefaultConfig();
const broker = await startBroker(t);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const noop: MdSink = { book() {}, trade() {} };
const ins = (id: string) => config.instruments.find((x) => x.id === id)!;

/** A normal-scenario market in which every stream has published a book by START + 2 s. */
function warmMarket(seed = 5, scenario: 'normal' | 'stressed' = 'normal', stress = {}): SyntheticMarket {
  const m = new SyntheticMarket(config, { seed, scenario, startMs: START, stress });
  for (let k = 1; k <= 200; k++) m.generate(START + k * 10, 40, noop);
  return m;
}
function book(m: SyntheticMarket, instrument: string, venue: string): VenueBook {
  const b: VenueBook = { bid: 0, ask: 0, bidSize: 0, askSize: 0 };
  if (!m.venueBook(m.streamOf(instrument, venue), b)) throw new Error(`no book for ${instrument}@${venue}`);
  return b;
}

interface Rig {
  nc: NatsConnection;
  adapter: NatsVenueAdapter;
  sim: VenueSimHandle;
  market: SyntheticMarket;
  clock: ManualClock;
  fills: VenueFill[];
}
async function rig(t: Test, options: Partial<VenueSimOptions> = {}, market = warmMarket(), clock = new ManualClock(START + 2_100)): Promise<Rig> {
  const simNc = await connect({ servers: broker.url });
  const nc = await connect({ servers: broker.url });
  const sim = startVenueSim({ nc: simNc, config, market, clock, options: { latencyFloorMs: 0, latencyMeanMs: 0, ...options } });
  await sim.ready;
  const adapter = new NatsVenueAdapter({ nc, clock, prefix: sim.prefix, timeoutMs: 3_000 });
  const fills: VenueFill[] = [];
  adapter.onFill((f) => fills.push(f));
  await nc.flush();
  t.teardown(async () => {
    await adapter.close();
    await sim.stop();
    await nc.close();
    await simNc.close();
  });
  return { nc, adapter, sim, market, clock, fills };
}
const order = (o: Partial<VenueOrderRequest> & { clientOrderId: string }): VenueOrderRequest => ({
  venue: 'TWB',
  instrument: 'ACME-27',
  side: 'buy',
  type: 'ioc',
  size: 1_000_000,
  ...o,
});

t.test('feeds - an IOC walks the venue depth (sizes decaying, square-root spacing) and fills partially', async (t) => {
  const r = await rig(t);
  const b = book(r.market, 'ACME-27', 'TWB');
  const depth = r.sim.sim.depth('ACME-27', 'TWB', 'ask');
  t.equal(depth.length, 5, 'five levels');
  t.equal(depth[0].price, b.ask, 'level 0 is the venue touch');
  t.equal(depth[0].size, b.askSize);
  const mid = (b.bid + b.ask) / 2;
  const halfBps = ((b.ask - b.bid) / 2 / mid) * 1e4;
  let cum = 0;
  for (let k = 1; k < depth.length; k++) {
    cum += depth[k - 1].size;
    t.ok(depth[k].price > depth[k - 1].price, `level ${k} further out`);
    t.ok(depth[k].size <= depth[k - 1].size, `level ${k} no larger`);
    const sqrtLaw = b.ask * (1 + (halfBps * config.liquidity.medium.impactCoef * Math.sqrt(cum / 1_000_000)) / 1e4);
    t.ok(Math.abs(depth[k].price - sqrtLaw) <= 0.001 + 1e-9 || depth[k].price === depth[k - 1].price + 0.001, `level ${k} at the square-root distance (${depth[k].price} vs ${sqrtLaw.toFixed(4)})`);
  }
  const total = depth.reduce((s, l) => s + l.size, 0);

  const res = await r.adapter.place(order({ clientOrderId: 'walk-1', orderId: 'hedge-1:0', size: total + 20_000 }));
  t.equal(res.status, 'partial', 'more than the book: partial, the rest cancelled');
  t.equal(res.filledSize, total, 'everything the book showed');
  t.equal(res.leavesSize, 0);
  t.same(res.fills.map((f) => [f.price, f.size]), depth.map((l) => [l.price, l.size]), 'one execution per level, at the level prices');
  t.ok(res.avgPrice > b.ask && res.avgPrice < depth[4].price, 'average price worse than the touch: temporary impact');
  t.equal(res.orderId, 'hedge-1:0', 'the sender reference is echoed');
  t.match(res.venueOrderId, /^TWB-\d+$/);
  await r.nc.flush();
  await sleep(20);
  t.same(r.fills.map((f) => [f.price, f.size, f.clientOrderId]), depth.map((l) => [l.price, l.size, 'walk-1']), 'the same executions on venue.TWB.fill');
  t.equal(new Set(r.fills.map((f) => f.fillId)).size, r.fills.length, 'fill ids are unique');
  t.equal(r.fills.at(-1)!.leavesSize, total + 20_000 - total, 'leaves counts down across the walk');

  // a limit at the touch on another venue takes only what the touch shows
  const b2 = book(r.market, 'ACME-27', 'MKX');
  const lim = await r.adapter.place(order({ clientOrderId: 'walk-2', venue: 'MKX', side: 'sell', size: b2.bidSize + 500_000, limitPrice: b2.bid }));
  t.equal(lim.status, 'partial');
  t.same(lim.fills.map((f) => [f.price, f.size]), [[b2.bid, b2.bidSize]], 'a sell IOC limited at the bid stops at level 0');

  // liquidity taken is gone for the next order, and refills with the resilience half-life
  t.equal(r.sim.sim.depth('ACME-27', 'MKX', 'bid')[0].price < b2.bid, true, 'the touch was taken: the best bid shown is deeper');
  r.clock.advance(60_000);
  t.equal(r.sim.sim.depth('ACME-27', 'MKX', 'bid')[0].size, b2.bidSize, 'after 30 half-lives the touch is back');
});

t.test('feeds - permanent impact shifts that venue\'s later prices, published ones included, and no other stream', async (t) => {
  const r = await rig(t);
  const twin = warmMarket(); // same seed, never traded against
  const before = book(r.market, 'UMBR-28', 'BBG');
  const otherBefore = book(r.market, 'UMBR-28', 'TWB');
  const res = await r.adapter.place(order({ clientOrderId: 'perm-1', venue: 'BBG', instrument: 'UMBR-28', size: 3_000_000 }));
  t.ok(res.filledSize > 0, `filled ${res.filledSize}`);
  const after = book(r.market, 'UMBR-28', 'BBG');
  const mid0 = (before.bid + before.ask) / 2;
  const halfBps = ((before.ask - before.bid) / 2 / mid0) * 1e4;
  const expectBps = 0.3 * halfBps * config.liquidity.medium.impactCoef * Math.sqrt(res.filledSize / 1_000_000);
  const movedBps = (((after.bid + after.ask) / 2 - mid0) / mid0) * 1e4;
  t.ok(movedBps > 0, `a buy moves the venue up (${movedBps.toFixed(2)} bps)`);
  t.ok(Math.abs(movedBps - expectBps) <= (0.0011 / mid0) * 1e4, `by permanentFrac × d(Q) = ${expectBps.toFixed(2)} bps, within tick rounding`);
  t.same(book(r.market, 'UMBR-28', 'TWB'), otherBefore, 'another venue of the same instrument is untouched');

  // Later published books: the traded stream is centred higher than in the twin market by the
  // shift; every other stream is identical to the twin, message for message.
  const got: { s: number; b: number; a: number }[] = [];
  const want: { s: number; b: number; a: number }[] = [];
  const s = r.market.streamOf('UMBR-28', 'BBG');
  for (let k = 1; k <= 100; k++) {
    r.market.generate(START + 2_000 + k * 10, 40, { book: (m, st) => got.push({ s: st, b: m.b, a: m.a }), trade() {} });
    twin.generate(START + 2_000 + k * 10, 40, { book: (m, st) => want.push({ s: st, b: m.b, a: m.a }), trade() {} });
  }
  t.equal(got.length, want.length, 'same number of books: the market path consumed no extra randomness');
  t.same(got.filter((x) => x.s !== s), want.filter((x) => x.s !== s), 'every other stream publishes exactly what it would have');
  const mine = got.filter((x) => x.s === s);
  const theirs = want.filter((x) => x.s === s);
  t.ok(mine.length > 3, `${mine.length} later books on UMBR-28@BBG`);
  const shifts = mine.map((x, k) => (((x.b + x.a) / 2 / ((theirs[k].b + theirs[k].a) / 2)) - 1) * 1e4);
  for (const sh of shifts) t.ok(Math.abs(sh - expectBps) < 1.5, `published book shifted ${sh.toFixed(2)} bps (expected ≈ ${expectBps.toFixed(2)})`);
});

t.test('feeds - a repeated clientOrderId returns the first result and trades once; reusing it for another order is refused', async (t) => {
  const r = await rig(t);
  const o = order({ clientOrderId: 'dup-1', venue: 'BBG', instrument: 'WAYNE-31', size: 2_000_000 });
  const first = await r.adapter.place(o);
  t.ok(first.status === 'filled' || first.status === 'partial', first.status);
  const fillsAfterFirst = r.sim.sim.counters.fills;
  const again = await Promise.all([r.adapter.place(o), r.adapter.place(o), r.adapter.place(o), r.adapter.place(o)]);
  for (const a of again) {
    t.same({ ...a, duplicate: false }, first, 'the same result');
    t.equal(a.duplicate, true, 'flagged as a duplicate');
  }
  t.equal(r.sim.sim.counters.fills, fillsAfterFirst, 'no further executions');
  t.equal(r.sim.sim.counters.duplicates, 4);
  await r.nc.flush();
  await sleep(20);
  t.equal(r.fills.filter((f) => f.clientOrderId === 'dup-1').length, first.fills.length, 'fills published once');

  const conflict = await r.adapter.place({ ...o, size: 3_000_000 });
  t.equal(conflict.status, 'rejected');
  t.equal(conflict.reason, ErrorCode.VENUE_ORDER_CONFLICT);
  const still = await r.adapter.place(o);
  t.same({ ...still, duplicate: false }, first, 'the first order is untouched by the conflicting one');

  // a rejection is remembered too: a retry after a crash learns the same answer
  const bad = order({ clientOrderId: 'dup-2', size: 1_500 });
  const b1 = await r.adapter.place(bad);
  const b2 = await r.adapter.place(bad);
  t.equal(b1.reason, ErrorCode.VENUE_BAD_SIZE);
  t.same({ ...b2, duplicate: false }, b1);
});

t.test('feeds - bad orders, cancels and payloads get coded rejections and the venue keeps trading', async (t) => {
  const r = await rig(t);
  const cases: [string, Partial<VenueOrderRequest>, string][] = [
    ['unknown venue', { venue: 'NOPE' }, ErrorCode.VENUE_UNKNOWN_VENUE],
    ['unknown instrument', { instrument: 'FOO-1' }, ErrorCode.VENUE_UNKNOWN_INSTRUMENT],
    ['instrument not on that venue', { instrument: 'EURUSD' }, ErrorCode.VENUE_UNKNOWN_INSTRUMENT],
    ['zero size', { size: 0 }, ErrorCode.VENUE_BAD_SIZE],
    ['negative size', { size: -1_000_000 }, ErrorCode.VENUE_BAD_SIZE],
    ['-0 size', { size: -0 }, ErrorCode.VENUE_BAD_SIZE],
    ['odd lot', { size: 1_000_500 }, ErrorCode.VENUE_BAD_SIZE],
    ['NaN size', { size: Number.NaN }, ErrorCode.VENUE_BAD_SIZE],
    ['infinite size', { size: Number.POSITIVE_INFINITY }, ErrorCode.VENUE_BAD_SIZE],
    ['1e308', { size: 1e308 }, ErrorCode.VENUE_BAD_SIZE],
    ['over maxSize', { size: 25_001_000 }, ErrorCode.VENUE_BAD_SIZE],
    ['limit without a price', { type: 'limit' }, ErrorCode.VENUE_BAD_ORDER],
    ['off-tick limit', { type: 'limit', limitPrice: 101.0005 }, ErrorCode.VENUE_BAD_PRICE],
    ['negative limit', { type: 'limit', limitPrice: -101 }, ErrorCode.VENUE_BAD_PRICE],
    ['NaN limit', { limitPrice: Number.NaN }, ErrorCode.VENUE_BAD_PRICE],
    ['bad side', { side: 'short' as never }, ErrorCode.VENUE_BAD_ORDER],
    ['bad clientOrderId', { clientOrderId: 'has space' }, ErrorCode.VENUE_BAD_ORDER],
  ];
  let k = 0;
  for (const [what, o, code] of cases) {
    const res = await r.adapter.place(order({ clientOrderId: `bad-${k++}`, ...o }));
    t.equal(res.status, 'rejected', `${what}: rejected`);
    t.equal(res.reason, code, `${what}: ${code}`);
    t.equal(res.filledSize, 0);
  }

  const dec = makeVenueDecoder();
  const raw = async (subject: string, payload: Uint8Array): Promise<VenueReplyWire> => {
    const m = await r.nc.request(subject, payload, { timeout: 2_000 });
    return venueReplyWireSchema.parse(dec.decode(m.data));
  };
  const protoKey = new Uint8Array([0x81, 0xa9, ...new TextEncoder().encode('__proto__'), 0x01]);
  t.equal((await raw('venue.TWB.order', new Uint8Array([0xc1, 0xff, 0x00]))).reason, ErrorCode.VENUE_DECODE, 'garbage bytes');
  t.equal((await raw('venue.TWB.order', new Uint8Array(0))).reason, ErrorCode.VENUE_DECODE, 'empty payload');
  t.equal((await raw('venue.TWB.order', protoKey)).reason, ErrorCode.VENUE_DECODE, 'a __proto__ key');
  t.equal((await raw('venue.TWB.order', encode([1, 2, 3]))).reason, ErrorCode.VENUE_BAD_ORDER, 'an array');
  t.equal((await raw('venue.TWB.order', encode({ clientOrderId: 'x', instrument: 'ACME-27', side: 'buy', type: 'ioc', size: 1e6, ts: 1, extra: 1 }))).reason, ErrorCode.VENUE_BAD_ORDER, 'an unknown key');
  t.equal((await raw('venue.TWB.order', encode({ clientOrderId: 'x', instrument: 'ACME-27', side: 'buy', type: 'ioc', size: '1000000', ts: 1 }))).reason, ErrorCode.VENUE_BAD_ORDER, 'a string size');
  t.equal((await raw('venue.TWB.cancel', encode({ nope: 1 }))).reason, ErrorCode.VENUE_BAD_ORDER, 'a bad cancel');
  const unknownCancel = await r.adapter.cancel('TWB', 'never-sent');
  t.equal(unknownCancel.reason, ErrorCode.VENUE_UNKNOWN_ORDER, 'cancel of an unknown order');
  t.equal((await r.adapter.cancel('NOPE', 'x')).reason, ErrorCode.VENUE_UNKNOWN_VENUE, 'cancel on an unknown venue');

  const ok = await r.adapter.place(order({ clientOrderId: 'after-bad', size: 100_000 }));
  t.equal(ok.status, 'filled', 'the venue still trades after all that');
  const byReason = r.sim.sim.counters.byReason;
  t.ok(byReason[ErrorCode.VENUE_BAD_SIZE] >= 8 && byReason[ErrorCode.VENUE_DECODE] === 3, `counted by code ${JSON.stringify(byReason)}`);

  // the adapter's own outcomes: nobody listening, and a venue that never answers
  const nobody = new NatsVenueAdapter({ nc: r.nc, prefix: 'novenue', timeoutMs: 1_000 });
  const un = await nobody.place(order({ clientOrderId: 'nobody-1' }));
  t.equal(un.status, 'rejected');
  t.equal(un.reason, ErrorCode.VENUE_UNAVAILABLE, 'no responders: not placed');
  r.nc.subscribe('mute.*.order', { callback: () => {} });
  await r.nc.flush();
  const mute = new NatsVenueAdapter({ nc: r.nc, prefix: 'mute', timeoutMs: 150 });
  const to = await mute.place(order({ clientOrderId: 'mute-1' }));
  t.equal(to.status, 'unknown', 'no reply in time: the outcome is unknown');
  t.equal(to.reason, ErrorCode.VENUE_TIMEOUT);
  t.equal(mute.stats.timeouts, 1);
});

t.test('feeds - a resting limit order works, fills when the venue moves through it, and is cancelled on request', async (t) => {
  const r = await rig(t, { sweepMs: 5 });
  const b = book(r.market, 'GLOBX-29', 'TWB');
  const s = r.market.streamOf('GLOBX-29', 'TWB');
  const below = Math.round((b.bid - 0.05) * 1000) / 1000;
  const a = await r.adapter.place(order({ clientOrderId: 'rest-1', instrument: 'GLOBX-29', type: 'limit', limitPrice: below, size: 500_000 }));
  t.equal(a.status, 'working');
  t.equal(a.leavesSize, 500_000);
  t.same(a.fills, []);
  const c1 = await r.adapter.cancel('TWB', 'rest-1');
  t.equal(c1.status, 'cancelled');
  t.equal(c1.leavesSize, 0);
  t.equal(c1.reason, undefined);
  const c2 = await r.adapter.cancel('TWB', 'rest-1');
  t.equal(c2.status, 'cancelled', 'cancelling twice is harmless');

  const w = await r.adapter.place(order({ clientOrderId: 'rest-2', instrument: 'GLOBX-29', type: 'limit', limitPrice: below, size: 100_000 }));
  t.equal(w.status, 'working');
  // the venue's book drops ~100 bps: its ask is now below the resting bid
  r.market.applyVenueImpact(s, -100);
  for (let i = 0; i < 100 && !r.fills.some((f) => f.clientOrderId === 'rest-2'); i++) await sleep(10);
  const f = r.fills.filter((x) => x.clientOrderId === 'rest-2');
  t.equal(f.length, 1, 'filled by the sweep, published on the fill subject');
  t.ok(f[0].price <= below, `at or better than the limit (${f[0].price} ≤ ${below})`);
  t.equal(f[0].leavesSize, 0);
  const c3 = await r.adapter.cancel('TWB', 'rest-2');
  t.equal(c3.status, 'filled');
  t.equal(c3.reason, ErrorCode.VENUE_ORDER_DONE, 'too late to cancel: the order as it is, with the reason');
});

t.test('feeds - in the stressed scenario a quiet venue refuses orders, depth thins in the sell-off, and the venue trades again after', async (t) => {
  const stress = { startAfterMs: 0, durationMs: 10_000, quietInstrumentFrac: 1, quietMinMs: 1_500, quietMaxMs: 2_000 };
  const m = new SyntheticMarket(config, { seed: 9, scenario: 'stressed', startMs: START, stress });
  // books exist from the first milliseconds; quiet windows open between 1 s and 5 s
  for (let k = 1; k <= 900; k++) m.generate(START + k * 10, 30, noop);
  let s = -1;
  let tq = 0;
  for (let st = 0; st < m.streamCount && s < 0; st++) {
    const b: VenueBook = { bid: 0, ask: 0, bidSize: 0, askSize: 0 };
    if (!m.venueBook(st, b)) continue;
    for (let x = START + 1_000; x < START + 7_000; x += 50) {
      if (m.isQuiet(st, x) && !m.isQuiet(st, x + 2_100)) {
        s = st;
        tq = x;
        break;
      }
    }
  }
  t.ok(s >= 0, 'found a stream with a quiet window');
  const { instrument, venue } = m.streams[s];
  const clock = new ManualClock(tq);
  const r = await rig(t, { prefix: 'svenue' }, m, clock);
  const q = await r.adapter.place(order({ clientOrderId: 'quiet-1', instrument, venue, size: ins(instrument).lotSize * 100 }));
  t.equal(q.status, 'rejected');
  t.equal(q.reason, ErrorCode.VENUE_QUIET, `${venue} is quiet in ${instrument}`);

  const calm = r.sim.sim.depth(instrument, venue, 'ask', START - 1_000).map((l) => l.size);
  const selloff = r.sim.sim.depth(instrument, venue, 'ask', START + 1_000).map((l) => l.size);
  t.equal(selloff[0], calm[0], 'the touch is what the venue shows');
  const lot = ins(instrument).lotSize;
  for (let k = 1; k < calm.length; k++) t.ok(Math.abs(selloff[k] - calm[k] * 0.5) <= lot, `level ${k} halved in the sell-off (${selloff[k]} vs ${calm[k]})`);

  clock.set(tq + 2_100);
  const later = await r.adapter.place(order({ clientOrderId: 'quiet-2', instrument, venue, size: lot * 100 }));
  t.not(later.reason, ErrorCode.VENUE_QUIET, 'after the quiet window the venue answers');
  t.ok(later.filledSize > 0, `and trades (${later.status})`);
});

t.test('feeds - latency delays each reply, a cancel never overtakes its order, and the reject rate refuses orders', async (t) => {
  const slow = await rig(t, { prefix: 'slowv', latencyFloorMs: 60, latencyMeanMs: 5, seed: 4 });
  const t0 = performance.now();
  const [placed, cancelled] = await Promise.all([
    slow.adapter.place(order({ clientOrderId: 'lat-1', type: 'limit', limitPrice: 90, size: 100_000 })),
    slow.adapter.cancel('TWB', 'lat-1'),
  ]);
  const took = performance.now() - t0;
  t.ok(took >= 60, `replies after the latency floor (${took.toFixed(0)} ms)`);
  t.equal(placed.status, 'working', 'the order was handled first …');
  t.equal(cancelled.status, 'cancelled', '… then its cancel, although both were in flight together');

  const busy = await rig(t, { prefix: 'busyv', rejectRate: 1 });
  const b = await busy.adapter.place(order({ clientOrderId: 'busy-1' }));
  t.equal(b.reason, ErrorCode.VENUE_BUSY);
  t.equal(busy.sim.sim.counters.fills, 0);
});

t.test('feeds - the feed CLI with --venue-sim answers orders against the books it publishes', async (t) => {
  const env = { ...process.env, NATS_URL: '', NODE_OPTIONS: '' };
  const child = spawn(process.execPath, ['dist/feeds/cli.js', '--nats', broker.url, '--seed', '3', '--rate', '2000', '--instruments', '5', '--venue-sim', '--venue-latency-ms', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  for (let i = 0; i < 100 && !out.includes('venue simulator listening'); i++) await sleep(20);
  t.match(out, /venue simulator listening on venue\.<venue>\.order\|cancel/);
  await sleep(300); // books for the first instruments
  const nc = await connect({ servers: broker.url });
  t.teardown(() => nc.close());
  const adapter = new NatsVenueAdapter({ nc, timeoutMs: 2_000 });
  const res = await adapter.place(order({ clientOrderId: 'cli-1', instrument: config.instruments[0].id, venue: config.instruments[0].venues[0], size: 100_000 }));
  t.ok(res.status === 'filled' || res.status === 'partial', `${res.status} ${res.reason ?? ''}`);
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM exits 0');
});
