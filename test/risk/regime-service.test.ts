import { Registry } from 'prom-client';
import t from 'tap';
import { ManualClock } from '../../engine/clock.js';
import type { Tier } from '../../engine/config.js';
import { InstrumentStatus } from '../../engine/market/state.js';
import type { OverlaySetting, OverlaySource, QuoteOverlay } from '../../engine/risk/ports.js';
import { parseRegimeConfig } from '../../engine/risk/regime.js';
import { RegimeService, type RegimeChange } from '../../engine/risk/regime-service.js';
import { quietLog } from '../helpers/engine.js';

const T0 = 1_700_000_000_000;

/** MarketState's arrays as plain data the test sets; every instrument starts with no data. */
function market(n: number) {
  return {
    mid: new Float64Array(n),
    volFastBps: new Float64Array(n).fill(3),
    volSlowBps: new Float64Array(n).fill(3),
    halfSpreadBps: new Float64Array(n),
    liveVenues: new Uint8Array(n),
    status: new Uint8Array(n).fill(InstrumentStatus.NO_DATA),
    lastTickSeq: new Float64Array(n),
  };
}

/** Records what the service writes onto the overlay (the hot path's own overlay is tested in test/engine). */
function recorder() {
  const calls: Array<{ op: 'set' | 'clear'; source: OverlaySource; o?: OverlaySetting; iid?: number; tier?: Tier }> = [];
  const overlay: QuoteOverlay = {
    set: (source, o, iid, tier) => void calls.push({ op: 'set', source, o, iid, tier }),
    clear: (source, iid, tier) => void calls.push({ op: 'clear', source, iid, tier }),
  };
  return { calls, overlay };
}

const INSTRUMENTS = [
  { id: 'ACME-27', assetClass: 'corporate_bond', venues: ['A', 'B', 'C'], baseSpreadBps: 10 },
  { id: 'EURUSD', assetClass: 'fx', venues: ['A', 'B', 'C'], baseSpreadBps: 10 },
];

function rig(over: Record<string, unknown> = {}) {
  const m = market(INSTRUMENTS.length);
  const clock = new ManualClock(T0);
  const { calls, overlay } = recorder();
  const registry = new Registry();
  const config = parseRegimeConfig({ evalEveryMs: 0, ...over });
  const svc = new RegimeService({ config, instruments: INSTRUMENTS, market: m, clock, overlay, log: quietLog, registry });
  const changes: RegimeChange[] = [];
  svc.onChange((c) => changes.push(c));
  let seq = 0;
  /** one tick on iid: a firm 3-venue market, the mid alternating ±1 bp, the given half-spread */
  const tick = (iid: number, halfSpreadBps = 5) => {
    m.status[iid] = InstrumentStatus.FIRM;
    m.liveVenues[iid] = 3;
    m.mid[iid] = m.mid[iid] === 100 ? 100.01 : 100;
    m.halfSpreadBps[iid] = halfSpreadBps;
    m.lastTickSeq[iid] = ++seq;
  };
  const step = (ms: number, ticks: number[] = [0, 1], halfSpreadBps = 5) => {
    clock.advance(ms);
    for (const i of ticks) tick(i, halfSpreadBps);
    return svc.evaluate(clock.nowMs());
  };
  /** 60 calm ticks 100 ms apart on both instruments: σ_slow and the spread baseline learnt */
  const warm = () => {
    for (let k = 0; k < 60; k++) step(100);
    for (let i = 0; i < INSTRUMENTS.length; i++) m.volFastBps[i] = svc.detector.volSlowBps[i];
  };
  return { m, clock, calls, svc, changes, registry, tick, step, warm, config };
}

t.test('risk - regime service: silent while an instrument has never had a firm market, then starts from normal', async (t) => {
  const r = rig();
  t.equal(r.svc.evaluate(T0), 0, 'no data anywhere: no change announced');
  t.equal(r.svc.detector.effective[0], 2, 'the detector itself holds it halted (no market yet)');
  t.equal(r.calls.length, 0, 'and nothing goes onto the overlay: the market state already pulls it (no_data), not the regime');
  t.equal(r.svc.regimeOf(0), 'normal');
  r.warm();
  t.equal(r.changes.length, 0, 'the first firm market is no regime change');
  t.equal(r.calls.length, 0);
  t.same(r.svc.abnormal(), { instruments: [], classes: [] });
});

t.test('risk - regime service: stressed and halted apply each tier\'s policy to the overlay; normal clears it', async (t) => {
  const r = rig();
  r.warm();
  // the spread of ACME-27 widens to 3× its learnt normal: stressed at once
  r.clock.advance(100);
  r.tick(0, 15);
  r.tick(1, 5);
  t.ok(r.svc.evaluate(r.clock.nowMs()) >= 1, 'a change');
  const ins = r.changes.find((c) => c.scope === 'instrument' && c.id === 'ACME-27')!;
  t.match(ins, { from: 'normal', to: 'stressed', iid: 0, signals: { venues: 3, liveVenues: 3 } }, 'the change names the instrument and its signals');
  t.match(ins.reason, /^spread 3× normal ≥ 2\.5$/, `reason without the regime's name: ${ins.reason}`);
  t.ok(ins.signals!.spreadRatio >= 2.5);
  const cls = r.changes.find((c) => c.scope === 'asset_class')!;
  t.match(cls, { id: 'corporate_bond', from: 'normal', to: 'stressed', reason: '1 of 1 corporate_bond instruments stressed or halted (0 halted)' }, 'its asset class too, announced first');
  t.ok(r.changes.indexOf(cls) < r.changes.indexOf(ins), 'classes before instruments');
  t.same(
    r.calls.map((c) => [c.op, c.source, c.o?.mode, c.o?.reason, c.o?.sizeMult, c.o?.spreadMult, c.iid, c.tier]),
    [
      ['set', 'regime', null, 'regime', 1, 1, 0, 1],
      ['set', 'regime', null, 'regime', 0.5, 1.5, 0, 2],
      ['set', 'regime', 'pulled', 'regime', 1, 1, 0, 3],
    ],
    'tier 1 unchanged prices, tier 2 half size at 1.5× spread, tier 3 pulled — only on ACME-27',
  );
  t.same(r.svc.action(0, 1), { mode: 'firm', sizeMult: 1, spreadMult: 1, routeRfqToTrader: true }, 'RegimeView: tier-1 RFQs go to a trader');
  t.same(r.svc.action(0, 2), { mode: 'firm', sizeMult: 0.5, spreadMult: 1.5, routeRfqToTrader: false });
  t.equal(r.svc.action(0, 3).mode, 'pulled');
  t.same(r.svc.action(1, 1), { mode: 'firm', sizeMult: 1, spreadMult: 1, routeRfqToTrader: false }, 'EURUSD untouched');
  t.equal(r.svc.regimeOf(0), 'stressed');
  t.match(r.svc.abnormal(), { instruments: [{ i: 'ACME-27', regime: 'stressed', since: r.clock.nowMs() }], classes: [{ c: 'corporate_bond', regime: 'stressed' }] });

  // two venues go quiet: halted once the condition held haltConfirmMs
  r.calls.length = 0;
  const d = r.config.detector;
  r.m.liveVenues[0] = 1;
  r.svc.evaluate(r.clock.nowMs());
  t.equal(r.svc.regimeOf(0), 'stressed', 'not halted on the first look (haltConfirmMs)');
  r.clock.advance(d.haltConfirmMs);
  r.svc.evaluate(r.clock.nowMs());
  t.equal(r.svc.regimeOf(0), 'halted');
  t.same(
    r.calls.map((c) => [c.o?.mode, c.tier]),
    [['indicative', 1], ['pulled', 2], ['pulled', 3]],
    'halted: tier 1 indicative, tiers 2 and 3 pulled',
  );

  // venues back, spreads calm: halted → stressed → normal, each after its dwell and clear time
  r.calls.length = 0;
  const end = r.clock.nowMs() + 60_000;
  while (r.svc.regimeOf(0) !== 'normal' && r.clock.nowMs() < end) r.step(100, [0, 1], 5);
  t.equal(r.svc.regimeOf(0), 'normal', 'recovered');
  const path = r.changes.filter((c) => c.id === 'ACME-27').map((c) => c.to);
  t.same(path, ['stressed', 'halted', 'stressed', 'normal'], 'through stressed, never straight from halted to normal');
  t.same(r.calls.at(-1), { op: 'clear', source: 'regime', iid: 0, tier: undefined }, 'normal clears the regime overlay of the instrument');
  t.same(r.svc.action(0, 3), { mode: 'firm', sizeMult: 1, spreadMult: 1, routeRfqToTrader: false });

  // metrics
  const gauge = await r.registry.getSingleMetric('qe_regime_instruments')!.get();
  t.same(Object.fromEntries(gauge.values.map((v) => [v.labels.regime, v.value])), { normal: 2, stressed: 0, halted: 0 });
  const tr = await r.registry.getSingleMetric('qe_regime_transitions_total')!.get();
  t.same(Object.fromEntries(tr.values.map((v) => [v.labels.to, v.value])), { normal: 1, stressed: 2, halted: 1 }, 'transitions by regime entered');
});

t.test('risk - regime service: one-sided client flow stresses an instrument; only a moved market or a trade re-runs it', async (t) => {
  const r = rig();
  r.warm();
  const d = r.config.detector;
  for (let k = 0; k < d.flowMinTrades + 5; k++) r.svc.recordClientTrade(1, 'sell', 1e6, r.clock.nowMs());
  r.svc.recordClientTrade(1, 'buy', Number.NaN);
  r.svc.recordClientTrade(99, 'buy', 1e6);
  r.clock.advance(50);
  r.svc.evaluate(r.clock.nowMs()); // no tick on EURUSD: the trades alone make it re-run
  t.equal(r.svc.regimeOf(1), 'stressed', 'every client selling: stressed');
  t.match(r.svc.reason(1), /^one-sided flow 1 ≥ 0\.7$/);
  t.equal(r.svc.regimeOf(0), 'normal', 'the other instrument is not');
  t.equal(r.svc.reason(5), 'unknown instrument 5');
});

t.test('risk - regime service: a throwing listener neither stops the policy nor the other listeners', async (t) => {
  const r = rig();
  const seen: string[] = [];
  r.svc.onChange(() => {
    throw new Error('socket gone');
  });
  r.svc.onChange((c) => seen.push(`${c.id}:${c.to}`));
  r.warm();
  r.clock.advance(100);
  r.tick(0, 20);
  r.svc.evaluate(r.clock.nowMs());
  t.same(seen, ['corporate_bond:stressed', 'ACME-27:stressed']);
  t.equal(r.calls.length, 3, 'overlay set for the three tiers');
  t.ok(quietLog.lines.some((l) => l.includes('regime change listener failed')), 'the failure is logged');
});

t.test('risk - regime config: evalEveryMs and subjectPrefix validated', async (t) => {
  t.equal(parseRegimeConfig({}).evalEveryMs, 50);
  t.equal(parseRegimeConfig({}).subjectPrefix, 'regime');
  t.throws(() => parseRegimeConfig({ evalEveryMs: -1 }), /regime\.evalEveryMs/);
  t.throws(() => parseRegimeConfig({ evalEveryMs: 1.5 }), /regime\.evalEveryMs/);
  t.throws(() => parseRegimeConfig({ subjectPrefix: 'regime.>' }), /regime\.subjectPrefix: NATS subject tokens/);
  t.throws(() => parseRegimeConfig({ subjectPrefix: '' }), /regime\.subjectPrefix/);
  t.equal(parseRegimeConfig({ subjectPrefix: 'desk.regime' }).subjectPrefix, 'desk.regime');
});

t.test('risk - regime service: holds still while the engine is disconnected from market data', async (t) => {
  const m = market(1);
  const clock = new ManualClock(T0);
  const { calls, overlay } = recorder();
  let connected = true;
  const svc = new RegimeService({
    config: parseRegimeConfig({ evalEveryMs: 0 }), instruments: INSTRUMENTS.slice(0, 1), market: m, clock, overlay, log: quietLog, feedConnected: () => connected,
  });
  m.status[0] = InstrumentStatus.FIRM;
  m.liveVenues[0] = 3;
  m.mid[0] = 100;
  m.halfSpreadBps[0] = 5;
  m.lastTickSeq[0] = 1;
  svc.evaluate(clock.nowMs());
  connected = false;
  // our connection is down: every venue goes stale for far longer than haltConfirmMs
  m.status[0] = InstrumentStatus.STALE;
  m.liveVenues[0] = 0;
  for (let k = 0; k < 50; k++) t.equal(svc.evaluate((clock.advance(100), clock.nowMs())), 0);
  t.equal(svc.regimeOf(0), 'normal', 'not halted by our own outage');
  connected = true;
  m.status[0] = InstrumentStatus.FIRM;
  m.liveVenues[0] = 3;
  m.lastTickSeq[0] = 2;
  clock.advance(100);
  svc.evaluate(clock.nowMs());
  t.equal(svc.regimeOf(0), 'normal', 'and fresh data after the reconnect is simply normal');
  t.equal(calls.length, 0);
  // the same outage seen while connected halts it (the test above would pass vacuously otherwise)
  m.status[0] = InstrumentStatus.STALE;
  m.liveVenues[0] = 0;
  for (let k = 0; k < 15; k++) svc.evaluate((clock.advance(100), clock.nowMs()));
  t.equal(svc.regimeOf(0), 'halted', 'a market that goes quiet while we are connected halts');
});
