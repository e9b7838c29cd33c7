/**
 * The demo Tier-1 client (engine/copilot/demo-client.ts) against a real engine and broker: its RFQs
 * reach the trader queue with a recommendation, and it accepts the firm quote the trader sends.
 */
import t from 'tap';
import { attach as attachCopilot } from '../../engine/copilot/attach.js';
import { startDemoTier1Client } from '../../engine/copilot/demo-client.js';
import { TestClient } from '../helpers/client.js';
import { demoDirectory } from '../helpers/directory.js';
import { keepTicking, startTestEngine } from '../helpers/engine.js';
import { MID, rfqConfig } from '../helpers/rfq.js';

t.test('copilot demo client - sends RFQs every few hundred ms, a trader quotes the recommendation, the demo client accepts and it is booked', async (t) => {
  const config = rfqConfig();
  const te = await startTestEngine(t, { config, engine: { directory: demoDirectory(), extensions: [attachCopilot] } });
  await keepTicking(t, te, 'EURUSD', MID.EURUSD);
  const desk = await TestClient.connect(te.url, TestClient.token(te.secret, 'desk', 600, 'trader'));
  t.teardown(() => desk.close());
  await desk.waitFor((f) => f.t === 'hello');
  const demo = startDemoTier1Client({ url: te.url, token: () => TestClient.token(te.secret, 'northwind'), instruments: ['EURUSD'], everyMs: 300, acceptAfterMs: 20 });
  t.teardown(() => demo.stop());
  const pushed = await desk.waitFor((f) => f.t === 'copilot' && f.rec?.clientId === 'northwind', 8000, 'a demo RFQ with a recommendation');
  t.equal(pushed.rec.ok, true);
  desk.send({ t: 'quote', id: 'q', rfqId: pushed.rfqId, price: pushed.rec.price.value, size: pushed.rec.size.value });
  const closed = await desk.waitFor((f) => f.t === 'copilot_closed' && f.rfqId === pushed.rfqId, 5000, 'the RFQ ends');
  t.equal(closed.state, 'booked', 'the demo client accepted the trader quote');
  t.ok(demo.stats.rfqs >= 1 && demo.stats.queued >= 1 && demo.stats.quotes >= 1, JSON.stringify(demo.stats));
  const until = Date.now() + 3000;
  while (demo.stats.booked < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.equal(demo.stats.booked, 1, 'the demo client saw its confirm');
  await demo.stop();
  const n = demo.stats.rfqs;
  await new Promise((r) => setTimeout(r, 700));
  t.equal(demo.stats.rfqs, n, 'stopped: no more RFQs');
});
