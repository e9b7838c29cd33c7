/**
 * P&L and positions over the real protocol: a real nats-server and engine, trades booked through
 * the RFQ path by WebSocket clients, the split and the ledger read by a trader socket and by the
 * CLI; a client token refused.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TestClient } from '../helpers/client.js';
import { accept, rfq, rfqConfig, startRfqRig } from '../helpers/rfq.js';
import { CrmStore } from '../../engine/crm/store.js';
import { systemClock } from '../../engine/clock.js';
import { quietLog } from '../helpers/engine.js';
import { startHedgeRig, until } from '../hedging/rig.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../engine/cli/pnl.js', import.meta.url));
const near = (a: number, b: number, tol = 1e-6) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

t.test('pnl integration - trades booked over RFQ show in pnl and positions; clients are refused', async (t) => {
  const rig = await startRfqRig(t);
  const cfg = rig.te.config;
  const iid = (id: string) => cfg.instruments.findIndex((i) => i.id === id);
  const atlas = await rig.client('atlas'); // tier 3
  const meridian = await rig.client('meridian'); // tier 2
  const desk = await rig.client('desk', 'trader');

  const q1 = await rfq(atlas, 'EURUSD', 'buy', 5e6);
  t.equal(q1.t, 'quote_firm', JSON.stringify(q1));
  const c1 = await accept(atlas, q1.quoteId, 'pnl-a1');
  t.equal(c1.t, 'trade_confirm', JSON.stringify(c1));
  const q2 = await rfq(meridian, 'UST-10Y', 'sell', 1e6);
  t.equal(q2.t, 'quote_firm', JSON.stringify(q2));
  const c2 = await accept(meridian, q2.quoteId, 'pnl-m1');
  t.equal(c2.t, 'trade_confirm', JSON.stringify(c2));

  // what the journal holds is the truth the split is computed from
  const j1 = rig.te.engine.booking.byId(c1.tradeId)!.trade;
  const j2 = rig.te.engine.booking.byId(c2.tradeId)!.trade;
  t.ok(j1.mid !== null && j2.mid !== null, 'both trades carry the composite mid');
  // desk sells EURUSD (scale 1) above mid; desk buys UST-10Y (% of par: scale 0.01) below mid
  const spread1 = 5e6 * (j1.price - j1.mid!);
  const spread2 = 1e6 * (j2.mid! - j2.price) * 0.01;
  t.ok(spread1 > 0 && spread2 > 0, `the desk earned spread on both (${spread1}, ${spread2})`);

  desk.send({ t: 'pnl', id: 'p1', trades: 5 });
  const p = await desk.waitFor((f) => f.t === 'pnl' && f.id === 'p1', 5000, 'pnl answer');
  t.equal(p.currency, 'USD');
  t.equal(p.desk.trades, 2);
  t.ok(near(p.desk.spread, spread1 + spread2), `desk spread ${p.desk.spread} = ${spread1 + spread2}`);
  t.equal(p.desk.hedgeCost + 0, p.desk.hedgeCost, 'hedge cost is a number');
  t.ok(near(p.desk.spread + p.desk.hedgeCost + p.desk.markout + p.desk.inventory, p.desk.total), 'the parts add up to the desk total');
  t.ok(near(p.deskTotal, p.desk.total, 1e-6), `split total ${p.desk.total} = book total ${p.deskTotal} (realized + unrealized)`);
  t.same(p.byClient.map((c: any) => c.clientId), ['atlas', 'meridian']);
  t.same(p.byTier.map((c: any) => c.tier), [2, 3]);
  t.ok(near(p.byClient[0].spread, spread1), 'atlas: its own spread');
  t.same(p.trades.map((x: any) => x.tradeId), [c2.tradeId, c1.tradeId], 'recent trades, newest first');
  t.match(p.trades[1], { clientId: 'atlas', instrument: 'EURUSD', deskQty: -5e6, price: j1.price, mid: j1.mid });
  t.equal(rig.te.engine.services.pnl?.deskPnlToday(), p.deskTotal, 'the daily loss limit reads the same figure');

  desk.send({ t: 'positions', id: 'x1' });
  const pos = await desk.waitFor((f) => f.t === 'positions' && f.id === 'x1', 5000, 'positions answer');
  const eur = pos.instruments.find((r: any) => r.instrument === 'EURUSD');
  const ust = pos.instruments.find((r: any) => r.instrument === 'UST-10Y');
  t.match(eur, { position: rig.te.engine.inventory.position[iid('EURUSD')], measure: 'FX01', assetClass: 'fx' });
  t.equal(eur.position, -5e6, 'desk short what atlas bought');
  t.match(ust, { position: 1e6, measure: 'DV01', issuer: 'UST', assetClass: 'govt_bond' });
  t.ok(ust.sensitivity > 0 && near(ust.risk, 1e6 * ust.sensitivity), 'risk = position × sensitivity');
  t.ok(pos.byAssetClass.some((b: any) => b.bucket === 'govt_bond' && b.net === 1e6), 'asset-class bucket');
  t.ok(pos.byIssuer.some((b: any) => b.bucket === 'govt_bond/UST'), 'issuer bucket');

  // the throttled push reaches the trader without asking
  const push = await desk.waitFor((f) => f.t === 'pnl' && f.push === true && f.desk.trades === 2, 5000, 'pnl push');
  t.ok(near(push.desk.spread, spread1 + spread2), 'the push carries the same split');

  // a client token is refused, and gets no push
  atlas.send({ t: 'pnl', id: 'c1' });
  t.match(await atlas.waitFor((f) => f.id === 'c1', 3000, 'refusal'), { t: 'rejected', code: 'QE_RFQ_NOT_ENTITLED' });
  atlas.send({ t: 'positions', id: 'c2' });
  t.match(await atlas.waitFor((f) => f.id === 'c2', 3000, 'refusal'), { t: 'rejected', code: 'QE_RFQ_NOT_ENTITLED' });
  t.notOk(atlas.frames.some((f) => f.t === 'pnl'), 'no pnl frame ever reached the client');

  // the CLI reads the same over the protocol
  const token = TestClient.token(rig.te.secret, 'desk', 600, 'trader');
  const json = JSON.parse((await run(process.execPath, [cli, '--url', rig.te.url, '--token', token, '--json', 'split', '--trades', '2'], { timeout: 10_000 })).stdout.trim());
  t.match(json, { t: 'pnl', desk: { trades: 2 } });
  const table = (await run(process.execPath, [cli, '--url', rig.te.url, '--token', token], { timeout: 10_000 })).stdout;
  t.match(table, /P&L in USD since /);
  t.match(table, /^desk\s+[-\d.]+\s+[-\d.]+\s+[-\d.]+\s+[-\d.]+\s+[-\d.]+\s+2\s+\d+$/m, 'desk row with 2 trades');
  t.match(table, /client atlas/);
  const ptable = (await run(process.execPath, [cli, '--url', rig.te.url, '--token', token, 'positions'], { timeout: 10_000 })).stdout;
  t.match(ptable, /UST-10Y\s+govt_bond\s+UST\s+1,000,000/);
  const refused = await run(process.execPath, [cli, '--url', rig.te.url, '--token', TestClient.token(rig.te.secret, 'atlas')], { timeout: 10_000 }).catch((e) => e);
  t.equal(refused.code, 2, 'a client token cannot use the P&L CLI');
  t.match(refused.stderr, /QE_RFQ_NOT_ENTITLED/);
});

t.test('pnl integration - real hedge fills from the router (venue simulator) land in the split, attributed to the trade', async (t) => {
  const rig = await startHedgeRig(t);
  const atlas = await TestClient.connect(rig.te.url, TestClient.token(rig.te.secret, 'atlas'));
  const desk = await TestClient.connect(rig.te.url, TestClient.token(rig.te.secret, 'desk', 600, 'trader'));
  t.teardown(() => {
    atlas.close();
    desk.close();
  });
  await atlas.waitFor((f) => f.t === 'hello');
  await desk.waitFor((f) => f.t === 'hello');
  const q = await rfq(atlas, 'EURUSD', 'buy', 5e6);
  t.equal(q.t, 'quote_firm', JSON.stringify(q));
  const c = await accept(atlas, q.quoteId, 'pnl-h1');
  t.equal(c.t, 'trade_confirm', JSON.stringify(c));
  const pnl = rig.te.engine.services.pnl as unknown as { book: { tradeSplit(id: string): { hedgeFills: number } | undefined } };
  await until('a hedge fill for the trade in the P&L', () => (pnl.book.tradeSplit(c.tradeId)?.hedgeFills ?? 0) > 0, 15_000);
  desk.send({ t: 'pnl', id: 'h', trades: 5 });
  const p = await desk.waitFor((f) => f.t === 'pnl' && f.id === 'h', 5000, 'pnl answer');
  t.ok(p.desk.hedgeFills >= 1, `${p.desk.hedgeFills} hedge fill(s)`);
  const tr = p.trades.find((x: any) => x.tradeId === c.tradeId);
  t.ok(tr && tr.hedgeFills >= 1, 'attributed to the trade that caused it');
  t.ok(p.desk.hedgeCost <= 0, `hedging costs (or is free): ${p.desk.hedgeCost}`);
  t.ok(near(p.desk.spread + p.desk.hedgeCost + p.desk.markout + p.desk.inventory, p.desk.total), 'parts = total');
  t.ok(near(p.deskTotal, p.desk.total, 1e-6), `split total ${p.desk.total} = average-cost book ${p.deskTotal}`);
  t.ok(near(p.byClient.find((x: any) => x.clientId === 'atlas').hedgeCost + p.unattributed.hedgeCost, p.desk.hedgeCost), 'client + unattributed = desk hedge cost');
  // the plan may still be filling: compare the ledger with inventory once no EURUSD plan is working
  await until('the EURUSD hedge plan finished', () => rig.router.plans().every((pl) => pl.instrument !== 'EURUSD'), 15_000);
  desk.send({ t: 'positions', id: 'hp' });
  const pos = await desk.waitFor((f) => f.t === 'positions' && f.id === 'hp', 5000, 'positions answer');
  const eur = pos.instruments.find((r: any) => r.instrument === 'EURUSD');
  t.equal(eur?.position ?? 0, rig.te.engine.inventory.position[rig.iid('EURUSD')], 'the ledger shows inventory after the hedge');
  t.ok(Math.abs(rig.te.engine.inventory.position[rig.iid('EURUSD')]) < 5e6, 'the hedge reduced the short');
});

t.test('pnl integration - the engine markout moves a trade from spread to markout in currency', async (t) => {
  const config = rfqConfig((c) => (c.crm = { markout: { horizonsMs: [300, 800], sweepMs: 20 } }));
  const rig = await startRfqRig(t, { config, dir: undefined, crm: true });
  const writer = await CrmStore.open(rig.te.pub, { autoTier: false, log: quietLog, clock: systemClock });
  t.teardown(() => writer.close());
  await writer.putClient({ id: 'meridian', name: 'Meridian Capital', tier: 2, creditLimit: 1e9, maxOrderSize: 5e7 }, 'test');
  await until('the CRM record', () => rig.te.engine.directory?.get('meridian') !== undefined, 5000);
  const c = await rig.client('meridian');
  const q = await rfq(c, 'EURUSD', 'buy', 1e6);
  t.equal(q.t, 'quote_firm', JSON.stringify(q));
  const conf = await accept(c, q.quoteId, 'pnl-mk1');
  t.equal(conf.t, 'trade_confirm', JSON.stringify(conf));
  rig.mid.EURUSD = 1.081; // the client bought before the mid rose 10 pips: adverse for the desk
  const pnl = rig.te.engine.services.pnl as unknown as { book: { tradeSplit(id: string): { markoutHorizonMs: number; markout: number } | undefined } };
  const s = await until('the 800 ms markout', () => {
    const x = pnl.book.tradeSplit(conf.tradeId);
    return x && x.markoutHorizonMs === 800 ? x : undefined;
  }, 5000);
  const mid0 = rig.te.engine.booking.byId(conf.tradeId)!.trade.mid!;
  const expected = -1e6 * (1.081 - mid0);
  t.ok(Math.abs(s.markout - expected) < 1, `markout ${s.markout} ≈ −1M × (1.081 − ${mid0}) = ${expected}`);
  const desk = await rig.client('desk', 'trader');
  desk.send({ t: 'pnl', id: 'mk' });
  const p = await desk.waitFor((f) => f.t === 'pnl' && f.id === 'mk', 5000, 'pnl answer');
  t.ok(near(p.desk.markout, s.markout), 'the desk split carries it');
  t.ok(near(p.desk.spread + p.desk.hedgeCost + p.desk.markout + p.desk.inventory, p.desk.total), 'parts = total');
  t.ok(near(p.deskTotal, p.desk.total, 1e-6), 'split total = average-cost book');
});
