/**
 * The co-pilot in an engine started as main.ts starts it (every default extension attached, the
 * engine's own CRM store in NATS KV): a Tier-1 RFQ gets a recommendation pushed to the trader, and
 * the DECISIONS stream exists.
 */
import t from 'tap';
import type { CopilotService } from '../../engine/copilot/service.js';
import { systemClock } from '../../engine/clock.js';
import { CrmStore } from '../../engine/crm/store.js';
import { quietLog } from '../helpers/engine.js';
import { rfq, rfqConfig, startRfqRig } from '../helpers/rfq.js';

t.test('copilot wiring - default extensions and the real CRM store: a queued Tier-1 RFQ gets a recommendation', async (t) => {
  const rig = await startRfqRig(t, { config: rfqConfig(), crm: true });
  const svc = rig.te.engine.services.copilot as CopilotService | undefined;
  t.ok(svc, 'attached by default');
  // the default book names instruments this small test universe lacks, so it is not seeded: write the record
  const writer = await CrmStore.open(rig.te.pub, { autoTier: false, log: quietLog, clock: systemClock });
  t.teardown(() => writer.close());
  await writer.putClient({ id: 'northwind', name: 'Northwind Asset Management', tier: 1, creditLimit: 1e9, maxOrderSize: 5e7, naturalInterest: [{ instrument: 'EURUSD', side: 'buy' }] }, 'test');
  const end = Date.now() + 5000;
  while (rig.te.engine.directory?.get('northwind') === undefined) {
    if (Date.now() > end) throw new Error('record did not reach the engine');
    await new Promise((r) => setTimeout(r, 10));
  }
  const desk = await rig.client('desk', 'trader');
  const c = await rig.client('northwind');
  const q = await rfq(c, 'EURUSD', 'buy', 1e6);
  t.match(q, { t: 'rfq', state: 'queued', reason: 'tier1' });
  const pushed = await desk.waitFor((f) => f.t === 'copilot' && f.rfqId === q.rfqId, 8000, 'copilot push');
  t.equal(pushed.rec.ok, true);
  t.equal(pushed.rec.client.name, 'Northwind Asset Management', 'client context from the CRM store');
  t.same(pushed.rec.client.naturalInterest, [{ instrument: 'EURUSD', side: 'buy', note: '' }]);
  const jsm = await rig.te.pub.jetstreamManager();
  t.equal((await jsm.streams.info('DECISIONS')).config.name, 'DECISIONS', 'the audit stream exists');
});
