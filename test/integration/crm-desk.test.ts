/**
 * The relationship manager's tier override from the screen (engine/crm/desk.ts, R10): rm and admin
 * only, validated by the CRM store, audited by author, and it re-tiers the client's sockets live.
 */
import t from 'tap';
import { TestClient } from '../helpers/client.js';
import { rfqConfig, startRfqRig } from '../helpers/rfq.js';

t.test('crm desk - an rm overrides a tier over WebSocket; the client is re-tiered; trader and client tokens are refused; bad input is coded', async (t) => {
  const rig = await startRfqRig(t, { config: rfqConfig(), dir: undefined, crm: true });
  const store = rig.te.engine.crm!;
  await store.putClient({ id: 'meridian', name: 'Meridian Capital', tier: 2, creditLimit: 1e9, maxOrderSize: 5e7 }, 'test');
  const end = Date.now() + 5000;
  while (store.get('meridian') === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  const rm = await TestClient.connect(rig.te.url, TestClient.token(rig.te.secret, 'desk', 600, 'rm'));
  const trader = await TestClient.connect(rig.te.url, TestClient.token(rig.te.secret, 'desk', 600, 'trader'));
  const client = await rig.client('meridian');
  t.teardown(() => {
    rm.close();
    trader.close();
  });

  rm.send({ t: 'scores', id: 's1' });
  t.match(await rm.waitFor((f) => f.id === 's1'), { t: 'scores' }, 'an rm reads the scores');

  trader.send({ t: 'crm_override', id: 'o1', clientId: 'meridian', tier: 1, reason: 'strategic', expiresAtMs: Date.now() + 3_600_000 });
  t.match(await trader.waitFor((f) => f.id === 'o1'), { t: 'rejected', code: 'QE_RFQ_NOT_ENTITLED' }, 'a trader may not override');
  client.send({ t: 'crm_override', id: 'o2', clientId: 'meridian', tier: 1, reason: 'me', expiresAtMs: Date.now() + 3_600_000 });
  t.match(await client.waitFor((f) => f.id === 'o2'), { t: 'rejected', code: 'QE_RFQ_NOT_ENTITLED' }, 'nor a client');
  t.equal(store.get('meridian')?.override ?? null, null, 'nothing changed');

  rm.send({ t: 'crm_override', id: 'o3', clientId: 'meridian', tier: 1, reason: 'past', expiresAtMs: Date.now() - 1000 });
  t.match(await rm.waitFor((f) => f.id === 'o3'), { t: 'rejected', code: 'QE_CRM_INVALID' }, 'an expiry in the past is refused by the store');
  rm.send({ t: 'crm_override', id: 'o4', clientId: 'nobody', tier: 1, reason: 'x', expiresAtMs: Date.now() + 60_000 });
  t.match(await rm.waitFor((f) => f.id === 'o4'), { t: 'rejected', code: 'QE_CRM_UNKNOWN_CLIENT' });
  rm.send({ t: 'crm_override', id: 'o5', clientId: 'meridian', tier: 4, reason: 'x', expiresAtMs: Date.now() + 60_000 });
  t.match(await rm.waitFor((f) => f.id === 'o5'), { t: 'error', code: 'QE_WS_BAD_MESSAGE' }, 'a bad tier is a bad message');

  rm.send({ t: 'crm_override', id: 'o6', clientId: 'meridian', tier: 1, reason: 'strategic review', expiresAtMs: Date.now() + 3_600_000 });
  const ok = await rm.waitFor((f) => f.id === 'o6');
  t.match(ok, { t: 'crm_override', clientId: 'meridian', override: { tier: 1, reason: 'strategic review', author: 'desk (rm)' } }, 'set, with the author');
  await client.waitFor((f) => f.t === 'status' && f.tier === 1, 5000, 'the client re-tiered live');
  t.equal(rig.te.engine.gateway.tierOfClient('meridian'), 1);

  rm.send({ t: 'crm_override', id: 'o7', clientId: 'meridian', tier: null });
  t.match(await rm.waitFor((f) => f.id === 'o7'), { t: 'crm_override', override: null }, 'cleared');
  await client.waitFor((f) => f.t === 'status' && f.tier === 2, 5000, 'back to the record tier');
});
