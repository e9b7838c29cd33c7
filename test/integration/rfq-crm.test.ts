/**
 * The engine's CRM wiring: the CRM store in NATS KV is the engine's client directory; a change to
 * a client record (or an override) re-tiers its connected sockets live and the next RFQ follows it.
 */
import t from 'tap';
import { systemClock } from '../../engine/clock.js';
import { CrmStore } from '../../engine/crm/store.js';
import { ceilTick } from '../../engine/rfq/pricing.js';
import { quietLog } from '../helpers/engine.js';
import { rfq, rfqConfig, startRfqRig } from '../helpers/rfq.js';

t.test('rfq crm - a KV change re-tiers a connected client live; its stream and its RFQs follow the new tier', async (t) => {
  const rig = await startRfqRig(t, { config: rfqConfig(), dir: undefined, crm: true });
  t.ok(rig.te.engine.crm, 'the engine opened the CRM store');
  // the desk's own writer (what `npm run crm` does): a second store on the same bucket
  const writer = await CrmStore.open(rig.te.pub, { autoTier: false, log: quietLog, clock: systemClock });
  t.teardown(() => writer.close());
  await writer.putClient({ id: 'meridian', name: 'Meridian Capital', tier: 2, creditLimit: 1e9, maxOrderSize: 5e7 }, 'test');
  const until = async (cond: () => boolean, what: string) => {
    const end = Date.now() + 5000;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await until(() => rig.te.engine.directory?.get('meridian') !== undefined, 'record reaches the engine');
  const c = await rig.client('meridian');
  c.send({ t: 'sub', i: ['EURUSD'] });
  await c.waitFor((f) => f.t === 'q' && f.tr === 2 && f.st === 'firm');
  const auto = await rfq(c, 'EURUSD', 'buy', 1e6);
  t.equal(auto.t, 'quote_firm', 'tier 2 within limits: automatic');

  await writer.patchClient('meridian', { tier: 1 }, 'rm-jane');
  const st = await c.waitFor((f) => f.t === 'status' && f.tier === 1, 5000, 'status tier 1');
  t.ok(st, 'told about the new tier');
  const snap = await c.waitFor((f) => f.t === 'q' && f.tr === 1 && f.sn === 1, 5000, 'tier-1 snapshot');
  t.equal(snap.i, 'EURUSD');
  t.equal(rig.te.engine.gateway.tierOfClient('meridian'), 1);
  const q1 = await rfq(c, 'EURUSD', 'buy', 1e6);
  t.match(q1, { t: 'rfq', state: 'queued', reason: 'tier1' }, 'the next RFQ goes to a trader: Tier 1');

  await writer.setOverride('meridian', { tier: 3, reason: 'credit review', expiresAtMs: Date.now() + 3_600_000 }, 'rm-jane');
  await c.waitFor((f) => f.t === 'status' && f.tier === 3, 5000, 'status tier 3');
  const q3 = await rfq(c, 'EURUSD', 'buy', 1e6);
  t.equal(q3.t, 'quote_firm', 'override to tier 3: automatic again');
  const t3 = await c.waitFor((f) => f.t === 'q' && f.tr === 3 && f.st === 'firm');
  const band = t3.l.find((l: number[]) => l[0] >= 1e6);
  // the automatic RFQ price is the streamed ask plus the funding cost of the inventory it adds (engine/risk/controls.ts)
  const iid = rig.te.config.instruments.findIndex((i) => i.id === 'EURUSD');
  const f = rig.te.engine.services.controls?.fundingCostBps?.(iid, 3, -1e6) ?? 0;
  const want = f > 0 ? ceilTick(band[2] * (1 + f / 1e4), rig.te.config.instruments[iid].tickSize) : band[2];
  t.ok(f > 0, `a funding cost applies (${f.toFixed(3)} bp)`);
  t.equal(q3.price, want, 'priced at the tier-3 ask plus the funding cost');

  await writer.patchClient('meridian', { creditLimit: 0 }, 'rm-jane');
  await until(() => rig.te.engine.directory?.get('meridian')?.creditLimit === 0, 'credit change applied');
  const lim = await rfq(c, 'EURUSD', 'buy', 1e6);
  t.match(lim, { t: 'rfq', state: 'queued', reason: 'limit' }, 'a credit cut applies to the next RFQ without a restart');
});
