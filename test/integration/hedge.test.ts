/**
 * The hedge router against a real nats-server, the seeded synthetic feed and the venue simulator
 * (in this process, on the feed's own market): each option is chosen in a scenario built for it,
 * checked through the hedge journal (read independently of the engine) and the venue's fills;
 * exactly one decision per trade; bad input (a fill for an unknown order, an order for an unknown
 * venue) refused and counted, changing nothing.
 */
import t from 'tap';
import { decode, encode } from '@msgpack/msgpack';
import { ErrorCode } from '../../engine/errors.js';
import type { HedgeDecisionRecord } from '../../engine/hedging/router.js';
import { venueFillSubject } from '../../engine/wire/venue.js';
import { TestClient } from '../helpers/client.js';
import { trade } from '../helpers/trades.js';
import { axedDirectory, hedgeConfig, readHedgeJournal, startHedgeRig, until, type HedgeEntry, type HedgeRig } from '../hedging/rig.js';

const dir = axedDirectory();
const config = hedgeConfig((c) => {
  // Test-sized horizons (seconds, not the production minutes) so every plan finishes inside the test:
  // a thin name's block is worked over 3 s, a hold lasts 60 s, a proxy's basis is carried 60 s.
  // STARK-35 has no proxy here (a thin name with nothing liquid to lean on); ACME-33 tracks CDX-IG closely.
  const stark = c.instruments.find((i: { id: string }) => i.id === 'STARK-35');
  stark.hedgeProxy = null;
  c.hedging = {
    router: { reviewMs: 100, retryAfterMs: 400 },
    liquidity: { low: { pacedHorizonSec: 3, pacedSlices: 4, etaBpsPerClipPerSec: 4 }, medium: { holdHorizonSec: 60 } },
    hold: { axeFillProbability: 0.9 },
    proxy: { horizonSec: 60, correlationByInstrument: { 'ACME-33': 0.95 } },
  };
});
const rig: HedgeRig = await startHedgeRig(t, { config, directory: dir });
const { te, router } = rig;
const fills: { clientOrderId: string; size: number; venueOrderId: string }[] = [];
rig.nc.subscribe('venue.*.fill', { callback: (_e, m) => fills.push(decode(m.data) as (typeof fills)[number]) });

const decisionsLive: HedgeDecisionRecord[] = [];
rig.nc.subscribe('hedge.decision.*', { callback: (_e, m) => decisionsLive.push(JSON.parse(new TextDecoder().decode(m.data))) });

async function book(instrument: string, side: 'buy' | 'sell', size: number): Promise<string> {
  const mid = te.engine.market.mid[rig.iid(instrument)];
  const tr = trade({ instrument, side, size, price: Number(mid.toPrecision(8)), mid });
  const r = await te.engine.booking.book(tr);
  if (r.kind !== 'booked') throw new Error(`trade not booked: ${JSON.stringify(r)}`);
  return tr.tradeId;
}
const decisionOf = (tradeId: string) => until(`decision for ${tradeId}`, () => router.decisions(1000).find((d) => d.tradeId === tradeId));
const entriesOf = (j: HedgeEntry[], planId: string) => j.filter((e) => e.rec.planId === planId);
const fillSum = (j: HedgeEntry[], planId: string) => entriesOf(j, planId).filter((e) => e.rec.k === 'fill').reduce((s, e) => s + (e.rec.side === 'buy' ? e.rec.size : -e.rec.size), 0);
const describe = (d: HedgeDecisionRecord) => `${d.choice} (σ ${d.volBpsPerSqrtSec} bps/√s, H ${d.halfSpreadBps} bps, ${d.regime}, ${d.marketStatus}): ${d.reasonText}`;

t.test('hedge - small liquid trade → immediate: IOC on the best venues, fills journaled, position flat again', async (t) => {
  const i = rig.iid('EURUSD');
  const tradeId = await book('EURUSD', 'buy', 1e6); // client buys 1 mm: desk short 1 mm
  const d = await decisionOf(tradeId);
  t.comment(describe(d));
  t.equal(d.choice, 'immediate', 'immediate chosen');
  t.equal(d.side, 'buy', 'the desk buys back');
  for (const k of ['immediate', 'paced', 'hold', 'proxy'] as const) t.ok(d.options && k in d.options, `estimate of ${k} recorded`);
  t.match(d.reasonText, /immediate/, 'reason in words');
  await until('plan done', () => router.plans().every((p) => p.planId !== d.planId) && te.engine.inventory.position[i] === 0, 15_000);
  const j = await readHedgeJournal(rig.nc);
  const es = entriesOf(j, d.planId);
  t.equal(es[0].rec.k, 'decision', 'decision journaled first');
  t.equal(es[0].msgId, d.planId, 'Nats-Msg-Id of the decision = planId');
  t.ok(es.some((e) => e.rec.k === 'order'), 'order intent journaled');
  const firstOrder = es.findIndex((e) => e.rec.k === 'order');
  const firstFill = es.findIndex((e) => e.rec.k === 'fill');
  t.ok(firstOrder > 0 && firstFill > firstOrder, 'intent before fills');
  t.equal(fillSum(j, d.planId), 1e6, 'journaled fills = 1 mm bought');
  t.equal(te.engine.inventory.position[i], 0, 'position flat: the fills reached inventory');
  t.ok(decisionsLive.some((x) => x.planId === d.planId), 'decision published on hedge.decision.EURUSD');
  const coids = new Set(es.filter((e) => e.rec.k === 'order').map((e) => e.rec.clientOrderId));
  const venueFilled = fills.filter((f) => coids.has(f.clientOrderId)).reduce((s, f) => s + f.size, 0);
  t.equal(venueFilled, 1e6, 'the venues filled exactly what was journaled');
});

t.test('hedge - block in a thin name → paced: child orders sliced on the timer', async (t) => {
  const i = rig.iid('STARK-35');
  const tradeId = await book('STARK-35', 'sell', 10e6); // desk long 10 mm
  const d = await decisionOf(tradeId);
  t.comment(describe(d));
  t.equal(d.choice, 'paced', 'paced chosen');
  t.ok(d.schedule.length >= 2, `${d.schedule.length} slices planned`);
  await until('paced plan finished', () => !router.plans().some((p) => p.planId === d.planId), 15_000);
  const j = await readHedgeJournal(rig.nc);
  const orders = entriesOf(j, d.planId).filter((e) => e.rec.k === 'order');
  const slices = new Set(orders.map((e) => e.rec.slice));
  t.ok(slices.size >= 2, `orders went out in ${slices.size} slices`);
  const ts = [...slices].map((s) => Math.min(...orders.filter((e) => e.rec.slice === s).map((e) => e.rec.ts)));
  t.ok(Math.max(...ts) - Math.min(...ts) >= 1000, 'slices spread over time');
  t.ok(fillSum(j, d.planId) < 0, 'the desk sold');
  // the plan may have been re-planned (the desk's own selling moves the mid): every STARK-35 fill counts
  const journaled = async () => (await readHedgeJournal(rig.nc)).filter((e) => e.rec.k === 'fill' && e.rec.instrument === 'STARK-35').reduce((s, e) => s + (e.rec.side === 'buy' ? e.rec.size : -e.rec.size), 0);
  let sum = 0;
  const end = Date.now() + 8000;
  while ((sum = await journaled()) + 10e6 !== te.engine.inventory.position[i] && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  t.equal(te.engine.inventory.position[i], 10e6 + sum, `position = trade + journaled fills (${te.engine.inventory.position[i]})`);
});

t.test('hedge - position against an opposing axe → hold: nothing sent', async (t) => {
  dir.desk = { axes: [{ instrument: 'ACME-27', side: 'sell', size: 5e6, note: 'axed to sell' }], updatedAtMs: Date.now() };
  const tradeId = await book('ACME-27', 'sell', 5e6); // desk long 5 mm, axed to sell 5 mm
  const d = await decisionOf(tradeId);
  t.comment(describe(d));
  t.equal(d.choice, 'hold', 'hold chosen');
  t.ok(d.holdUntilMs! > d.ts, 'hold horizon set');
  await new Promise((r) => setTimeout(r, 500));
  const j = await readHedgeJournal(rig.nc);
  t.equal(entriesOf(j, d.planId).filter((e) => e.rec.k === 'order').length, 0, 'no order sent');
  t.ok(router.plans().some((p) => p.planId === d.planId && p.option === 'hold'), 'the hold plan is working');
  // a client takes the position off: the hold ends without a hedge
  const t2 = await book('ACME-27', 'buy', 5e6);
  const d2 = await decisionOf(t2);
  t.equal(d2.choice, 'none', `the offsetting trade leaves nothing to hedge (${d2.reasonText})`);
  await until('hold ended', () => !router.plans().some((p) => p.planId === d.planId), 3000);
  dir.desk = { axes: [], updatedAtMs: Date.now() };
});

t.test('hedge - illiquid bond with a liquid index → proxy: CDX-IG sold by beta, unwound when the bond trades', async (t) => {
  const i = rig.iid('ACME-33');
  const p = rig.iid('CDX-IG');
  const cdx0 = te.engine.inventory.position[p];
  const tradeId = await book('ACME-33', 'sell', 5e6);
  const d = await decisionOf(tradeId);
  t.comment(describe(d));
  t.equal(d.choice, 'proxy', 'proxy chosen');
  t.equal(d.hedgeInstrument, 'CDX-IG', 'traded in the proxy');
  t.equal(d.side, 'sell', 'long the bond, beta > 0: sell the index');
  await until('proxy filled', () => te.engine.inventory.position[p] < cdx0, 5000);
  await until('proxy plan done', () => !router.plans().some((x) => x.planId === d.planId), 5000);
  t.equal(te.engine.inventory.position[i], 5e6, 'the bond itself is kept');
  const book0 = router.proxyBooks().find((b) => b.instrument === 'ACME-33');
  t.ok(book0 && book0.coveredNotional > 0 && book0.proxyNotional < 0, `basis tracked: ${JSON.stringify(book0)}`);
  // CDX-IG's own position is the proxy hedge: not hedged again
  await new Promise((r) => setTimeout(r, 400));
  t.notOk(router.decisions(1000).some((x) => x.instrument === 'CDX-IG' && x.kind === 'review'), 'the proxy position is not hedged as CDX-IG risk');
  // the bond is taken off by a client: the proxy is unwound
  await book('ACME-33', 'buy', 5e6);
  await until('proxy unwound', () => Math.abs(te.engine.inventory.position[p] - cdx0) < 1e6 && router.decisions(1000).some((x) => x.kind === 'unwind' && x.instrument === 'ACME-33'), 8000);
  t.ok(Math.abs(te.engine.inventory.position[p] - cdx0) < 1e6, `proxy unwound: CDX-IG position ${te.engine.inventory.position[p] - cdx0}`);
});

t.test('hedge - stressed regime: paced or proxy preferred over crossing at once', async (t) => {
  const services = te.engine.services;
  const saved = services.regime;
  services.regime = { regimeOf: () => 'stressed', action: () => ({ routeRfqToTrader: false, sizeMult: 1, spreadMult: 1, mode: 'firm' }), reason: () => 'test' };
  t.teardown(() => void (services.regime = saved));
  const tradeId = await book('EURUSD', 'buy', 2e6);
  const d = await decisionOf(tradeId);
  t.comment(describe(d));
  t.equal(d.regime, 'stressed', 'the regime is recorded');
  t.equal(d.options!.immediate.feasible, true, 'immediate was feasible…');
  t.equal(d.choice, 'paced', '…but paced was chosen in the stressed market');
  t.match(d.reasonText, /regime stressed: paced or proxy preferred/, 'and the reason says why');
  await until('first paced slice sent', () => router.plans().find((p) => p.planId === d.planId && p.nextSlice >= 1), 5000);
  // back to normal; the 60 s plan is cancelled and what is left is decided again (immediate now)
  services.regime = saved;
  await router.cancelWorking({ level: 'instrument', target: 'EURUSD' }, 'test over');
  await until('EURUSD flat again', () => te.engine.inventory.position[rig.iid('EURUSD')] === 0, 20_000);
  t.ok(router.decisions(1000).some((x) => x.kind === 'review' && x.instrument === 'EURUSD' && x.ts > d.ts), 'the residual was decided again by the timer');
});

t.test('hedge - a refused child order is recorded with its code and retried only after retryAfterMs', async (t) => {
  const services = te.engine.services;
  const saved = services.hedgeGuard;
  let asked = 0;
  // every child order is refused; only EURUSD's are counted (earlier tests' residuals in other names may be reviewed meanwhile)
  services.hedgeGuard = { checkOrder: (o) => (o.instrument === 'EURUSD' && asked++, { code: ErrorCode.RISK_COLLAR, message: 'test: outside the collar' }), onOrder() {}, onFill() {} };
  t.teardown(() => void (services.hedgeGuard = saved));
  const i = rig.iid('EURUSD');
  const tradeId = await book('EURUSD', 'sell', 1e6);
  const d = await decisionOf(tradeId);
  await new Promise((r) => setTimeout(r, 1200));
  const j = await readHedgeJournal(rig.nc);
  const refused = entriesOf(j, d.planId).filter((e) => e.rec.k === 'refused');
  t.ok(refused.length >= 1, `refusals journaled (${refused.length})`);
  t.ok(refused.every((e) => e.rec.code === ErrorCode.RISK_COLLAR), 'with the guard\'s code');
  t.ok(asked <= 6, `no hot retry loop (at most one attempt per retryAfterMs, plus the first): the guard was asked ${asked} times in 1.2 s (retryAfterMs 400)`);
  t.equal(entriesOf(j, d.planId).filter((e) => e.rec.k === 'order').length, 0, 'nothing sent');
  t.equal(te.engine.inventory.position[i], 1e6, 'position unchanged');
  services.hedgeGuard = saved;
  await until('hedged once the guard allows it', () => te.engine.inventory.position[i] === 0, 15_000);
  t.equal(te.engine.inventory.position[i], 0, 'hedged after the guard allowed it');
});

t.test('hedge - cancelWorking (kill switch) ends the working plan in scope', async (t) => {
  const tradeId = await book('STARK-35', 'sell', 10e6);
  const d = await decisionOf(tradeId);
  t.equal(d.choice, 'paced', 'a paced plan is working');
  await until('first slice sent', () => router.plans().find((p) => p.planId === d.planId && p.nextSlice >= 1), 5000);
  t.equal(await router.cancelWorking({ level: 'instrument', target: 'EURUSD' }, 'other instrument'), 0, 'out of scope: nothing cancelled');
  const n = await router.cancelWorking({ level: 'instrument', target: 'STARK-35' }, 'test kill');
  t.ok(n >= 1, `${n} child orders will not be sent`);
  t.notOk(router.plans().some((p) => p.planId === d.planId), 'the plan is no longer working');
  const j = await readHedgeJournal(rig.nc);
  const end = entriesOf(j, d.planId).find((e) => e.rec.k === 'plan');
  t.equal(end?.rec.state, 'cancelled', 'plan end journaled as cancelled');
  t.match(end?.rec.reason, /kill switch: test kill/, 'with the reason');
});

t.test('hedge - exactly one decision per trade; bad input refused and counted', async (t) => {
  const ids: string[] = [];
  for (let k = 0; k < 10; k++) ids.push(await book('EURUSD', k % 2 ? 'buy' : 'sell', 1e6));
  await until('all decided', () => ids.every((id) => router.decisions(1000).some((d) => d.tradeId === id)), 5000);
  // the same trade again: booking answers from its ledger, no second decision
  await router.idle();
  const j = await readHedgeJournal(rig.nc);
  const perTrade = new Map<string, number>();
  for (const e of j) if (e.rec.k === 'decision' && e.rec.tradeId) perTrade.set(e.rec.tradeId, (perTrade.get(e.rec.tradeId) ?? 0) + 1);
  t.ok(ids.every((id) => perTrade.get(id) === 1), 'one journaled decision for each trade');
  t.ok([...perTrade.values()].every((n) => n === 1), 'no trade decided twice');

  // a fill for an order the router never sent
  const before = [...te.engine.inventory.position];
  const unknown0 = router.stats.unknownFills;
  rig.nc.publish(venueFillSubject('venue', 'EBS'), encode({ fillId: 'EBS-F999999', venue: 'EBS', venueOrderId: 'EBS-999', orderId: 'x', clientOrderId: 'Dforged-1', instrument: 'EURUSD', side: 'buy', price: 1.08, size: 1e6, leavesSize: 0, ts: Date.now() }));
  await until('forged fill counted', () => router.stats.unknownFills > unknown0, 3000);
  t.same([...te.engine.inventory.position], before, 'a fill for an unknown order changes no position');
  // an order for a venue that does not list the instrument
  t.equal(router.checkVenue('ICE', rig.iid('EURUSD'))?.code, ErrorCode.HEDGE_UNKNOWN_VENUE, 'order to a venue not listing the instrument: coded');
  t.equal(router.checkVenue('NOPE', rig.iid('EURUSD'))?.code, ErrorCode.HEDGE_UNKNOWN_VENUE, 'order to an unknown venue: coded');
  t.equal(router.checkVenue('EBS', rig.iid('EURUSD')), null, 'a listed venue passes');
  const metrics = await te.engine.registry.metrics();
  t.match(metrics, /qe_hedge_errors_total\{code="QE_HEDGE_UNKNOWN_ORDER"\} [1-9]/, 'unknown-order fills counted in metrics');
  t.match(metrics, /qe_hedge_decision_latency_seconds_count [1-9]/, 'decision latency histogram filled');
  t.match(metrics, /qe_hedge_decisions_total\{option="immediate"\} [1-9]/, 'decisions counted by option');
});

t.test('hedge - the desk reads plans and decisions over WebSocket; decisions are pushed; a client is refused', async (t) => {
  const desk = await TestClient.connect(te.url, TestClient.token(te.secret, 'desk', 600, 'trader'));
  const client = await TestClient.connect(te.url, TestClient.token(te.secret, 'atlas'));
  t.teardown(() => {
    desk.close();
    client.close();
  });
  const tradeId = await book('EURUSD', 'sell', 1e6);
  const pushed = await desk.waitFor((f) => f.t === 'hedge_decision' && f.decision?.tradeId === tradeId, 5000, 'hedge_decision push');
  t.match(pushed.decision, { tradeId, instrument: 'EURUSD', reasonText: String }, 'the live decision is pushed with its reason');
  desk.send({ t: 'hedges', id: 'h1' });
  const r = await desk.waitFor((f) => f.t === 'hedges' && f.id === 'h1');
  t.ok(Array.isArray(r.plans), 'working plans');
  t.ok(r.decisions.some((d: HedgeDecisionRecord) => d.tradeId === tradeId), 'the newest decisions include it');
  client.send({ t: 'hedges', id: 'c1' });
  t.match(await client.waitFor((f) => f.id === 'c1'), { t: 'rejected', code: 'QE_RFQ_NOT_ENTITLED' }, 'a client token is refused');
  t.notOk(client.frames.some((f) => f.t === 'hedge_decision'), 'clients never get decisions');
  desk.send({ t: 'hedges', id: 'h2', x: 1 });
  t.match(await desk.waitFor((f) => f.id === 'h2'), { t: 'error', code: 'QE_WS_BAD_MESSAGE' }, 'an unknown field is refused');
});
