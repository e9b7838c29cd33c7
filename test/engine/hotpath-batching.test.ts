/**
 * Early batches (pricing.miniBatchRows / miniBatchesPerTurn): inside one NATS read, once enough
 * instruments are dirty they are priced and published before the read's later ticks are applied,
 * at most miniBatchesPerTurn times a turn; the ladders published are the same as with one batch
 * per turn.
 */
import { encode } from '@msgpack/msgpack';
import t from 'tap';
import { ManualClock } from '../../engine/clock.js';
import { buildUniverse, loadDefaultConfig, parseConfig, type Config } from '../../engine/config.js';
import { HotPath, type QuoteSink } from '../../engine/hotpath.js';
import { Inventory } from '../../engine/inventory/index.js';
import { MarketState } from '../../engine/market/index.js';
import { makeRegistry } from '../../engine/metrics.js';
import { createInlinePricer, createWorkerPricer, type BatchPricer } from '../../engine/pricing/pool.js';
import { quietLog } from '../helpers/engine.js';

function config(miniBatchRows: number, miniBatchesPerTurn: number): Config {
  const raw = JSON.parse(JSON.stringify(loadDefaultConfig())) as any;
  for (const i of raw.instruments) i.initialPosition = 0;
  raw.pricing = { ...raw.pricing, miniBatchRows, miniBatchesPerTurn };
  return parseConfig(raw);
}

async function rig(cfg: Config, pricer: BatchPricer = createInlinePricer(cfg)) {
  const u = buildUniverse(cfg);
  // a manual clock: both rigs of a comparison see the same times (volatility is time-weighted)
  const clock = new ManualClock();
  const market = new MarketState(u, clock);
  /** instrument index of every frame published, in order */
  const published: number[] = [];
  const sink: QuoteSink = {
    publishBinary: (_tier, iid) => void published.push(iid),
    wantsJson: () => false,
    publishJson: () => {},
  };
  const hot = new HotPath({ universe: u, clock, market, inventory: new Inventory(cfg), pricer, registry: makeRegistry(), log: quietLog, sink });
  const seq = new Map<string, number>();
  /** every venue of instrument `k` around `mid`: what one NATS read would deliver for it */
  const tick = (k: number, mid: number) => {
    const ins = cfg.instruments[k];
    for (const v of ins.venues) {
      const s = (seq.get(`${ins.id}/${v}`) ?? 0) + 1;
      seq.set(`${ins.id}/${v}`, s);
      const half = mid * 1e-4;
      clock.advance(0.01);
      hot.onMarketData(encode({ i: ins.id, v, s, ts: clock.nowMs(), b: mid - half, a: mid + half, bs: 5e6, as: 5e6 }));
    }
  };
  const settle = async () => {
    for (let k = 0; k < 50 && (k < 2 || hot.busy); k++) await new Promise((r) => setImmediate(r));
  };
  const mids = cfg.instruments.map((ins) => ins.refPrice ?? 100);
  // every instrument firm and published once
  for (let k = 0; k < cfg.instruments.length; k++) tick(k, mids[k]);
  await settle();
  for (let k = 0; k < cfg.instruments.length; k++) tick(k, mids[k]);
  await settle();
  published.length = 0;
  return { hot, u, tick, settle, published, mids, close: () => { hot.close(); return pricer.close(); } };
}

/** One "read": instruments 0..n-1 ticked once each (every venue), nothing awaited in between. */
function read(r: Awaited<ReturnType<typeof rig>>, n: number, move: number): number[] {
  const seenAfter: number[] = [];
  for (let k = 0; k < n; k++) {
    r.tick(k, r.mids[k] * (1 + move));
    seenAfter.push(r.published.length);
  }
  return seenAfter;
}

t.test('hotpath - a long read publishes its first instruments before its last tick is applied', async (t) => {
  const cfg = config(8, 4);
  t.ok(cfg.instruments.length >= 24, 'enough instruments for three early batches');
  const r = await rig(cfg);
  const seen = read(r, 20, 2e-4);
  t.equal(seen[6], 0, 'nothing published while fewer than 8 instruments are dirty');
  t.ok(seen[7] > 0, `the 8th dirty instrument triggers an early batch (${seen[7]} frames)`);
  t.ok(r.published.slice(0, seen[7]).includes(0), 'the read\'s first instrument is in it');
  // the 8th instrument's later venues dirty it again: the next 8 are complete at the 15th
  t.ok(seen[14] > seen[13], 'a second early batch once 8 more are dirty');
  t.equal(seen[19], seen[14], 'the rest wait for the end of the turn');
  await r.settle();
  t.same(new Set(r.published), new Set(Array.from({ length: 20 }, (_, k) => k)), 'every ticked instrument published');
  await r.close();
});

t.test('hotpath - at most miniBatchesPerTurn early batches a turn; 0 rows turns them off', async (t) => {
  const one = await rig(config(4, 1));
  const seen = read(one, 20, 2e-4);
  t.ok(seen[3] > 0, 'one early batch at 4 dirty');
  t.equal(seen[19], seen[3], 'no second one in the same turn');
  await one.settle();
  // the next turn gets its own early batch again
  const next = read(one, 8, 4e-4);
  t.ok(next[3] > 0, 'the limit is per turn');
  await one.close();

  const off = await rig(config(0, 4));
  const none = read(off, 20, 2e-4);
  t.equal(none[19], 0, 'with miniBatchRows 0 nothing leaves before the end of the turn');
  await off.settle();
  t.equal(new Set(off.published).size, 20);
  await off.close();
});

t.test('hotpath - early batches publish the same ladders as one batch per turn', async (t) => {
  const early = await rig(config(3, 8));
  const late = await rig(config(0, 0));
  for (const move of [1e-4, -3e-4, 5e-4]) {
    read(early, 24, move);
    read(late, 24, move);
    await early.settle();
    await late.settle();
  }
  for (let k = 0; k < 24; k++) {
    for (const tier of [1, 2, 3]) {
      const a = early.hot.published(tier, k);
      const b = late.hot.published(tier, k);
      t.same({ state: a.state, levels: a.levels }, { state: b.state, levels: b.levels }, `${early.u.config.instruments[k].id} tier ${tier}`);
    }
  }
  await early.close();
  await late.close();
});

t.test('hotpath - the worker pricer takes early batches inline, and none under fault injection', async (t) => {
  const cfg = config(8, 4);
  const w = await rig(cfg, createWorkerPricer(cfg));
  t.ok(read(w, 12, 2e-4)[7] > 0, 'early batch priced on the calling thread');
  await w.settle();
  await w.close();
  const faulty = await rig(cfg, createWorkerPricer(cfg, { faultMode: 'garbage' }));
  t.equal(read(faulty, 12, 2e-4)[11], 0, 'fault injection exercises the worker: no early batch');
  await faulty.close();
});
