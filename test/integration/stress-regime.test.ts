/**
 * The stressed sell-off replayed deterministically through a real nats-server and a real engine:
 * the seeded synthetic generator publishes each 20 ms step of market time, the engine's clock is a
 * ManualClock advanced only once the engine has applied the step, and the regime is evaluated by the
 * test at each step (regime.evalEveryMs 0), so every run sees the same transitions at the same
 * market times. Tier-1, 2 and 3 clients and a trader watch over WebSocket; a NATS subscriber reads
 * the published changes.
 */
import { encode } from '@msgpack/msgpack';
import { connect } from 'nats';
import t from 'tap';
import { mintToken } from '../../engine/auth/token.js';
import { ManualClock } from '../../engine/clock.js';
import { buildUniverse, type Config } from '../../engine/config.js';
import { MarketState } from '../../engine/market/state.js';
import { RegimeService } from '../../engine/risk/regime-service.js';
import { MdKind, bookSubject, newMdRecord, tradeSubject } from '../../engine/wire/market-data.js';
import { SyntheticMarket, type BookMsg, type MdSink, type TradeMsg } from '../../feeds/synthetic.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { demoDirectory } from '../helpers/directory.js';
import { quietLog, startTestEngine, testConfig } from '../helpers/engine.js';

const STEP_MS = 20;
const MSGS_PER_STEP = 8;
const SEED = 42;
const STRESS = { startAfterMs: 5_000, durationMs: 20_000 };
const END_MS = 60_000;
/** Sell-off start → tier 3 pulled, in market time. */
const T3_BUDGET_MS = 2_000;

function stressConfig(): Config {
  return testConfig((c: any) => {
    // the test sweeps staleness itself, at each step's market time (see the loop)
    c.market = { ...c.market, staleSweepMs: 10_000 };
    c.regime = { evalEveryMs: 0 };
  });
}

/** An instrument none of whose venues goes quiet: it is stressed by its market, never halted by silence. */
function watchedInstrument(mkt: SyntheticMarket, t0: number): number {
  const quiet = new Set<number>();
  mkt.streams.forEach((st, s) => {
    for (let x = t0; x < t0 + END_MS; x += 50) if (mkt.isQuiet(s, x)) quiet.add(st.instrumentIndex);
  });
  for (let i = 0; i < mkt.streams.length; i++) if (!quiet.has(mkt.streams[i].instrumentIndex)) return mkt.streams[i].instrumentIndex;
  return -1;
}

const wireBook = (m: BookMsg) => encode({ i: m.i, v: m.v, s: m.s, ts: m.ts, b: m.b, a: m.a, bs: m.bs, as: m.as });
const wireTrade = (m: TradeMsg) => encode({ i: m.i, v: m.v, s: m.s, ts: m.ts, p: m.p, q: m.q, sd: m.sd });

/**
 * The same replay with no broker and no engine: MarketState + RegimeService in-process, applying each
 * step at the previous step's time, then sweeping and evaluating at the step's time, as the engine does
 * in the test below. Returns every instrument change as "sim-ms id from→to".
 */
function replayInProcess(config: Config, t0: number): string[] {
  const u = buildUniverse(config);
  const clock = new ManualClock(t0);
  const ms = new MarketState(u, clock);
  const svc = new RegimeService({ config: config.regime, instruments: config.instruments, market: ms, clock, overlay: { set() {}, clear() {} }, log: quietLog });
  const out: string[] = [];
  svc.onChange((c) => {
    if (c.scope === 'instrument') out.push(`${c.ts - t0} ${c.id} ${c.from}→${c.to}`);
  });
  const mkt = new SyntheticMarket(config, { seed: SEED, scenario: 'stressed', startMs: t0, stress: STRESS });
  const rec = newMdRecord();
  let seq = 0;
  const sink: MdSink = {
    book(m) {
      Object.assign(rec, { kind: MdKind.BOOK, iid: u.instrumentIndex.get(m.i)!, vid: u.venueIndex.get(m.v)!, seq: m.s, srcTsMs: m.ts, bid: m.b, ask: m.a, bidSize: m.bs, askSize: m.as, side: 0, pubMonoUs: 0 });
      ms.applyBook(rec, ++seq);
    },
    trade(m) {
      Object.assign(rec, { kind: MdKind.TRADE, iid: u.instrumentIndex.get(m.i)!, vid: u.venueIndex.get(m.v)!, seq: m.s, srcTsMs: m.ts, bid: m.p, bidSize: m.q, side: m.sd === 'b' ? 1 : -1, pubMonoUs: 0 });
      ms.applyTrade(rec, ++seq);
    },
  };
  for (let now = t0 + STEP_MS; now <= t0 + END_MS; now += STEP_MS) {
    mkt.generate(now, MSGS_PER_STEP, sink);
    clock.set(now);
    ms.sweep(now, () => undefined);
    svc.evaluate(now);
  }
  return out;
}

const halfWidth = (f: Frame) => (f.l[0][2] - f.l[0][1]) / 2;

t.test('stress - the sell-off replayed: stressed, tier 3 pulled, tier 2 smaller and wider, tier 1 RFQs to a trader, then recovery', async (t) => {
  const config = stressConfig();
  const T0 = Math.floor(Date.now());
  const clock = new ManualClock(T0);
  const te = await startTestEngine(t, { config, engine: { clock, directory: demoDirectory() } });
  const svc = te.engine.services.regime as RegimeService;
  t.ok(svc instanceof RegimeService, 'the regime module is attached and offers its service');
  t.equal(te.engine.rfq.regime, svc, 'the RFQ service reads the same RegimeView');

  const mkt = new SyntheticMarket(config, { seed: SEED, scenario: 'stressed', startMs: T0, stress: STRESS });
  const W = watchedInstrument(mkt, T0);
  t.ok(W >= 0, 'the seed leaves at least one instrument whose venues never go quiet');
  const wid = config.instruments[W].id;
  const lot = config.instruments[W].lotSize;

  // clients: tokens on the engine's (manual) clock
  const token = (sub: string, role: 'client' | 'trader') => mintToken(te.secret, { sub, role }, 3600, Math.floor(T0 / 1000));
  const open = async (sub: string, role: 'client' | 'trader' = 'client') => {
    const c = await TestClient.connect(te.url, token(sub, role));
    await c.waitFor((f) => f.t === 'hello');
    t.teardown(() => c.close());
    return c;
  };
  const c1 = await open('northwind');
  const c2 = await open('meridian');
  const c3 = await open('atlas');
  const desk = await open('desk', 'trader');
  for (const c of [c1, c2, c3]) c.send({ t: 'sub', i: [wid] });
  const nc = await connect({ servers: te.broker.url });
  t.teardown(() => nc.close());
  const natsChanges: Record<string, unknown>[] = [];
  nc.subscribe(`${config.regime.subjectPrefix}.>`, { callback: (_e, m) => natsChanges.push({ subject: m.subject, ...JSON.parse(new TextDecoder().decode(m.data)) }) });
  await nc.flush();

  // market data publisher and the step barrier: every published message applied by the engine
  let sent = 0;
  const prefix = config.nats.mdPrefix;
  const sink: MdSink = {
    book(m) {
      te.pub.publish(bookSubject(prefix, m.i, m.v), wireBook(m));
      sent++;
    },
    trade(m) {
      te.pub.publish(tradeSubject(prefix, m.i, m.v), wireTrade(m));
      sent++;
    },
  };
  const mdMetric = te.engine.registry.getSingleMetric('qe_md_messages_total')!;
  const applied = async () => (await mdMetric.get()).values.reduce((s, v) => s + v.value, 0);
  const barrier = async () => {
    await te.pub.flush();
    const end = Date.now() + 5_000;
    while ((await applied()) < sent) {
      if (Date.now() > end) throw new Error(`engine applied ${await applied()} of ${sent} messages`);
      await new Promise((r) => setImmediate(r));
    }
  };

  const events: Array<[number, string]> = [];
  const note = (what: string) => events.push([clock.nowMs() - T0, what]);
  const rfqAnswer = async (c: TestClient, id: string) => {
    c.send({ t: 'rfq', id, i: wid, side: 'buy', size: config.instruments[W].minSize });
    return c.waitFor((f) => (f.t === 'rfq' || f.t === 'quote_firm' || f.t === 'rejected' || f.t === 'error') && f.id === id, 5_000, `answer to ${id}`);
  };

  /** Pricing idle, then a ping answered on every socket: every frame published so far has been received. */
  let pings = 0;
  const settle = async () => {
    const end = Date.now() + 5_000;
    while (te.engine.hot.busy) {
      if (Date.now() > end) throw new Error('pricing never went idle');
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all([c1, c2, c3, desk].map((c) => {
      const id = `p${++pings}`;
      c.send({ t: 'ping', id });
      return c.waitFor((f) => f.t === 'pong' && f.id === id, 5_000, 'pong');
    }));
  };
  const lastQuote = (c: TestClient) => c.quotes(wid).at(-1)!;
  const sizes = (f: Frame) => f.l.map((l: number[]) => l[0]);

  let normalT2: Frame | undefined;
  let normalT1: Frame | undefined;
  let stressedSeen = false;
  let recovered = false;
  let rfqBefore: Frame | undefined;
  for (let now = T0 + STEP_MS; now <= T0 + END_MS && !recovered; now += STEP_MS) {
    mkt.generate(now, MSGS_PER_STEP, sink);
    await barrier();
    clock.set(now);
    te.engine.hot.sweep();
    const before = svc.regimeOf(W);
    svc.evaluate(now);
    const after = svc.regimeOf(W);

    if (after === 'normal' && !stressedSeen && rfqBefore === undefined && now - T0 >= 4_000) {
      // the calm market just before the sell-off: baselines, and a tier-1 RFQ that queues as tier 1 always does
      await settle();
      normalT2 = lastQuote(c2);
      normalT1 = lastQuote(c1);
      rfqBefore = await rfqAnswer(c1, 'calm');
    }
    if (before === 'normal' && after !== 'normal' && !stressedSeen) {
      stressedSeen = true;
      note(`regime ${after}`);
      await settle();
      const reg = c1.frames.filter((f) => f.t === 'regime' && f.i === wid).at(-1);
      t.equal(reg?.regime, after, 'every session is told');
      t.match(reg?.reason, /σ|jump|spread|flow|venue/, `with the signals that tripped: ${reg?.reason}`);
      t.equal(reg?.serverTime, now, 'stamped with the engine clock');
      // tier 3: an explicit pulled frame naming the regime, before market time moves on
      const f3 = lastQuote(c3);
      t.equal(f3.st, 'pulled', 'tier 3 pulled');
      t.equal(f3.rs, 'regime', 'with rs = regime');
      t.same(f3.l, [], 'no prices in it');
      note('tier 3 pulled');
      t.ok(now - T0 - STRESS.startAfterMs <= T3_BUDGET_MS, `tier 3 pulled ${now - T0 - STRESS.startAfterMs} ms of market time after the sell-off began (budget ${T3_BUDGET_MS} ms)`);
      // tier 2: firm, smaller and wider; tier 1 unchanged
      const f2 = lastQuote(c2);
      const f1 = lastQuote(c1);
      t.equal(f2.st, 'firm', 'tier 2 keeps streaming firm');
      t.ok(normalT2 && normalT1, 'calm baselines were recorded');
      const halved = sizes(normalT2!).map((x: number) => Math.floor((x * 0.5) / lot) * lot);
      t.same(sizes(f2), halved.slice(0, f2.l.length), `tier-2 sizes ${sizes(f2)} = half of ${sizes(normalT2!)}`);
      t.ok(f2.l.length > 0, 'tier 2 still shows prices');
      const calmRatio = halfWidth(normalT2!) / halfWidth(normalT1!);
      const stressRatio = halfWidth(f2) / halfWidth(f1);
      t.ok(stressRatio / calmRatio > 1.3 && stressRatio / calmRatio < 1.7, `tier-2 / tier-1 band-0 half-width: ${calmRatio.toFixed(3)} calm, ${stressRatio.toFixed(3)} stressed (policy 1.5×)`);
      t.equal(f1.st, 'firm', 'tier 1 keeps its firm prices');
      t.same(sizes(f1), sizes(normalT1!), 'tier 1 keeps every band at full size');
      note('tier 2 smaller and wider');
      // tier 1: every RFQ to a trader, with the regime stated
      const q = await rfqAnswer(c1, 'stressed');
      t.equal(q.state, 'queued', 'the tier-1 RFQ is queued for a human');
      t.equal(q.reason, 'stressed', 'with reason stressed');
      const view = await desk.waitFor((f) => f.t === 'rfq_queue' && f.rfq.rfqId === q.rfqId, 5_000, 'trader queue entry');
      t.equal(view.rfq.regime, `stressed: ${reg?.reason}`, `the trader sees the regime and why: ${view.rfq.regime}`);
      t.same(svc.action(W, 1), { mode: 'firm', sizeMult: 1, spreadMult: 1, routeRfqToTrader: true }, 'RegimeView: tier 1 firm, routed');
      note('tier 1 RFQ queued stressed');
    }
    if (stressedSeen && before !== 'normal' && after === 'normal') {
      note('regime normal');
      await settle();
      t.equal(c1.frames.filter((f) => f.t === 'regime' && f.i === wid).at(-1)?.regime, 'normal', 'every session is told: normal');
      const f3 = lastQuote(c3);
      t.equal(f3.st, 'firm', 'tier 3 is quoted firm again');
      t.ok(f3.l.length > 0, 'with prices');
      t.same(sizes(lastQuote(c2)), sizes(normalT2!), 'tier 2 back to full size');
      const q = await rfqAnswer(c1, 'after');
      t.equal(q.reason, 'tier1', 'tier-1 RFQs queue as tier 1 again, not stressed');
      note('recovered: firm quotes');
      recovered = true;
    }
  }
  t.equal(rfqBefore?.reason, 'tier1', 'before the sell-off a tier-1 RFQ queues as tier 1 (not stressed)');
  t.same(events.map((e) => e[1]), ['regime stressed', 'tier 3 pulled', 'tier 2 smaller and wider', 'tier 1 RFQ queued stressed', 'regime normal', 'recovered: firm quotes'], `in order: ${JSON.stringify(events)}`);

  // NATS: the same changes, with the signals
  await nc.flush();
  const mine = natsChanges.filter((c) => c.subject === `${config.regime.subjectPrefix}.instrument.${wid}`);
  t.ok(mine.length >= 2, `${mine.length} changes of ${wid} published on NATS`);
  t.match(mine[0], { scope: 'instrument', id: wid, from: 'normal', to: 'stressed', reason: String, signals: { venues: 3, spreadRatio: Number } }, 'NATS: normal → stressed with the signal values');
  t.equal(mine.at(-1)!.to, 'normal', 'NATS: back to normal last');

  // regime messages reach desk sessions for every instrument, clients only for what they stream
  t.ok(c1.frames.some((f) => f.t === 'regime') && c1.frames.every((f) => f.t !== 'regime' || f.i === wid), `northwind (subscribed to ${wid} only) heard of ${wid} alone`);
  // no flapping: per instrument, few changes, and never back towards normal before the dwell
  const byIns = new Map<string, number[]>();
  for (const f of desk.frames) if (f.t === 'regime') byIns.set(f.i, [...(byIns.get(f.i) ?? []), f.serverTime]);
  for (const [id, times] of byIns) {
    t.ok(times.length <= 4, `${id}: ${times.length} regime changes over the episode`);
  }
  const d = config.regime.detector;
  const exits = natsChanges.filter((c) => c.scope === 'instrument' && (c.to === 'normal' || (c.to === 'stressed' && c.from === 'halted')));
  for (const x of exits) {
    const prior = natsChanges.filter((c) => c.id === x.id && (c.ts as number) < (x.ts as number)).at(-1);
    t.ok(prior && (x.ts as number) - (prior.ts as number) >= d.minDwellMs, `${x.id} ${x.from}→${x.to} after ${(x.ts as number) - (prior!.ts as number)} ms ≥ minDwellMs`);
  }

  // deterministic: the engine over NATS made exactly the changes of the same replay in-process
  const engineSeq = natsChanges.filter((c) => c.scope === 'instrument').map((c) => `${(c.ts as number) - T0} ${c.id} ${c.from}→${c.to}`);
  const inProcess = replayInProcess(config, T0).filter((s) => Number(s.split(' ')[0]) <= Math.max(...events.map((e) => e[0])));
  t.same(engineSeq, inProcess, 'same transitions at the same market times as an in-process replay');

  // the `regimes` request: every instrument not normal now (none: all recovered or not)
  c1.send({ t: 'regimes', id: 7 });
  const rs = await c1.waitFor((f) => f.t === 'regimes' && f.id === 7, 5_000, 'regimes answer');
  t.same(rs.instruments.map((x: { i: string }) => x.i), svc.abnormal().instruments.map((x) => x.i), 'regimes lists the non-normal instruments');
  t.notOk(rs.instruments.some((x: { i: string }) => x.i === wid), `${wid} is normal again`);
});

t.test('stress - spread noise around the enter and the exit thresholds moves the regime, and the tier-3 stream, once each way', async (t) => {
  const config = stressConfig();
  const clock = new ManualClock(Math.floor(Date.now()));
  const te = await startTestEngine(t, { config, engine: { clock, directory: demoDirectory() } });
  const svc = te.engine.services.regime as RegimeService;
  const d = config.regime.detector;
  const ID = 'ACME-27';
  const W = config.instruments.findIndex((i) => i.id === ID);
  const c3 = await TestClient.connect(te.url, mintToken(te.secret, { sub: 'atlas', role: 'client' }, 3600, Math.floor(clock.nowMs() / 1000)));
  t.teardown(() => c3.close());
  await c3.waitFor((f) => f.t === 'hello');
  c3.send({ t: 'sub', i: [ID] });
  await c3.waitFor((f) => f.t === 'subscribed');

  const mdMetric = te.engine.registry.getSingleMetric('qe_md_messages_total')!;
  const applied = async () => (await mdMetric.get()).values.reduce((s, v) => s + v.value, 0);
  let sent = 0;
  let mid = 101.2;
  /** 100 ms of market time: one book per venue at ±1 bp around the mid with the given composite half-spread */
  const step = async (halfSpreadBps: number) => {
    mid = mid === 101.2 ? 101.21 : 101.2;
    te.tickAll(ID, mid, halfSpreadBps);
    sent += config.instruments[W].venues.length;
    await te.pub.flush();
    while ((await applied()) < sent) await new Promise((r) => setImmediate(r));
    clock.advance(100);
    te.engine.hot.sweep();
    svc.evaluate(clock.nowMs());
  };
  for (let k = 0; k < d.spreadWarmupUpdates + 20; k++) await step(5);
  t.equal(svc.regimeOf(W), 'normal', 'calm after the warm-up');
  const base = svc.detector.normalHalfSpreadBps[W];
  const changes: string[] = [];
  svc.onChange((c) => {
    if (c.id === ID) changes.push(`${c.from}→${c.to}`);
  });

  // 30 s flickering across the enter threshold: 2.4× / 2.6× the learnt normal spread
  for (let k = 0; k < 300; k++) await step(base * (k % 2 === 0 ? d.spreadRatio.enter - 0.1 : d.spreadRatio.enter + 0.1));
  t.same(changes, ['normal→stressed'], 'stressed once, and it stays so while the noise straddles the enter threshold');
  // 30 s flickering across the exit threshold: every other reading above it keeps the clear timer from running
  for (let k = 0; k < 300; k++) await step(base * (k % 2 === 0 ? d.spreadRatio.exit - 0.1 : d.spreadRatio.exit + 0.1));
  t.same(changes, ['normal→stressed'], 'still stressed: noise across the exit threshold is not a clear spell');
  // calm: normal again after exitClearMs
  let calmSteps = 0;
  while (svc.regimeOf(W) !== 'normal' && calmSteps < 200) {
    await step(base);
    calmSteps++;
  }
  t.same(changes, ['normal→stressed', 'stressed→normal'], 'back to normal once every signal stayed below its exit threshold');
  // its own clear spell, then its asset class's (ACME-27 is the only corporate bond here: the class
  // counts it stressed until it is normal, then waits out its own clear spell)
  t.ok(calmSteps * 100 >= 2 * d.exitClearMs && calmSteps * 100 <= 2 * d.exitClearMs + 300, `after ${calmSteps * 100} ms of calm (2 × exitClearMs ${d.exitClearMs})`);
  t.equal(svc.detector.regime[W], 0, 'its own regime normal');

  // the tier-3 stream followed: firm → pulled (regime) → firm, no flapping in between
  while (te.engine.hot.busy) await new Promise((r) => setTimeout(r, 1));
  c3.send({ t: 'ping', id: 'end' });
  await c3.waitFor((f) => f.t === 'pong' && f.id === 'end');
  const states: string[] = [];
  for (const f of c3.quotes(ID)) {
    const s = `${f.st}${f.rs ? `/${f.rs}` : ''}`;
    if (states.at(-1) !== s) states.push(s);
  }
  t.same(states.slice(states.indexOf('firm')), ['firm', 'pulled/regime', 'firm'], `tier-3 states: ${states.join(' → ')}`);

  // the regimes request: refuses unknown fields, answers with the (empty) list
  c3.send({ t: 'regimes', id: 'x', tier: 1 });
  const err = await c3.waitFor((f) => f.t === 'error' && f.id === 'x');
  t.equal(err.code, 'QE_WS_BAD_MESSAGE', 'regimes with another field is refused');
  c3.send({ t: 'regimes', id: 'y' });
  const ok = await c3.waitFor((f) => f.t === 'regimes' && f.id === 'y');
  t.same([ok.instruments, ok.classes], [[], []], 'all normal: empty lists');
});
