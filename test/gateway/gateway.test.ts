import t from 'tap';
import net from 'node:net';
import { encode } from '@msgpack/msgpack';
import { mintToken } from '../../engine/auth/token.js';
import { Client, ManualClock, SECRET, SKEW_SEC, httpGet, refusedUpgrade, sample, startRig, sweeps, until } from './helpers.js';

t.test('gateway - hello, then subscribed, then the snapshot, then deltas', async (t) => {
  const rig = await startRig(t);
  for (let k = 0; k < 3; k++) rig.engine.emit(3, 'EURUSD');
  const c = await rig.connect('atlas');
  const hello = c.frames[0];
  t.match(hello, { t: 'hello', v: 1, client: 'atlas', tier: 3, role: 'client', format: 'msgpack', exp: Number, limits: { maxPayloadBytes: 4096 } });
  t.same(hello.instruments, rig.universe.config.instruments.map((i) => i.id));
  t.ok(Math.abs(hello.serverTime - Date.now()) < 5000, 'serverTime is epoch ms');
  t.equal(c.binary[0], true, 'msgpack socket gets binary frames');

  const ack = await c.request({ t: 'sub', i: ['EURUSD', 'GBPUSD', 'EURUSD'], id: 7 });
  t.same(ack, { t: 'subscribed', id: 7, i: ['EURUSD', 'GBPUSD'] }, 'ack lists each instrument once');
  rig.engine.emit(3, 'EURUSD');
  rig.engine.emit(3, 'GBPUSD');
  await c.barrier();
  const q = c.quotes();
  t.same(
    q.map((f) => [f.i, f.sq, f.sn]),
    [
      ['EURUSD', 3, 1],
      ['EURUSD', 4, 0],
      ['GBPUSD', 1, 0],
    ],
    'snapshot of the current frame, then live frames; no snapshot where there was no quote yet',
  );
  const ackAt = c.frames.indexOf(ack);
  t.ok(ackAt < c.frames.indexOf(q[0]), 'ack precedes the snapshot');
});

t.test('gateway - subscribing mid-stream yields a snapshot followed by contiguous deltas (no gap)', async (t) => {
  const rig = await startRig(t);
  const c = await rig.connect('meridian');
  let running = true;
  const pump = (async () => {
    while (running) {
      for (let k = 0; k < 20; k++) rig.engine.emit(2, 'USDJPY');
      await new Promise((r) => setImmediate(r));
    }
  })();
  try {
    await new Promise((r) => setTimeout(r, 20));
    await c.request({ t: 'sub', i: ['USDJPY'], id: 'mid' });
    const target = rig.engine.lastSq(2, 'USDJPY') + 200;
    await c.waitFor((f) => f.t === 'q' && f.sq >= target, 5000, 'deltas after the snapshot');
  } finally {
    running = false;
    await pump;
  }
  await c.barrier();
  const q = c.quotes('USDJPY');
  t.equal(q[0].sn, 1, 'first frame is the snapshot');
  t.ok(q[0].sq > 1, 'the stream was already running');
  const gaps = q.slice(1).filter((f, k) => f.sq !== q[k].sq + 1 || f.sn !== 0);
  t.same(gaps, [], 'every delta is exactly one after the previous frame');
  t.equal(q[q.length - 1].sq, rig.engine.lastSq(2, 'USDJPY'), 'through to the last published frame');
});

t.test('gateway - a Tier-3 client never receives Tier-1 frames, whatever it asks for', async (t) => {
  const rig = await startRig(t);
  const t1 = await rig.connect('northwind');
  const t3 = await rig.connect('atlas');
  t.equal(t1.frames[0].tier, 1);
  t.equal(t3.frames[0].tier, 3);
  rig.engine.emit(1, 'EURUSD');
  rig.engine.emit(3, 'EURUSD');
  await t1.request({ t: 'sub', i: ['EURUSD'], id: 1 });
  await t3.request({ t: 'sub', i: ['EURUSD'], id: 1 });

  // topic-looking strings and wildcards: the server has no such instruments, and never reads topics from clients
  for (const crafted of ['q/1/0/b', 'q/1/0', 'q/1/*', '*', '>', '#', 'quote.t1.EURUSD', 'EURUSD/1', '../EURUSD']) {
    const r = await t3.request({ t: 'sub', i: [crafted], id: crafted });
    t.match(r, { t: 'error', code: 'QE_WS_UNKNOWN_INSTRUMENT', id: crafted }, `refused ${crafted}`);
    t.ok(r.message.includes(JSON.stringify(crafted)), 'the message names it');
  }
  // asking for a tier or a topic outright
  for (const ask of [
    { t: 'sub', i: ['EURUSD'], tier: 1, id: 'tier' },
    { t: 'sub', i: ['EURUSD'], tr: 1, id: 'tr' },
    { t: 'sub', topic: 'q/1/0/b', id: 'topic' },
    { t: 'sub', topics: ['q/1/0/b'], i: ['EURUSD'], id: 'topics' },
  ]) {
    t.match(await t3.request(ask), { t: 'error', code: 'QE_WS_NOT_ENTITLED', id: ask.id }, `refused ${Object.keys(ask).join(',')}`);
  }
  // one unknown entry spoils the whole request
  t.match(await t3.request({ t: 'sub', i: ['GBPUSD', '*'], id: 'mixed' }), { code: 'QE_WS_UNKNOWN_INSTRUMENT' });

  for (let k = 0; k < 5; k++) rig.engine.emit(1, 'EURUSD');
  for (let k = 0; k < 2; k++) rig.engine.emit(1, 'GBPUSD');
  rig.engine.emit(3, 'EURUSD');
  rig.engine.emit(3, 'GBPUSD');
  await t1.barrier();
  await t3.barrier();
  t.same(t3.quotes().map((f) => [f.i, f.tr]), [['EURUSD', 3], ['EURUSD', 3]], 'Tier 3 saw only its snapshot and its delta');
  t.same([...new Set(t1.quotes().map((f) => f.tr))], [1], 'Tier 1 saw only Tier 1');
  t.equal(t1.quotes('EURUSD').length, 6, 'snapshot + 5 deltas');
  t.equal(rig.gw.stats.badFrames, 14);
});

t.test('gateway - missing, bad, expired, alg=none, forged tokens and unknown clients are refused and counted', async (t) => {
  const rig = await startRig(t);
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const cases: Array<[string, Parameters<typeof refusedUpgrade>[1], number, string, RegExp]> = [
    ['no token', { token: null }, 401, 'QE_WS_AUTH_MISSING', /no token/],
    ['garbage', { token: 'not-a-token' }, 401, 'QE_WS_AUTH_INVALID', /malformed/],
    ['expired', { token: mintToken(SECRET, { sub: 'atlas' }, 60, now - 60 - SKEW_SEC - 1) }, 401, 'QE_WS_AUTH_EXPIRED', /expired/],
    ['alg none', { token: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'northwind', role: 'admin', iat: now, exp: now + 600 })}.` }, 401, 'QE_WS_AUTH_INVALID', /alg/],
    ['forged', { token: mintToken(Buffer.from('x'.repeat(32)), { sub: 'northwind' }, 60, now) }, 401, 'QE_WS_AUTH_INVALID', /signature/],
    ['forged in header', { token: mintToken(Buffer.from('x'.repeat(32)), { sub: 'northwind' }, 60, now), via: 'header' }, 401, 'QE_WS_AUTH_INVALID', /signature/],
    ['not bearer', { token: null, headers: { authorization: 'Basic YTpi' } }, 401, 'QE_WS_AUTH_INVALID', /Bearer/],
    ['unknown client', { token: mintToken(SECRET, { sub: 'mallory' }, 60, now) }, 403, 'QE_WS_UNKNOWN_CLIENT', /unknown client/],
    ['bad format', { token: mintToken(SECRET, { sub: 'atlas' }, 60, now), query: { format: 'xml' } }, 400, 'QE_WS_BAD_MESSAGE', /format/],
  ];
  for (const [name, o, status, code, msg] of cases) {
    const r = await refusedUpgrade(rig.url, o);
    t.equal(r.status, status, `${name}: HTTP ${status}`);
    t.equal(r.body.code, code, `${name}: ${code}`);
    t.match(r.body.message, msg, `${name}: message`);
  }
  t.equal(rig.gw.stats.rejected, cases.length);
  t.equal(rig.gw.stats.connections, 0);
  t.equal(rig.gw.stats.opened, 0, 'no refused request ever reached open');
  const m = await rig.metrics();
  t.equal(sample(m, 'qe_ws_rejected_total', 'code="QE_WS_AUTH_INVALID"'), 5);
  t.equal(sample(m, 'qe_ws_rejected_total', 'code="QE_WS_AUTH_MISSING"'), 1);
  t.equal(sample(m, 'qe_ws_rejected_total', 'code="QE_WS_AUTH_EXPIRED"'), 1);
  t.equal(sample(m, 'qe_ws_rejected_total', 'code="QE_WS_UNKNOWN_CLIENT"'), 1);
});

t.test('gateway - the token is accepted from the Authorization header, the subprotocol and the query', async (t) => {
  const rig = await startRig(t);
  const viaHeader = await rig.connect('atlas', { via: 'header' });
  t.equal(viaHeader.frames[0].client, 'atlas');
  const viaProtocol = await rig.connect('cedar', { via: 'protocol', protocols: ['qe.v1'] });
  t.equal(viaProtocol.frames[0].client, 'cedar');
  t.equal(viaProtocol.protocol, 'qe.v1', 'qe.v1 is selected when offered, so the token is not echoed');
  const bearerOnly = await rig.connect('orbit', { via: 'protocol' });
  t.ok(bearerOnly.protocol.startsWith('bearer.'), 'with only bearer.<token> offered it is echoed (browsers require a selection)');
  const viaQuery = await rig.connect('halcyon');
  t.equal(viaQuery.frames[0].tier, 1);
  t.equal(rig.gw.stats.connections, 4);
  t.same(rig.gw.connections().map((c) => c.client).sort(), ['atlas', 'cedar', 'halcyon', 'orbit']);
});

t.test('gateway - a foreign Origin is refused; an allowed Origin and no Origin are accepted', async (t) => {
  const rig = await startRig(t, { gateway: { allowedOrigins: ['https://screens.example'] } });
  const r = await refusedUpgrade(rig.url, { token: rig.token('atlas'), headers: { origin: 'https://evil.example' } });
  t.same([r.status, r.body.code], [403, 'QE_WS_ORIGIN']);
  const r2 = await refusedUpgrade(rig.url, { token: rig.token('atlas'), headers: { origin: 'null' } });
  t.same([r2.status, r2.body.code], [403, 'QE_WS_ORIGIN'], 'the opaque "null" origin (sandboxed frames, files) is foreign');
  const ok = await rig.connect('atlas', { headers: { origin: 'https://SCREENS.example' } });
  t.equal(ok.frames[0].t, 'hello');
  const cli = await rig.connect('orbit');
  t.equal(cli.frames[0].t, 'hello');
  t.equal(sample(await rig.metrics(), 'qe_ws_rejected_total', 'code="QE_WS_ORIGIN"'), 2);
});

t.test('gateway - malformed frames get an error with a code, are counted, and the socket keeps working', async (t) => {
  const rig = await startRig(t);
  const c = await rig.connect('atlas');
  const poisoned = JSON.parse('{"__proto__":{"admin":true},"t":"ping"}');
  const cases: Array<[string, () => void, string]> = [
    ['random bytes', () => c.sendRaw(Buffer.from([0xc1, 0xff, 0x00, 0x13]), true), 'QE_WS_DECODE'],
    ['truncated msgpack', () => c.sendRaw(Buffer.from(encode({ t: 'sub', i: ['EURUSD'] })).subarray(0, 6), true), 'QE_WS_DECODE'],
    ['trailing bytes', () => c.sendRaw(Buffer.concat([Buffer.from(encode({ t: 'ping' })), Buffer.from([1])]), true), 'QE_WS_DECODE'],
    ['msgpack bin', () => c.sendRaw(Buffer.from(encode({ t: 'ping', id: new Uint8Array(4) })), true), 'QE_WS_DECODE'],
    ['msgpack array above the limit', () => c.send({ t: 'sub', i: new Array(1100).fill(1) }), 'QE_WS_DECODE'],
    ['msgpack __proto__', () => c.sendRaw(Buffer.from(encode(poisoned)), true), 'QE_WS_DECODE'],
    ['msgpack nested constructor', () => c.send({ t: 'ping', x: { constructor: 1 } }), 'QE_WS_DECODE'],
    ['JSON garbage', () => c.sendRaw('{"t":', false), 'QE_WS_DECODE'],
    ['JSON __proto__', () => c.sendRaw('{"__proto__":{"admin":true},"t":"ping"}', false), 'QE_WS_DECODE'],
    ['JSON nested prototype', () => c.sendRaw('{"t":"sub","i":["EURUSD"],"x":{"prototype":1}}', false), 'QE_WS_DECODE'],
    ['JSON null', () => c.sendRaw('null', false), 'QE_WS_BAD_MESSAGE'],
    ['array', () => c.send([1, 2, 3]), 'QE_WS_BAD_MESSAGE'],
    ['no t', () => c.send({ i: ['EURUSD'] }), 'QE_WS_BAD_MESSAGE'],
    ['unknown t', () => c.send({ t: 'exec', cmd: 'rm' }), 'QE_WS_BAD_MESSAGE'],
    ['i not an array', () => c.send({ t: 'sub', i: 'EURUSD' }), 'QE_WS_BAD_MESSAGE'],
    ['i of numbers', () => c.sendJson({ t: 'sub', i: [1, 2] }), 'QE_WS_BAD_MESSAGE'],
    ['i empty', () => c.send({ t: 'sub', i: [] }), 'QE_WS_BAD_MESSAGE'],
    ['id an object', () => c.send({ t: 'ping', id: { a: 1 } }), 'QE_WS_BAD_MESSAGE'],
    ['unknown field', () => c.send({ t: 'ping', extra: 1 }), 'QE_WS_BAD_MESSAGE'],
  ];
  for (const [name, sendIt, code] of cases) {
    const reply = c.next((f) => f.t === 'error', 3000, `error for ${name}`);
    sendIt();
    t.equal((await reply).code, code, name);
  }
  t.match(await c.request({ t: 'sub', i: ['EURUSD'], id: 'after', extra: 1 }), { code: 'QE_WS_BAD_MESSAGE', id: 'after' }, 'a valid id is echoed on the error');
  t.match(await c.request({ t: 'ping', id: 'alive' }), { t: 'pong', id: 'alive', serverTime: Number });
  t.match(await c.request({ t: 'sub', i: ['EURUSD'], id: 'works' }), { t: 'subscribed', i: ['EURUSD'] });
  const pong = c.next((f) => f.t === 'pong' && f.id === 'json');
  c.sendJson({ t: 'ping', id: 'json' });
  t.equal(c.binary[c.frames.indexOf(await pong)], true, 'a JSON request on a msgpack socket is answered in msgpack');
  t.equal(c.closed, null);
  t.equal(rig.gw.stats.badFrames, cases.length + 1);
  t.equal(rig.gw.stats.internalErrors, 0);
  const m = await rig.metrics();
  t.equal(sample(m, 'qe_ws_bad_frames_total', 'code="QE_WS_DECODE"'), 10);
  t.equal(sample(m, 'qe_ws_bad_frames_total', 'code="QE_WS_BAD_MESSAGE"'), 10);
  t.equal(sample(m, 'qe_ws_messages_in_total'), cases.length + 4);
});

t.test('gateway - a frame above maxPayloadBytes closes the socket with 1009', async (t) => {
  const rig = await startRig(t);
  const cap = rig.universe.config.gateway.maxPayloadBytes;
  const c = await rig.connect('atlas');
  const atCap = JSON.stringify({ t: 'ping', id: 'cap' });
  const pong = c.next((f) => f.id === 'cap');
  c.sendRaw(atCap + ' '.repeat(cap - atCap.length), false);
  t.equal((await pong).t, 'pong', 'exactly the cap is accepted');
  c.sendRaw(Buffer.alloc(cap + 1, 0x20), false);
  t.same(await c.waitClose(), { code: 1009, reason: 'frame too large' });

  // far above the cap uWS drops the connection itself, without a close frame; it is still counted
  const c2 = await rig.connect('orbit');
  c2.sendRaw(Buffer.alloc(4 * cap), true);
  t.equal((await c2.waitClose()).code, 1006);
  await until(() => rig.gw.stats.connections === 0, 2000, 'server-side close');
  t.equal(rig.gw.stats.oversizeCloses, 2);
  t.equal(sample(await rig.metrics(), 'qe_ws_bad_frames_total', 'code="QE_WS_FRAME_TOO_LARGE"'), 2);
});

t.test('gateway - an inbound flood is answered once with QE_WS_RATE_LIMITED, then closed with 4029', async (t) => {
  const clock = new ManualClock(Date.now());
  const rig = await startRig(t, { clock, gateway: { inboundRatePerSec: 10 } });
  const flooder = await rig.connect('atlas');
  const other = await rig.connect('orbit');
  for (let k = 0; k < 10; k++) flooder.send({ t: 'ping', id: k });
  await flooder.waitFor((f) => f.t === 'pong' && f.id === 9);
  const limited = flooder.next((f) => f.t === 'error');
  flooder.send({ t: 'ping', id: 'over' });
  t.match(await limited, { code: 'QE_WS_RATE_LIMITED' });
  clock.advance(1000);
  t.match(await flooder.request({ t: 'ping', id: 'refilled' }), { t: 'pong' }, 'the bucket refills with time');
  for (let k = 0; k < 40; k++) flooder.send({ t: 'ping', id: `f${k}` });
  t.equal((await flooder.waitClose()).code, 4029);
  t.equal(flooder.frames.filter((f) => f.t === 'error').length, 1, 'one error reply per window, not one per dropped message');
  t.match(await other.request({ t: 'ping', id: 'x' }), { t: 'pong' }, 'the limit is per connection');
  t.equal(rig.gw.stats.rateLimitCloses, 1);
});

t.test('gateway - the sweep closes a socket whose token expired with 4001', async (t) => {
  const clock = new ManualClock(Date.now());
  const rig = await startRig(t, { clock, gateway: { sweepMs: 10 } });
  const short = await Client.connect(rig.url, { token: rig.token('atlas', { ttlSec: 60 }) });
  const long = await rig.connect('orbit');
  t.teardown(() => short.terminate());
  clock.advance((60 + SKEW_SEC - 1) * 1000);
  await sweeps(rig.gw);
  await short.barrier();
  t.equal(short.closed, null, 'still open inside the skew');
  clock.advance(1000);
  t.same(await short.waitClose(), { code: 4001, reason: 'token expired' });
  t.match(await long.request({ t: 'ping', id: 1 }), { t: 'pong' }, 'other sockets are untouched');
  t.equal(rig.gw.stats.expiredCloses, 1);
});

t.test('gateway - /health, /metrics and unknown paths', async (t) => {
  let health = { ok: true, detail: { feed: 'up' } as object };
  let throwIt = false;
  const rig = await startRig(t, {
    healthCheck: () => {
      if (throwIt) throw new Error('boom');
      return health;
    },
  });
  await rig.connect('atlas');
  const h = await httpGet(rig.port, '/health');
  t.equal(h.status, 200);
  t.match(h.headers['content-type'], /application\/json/);
  t.same(JSON.parse(h.body), { ok: true, detail: { feed: 'up' }, gateway: { connections: 1, conflated: 0 } });
  health = { ok: false, detail: { feed: 'stale' } };
  const h2 = await httpGet(rig.port, '/health');
  t.same([h2.status, JSON.parse(h2.body).ok, JSON.parse(h2.body).detail], [503, false, { feed: 'stale' }]);
  throwIt = true;
  const h3 = await httpGet(rig.port, '/health');
  t.same([h3.status, JSON.parse(h3.body).ok], [503, false], 'a throwing health check is unhealthy, not a crash');
  t.equal(rig.gw.stats.internalErrors, 1);

  for (let k = 0; k < 3; k++) rig.engine.emit(1, 'ZN');
  rig.engine.emit(2, 'ZN');
  const m = await httpGet(rig.port, '/metrics');
  t.equal(m.status, 200);
  t.match(m.headers['content-type'], /^text\/plain/);
  t.equal(sample(m.body, 'qe_ws_connections'), 1);
  t.equal(sample(m.body, 'qe_quotes_published_total', 'tier="1"'), 3);
  t.equal(sample(m.body, 'qe_quotes_published_total', 'tier="2"'), 1);
  t.equal(sample(m.body, 'qe_quotes_published_total', 'tier="3"'), 0);
  for (const name of ['qe_ws_conflations_total', 'qe_ws_slow_closes_total', 'qe_ws_messages_in_total', 'qe_ws_rejected_total', 'qe_ws_bad_frames_total']) {
    t.match(m.body, new RegExp(`^# TYPE ${name} counter$`, 'm'), `${name} exported`);
  }
  t.match(m.body, /^qe_process_resident_memory_bytes /m, 'default process metrics come from the same registry');
  t.equal((await httpGet(rig.port, '/nope')).status, 404);
  t.equal((await httpGet(rig.port, '/')).status, 404, 'GET / without an upgrade is not a WebSocket');
});

t.test('gateway - format=json gets text frames and wantsJson follows JSON subscribers', async (t) => {
  const rig = await startRig(t);
  const iid = rig.engine.iid('EURGBP');
  const bin = await rig.connect('atlas');
  await bin.request({ t: 'sub', i: ['EURGBP'], id: 1 });
  t.equal(rig.gw.wantsJson(3, iid), false, 'a msgpack subscriber does not ask for JSON');
  rig.engine.emit(3, 'EURGBP');
  const js = await rig.connect('orbit', { json: true });
  t.match(js.frames[0], { t: 'hello', format: 'json' });
  t.equal(js.binary[0], false);
  const ack = js.next((f) => f.t === 'subscribed');
  js.sendJson({ t: 'sub', i: ['EURGBP'], id: 'j' });
  t.same(await ack, { t: 'subscribed', id: 'j', i: ['EURGBP'] });
  t.equal(rig.gw.wantsJson(3, iid), true);
  t.equal(rig.gw.wantsJson(2, iid), false, 'per tier');
  rig.engine.emit(3, 'EURGBP');
  await js.barrier();
  t.same(js.quotes().map((f) => [f.sq, f.sn]), [[1, 1], [2, 0]]);
  t.ok(js.frames.filter((f) => f.t !== 'pong').every((_f, k) => js.binary[k] === false), 'every frame on a JSON socket is text');
  const un = js.next((f) => f.t === 'unsubscribed');
  js.sendJson({ t: 'unsub', i: ['EURGBP'] });
  t.same(await un, { t: 'unsubscribed', i: ['EURGBP'] });
  t.equal(rig.gw.wantsJson(3, iid), false);
});

t.test('gateway - unsub stops deltas; re-sub sends a fresh snapshot', async (t) => {
  const rig = await startRig(t);
  const c = await rig.connect('atlas');
  rig.engine.emit(3, 'ZB');
  await c.request({ t: 'sub', i: ['ZB'], id: 1 });
  t.same(await c.request({ t: 'unsub', i: ['ZB'], id: 2 }), { t: 'unsubscribed', id: 2, i: ['ZB'] });
  rig.engine.emit(3, 'ZB');
  rig.engine.emit(3, 'ZB');
  await c.barrier();
  t.same(c.quotes().map((f) => f.sq), [1], 'nothing after unsub');
  t.match(await c.request({ t: 'unsub', i: ['ZB', 'NOPE'], id: 3 }), { code: 'QE_WS_UNKNOWN_INSTRUMENT' });
  await c.request({ t: 'sub', i: ['ZB'], id: 4 });
  await c.barrier();
  t.same(c.quotes().map((f) => [f.sq, f.sn]), [[1, 1], [3, 1]]);
});

t.test('gateway - maxSubscriptions is enforced per request, all or nothing', async (t) => {
  const rig = await startRig(t, { gateway: { maxSubscriptions: 2 } });
  const c = await rig.connect('atlas');
  await c.request({ t: 'sub', i: ['ZN', 'ZF'], id: 1 });
  t.match(await c.request({ t: 'sub', i: ['ZB'], id: 2 }), { t: 'error', code: 'QE_WS_TOO_MANY_SUBSCRIPTIONS', id: 2 });
  t.match(await c.request({ t: 'sub', i: ['ZN'], id: 3 }), { t: 'subscribed' }, 're-subscribing an existing one is not a new subscription');
  t.equal(rig.gw.connections()[0].subscriptions, 2);
});

t.test('gateway - retier moves a connected client to the new tier with snapshots', async (t) => {
  const rig = await startRig(t);
  rig.engine.emit(3, 'USDCAD');
  rig.engine.emit(2, 'USDCAD');
  rig.engine.emit(2, 'USDCAD');
  const c = await rig.connect('pinecrest');
  await c.request({ t: 'sub', i: ['USDCAD'], id: 1 });
  t.equal(rig.gw.retier('pinecrest', 2), 1, 'one socket moved');
  rig.engine.emit(3, 'USDCAD');
  rig.engine.emit(2, 'USDCAD');
  await c.barrier();
  t.match(c.frames.find((f) => f.t === 'status'), { t: 'status', tier: 2 });
  t.same(c.quotes().map((f) => [f.tr, f.sq, f.sn]), [[3, 1, 1], [2, 2, 1], [2, 3, 0]], 'tier 3 snapshot, tier 2 snapshot, tier 2 deltas only');
  t.equal(rig.gw.tierOfClient('pinecrest'), 2);
  const again = await rig.connect('pinecrest');
  t.equal(again.frames[0].tier, 2, 'new connections get the new tier');
  t.throws(() => rig.gw.retier('mallory', 1), { code: 'QE_WS_UNKNOWN_CLIENT' });
});

t.test('gateway - broadcastStatus reaches every socket in its own format', async (t) => {
  const rig = await startRig(t);
  const a = await rig.connect('atlas');
  const b = await rig.connect('northwind', { json: true });
  rig.gw.broadcastStatus({ nats: 'disconnected', t: 'spoofed' });
  const [sa, sb] = await Promise.all([a.waitFor((f) => f.t === 'status'), b.waitFor((f) => f.t === 'status')]);
  t.match(sa, { t: 'status', nats: 'disconnected', serverTime: Number });
  t.match(sb, { t: 'status', nats: 'disconnected' });
  t.equal(b.binary[b.frames.indexOf(sb)], false);
});

t.test('gateway - a throwing snapshot source costs one snapshot, not the socket', async (t) => {
  const rig = await startRig(t);
  rig.engine.emit(3, 'ZN');
  rig.engine.emit(3, 'ZF');
  rig.engine.throwFor = rig.engine.iid('ZN');
  const c = await rig.connect('atlas');
  await c.request({ t: 'sub', i: ['ZN', 'ZF'], id: 1 });
  await c.barrier();
  t.same(c.quotes().map((f) => f.i), ['ZF']);
  t.equal(rig.gw.stats.internalErrors, 1);
  t.match(rig.logged.find((l) => l.level === 'error')?.obj, { where: 'snapshot', code: 'QE_INTERNAL' });
});

t.test('gateway - a request with 2000 headers does not take the server down', async (t) => {
  const rig = await startRig(t);
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(rig.port, '127.0.0.1', () => {
      let req = `GET /?token=${rig.token('atlas')} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n`;
      for (let k = 0; k < 2000; k++) req += `X-H${k}: v\r\n`;
      s.write(req + '\r\n');
    });
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => resolve());
    setTimeout(() => reject(new Error('connection not closed')), 3000);
  });
  const c = await rig.connect('atlas');
  t.match(await c.request({ t: 'ping', id: 1 }), { t: 'pong' });
  t.equal(rig.gw.stats.opened, 1, 'the oversized request never became a socket');
});

t.test('gateway - close() ends sockets with 1001 and stops listening', async (t) => {
  const rig = await startRig(t);
  const c = await rig.connect('atlas');
  await rig.gw.close();
  t.equal((await c.waitClose()).code, 1001);
  await t.rejects(Client.connect(rig.url, { token: rig.token('atlas') }));
  rig.engine.emit(3, 'ZN');
  t.equal(rig.gw.stats.connections, 0, 'publishing after close is harmless');
});
