/**
 * The gateway surface the risk and co-pilot modules use: desk sockets see every tier, a
 * client-level pull replaces quotes with explicit pulled frames until resumed, and extra request
 * handlers route by kind without taking the gateway's own kinds.
 */
import t from 'tap';
import { startRig, until } from './helpers.js';

t.test('gateway - a desk socket (trader) gets every tier of what it subscribes; a client only its own', async (t) => {
  const rig = await startRig(t);
  for (const tier of [1, 2, 3] as const) rig.engine.emit(tier, 'EURUSD');
  const desk = await rig.connect('desk', { token: rig.token('desk', { role: 'trader' }) });
  t.same(desk.frames[0].tiers, [1, 2, 3], 'hello lists the tiers a desk socket streams');
  const client = await rig.connect('atlas');
  t.same(client.frames[0].tiers, [3]);
  await desk.request({ t: 'sub', i: ['EURUSD'], id: 1 });
  await client.request({ t: 'sub', i: ['EURUSD'], id: 1 });
  for (const tier of [1, 2, 3] as const) rig.engine.emit(tier, 'EURUSD');
  await desk.barrier();
  await client.barrier();
  t.same(desk.quotes().map((f) => [f.tr, f.sn]).sort(), [[1, 0], [1, 1], [2, 0], [2, 1], [3, 0], [3, 1]], 'snapshot and delta of each tier');
  t.same(client.quotes().map((f) => f.tr), [3, 3], 'the client sees tier 3 only');
});

t.test('gateway - pullClient sends explicit pulled frames, stops quotes, survives reconnects; resumeClient restores', async (t) => {
  const rig = await startRig(t);
  rig.engine.emit(3, 'EURUSD');
  const a = await rig.connect('atlas');
  const other = await rig.connect('pinecrest');
  await a.request({ t: 'sub', i: ['EURUSD'], id: 1 });
  await other.request({ t: 'sub', i: ['EURUSD'], id: 1 });
  t.equal(rig.gw.pullClient('atlas', 'killed'), 1, 'one socket pulled');
  t.ok(rig.gw.isClientPulled('atlas'));
  rig.engine.emit(3, 'EURUSD');
  await a.barrier();
  await other.barrier();
  const aq = a.quotes();
  t.match(aq[aq.length - 1], { st: 'pulled', rs: 'killed', sn: 1 }, 'the pulled state is explicit');
  t.notOk(aq.some((f) => f.sn === 0 && f.sq === 2), 'no live quote after the pull');
  t.ok(other.quotes().some((f) => f.sq === 2 && f.st === 'firm'), 'another client keeps streaming');

  const again = await rig.connect('atlas');
  await again.request({ t: 'sub', i: ['EURUSD'], id: 2 });
  await again.barrier();
  t.match(again.quotes(), [{ st: 'pulled', rs: 'killed' }], 'a new socket of a pulled client starts pulled');

  t.equal(rig.gw.resumeClient('atlas'), 2, 'both sockets resumed');
  t.equal(rig.gw.resumeClient('atlas'), 0, 'resuming twice does nothing');
  rig.engine.emit(3, 'EURUSD');
  await a.barrier();
  const last = a.quotes().slice(-2);
  t.match(last, [{ st: 'firm', sn: 1 }, { st: 'firm', sn: 0, sq: 3 }], 'snapshot, then live frames again');
});

t.test('gateway - addRequestHandler routes its kinds and refuses taken or built-in kinds', async (t) => {
  const rig = await startRig(t);
  const seen: string[] = [];
  rig.gw.addRequestHandler({
    kinds: new Set(['kill']),
    handle(session, msg) {
      seen.push(`${session.client}:${session.role}:${String(msg.t)}`);
      rig.gw.sendTo(session, { t: 'kill_ack' });
    },
  });
  t.throws(() => rig.gw.addRequestHandler({ kinds: new Set(['kill']), handle() {} }), { code: 'QE_CONFIG_INVALID' }, 'a kind has one handler');
  t.throws(() => rig.gw.addRequestHandler({ kinds: new Set(['sub']), handle() {} }), { code: 'QE_CONFIG_INVALID' }, 'built-in kinds are not for handlers');
  const c = await rig.connect('desk', { token: rig.token('desk', { role: 'admin' }) });
  const p = c.next((f) => f.t === 'kill_ack', 5000, 'kill_ack');
  c.send({ t: 'kill' });
  const ack = await p;
  t.same(ack, { t: 'kill_ack' });
  t.same(seen, ['desk:admin:kill']);
  t.equal(rig.gw.sendToAll({ t: 'note' }), 1);
});

t.test('gateway - sendToAll reaches every open socket in its own format, encoded once per format', async (t) => {
  const rig = await startRig(t);
  const bin = await rig.connect('atlas');
  const json = await rig.connect('meridian', { json: true });
  const gone = await rig.connect('orbit');
  await gone.close();
  await until(() => rig.gw.stats.connections === 2, 5000, 'the gateway saw the close');
  const pb = bin.next((f) => f.t === 'regime', 5000, 'regime (msgpack)');
  const pj = json.next((f) => f.t === 'regime', 5000, 'regime (JSON)');
  t.equal(rig.gw.sendToAll({ t: 'regime', i: 'EURUSD', regime: 'stressed', reason: 'r', serverTime: 1 }), 2, 'counts the two open sockets, not the closed one');
  t.same(await pb, { t: 'regime', i: 'EURUSD', regime: 'stressed', reason: 'r', serverTime: 1 });
  t.same(await pj, { t: 'regime', i: 'EURUSD', regime: 'stressed', reason: 'r', serverTime: 1 });
  await bin.close();
  await json.close();
  await until(() => rig.gw.stats.connections === 0, 5000, 'the gateway saw both closes');
  t.equal(rig.gw.sendToAll({ t: 'note' }), 0, 'nobody left');
});


t.test('gateway - sendToInstrument reaches desk sockets and the clients streaming that instrument only', async (t) => {
  const rig = await startRig(t);
  const desk = await rig.connect('desk', { token: rig.token('desk', { role: 'trader' }) });
  const streaming = await rig.connect('atlas', { json: true });
  const elsewhere = await rig.connect('meridian');
  await streaming.request({ t: 'sub', i: ['EURUSD'], id: 1 });
  await elsewhere.request({ t: 'sub', i: ['UST-10Y'], id: 1 });
  const msg = { t: 'regime', i: 'EURUSD', regime: 'stressed', reason: 'r', serverTime: 1 };
  const pd = desk.next((f) => f.t === 'regime', 5000, 'regime at the desk');
  const ps = streaming.next((f) => f.t === 'regime', 5000, 'regime at the streaming client');
  t.equal(rig.gw.sendToInstrument(rig.engine.iid('EURUSD'), msg), 2, 'the desk and the client streaming EURUSD');
  t.same(await pd, msg);
  t.same(await ps, msg, 'JSON socket: same message');
  await elsewhere.barrier();
  t.notOk(elsewhere.frames.some((f) => f.t === 'regime'), 'a client streaming something else is not told');
});
