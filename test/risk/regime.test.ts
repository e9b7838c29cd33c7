import t from 'tap';
import { ManualClock } from '../../engine/clock.js';
import { buildUniverse, loadDefaultConfig } from '../../engine/config.js';
import { ConfigError } from '../../engine/errors.js';
import { InstrumentStatus, MarketState } from '../../engine/market/state.js';
import { MdKind, newMdRecord } from '../../engine/wire/market-data.js';
import {
  DEFAULT_REGIME_CONFIG,
  parseRegimeConfig,
  Regime,
  RegimeDetector,
  regimeInstrumentsFromConfig,
  RegimeScope,
  RegimeSignal,
  tierRegimeAction,
  type RegimeDetectorConfig,
} from '../../engine/risk/regime.js';
import { SyntheticMarket, type MdSink } from '../../feeds/synthetic.js';

const T0 = 1_700_000_000_000;
const D = DEFAULT_REGIME_CONFIG.detector;

/** The MarketState arrays the detector reads, as plain data a test can set directly. */
function view(n: number) {
  return {
    mid: new Float64Array(n).fill(100),
    volFastBps: new Float64Array(n).fill(3),
    volSlowBps: new Float64Array(n).fill(3),
    halfSpreadBps: new Float64Array(n).fill(5),
    liveVenues: new Uint8Array(n).fill(3),
    status: new Uint8Array(n).fill(InstrumentStatus.FIRM),
  };
}
type View = ReturnType<typeof view>;

/**
 * A detector over `classes.length` instruments, warmed up: 60 updates 100 ms apart with the mid
 * moving ±1 bp each time, so the detector's σ_slow ≈ 1 bp / √0.1 s ≈ 3.16 bps/√s and the spread
 * baseline is learnt. Returns the time after the warm-up.
 */
function setup(classes: string[] = ['corporate_bond'], over: Partial<RegimeDetectorConfig> = {}) {
  const v = view(classes.length);
  const cfg = parseRegimeConfig({ detector: over }).detector;
  const det = new RegimeDetector(classes.map((c) => ({ assetClass: c, venueCount: 3, normalHalfSpreadBps: 5 })), v, cfg);
  let now = T0;
  const tick = (iid: number) => {
    v.mid[iid] = v.mid[iid] === 100 ? 100.01 : 100;
  };
  for (let k = 0; k < 60; k++) {
    now += 100;
    for (let i = 0; i < classes.length; i++) {
      tick(i);
      det.update(i, now);
    }
  }
  for (let i = 0; i < classes.length; i++) v.volFastBps[i] = det.volSlowBps[i];
  return { v, det, cfg, now, tick };
}

t.test('risk - a volatility jump turns an instrument stressed at once', async (t) => {
  const { v, det, now, tick } = setup();
  t.ok(Math.abs(det.volSlowBps[0] - Math.sqrt(1e-8 / 0.1) * 1e4) < 0.2, `σ_slow learnt from the moves: ${det.volSlowBps[0].toFixed(2)} bps/√s`);
  t.equal(det.regime[0], Regime.NORMAL);
  v.volFastBps[0] = 4 * det.volSlowBps[0];
  tick(0);
  t.equal(det.update(0, now + 100), true, 'update reports the change');
  t.equal(det.regime[0], Regime.STRESSED);
  t.equal(det.effective[0], Regime.STRESSED);
  t.ok(det.flags[0] & RegimeSignal.VOL);
  t.match(det.reason(0), /^stressed: σ fast\/slow 4 ≥ 3$/);
});

t.test('risk - noise around a threshold does not flap the regime (hysteresis, clear time, dwell)', async (t) => {
  /** Drives the σ ratio through `ratios` every 100 ms (ticks and sweeps); counts changes of the instrument's own regime. */
  const run = (det: RegimeDetector, v: View, start: number, ratios: (k: number) => number, steps: number) => {
    let changes = 0;
    let now = start;
    let last = det.regime[0];
    for (let k = 0; k < steps; k++) {
      now += 100;
      v.mid[0] = v.mid[0] === 100 ? 100.01 : 100;
      v.volFastBps[0] = ratios(k) * det.volSlowBps[0];
      det.update(0, now);
      det.sweep(now);
      if (det.regime[0] !== last) changes++;
      last = det.regime[0];
    }
    return { changes, now };
  };
  const { v, det, now } = setup();
  const a = run(det, v, now, (k) => (k % 2 ? 3.1 : 2.9), 600);
  t.equal(a.changes, 1, 'σ ratio flickering 2.9 / 3.1 around enter = 3: one change, to stressed');
  t.equal(det.regime[0], Regime.STRESSED);
  const b = run(det, v, a.now, (k) => (k % 2 ? 2.1 : 1.9), 600);
  t.equal(b.changes, 0, 'flickering 1.9 / 2.1 around exit = 2: never clear for 3 s, stays stressed');
  t.equal(det.regime[0], Regime.STRESSED);
  t.match(det.reason(0), /stressed: (not yet below the exit thresholds \(σ fast\/slow 2\.1 > 2\)|signals below)/);
  const c = run(det, v, b.now, () => 1.5, 100);
  t.equal(c.changes, 1, 'settled below exit: back to normal, once');
  t.equal(det.regime[0], Regime.NORMAL);

  // the same input without a hysteresis band, dwell or clear time flaps on every tick
  const bare = setup(['corporate_bond'], { volRatio: { enter: 3, exit: 2.99 }, minDwellMs: 0, exitClearMs: 0 });
  const flaps = run(bare.det, bare.v, bare.now, (k) => (k % 2 ? 3.1 : 2.9), 600);
  t.ok(flaps.changes > 500, `without hysteresis it flaps (${flaps.changes} changes): the test can tell`);
});

t.test('risk - stressed recovers only after the minimum dwell and a clear spell', async (t) => {
  const { v, det, now, cfg } = setup();
  // a 20σ composite move: σ_slow ≈ 3.16 bps/√s, so 63 bps in one update
  v.mid[0] = 100 * Math.exp(20 * 3.1623e-4);
  det.update(0, now + 100);
  const t1 = now + 100;
  t.equal(det.regime[0], Regime.STRESSED);
  t.ok(det.flags[0] & RegimeSignal.JUMP);
  t.match(det.reason(0), /jump 2\dσ ≥ 8/);
  let left = Number.NaN;
  for (let x = t1 + 100; x <= t1 + 20_000; x += 100) {
    det.sweep(x);
    if (det.regime[0] === Regime.NORMAL) {
      left = x;
      break;
    }
  }
  t.equal(left - t1, cfg.minDwellMs, `left exactly when the dwell ran out (${left - t1} ms): the jump was forgotten after ${cfg.jumpMemoryMs} ms and clear for ${cfg.exitClearMs} ms before that`);

  // a longer clear requirement than the dwell: the clear spell decides
  const s2 = setup(['corporate_bond'], { exitClearMs: 12_000 });
  s2.v.mid[0] = 100 * Math.exp(20 * 3.1623e-4);
  s2.det.update(0, s2.now + 100);
  let left2 = Number.NaN;
  for (let x = s2.now + 200; x <= s2.now + 30_000; x += 100) {
    s2.det.sweep(x);
    if (s2.det.regime[0] === Regime.NORMAL) {
      left2 = x;
      break;
    }
  }
  const clearAt = s2.now + 100 + s2.cfg.jumpMemoryMs + 100; // first sweep after the jump memory expired
  t.equal(left2 - clearAt, 12_000, 'normal 12 s after the signals cleared');
});

t.test('risk - halted when venues go quiet or stale, back through stressed, a blink does not halt', async (t) => {
  // two of three venues gone for 500 ms: the market state shows them thin at once; the regime waits
  const blink = setup();
  let y = blink.now;
  blink.v.liveVenues[0] = 1;
  blink.det.update(0, (y += 100));
  t.equal(blink.det.regime[0], Regime.NORMAL, 'losing two venues is not stress before it lasted haltConfirmMs');
  t.notOk(blink.det.flags[0] & RegimeSignal.VENUES);
  for (let k = 0; k < 5; k++) blink.det.sweep((y += 100));
  blink.v.liveVenues[0] = 3;
  blink.det.update(0, (y += 100));
  for (let k = 0; k < 5; k++) blink.det.sweep((y += 100));
  t.equal(blink.det.regime[0], Regime.NORMAL, 'a blink shorter than haltConfirmMs neither halts nor stresses');

  const { v, det, now, cfg } = setup();
  let x = now;
  const changes: string[] = [];
  const on = (scope: number, id: number, from: number, to: number) => changes.push(`${scope === RegimeScope.ASSET_CLASS ? 'class' : 'ins'}:${id}:${from}->${to}`);
  v.liveVenues[0] = 1;
  t.equal(det.update(0, (x += 100)), false, 'not at once');
  const quietAt = x;
  while (det.regime[0] !== Regime.HALTED && x < quietAt + 5_000) det.sweep((x += 50), on);
  t.equal(x - quietAt, cfg.haltConfirmMs, `halted once the quiet spell lasted haltConfirmMs (${x - quietAt} ms)`);
  t.ok(det.flags[0] & RegimeSignal.HALT_VENUES);
  t.ok(det.flags[0] & RegimeSignal.VENUES, 'the venues lost count as a stress signal by then too');
  t.match(det.reason(0), /^halted: 1 live venue\(s\) < 2/);
  t.same(changes, ['class:0:0->2', 'ins:0:0->2'], 'classes first, then the instruments whose effective regime changed');

  // four listed venues, two lost: no halt (two live), stressed once the loss lasted haltConfirmMs
  const four = new RegimeDetector([{ assetClass: 'fx', venueCount: 4, normalHalfSpreadBps: 5 }], { ...view(1), liveVenues: new Uint8Array([2]) }, cfg);
  four.update(0, T0);
  four.update(0, T0 + 10);
  t.equal(four.regime[0], Regime.NORMAL, 'two of four venues lost: not yet');
  four.sweep(T0 + 10 + cfg.haltConfirmMs);
  t.equal(four.regime[0], Regime.STRESSED, 'stressed by the sweep once the loss lasted haltConfirmMs (no tick needed)');
  t.match(four.reason(0), /2 venue\(s\) lost/);

  const haltedAt = x;
  v.liveVenues[0] = 3;
  det.update(0, (x += 100));
  while (det.regime[0] === Regime.HALTED && x < haltedAt + 60_000) det.sweep((x += 100));
  t.equal(det.regime[0], Regime.STRESSED, 'a halted instrument comes back as stressed');
  t.equal(x - haltedAt, cfg.minDwellMs, 'after the dwell');
  while (det.regime[0] === Regime.STRESSED && x < haltedAt + 60_000) det.sweep((x += 100));
  t.equal(det.regime[0], Regime.NORMAL, 'and to normal after another dwell');

  v.status[0] = InstrumentStatus.STALE;
  det.update(0, (x += 100));
  det.sweep((x += cfg.haltConfirmMs));
  t.equal(det.regime[0], Regime.HALTED, 'a stale composite halts');
  t.ok(det.flags[0] & RegimeSignal.HALT_STALE);
});

t.test('risk - jumps are measured in σ units; spreads against the learnt normal; one-sided flow needs enough trades', async (t) => {
  const small = setup();
  small.v.mid[0] = 100 * Math.exp(6 * 3.1623e-4);
  small.det.update(0, small.now + 100);
  t.equal(small.det.regime[0], Regime.NORMAL, `a 6σ move is not a jump (${small.det.jumpSigma[0].toFixed(1)}σ)`);
  const slow = setup();
  slow.v.mid[0] = 100 * Math.exp(12 * 3.1623e-4);
  slow.det.update(0, slow.now + 4_000);
  t.equal(slow.det.regime[0], Regime.NORMAL, `the same-size move over 4 s is √4 fewer σ (${slow.det.jumpSigma[0].toFixed(1)}σ)`);

  const sp = setup();
  const base = sp.det.normalHalfSpreadBps[0];
  t.equal(base, 5, 'baseline learnt from the 5 bps the market showed');
  sp.v.halfSpreadBps[0] = 12;
  sp.det.update(0, sp.now + 100);
  t.equal(sp.det.regime[0], Regime.NORMAL, 'a spread 2.4× normal is inside the band');
  sp.v.halfSpreadBps[0] = 13;
  sp.det.update(0, sp.now + 200);
  t.equal(sp.det.regime[0], Regime.STRESSED, '2.6× normal is stressed');
  t.ok(sp.det.flags[0] & RegimeSignal.SPREAD);
  for (let k = 3; k < 50; k++) sp.det.update(0, sp.now + k * 100);
  t.ok(Math.abs(sp.det.normalHalfSpreadBps[0] - base) < 0.15, `the stressed spread is not learnt as normal (${sp.det.normalHalfSpreadBps[0].toFixed(3)})`);

  const fl = setup();
  for (let k = 0; k < 15; k++) fl.det.recordTrade(0, -1e6, fl.now + k);
  fl.det.update(0, fl.now + 20);
  t.equal(fl.det.regime[0], Regime.NORMAL, 'fifteen sells are fewer than flowMinTrades');
  for (let k = 0; k < 15; k++) fl.det.recordTrade(0, -1e6, fl.now + 20 + k);
  fl.det.update(0, fl.now + 40);
  t.equal(fl.det.regime[0], Regime.STRESSED, 'thirty sells in a row: one-sided');
  t.ok(fl.det.flags[0] & RegimeSignal.FLOW);
  const mixed = setup();
  for (let k = 0; k < 60; k++) mixed.det.recordTrade(0, k % 3 ? 1e6 : -1e6, mixed.now + k);
  mixed.det.update(0, mixed.now + 60);
  t.equal(mixed.det.regime[0], Regime.NORMAL, `two buys for each sell is not one-sided (${mixed.det.flowImbalance[0].toFixed(2)})`);
});

t.test('risk - an asset class stresses its members; only an instrument\'s own venues halt it', async (t) => {
  const { v, det, now } = setup(['corporate_bond', 'corporate_bond', 'corporate_bond', 'corporate_bond', 'fx']);
  const changes: string[] = [];
  const on = (scope: number, id: number, from: number, to: number) => changes.push(`${scope === RegimeScope.ASSET_CLASS ? 'class' : 'ins'}:${id}:${from}->${to}`);
  for (const i of [0, 1]) {
    v.volFastBps[i] = 5 * det.volSlowBps[i];
    det.update(i, now + 100);
  }
  det.sweep(now + 100, on);
  t.same(Array.from(det.regime), [1, 1, 0, 0, 0], 'own regimes');
  t.equal(det.classRegime[0], Regime.STRESSED, 'two of four corporates ≥ 30%: the class is stressed');
  t.same(Array.from(det.effective), [1, 1, 1, 1, 0], 'every corporate is treated as stressed; fx is not');
  t.same(changes, ['class:0:0->1', 'ins:2:0->1', 'ins:3:0->1'], 'sweep reports the class and the two members it changed');
  t.match(det.reason(2), /^stressed \(own normal; corporate_bond stressed\)/);

  for (const i of [0, 1, 2]) {
    v.liveVenues[i] = 0;
    v.status[i] = InstrumentStatus.STALE;
    det.update(i, now + 200);
  }
  det.sweep(now + 200 + D.haltConfirmMs, on);
  t.same(Array.from(det.regime), [2, 2, 2, 0, 0]);
  t.equal(det.classRegime[0], Regime.HALTED, 'three of four halted: the class is halted');
  t.equal(det.effective[3], Regime.STRESSED, 'a member with live venues is stressed, never halted, by its class');
});

t.test('risk - regime config: hysteresis enforced, halted never firm, tier policy defaults', async (t) => {
  t.same(parseRegimeConfig({}), DEFAULT_REGIME_CONFIG);
  t.ok(Object.isFrozen(DEFAULT_REGIME_CONFIG.tiers['2'].stressed));
  const bad = (input: unknown, path: RegExp) => {
    try {
      parseRegimeConfig(input);
      t.fail(`accepted ${JSON.stringify(input)}`);
    } catch (err) {
      t.ok(err instanceof ConfigError);
      t.match((err as ConfigError).issues.join('\n'), path);
    }
  };
  bad({ detector: { volRatio: { enter: 3, exit: 3 } } }, /regime\.detector\.volRatio\.exit: must be below volRatio\.enter/);
  bad({ detector: { spreadRatio: { enter: 1, exit: 0.5 } } }, /regime\.detector\.spreadRatio\.enter: must exceed 1/);
  bad({ detector: { flowImbalance: { enter: 1.5, exit: 0.4 } } }, /regime\.detector\.flowImbalance\.enter: must be at most 1/);
  bad({ detector: { classHaltedExitFrac: 0.6 } }, /regime\.detector\.classHaltedExitFrac/);
  bad({ detector: { minDwellMs: -1 } }, /regime\.detector\.minDwellMs/);
  bad({ detector: { nope: 1 } }, /regime\.detector: Unrecognized key/);
  bad({ tiers: { '3': { halted: { mode: 'firm' } } } }, /regime\.tiers\.3\.halted\.mode: cannot be firm/);
  bad({ tiers: { '2': { stressed: { sizeMult: 2 } } } }, /regime\.tiers\.2\.stressed\.sizeMult/);
  bad({ tiers: { '2': { stressed: { spreadMult: 0.5 } } } }, /regime\.tiers\.2\.stressed\.spreadMult/);

  const p = DEFAULT_REGIME_CONFIG.tiers;
  t.same(tierRegimeAction(p, 3, Regime.STRESSED), { mode: 'pulled', sizeMult: 1, spreadMult: 1, routeRfqToTrader: false }, 'T3 pulled');
  t.same(tierRegimeAction(p, 2, Regime.STRESSED), { mode: 'firm', sizeMult: 0.5, spreadMult: 1.5, routeRfqToTrader: false }, 'T2 smaller and wider');
  t.same(tierRegimeAction(p, 1, Regime.STRESSED), { mode: 'firm', sizeMult: 1, spreadMult: 1, routeRfqToTrader: true }, 'T1 to a trader');
  t.equal(tierRegimeAction(p, 1, Regime.HALTED).mode, 'indicative');
  t.equal(tierRegimeAction(p, 2, Regime.HALTED).mode, 'pulled');
  for (const tier of [1, 2, 3] as const) t.same(tierRegimeAction(p, tier, Regime.NORMAL), { mode: 'firm', sizeMult: 1, spreadMult: 1, routeRfqToTrader: false });
  const custom = parseRegimeConfig({ tiers: { '3': { stressed: { mode: 'indicative' } } } });
  t.equal(tierRegimeAction(custom.tiers, 3, Regime.STRESSED).mode, 'indicative', 'T3 may be indicative instead');
});

t.test('risk - the synthetic sell-off drives real market state stressed, then halts quiet names, then recovers', async (t) => {
  const config = loadDefaultConfig();
  const u = buildUniverse(config);
  const clock = new ManualClock(T0);
  const ms = new MarketState(u, clock);
  const det = new RegimeDetector(regimeInstrumentsFromConfig(config.instruments), ms, D);
  const mkt = new SyntheticMarket(config, { seed: 42, scenario: 'stressed', startMs: T0, stress: { startAfterMs: 5_000, durationMs: 20_000 } });
  const rec = newMdRecord();
  let ingest = 0;
  const sink: MdSink = {
    book(m) {
      Object.assign(rec, { kind: MdKind.BOOK, iid: u.instrumentIndex.get(m.i)!, vid: u.venueIndex.get(m.v)!, seq: m.s, srcTsMs: m.ts, bid: m.b, ask: m.a, bidSize: m.bs, askSize: m.as, side: 0 });
      ms.applyBook(rec, ingest++);
      if (ms.changed) det.update(rec.iid, clock.nowMs());
    },
    trade(m) {
      Object.assign(rec, { kind: MdKind.TRADE, iid: u.instrumentIndex.get(m.i)!, vid: u.venueIndex.get(m.v)!, seq: m.s, srcTsMs: m.ts, bid: m.p, bidSize: m.q, side: m.sd === 'b' ? 1 : -1 });
      ms.applyTrade(rec, ingest++);
      det.recordTrade(rec.iid, m.sd === 'b' ? m.q : -m.q, clock.nowMs());
      det.update(rec.iid, clock.nowMs());
    },
  };
  const n = config.instruments.length;
  const transitions = new Int32Array(n);
  const firstStressedMs = new Float64Array(n).fill(Number.NaN);
  const everHalted = new Uint8Array(n);
  const prev = new Uint8Array(n);
  const count = (r: number) => det.regime.reduce((s, x) => s + (x === r ? 1 : 0), 0);
  const snap: Record<string, [number, number]> = {};
  for (let k = 1; k <= 5_000; k++) {
    const now = T0 + k * 10;
    clock.set(now);
    mkt.generate(now, 20, sink);
    ms.sweep(now, (i) => det.update(i, now));
    det.sweep(now);
    for (let i = 0; i < n; i++) {
      const r = det.regime[i];
      if (r !== prev[i]) {
        transitions[i]++;
        if (r !== Regime.NORMAL && firstStressedMs[i] !== firstStressedMs[i] && now > T0 + 5_000) firstStressedMs[i] = now - T0;
        if (r === Regime.HALTED && now > T0 + 5_000) everHalted[i] = 1;
        prev[i] = r;
      }
    }
    if (k % 100 === 0) snap[`${k / 100}s`] = [count(Regime.STRESSED), count(Regime.HALTED)];
  }
  t.ok(snap['4s'][0] <= 3 && snap['4s'][1] === 0, `before the sell-off: ${snap['4s'][0]} of ${n} stressed, none halted`);
  t.ok(snap['10s'][0] + snap['10s'][1] >= 0.8 * n, `in the dislocation ${snap['10s'][0]} stressed + ${snap['10s'][1]} halted of ${n}`);
  const early = Array.from(firstStressedMs).filter((x) => x >= 5_000 && x <= 7_000).length;
  t.ok(early >= 0.8 * n, `${early} of ${n} turned stressed within 2 s of the sell-off starting`);
  const halted = everHalted.reduce((s, x) => s + x, 0);
  const quiet = new Uint8Array(n);
  mkt.streams.forEach((st, s) => {
    for (let x = T0 + 5_000; x < T0 + 25_000; x += 100) if (mkt.isQuiet(s, x)) quiet[st.instrumentIndex] = 1;
  });
  t.ok(halted >= 0.5 * quiet.reduce((s, x) => s + x, 0), `${halted} instruments halted while their venues were quiet`);
  t.same(Array.from(everHalted).map((h, i) => (h && !quiet[i] ? config.instruments[i].id : '')).filter(Boolean), [], 'only instruments whose venues went quiet halted');
  t.ok(snap['50s'][0] <= 0.2 * n && snap['50s'][1] === 0, `25 s after the episode: ${snap['50s'][0]} still stressed, none halted`);
  const worst = Math.max(...transitions);
  t.ok(worst <= 8, `no flapping: at most ${worst} transitions for any instrument over 50 s`);
  t.ok(det.classRegime.every((r) => r !== Regime.HALTED), 'no class halted at the end');
});
