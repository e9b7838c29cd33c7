/** The trader CLI works the queue over the real protocol: list, quote, reject, scores. */
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TestClient } from '../helpers/client.js';
import { rfq, startRfqRig } from '../helpers/rfq.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../engine/cli/trader.js', import.meta.url));

t.test('trader cli - lists the queue, quotes one RFQ, rejects another, shows scores', async (t) => {
  const rig = await startRfqRig(t);
  const token = TestClient.token(rig.te.secret, 'desk', 600, 'trader');
  const trader = (...args: string[]) => run(process.execPath, [cli, '--url', rig.te.url, '--token', token, '--json', ...args], { timeout: 10_000 });
  const c = await rig.client('northwind');
  const q1 = await rfq(c, 'UST-10Y', 'buy', 5e6);
  t.match(q1, { t: 'rfq', state: 'queued', reason: 'tier1' }, 'a tier-1 RFQ waits for a trader');
  const q2 = await rfq(c, 'EURUSD', 'sell', 1e6);
  const list = JSON.parse((await trader('queue')).stdout.trim());
  t.equal(list.t, 'rfqs');
  t.same(list.rfqs.map((r: any) => r.rfqId).sort(), [q1.rfqId, q2.rfqId].sort(), 'both queued RFQs listed');
  const tick = rig.te.config.instruments.find((i) => i.id === 'UST-10Y')!.tickSize;
  const price = Math.ceil(rig.mid['UST-10Y'] / tick) * tick + 2 * tick;
  const quoted = JSON.parse((await trader('quote', q1.rfqId, '--price', String(price))).stdout.trim());
  t.equal(quoted.rfq.state, 'quoted', 'the CLI saw the RFQ quoted');
  const firm = await c.waitFor((f) => f.t === 'quote_firm' && f.rfqId === q1.rfqId, 5000, 'firm quote at the client');
  t.equal(firm.price, price, 'the client got the trader\'s price');
  const rejected = JSON.parse((await trader('reject', q2.rfqId, '--reason', 'axe elsewhere')).stdout.trim());
  t.equal(rejected.rfq.state, 'rejected');
  const scores = JSON.parse((await trader('scores')).stdout.trim());
  t.equal(scores.t, 'scores');
  t.ok(Array.isArray(scores.clients), 'scores answered (directory clients listed)');
  const clientToken = TestClient.token(rig.te.secret, 'atlas');
  const refused = await run(process.execPath, [cli, '--url', rig.te.url, '--token', clientToken, 'queue'], { timeout: 10_000 }).catch((e) => e);
  t.equal(refused.code, 2, 'a client token cannot use the trader CLI');
  t.match(refused.stdout + refused.stderr, /QE_RFQ_NOT_ENTITLED/);
});
