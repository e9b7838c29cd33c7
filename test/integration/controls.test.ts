/**
 * Pre-trade controls end to end: a real nats-server with JetStream, the engine with the risk module,
 * `ws` clients. Each breach answers with its code and changes nothing (inventory, credit).
 */
import t from 'tap';
import type { Config } from '../../engine/config.js';
import type { Frame } from '../helpers/client.js';
import { accept, rfq, rfqConfig, startRfqRig } from '../helpers/rfq.js';

const firm = (i: string) => (f: Frame) => f.t === 'q' && f.i === i && f.st === 'firm';

function cfg(risk: Record<string, unknown>): Config {
  return rfqConfig((c: any) => {
    c.clients = [...c.clients, { id: 'risk', name: 'Risk officer', tier: 1, role: 'admin' }];
    c.risk = risk;
  });
}

async function breaches(rig: { te: { engine: { registry: { getSingleMetricAsString(n: string): Promise<string> } } } }, code: string): Promise<number> {
  const s = await rig.te.engine.registry.getSingleMetricAsString('qe_risk_breaches_total');
  const m = s.match(new RegExp(`qe_risk_breaches_total\\{code="${code}"\\} (\\d+)`));
  return m ? Number(m[1]) : 0;
}

t.test('controls - order size and value limits over the wire: limit ±1 lot, NaN, Infinity, 1e308; a breach changes neither inventory nor credit', async (t) => {
  const rig = await startRfqRig(t, { config: cfg({ orders: { instruments: { EURUSD: { maxOrderSize: 2e6 }, 'UST-10Y': { maxOrderValue: 1.96e6 } } } }) });
  const atlas = await rig.client('atlas');
  const iid = rig.te.config.instruments.findIndex((i) => i.id === 'EURUSD');
  const credit0 = rig.te.engine.rfq.credit.of('atlas').exposure();
  t.match(await rfq(atlas, 'EURUSD', 'buy', 2e6), { t: 'quote_firm' }, 'on the instrument limit');
  t.match(await rfq(atlas, 'EURUSD', 'buy', 2e6 + 1000), { t: 'rejected', code: 'QE_RISK_ORDER_SIZE' }, 'one lot above');
  for (const size of [Number.NaN, Number.POSITIVE_INFINITY, 1e308]) {
    const r = await rfq(atlas, 'EURUSD', 'buy', size);
    t.ok(r.t === 'rejected' || r.t === 'error', `size ${size} refused (${r.code})`);
  }
  // UST at 97.5 % of par: 2M face is 1.95M of value
  t.match(await rfq(atlas, 'UST-10Y', 'sell', 2e6), { t: 'quote_firm' }, 'value 1.95M under 1.96M');
  t.match(await rfq(atlas, 'UST-10Y', 'sell', 3e6), { t: 'rejected', code: 'QE_RISK_ORDER_VALUE' }, '3M face: 2.925M');
  // malformed sizes (NaN, Infinity, 1e308) keep their own codes (QE_RFQ_BAD_SIZE / QE_RFQ_SIZE_LIMIT): only the lot above counts here
  t.equal(await breaches(rig, 'QE_RISK_ORDER_SIZE'), 1, 'counted by code');
  // a streamed trade above the limit: refused before last look
  atlas.send({ t: 'sub', i: ['EURUSD'] });
  const q = await atlas.waitFor((f) => firm('EURUSD')(f) && f.l.some((l: number[]) => l[0] > 2e6));
  const band = q.l.find((l: number[]) => l[0] > 2e6);
  atlas.send({ t: 'trade', acceptId: 'big-1', i: 'EURUSD', side: 'buy', size: band[0], price: band[2], sq: q.sq });
  const rej = await atlas.waitFor((f) => f.t === 'rejected' && f.acceptId === 'big-1');
  t.match(rej, { code: 'QE_RISK_ORDER_SIZE' });
  t.equal(rig.te.engine.inventory.position[iid], 0, 'no inventory moved');
  t.equal(rig.te.engine.rfq.credit.of('atlas').exposure(), credit0, 'no credit used');
});

t.test('controls - RFQ throttle caps the rate with a burst (R5): a burst of 12 against burst 4 → 4 answered, 8 QE_RISK_THROTTLED', async (t) => {
  const rig = await startRfqRig(t, { config: cfg({ throttle: { perClient: { ratePerSec: 0.5, burst: 4 } } }) });
  const atlas = await rig.client('atlas');
  const orbit = await rig.client('orbit');
  const answers = await Promise.all(Array.from({ length: 12 }, () => rfq(atlas, 'EURUSD', 'buy', 1e6)));
  const throttled = answers.filter((a) => a.code === 'QE_RISK_THROTTLED').length;
  t.equal(answers.length - throttled, 4, `${answers.length - throttled} answered`);
  t.equal(throttled, 8);
  t.match(await rfq(orbit, 'EURUSD', 'buy', 1e6), { t: 'quote_firm' }, 'another client has its own bucket');
  t.equal(await breaches(rig, 'QE_RISK_THROTTLED'), 8);
});

t.test('controls - balance sheet per tier follows the journal, across a restart (usage rebuilt by the replay)', async (t) => {
  const config = cfg({ balanceSheet: { capacity: { '3': 3e6 } } });
  const rig = await startRfqRig(t, { config });
  const atlas = await rig.client('atlas');
  const q = await rfq(atlas, 'EURUSD', 'buy', 3e6);
  t.equal(q.t, 'quote_firm');
  t.match(await accept(atlas, q.quoteId, 'bs-1'), { t: 'trade_confirm' });
  t.match(await rfq(atlas, 'EURUSD', 'buy', 1e6), { t: 'rejected', code: 'QE_RISK_BALANCE_SHEET' }, 'tier 3 full');
  t.match(await rfq(atlas, 'EURUSD', 'sell', 1e6), { t: 'quote_firm' }, 'a trade that frees capacity passes');
  const meridian = await rig.client('meridian');
  t.match(await rfq(meridian, 'EURUSD', 'buy', 1e6), { t: 'quote_firm' }, 'tier 2 has its own allocation');
  const risk = rig.te.engine.services.risk!;
  t.equal(risk.controls.balanceSheetUsage(3), 3e6);
  t.ok(risk.fundingCostBps(0, 3, -1e6) > risk.fundingCostBps(0, 2, -1e6), 'a full tier funds new inventory dearer');
  rig.stopTicking();
  await rig.te.engine.stop();
  const rig2 = await startRfqRig(t, { config, broker: rig.te.broker });
  t.equal(rig2.te.engine.services.risk!.controls.balanceSheetUsage(3), 3e6, 'rebuilt from the replayed journal');
  const a2 = await rig2.client('atlas');
  t.match(await rfq(a2, 'EURUSD', 'buy', 1e6), { t: 'rejected', code: 'QE_RISK_BALANCE_SHEET' });
});

t.test('controls - the daily loss limit pulls every stream (rs risk_limit) and refuses RFQs until an admin resets it', async (t) => {
  const rig = await startRfqRig(t, { config: cfg({ lossLimit: { maxDailyLoss: 1000, checkMs: 20 } }) });
  let pnl = -500;
  // stands in for the P&L module's ledger: the loss limit reads services.pnl at each check
  (rig.te.engine.services as Record<string, unknown>).pnl = { deskPnlToday: () => pnl };
  const atlas = await rig.client('atlas');
  const northwind = await rig.client('northwind');
  const admin = await rig.client('risk', 'admin');
  atlas.send({ t: 'sub', i: ['EURUSD'] });
  northwind.send({ t: 'sub', i: ['CDX-IG'] });
  await atlas.waitFor(firm('EURUSD'));
  await northwind.waitFor(firm('CDX-IG'));
  t.match(await rfq(atlas, 'EURUSD', 'buy', 1e6), { t: 'quote_firm' }, 'a 500 loss is within 1000');
  pnl = -1500;
  const p = await atlas.waitFor((f) => f.t === 'q' && f.i === 'EURUSD' && f.st === 'pulled', 3000, 'pulled');
  t.match(p, { rs: 'risk_limit' });
  t.match(await northwind.waitFor((f) => f.t === 'q' && f.i === 'CDX-IG' && f.st === 'pulled'), { rs: 'risk_limit' }, 'every tier');
  t.match(await admin.waitFor((f) => f.t === 'risk_state' && f.lossLimit.breached), { lossLimit: { limit: 1000, breached: true } });
  t.match(await rfq(atlas, 'EURUSD', 'buy', 1e6), { t: 'rejected', code: 'QE_RISK_LOSS_LIMIT' });
  t.ok((await breaches(rig, 'QE_RISK_LOSS_LIMIT')) >= 2, 'the trip and the refused RFQ counted');
  const desk = await rig.client('desk', 'trader');
  const id = 'rl-1';
  desk.send({ t: 'reset_loss', id, reason: 'x' });
  t.match(await desk.waitFor((f) => f.id === id), { t: 'error', code: 'QE_KILL_NOT_AUTHORIZED' }, 'a trader may not re-enable');
  pnl = -200; // the P&L recovered (or the limit was raised): the admin re-enables
  const at = atlas.frames.indexOf(p);
  admin.send({ t: 'reset_loss', id: 'rl-2', reason: 'reviewed with the desk head' });
  t.match(await admin.waitFor((f) => f.id === 'rl-2'), { t: 'risk_ack', changed: true, state: { lossLimit: { breached: false } } });
  const again = atlas.frames.slice(at).find(firm('EURUSD')) ?? (await atlas.next(firm('EURUSD'), 3000, 'firm again'));
  t.equal(again.st, 'firm');
  t.match(await rfq(atlas, 'EURUSD', 'buy', 1e6), { t: 'quote_firm' });
});

