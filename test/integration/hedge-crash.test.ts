/**
 * R20 for hedging under kill -9: an engine child process (test/helpers/engine-child.ts) is SIGKILLed
 * at random points while a client streams trades at it and the router hedges them against the venue
 * simulator (in this process, with latency, on the feed's own market), then started again. At the end:
 *
 *   - every trade in the trade journal has exactly one decision in the hedge journal;
 *   - no clientOrderId was executed twice at the venue (one venue order per id, fills ≤ its size),
 *     and every order the venue saw was journaled as an intent first;
 *   - every execution the venue made for a settled order is in the hedge journal, exactly once;
 *   - after every restart, inventory = the trade journal + the hedge journal's fills (up to what the
 *     engine had replayed), and no Nats-Msg-Id is in the hedge journal twice.
 */
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { decode } from '@msgpack/msgpack';
import { connect } from 'nats';
import { deskQty } from '../../engine/booking/trade.js';
import { startFeed } from '../../feeds/publisher.js';
import { startVenueSim } from '../../feeds/venue-sim.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { spawnEngineChild, type EngineChild } from '../helpers/engine-child-proc.js';
import { startBroker } from '../helpers/nats.js';
import { readJournal } from '../helpers/trades.js';
import { hedgeConfig, readHedgeJournal, type HedgeEntry } from '../hedging/rig.js';

const KILLS = Number(process.env.QE_HEDGE_KILLS ?? 18);
const INSTRUMENT = 'EURUSD';

type Child = EngineChild;

t.test(`hedge crash - SIGKILL at ${KILLS} random points while hedging: one decision per trade, no order twice, inventory = trades + journaled fills`, async (t) => {
  const broker = await startBroker(t);
  const config = hedgeConfig((c) => {
    c.instruments = c.instruments.filter((i: { id: string }) => i.id === INSTRUMENT);
    c.rfq = { streamHistory: 16, streamTtlMs: 2000 };
    c.booking = { ackTimeoutMs: 1000, maxAttempts: 2 };
    c.hedging = { router: { reviewMs: 50, retryAfterMs: 200, venueTimeoutMs: 500 } };
  });
  const iid = 0;
  const secret = randomBytes(32);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NATS_URL: broker.url, QE_TEST_SECRET: secret.toString('hex'), QE_TEST_CONFIG: JSON.stringify(config) };
  const nc = await connect({ servers: broker.url });
  const feedNc = await connect({ servers: broker.url });
  const simNc = await connect({ servers: broker.url });
  const feed = startFeed({ nc: feedNc, config, seed: 23, scenario: 'normal', ratePerSec: 300 });
  // latency widens the window in which a kill lands between an order's intent and its result
  const sim = startVenueSim({ nc: simNc, config, market: feed.market, options: { latencyFloorMs: 1, latencyMeanMs: 4 } });
  await sim.ready;
  const venueFills: { clientOrderId: string; venueOrderId: string; size: number; side: string }[] = [];
  nc.subscribe('venue.*.fill', { callback: (_e, m) => venueFills.push(decode(m.data) as (typeof venueFills)[number]) });
  const live = new Set<ChildProcess>();
  t.teardown(async () => {
    for (const p of live) p.kill('SIGKILL');
    await feed.stop();
    await sim.stop();
    await Promise.all([nc.close(), feedNc.close(), simNc.close()]);
  });

  const spawnChild = (): Child => spawnEngineChild(env, live);

  // inventory the journals account for: trades up to the engine's trade sequence, fills up to its hedge sequence
  const expected = async (lastSeq: number, hedgeSeq: number | null) => {
    if (hedgeSeq === null) throw new Error('the engine child runs without its hedge router');
    let p = config.instruments[iid].initialPosition;
    for (const e of await readJournal(nc)) if (e.seq <= lastSeq && typeof e.trade !== 'string' && e.trade.instrument === INSTRUMENT) p += deskQty(e.trade);
    for (const e of await readHedgeJournal(nc).catch(() => [] as HedgeEntry[])) if (e.seq <= hedgeSeq && e.rec.k === 'fill') p += e.rec.side === 'buy' ? e.rec.size : -e.rec.size;
    return p;
  };

  const rnd = (() => {
    let s = 0x2545f491;
    return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
  })();
  let mismatches = 0;
  const mismatchText: string[] = [];
  let sent = 0;
  let next = 0;
  const started = Date.now();
  const queue: Child[] = [spawnChild(), spawnChild()];
  for (let k = 0; k < KILLS; k++) {
    const cur = queue.shift()!;
    await cur.loaded;
    cur.go();
    const ready = await cur.ready;
    queue.push(spawnChild());
    const want = await expected(ready.lastSeq, ready.hedgeSeq);
    if (Math.abs(ready.positions[iid] - want) > 1e-6) {
      mismatches++;
      mismatchText.push(`restart ${k}: position ${ready.positions[iid]}, journals ${want}`);
    }
    const c = await TestClient.connect(`ws://127.0.0.1:${ready.port}`, TestClient.token(secret, 'atlas'));
    c.send({ t: 'sub', i: [INSTRUMENT] });
    let frame: Frame = await c.waitFor((f) => f.t === 'q' && f.st === 'firm' && f.l.length > 0, 8000, 'firm quote after restart');
    c.ws.on('message', () => {
      const f = c.frames[c.frames.length - 1];
      if (f.t === 'q' && f.st === 'firm' && f.l.length > 0) frame = f;
    });
    // a few trades, then a kill at a random point while they are being hedged
    const burstEnd = Date.now() + 20 + rnd() * 150;
    while (Date.now() < burstEnd) {
      const side = rnd() < 0.5 ? 'buy' : 'sell';
      const lv = frame.l[0];
      c.send({ t: 'trade', i: INSTRUMENT, side, size: lv[0], price: side === 'buy' ? lv[2] : lv[1], sq: frame.sq, acceptId: `h${k}-${next++}` });
      sent++;
      await new Promise((r) => setTimeout(r, 5 + rnd() * 15));
    }
    await new Promise((r) => setTimeout(r, rnd() * 60));
    cur.proc.kill('SIGKILL');
    await cur.exited;
    c.close();
  }

  // a last start: late decisions for trades the kills left undecided, in-flight orders re-queried; then a clean stop
  const last = queue.shift()!;
  for (const extra of queue) extra.proc.kill('SIGKILL');
  await last.loaded;
  last.go();
  const final = await last.ready;
  const wantFinal = await expected(final.lastSeq, final.hedgeSeq);
  if (Math.abs(final.positions[iid] - wantFinal) > 1e-6) {
    mismatches++;
    mismatchText.push(`final restart: position ${final.positions[iid]}, journals ${wantFinal}`);
  }
  const trades = (await readJournal(nc)).filter((e) => typeof e.trade !== 'string').map((e) => (e.trade as { tradeId: string }).tradeId);
  const decisionsPerTrade = async () => {
    const m = new Map<string, number>();
    for (const e of await readHedgeJournal(nc)) if (e.rec.k === 'decision' && e.rec.tradeId) m.set(e.rec.tradeId, (m.get(e.rec.tradeId) ?? 0) + 1);
    return m;
  };
  let per = await decisionsPerTrade();
  const end = Date.now() + 15_000;
  while (trades.some((id) => !per.has(id)) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 250));
    per = await decisionsPerTrade();
  }
  await new Promise((r) => setTimeout(r, 1000)); // let the last orders settle
  last.proc.kill('SIGTERM');
  const stopped = await last.stopped;
  await last.exited;
  await new Promise((r) => setTimeout(r, 100));

  const j = await readHedgeJournal(nc);
  per = await decisionsPerTrade();
  const msgIds = new Set<string>();
  let dupMsgIds = 0;
  for (const e of j) {
    if (e.msgId === undefined || msgIds.has(e.msgId)) dupMsgIds++;
    else msgIds.add(e.msgId);
  }
  const intents = new Map(j.filter((e) => e.rec.k === 'order').map((e) => [e.rec.clientOrderId as string, e.rec]));
  const results = new Set(j.filter((e) => e.rec.k === 'result').map((e) => e.rec.clientOrderId as string));
  const journalFilled = new Map<string, number>();
  for (const e of j) if (e.rec.k === 'fill') journalFilled.set(e.rec.clientOrderId, (journalFilled.get(e.rec.clientOrderId) ?? 0) + e.rec.size);
  const venueByOrder = new Map<string, { venueOrderIds: Set<string>; size: number }>();
  for (const f of venueFills) {
    const v = venueByOrder.get(f.clientOrderId) ?? { venueOrderIds: new Set(), size: 0 };
    v.venueOrderIds.add(f.venueOrderId);
    v.size += f.size;
    venueByOrder.set(f.clientOrderId, v);
  }
  let executedTwice = 0;
  let withoutIntent = 0;
  let lost = 0;
  for (const [coid, v] of venueByOrder) {
    const intent = intents.get(coid);
    if (!intent) withoutIntent++;
    if (v.venueOrderIds.size !== 1 || (intent && v.size > intent.size + 1e-6)) executedTwice++;
    if (results.has(coid) && Math.abs((journalFilled.get(coid) ?? 0) - v.size) > 1e-6) lost++;
  }
  const decisionCounts = [...per.values()];
  const finalWant = await expected(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

  t.ok(trades.length > KILLS, `trades were booked throughout (${trades.length})`);
  t.equal(trades.filter((id) => per.get(id) === 1).length, trades.length, `every trade has exactly one decision (${trades.length} trades, ${per.size} decided)`);
  t.ok(decisionCounts.every((n) => n === 1), 'no trade decided twice');
  t.equal(dupMsgIds, 0, 'no Nats-Msg-Id twice in the hedge journal');
  t.ok(venueByOrder.size > 0, `the venues executed hedge orders (${venueByOrder.size} orders, ${venueFills.length} fills)`);
  t.equal(executedTwice, 0, 'no clientOrderId executed twice at the venue');
  t.equal(withoutIntent, 0, 'every order the venue executed was journaled as an intent first');
  t.equal(lost, 0, 'every execution of a settled order is in the hedge journal, once');
  t.equal(mismatches, 0, `inventory after each of ${KILLS} restarts = trades + journaled fills${mismatchText.length ? `: ${mismatchText.slice(0, 3).join('; ')}` : ''}`);
  t.equal(stopped.positions[iid], finalWant, 'after the last clean stop: inventory = every trade + every journaled fill');
  const late = j.filter((e) => e.rec.k === 'decision' && /^decided at start-up/.test(e.rec.reasonText)).length;
  const reviews = j.filter((e) => e.rec.k === 'decision' && e.rec.kind === 'review').length;
  const requeried = j.filter((e) => e.rec.k === 'result' && e.rec.status === 'not_sent').length;
  t.comment(`crash windows hit: ${late} trades decided late (killed between booking and decision), ${requeried} orders found never sent on re-query, ${reviews} review decisions (residuals and re-plans)`);
  t.comment(`kills ${KILLS}; trades sent ${sent}, booked ${trades.length}; orders ${intents.size} (settled ${results.size}); venue fills ${venueFills.length}; ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
