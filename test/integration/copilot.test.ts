/**
 * The co-pilot end to end against a real nats-server and engine (only the copilot extension is
 * attached, so this test does not depend on the hedging and risk modules): a Tier-1 RFQ is queued,
 * the trader's socket gets the recommendation, the trader takes it over and sends it, the client
 * accepts, and the decision audit in JetStream holds recommended / sent / outcome; then the desk's
 * position is shown as an axe to one client, whose next RFQ prices at it. Entitlements and bad input
 * from the screen are refused with codes and change nothing.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { attach as attachCopilot } from '../../engine/copilot/attach.js';
import { joinDecisions, readDecisions } from '../../engine/copilot/audit.js';
import { calibrate } from '../../engine/copilot/report.js';
import type { CopilotService } from '../../engine/copilot/service.js';
import { InstrumentStatus } from '../../engine/market/index.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { demoDirectory } from '../helpers/directory.js';
import { keepTicking, startTestEngine } from '../helpers/engine.js';
import { accept, MID, rfq, rfqConfig } from '../helpers/rfq.js';

t.test('copilot - queued Tier-1 RFQ → recommendation → trader sends it → client accepts → audit; axes; entitlements and bad input', async (t) => {
  const config = rfqConfig((c) => {
    c.clients = [...c.clients, { id: 'desk2', name: 'Second trader', tier: 1, role: 'trader' }];
  });
  const dir = demoDirectory({ halcyon: { naturalInterest: [{ instrument: 'ACME-27', side: 'buy', note: 'rebalancing' }] } });
  const te = await startTestEngine(t, { config, engine: { directory: dir, extensions: [attachCopilot] } });
  const svc = te.engine.services.copilot as CopilotService;
  t.ok(svc, 'the copilot service is offered to other modules');
  const instruments = config.instruments.map((i) => i.id);
  const tickAll = () => {
    for (const i of instruments) te.tickAll(i, MID[i]);
  };
  tickAll();
  const ticker = setInterval(tickAll, 60);
  t.teardown(() => clearInterval(ticker));
  const end = Date.now() + 5000;
  while (instruments.some((_, iid) => te.engine.market.status[iid] !== InstrumentStatus.FIRM)) {
    if (Date.now() > end) throw new Error('market not firm');
    await new Promise((r) => setTimeout(r, 10));
  }
  const clients: TestClient[] = [];
  const connect = async (id: string, role: 'client' | 'trader' | 'admin' = 'client') => {
    const c = await TestClient.connect(te.url, TestClient.token(te.secret, id, 600, role));
    clients.push(c);
    await c.waitFor((f) => f.t === 'hello');
    return c;
  };
  t.teardown(() => clients.forEach((c) => c.close()));
  const desk = await connect('desk', 'trader');
  const desk2 = await connect('desk2', 'trader');
  const northwind = await connect('northwind');
  const halcyon = await connect('halcyon');
  const meridian = await connect('meridian');

  // ── a Tier-1 RFQ is queued; the trader gets the co-pilot's figures ──────────────────────────
  const q = await rfq(northwind, 'ACME-27', 'sell', 2e6);
  t.match(q, { t: 'rfq', state: 'queued', reason: 'tier1' });
  const rfqId = q.rfqId as string;
  const pushed = await desk.waitFor((f) => f.t === 'copilot' && f.rfqId === rfqId, 5000, 'copilot push');
  const rec = pushed.rec;
  t.equal(rec.ok, true, 'a recommendation');
  t.ok(rec.price.value > 0 && rec.price.value < MID['ACME-27'], 'client sells below mid');
  t.ok(rec.ci.low <= rec.price.value && rec.price.value <= rec.ci.high, 'the CI contains it');
  t.equal(rec.size.value, 2e6);
  for (const k of ['price', 'size', 'ci', 'impact', 'hedge', 'axe', 'pnl', 'win', 'scenarios']) t.type(rec[k].inputs, 'object', `${k} with inputs`);
  t.equal(rec.client.clientId, 'northwind');
  t.equal(rec.client.name, 'Northwind Asset Management', 'client context from the CRM');
  t.equal(rec.scenarios.rows.length, 5);
  await desk2.waitFor((f) => f.t === 'copilot' && f.rfqId === rfqId, 5000, 'every trader screen gets it');

  desk.send({ t: 'copilot', id: 'c1', rfqId });
  const asked = await desk.waitFor((f) => f.t === 'copilot' && f.id === 'c1');
  t.same(asked.rec, rec, 'asked again: the same recommendation');

  // ── entitlements: a client token may not use any trader kind; nothing changes ──────────────
  for (const [i, m] of ([
    { t: 'copilot', rfqId },
    { t: 'rfq_take', rfqId },
    { t: 'axes' },
    { t: 'axe_show', i: 'ACME-27', side: 'buy', clients: ['meridian'] },
  ] as Array<Record<string, unknown>>).entries()) {
    northwind.send({ ...m, id: `x${i}` });
    const r = await northwind.waitFor((f) => f.t === 'rejected' && f.id === `x${i}`);
    t.equal(r.code, 'QE_RFQ_NOT_ENTITLED', `client refused: ${m.t}`);
  }
  t.equal(svc.takenBy(rfqId), null, 'the refused take changed nothing');
  t.equal(te.engine.rfq.view(rfqId)?.state, 'queued');
  t.notOk([...northwind.frames, ...meridian.frames, ...halcyon.frames].some((f) => f.t === 'copilot' || f.t === 'rfq_queue' || f.t === 'rfq_taken'), 'no client sees the trader queue or the co-pilot');

  // ── bad input from the screen: coded, nothing changes ─────────────────────────────────────
  desk.send({ t: 'rfq_take', id: 'b1', rfqId: 'R-nope' });
  t.equal((await desk.waitFor((f) => f.t === 'rejected' && f.id === 'b1')).code, 'QE_RFQ_UNKNOWN_RFQ');
  desk.send({ t: 'copilot', id: 'b2' });
  t.equal((await desk.waitFor((f) => f.t === 'error' && f.id === 'b2')).code, 'QE_WS_BAD_MESSAGE', 'malformed: no rfqId');
  desk.send({ t: 'quote', id: 'b3', rfqId, price: rec.price.value, size: -2e6 });
  t.equal((await desk.waitFor((f) => f.t === 'rejected' && f.id === 'b3')).code, 'QE_RFQ_BAD_SIZE', 'negative size');
  desk.send({ t: 'quote', id: 'b4', rfqId, price: Number((MID['ACME-27'] * 0.9).toFixed(3)), size: 2e6 });
  t.equal((await desk.waitFor((f) => f.t === 'rejected' && f.id === 'b4')).code, 'QE_RFQ_BAD_PRICE', 'outside the collar');
  desk.send({ t: 'axe_show', id: 'b5', i: 'ACME-27', side: 'buy', clients: ['halcyon'] });
  t.equal((await desk.waitFor((f) => f.t === 'rejected' && f.id === 'b5')).code, 'QE_AXE_NO_POSITION', 'no position yet');
  t.equal(te.engine.rfq.view(rfqId)?.state, 'queued', 'still queued after every refusal');

  // ── take it over: the others see it taken; a second take is refused ───────────────────────
  desk.send({ t: 'rfq_take', id: 'k1', rfqId });
  const taken = await desk2.waitFor((f) => f.t === 'rfq_taken' && f.rfqId === rfqId);
  t.equal(taken.by, 'desk', 'other traders see who took it');
  desk2.send({ t: 'rfq_take', id: 'k2', rfqId });
  t.equal((await desk2.waitFor((f) => f.t === 'rejected' && f.id === 'k2')).code, 'QE_COPILOT_TAKEN');
  t.equal(svc.takenBy(rfqId), 'desk');
  const as = (client: string) => ({ client, role: 'trader' as const, tier: 1 as const, closed: false });
  t.match(svc.actionRefusal(as('desk2'), rfqId), { code: 'QE_COPILOT_TAKEN' }, 'the RFQ service guard refuses the other trader');
  t.equal(svc.actionRefusal(as('desk'), rfqId), null, 'and lets the taker act');

  // ── send the recommendation as is; the client accepts ─────────────────────────────────────
  desk.send({ t: 'quote', id: 's1', rfqId, price: rec.price.value, size: rec.size.value });
  const firm = await northwind.waitFor((f) => f.t === 'quote_firm' && f.rfqId === rfqId);
  t.equal(firm.price, rec.price.value, 'the client gets the recommended price');
  t.equal(firm.by, 'trader');
  const conf = await accept(northwind, firm.quoteId, 'acc-1');
  t.equal(conf.t, 'trade_confirm', 'booked');
  const closed = await desk.waitFor((f) => f.t === 'copilot_closed' && f.rfqId === rfqId);
  t.equal(closed.state, 'booked');
  desk.send({ t: 'rfq_take', id: 'k3', rfqId });
  t.equal((await desk.waitFor((f) => f.t === 'rejected' && f.id === 'k3')).code, 'QE_RFQ_NOT_QUOTED', 'an action on a finished RFQ is refused');

  // ── the decision audit: recommended vs sent vs outcome, and who decided ────────────────────
  await svc.settle();
  let row;
  const until = Date.now() + 5000;
  for (;;) {
    const { decisions, invalid } = await readDecisions(te.pub, 'DECISIONS');
    t.equal(invalid, 0);
    row = joinDecisions(decisions).find((r) => r.rfqId === rfqId);
    if (row?.outcome || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(row, 'the RFQ is in the audit');
  t.match(row!.recommended, { price: rec.price.value, size: 2e6, ciLow: rec.ci.low, ciHigh: rec.ci.high });
  t.match(row!.sent, { price: rec.price.value, size: 2e6, by: 'desk', asRecommended: true });
  t.equal(row!.decidedBy, 'desk');
  t.match(row!.outcome, { outcome: 'booked', tradeId: conf.tradeId });
  const cal = calibrate([row!]);
  t.match(cal, { rfqs: 1, recommended: 1, sent: 1, asRecommended: 1, meanAbsDevBps: 0, insideCi: 1, outcomes: { booked: 1 } });
  // the report CLI reads the same stream
  const cli = new URL('../../engine/cli/copilot-report.js', import.meta.url).pathname;
  const out = await promisify(execFile)(process.execPath, [cli, '--nats', te.broker.url, '--json'], { timeout: 20_000 });
  const rep = JSON.parse(out.stdout);
  t.match(rep.rows.find((r: Frame) => r.rfqId === rfqId), { sent: { by: 'desk', asRecommended: true }, outcome: { outcome: 'booked' } }, 'npm run copilot-report shows it');
  t.equal(rep.calibration.asRecommended, 1);
  const txt = await promisify(execFile)(process.execPath, [cli, '--nats', te.broker.url], { timeout: 20_000 });
  t.match(txt.stdout, new RegExp(`${rfqId}.*rec .*sent .*by desk \\(as rec\\).*booked`), 'the table row');

  // ── axes: the desk is long what northwind sold; halcyon (natural buyer) is shown the axe ───
  t.equal(te.engine.inventory.position[config.instruments.findIndex((i) => i.id === 'ACME-27')], 2e6, 'desk long 2 mm');
  desk.send({ t: 'axes', id: 'a1', i: 'ACME-27' });
  const ax = await desk.waitFor((f) => f.t === 'axes' && f.id === 'a1');
  const pos = ax.positions.find((p: Frame) => p.i === 'ACME-27');
  t.match(pos, { deskSide: 'sell', clientSide: 'buy', size: 2e6 });
  t.equal(pos.candidates[0].clientId, 'halcyon', 'the natural buyer first');
  desk.send({ t: 'axe_show', id: 'a2', i: 'ACME-27', side: 'buy', clients: ['halcyon'], size: -5 });
  t.equal((await desk.waitFor((f) => f.t === 'rejected' && f.id === 'a2')).code, 'QE_RFQ_BAD_SIZE', 'negative axe size');
  desk.send({ t: 'axe_show', id: 'a3', i: 'ACME-27', side: 'buy', clients: ['nobody'] });
  t.equal((await desk.waitFor((f) => f.t === 'rejected' && f.id === 'a3')).code, 'QE_AXE_UNKNOWN_CLIENT');
  desk.send({ t: 'axe_show', id: 'a4', i: 'ACME-27', side: 'buy', clients: ['halcyon'], shadeBps: 2 });
  const shown = await desk.waitFor((f) => f.t === 'axe_shown' && f.id === 'a4');
  t.equal(shown.shown[0].delivered, 1);
  const axe = await halcyon.waitFor((f) => f.t === 'axe');
  t.match(axe, { i: 'ACME-27', side: 'buy', size: 2e6 });
  t.ok(axe.price > MID['ACME-27'] && axe.validUntil > Date.now());
  await new Promise((r) => setTimeout(r, 100));
  t.notOk([...meridian.frames, ...northwind.frames].some((f) => f.t === 'axe'), 'only the chosen client gets the axe');

  // halcyon's next RFQ on that instrument and side is priced at the axe (or better)
  const q2 = await rfq(halcyon, 'ACME-27', 'buy', 1e6);
  t.match(q2, { state: 'queued', reason: 'tier1' });
  const rec2 = (await desk.waitFor((f) => f.t === 'copilot' && f.rfqId === q2.rfqId)).rec;
  t.equal(rec2.price.inputs.shownAxePrice, axe.price, 'the recommendation saw the shown axe');
  t.ok(rec2.price.value <= axe.price, `priced at the axe or better for the client: ${rec2.price.value} ≤ ${axe.price}`);
  t.equal(rec2.axe.label, 'with', 'a client buy takes the desk long down: with the axe');
  t.equal(svc.axes.shownFor('halcyon', config.instruments.findIndex((i) => i.id === 'ACME-27'), 'buy', Date.now()), null, 'the axe was used once');

  // the RFQ service's price hook (automatic tiers): a shown axe better than the automatic price wins, once
  desk.send({ t: 'axe_show', id: 'a5', i: 'ACME-27', side: 'buy', clients: ['meridian'], size: 1e6 });
  const mAxe = await meridian.waitFor((f) => f.t === 'axe');
  const hooks = te.engine.rfq as unknown as { priceAdjust: (c: string, iid: number, side: 'buy' | 'sell', p: number, now: number) => number };
  const acme = config.instruments.findIndex((i) => i.id === 'ACME-27');
  t.equal(hooks.priceAdjust('northwind', acme, 'buy', mAxe.price + 0.05, Date.now()), mAxe.price + 0.05, 'not for another client');
  t.equal(hooks.priceAdjust('meridian', acme, 'buy', mAxe.price + 0.05, Date.now()), mAxe.price, 'the shaded level for the chosen client');
  t.equal(hooks.priceAdjust('meridian', acme, 'buy', mAxe.price + 0.05, Date.now()), mAxe.price + 0.05, 'once');
  desk.send({ t: 'reject', id: 'r1', rfqId: q2.rfqId, reason: 'test over' });
  await desk.waitFor((f) => f.t === 'copilot_closed' && f.rfqId === q2.rfqId);
});

t.test('copilot - an RFQ that expires in the queue: actions on it are refused with codes, the audit records the expiry', async (t) => {
  const config = rfqConfig((c) => {
    c.rfq = { ...c.rfq, queueTtlMs: 400 };
  });
  const te = await startTestEngine(t, { config, engine: { directory: demoDirectory(), extensions: [attachCopilot] } });
  await keepTicking(t, te, 'EURUSD', MID.EURUSD);
  const desk = await TestClient.connect(te.url, TestClient.token(te.secret, 'desk', 600, 'trader'));
  const nw = await TestClient.connect(te.url, TestClient.token(te.secret, 'northwind'));
  t.teardown(() => {
    desk.close();
    nw.close();
  });
  await desk.waitFor((f) => f.t === 'hello');
  await nw.waitFor((f) => f.t === 'hello');
  const q = await rfq(nw, 'EURUSD', 'buy', 1e6);
  t.match(q, { state: 'queued' });
  await desk.waitFor((f) => f.t === 'copilot' && f.rfqId === q.rfqId);
  const closed = await desk.waitFor((f) => f.t === 'copilot_closed' && f.rfqId === q.rfqId, 5000, 'expiry');
  t.equal(closed.state, 'expired');
  for (const [n, m] of [
    ['take', { t: 'rfq_take', id: 'e1', rfqId: q.rfqId }],
    ['copilot', { t: 'copilot', id: 'e2', rfqId: q.rfqId }],
    ['quote', { t: 'quote', id: 'e3', rfqId: q.rfqId, price: 1.081, size: 1e6 }],
  ] as const) {
    desk.send(m);
    const r = await desk.waitFor((f) => f.t === 'rejected' && f.id === m.id);
    t.equal(r.code, 'QE_RFQ_NOT_QUOTED', `${n} on an expired RFQ`);
  }
  t.equal(te.engine.rfq.view(q.rfqId)?.state, 'expired', 'still expired');
  const svc = te.engine.services.copilot as CopilotService;
  await svc.settle();
  const until = Date.now() + 5000;
  let row;
  while (Date.now() < until) {
    row = joinDecisions((await readDecisions(te.pub, 'DECISIONS')).decisions).find((r) => r.rfqId === q.rfqId);
    if (row?.outcome) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.match(row, { recommended: { kind: 'recommended' }, sent: null, decidedBy: null, outcome: { outcome: 'expired' } });
});
