/**
 * End to end against real components: nats-server (child process), the engine with its piscina
 * pricer and uWS gateway, and `ws` clients. Market data is published on NATS as a venue would.
 */
import t from 'tap';
import { decode, encode } from '@msgpack/msgpack';
import { TestClient, type Frame } from '../helpers/client.js';
import { startTestEngine, testConfig } from '../helpers/engine.js';

const firm = (tier: number, instrument: string) => (f: Frame) => f.t === 'q' && f.i === instrument && f.tr === tier && f.st === 'firm';

async function metrics(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  return r.text();
}
function metricValue(text: string, name: string, label: string): number {
  const re = new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} (\\S+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

t.test('stream - a tick published on NATS arrives as a firm quote of the client\'s tier', async (t) => {
  const te = await startTestEngine(t);
  const c = await TestClient.connect(te.url, TestClient.token(te.secret, 'meridian'));
  t.teardown(() => c.close());
  const hello = await c.waitFor((f) => f.t === 'hello');
  t.equal(hello.tier, 2, 'meridian is tier 2');
  c.send({ t: 'sub', i: ['EURUSD'], id: 1 });
  await c.waitFor((f) => f.t === 'subscribed');
  const snap = await c.waitFor((f) => f.t === 'q' && f.sn === 1, 3000, 'snapshot');
  t.equal(snap.st, 'pulled', 'before any market data the snapshot says pulled');
  t.equal(snap.rs, 'no_data');
  te.tickAll('EURUSD', 1.08);
  const q = await c.waitFor(firm(2, 'EURUSD'), 5000, 'firm tier-2 quote');
  t.equal(q.sn, 0, 'a live update, not a snapshot');
  t.ok(q.l.length >= 1 && q.l.length <= te.config.tiers['2'].maxBands, 'tier-2 band count');
  for (const [size, bid, ask] of q.l) {
    t.ok(size <= te.config.tiers['2'].maxSize, `size ${size} within tier max`);
    t.ok(bid < 1.08 && ask > 1.08 && bid < ask, `level ${bid}/${ask} around the mid`);
  }
  t.ok(Math.abs(q.mid - 1.08) < 1e-9, 'mid is the composite');
  t.ok(q.tk > 0 && q.tts > 0, 'quote carries the tick sequence and source time');
  t.equal(q.bd.length, 5, 'price breakdown');
});

t.test('stream - a Tier-3 client never receives Tier-1 prices, by subscribing or with a crafted topic', async (t) => {
  const te = await startTestEngine(t);
  const t3 = await TestClient.connect(te.url, TestClient.token(te.secret, 'atlas'));
  const t1 = await TestClient.connect(te.url, TestClient.token(te.secret, 'northwind'));
  t.teardown(() => { t3.close(); t1.close(); });
  await t3.waitFor((f) => f.t === 'hello');
  for (const crafted of ['q/1/0', 'q/1/EURUSD', '*', '>', 'EURUSD.t1', 'quote.t1.EURUSD', '', '../1/EURUSD']) {
    t3.send({ t: 'sub', i: [crafted], id: crafted });
    const err = await t3.waitFor((f) => f.t === 'error' && f.id === crafted, 3000, `error for ${crafted}`);
    t.match(err.code, /^QE_WS_(UNKNOWN_INSTRUMENT|BAD_MESSAGE)$/, `crafted "${crafted}" refused with ${err.code}`);
  }
  t3.send({ t: 'sub', i: ['EURUSD'], tier: 1, id: 'tier-hack' });
  const hack = await t3.waitFor((f) => f.t === 'error' && f.id === 'tier-hack', 3000, 'tier field refused');
  t.equal(hack.code, 'QE_WS_NOT_ENTITLED', 'a client cannot choose its tier');
  t3.send({ t: 'sub', i: ['EURUSD', 'UST-10Y'] });
  t1.send({ t: 'sub', i: ['EURUSD'] });
  await t3.waitFor((f) => f.t === 'subscribed');
  await t1.waitFor((f) => f.t === 'subscribed');
  te.tickAll('EURUSD', 1.08);
  te.tickAll('UST-10Y', 97.5);
  const q3 = await t3.waitFor(firm(3, 'EURUSD'));
  const q1 = await t1.waitFor(firm(1, 'EURUSD'));
  await t3.waitFor(firm(3, 'UST-10Y'));
  t.ok(t3.quotes().length >= 3, 'tier-3 client got its quotes');
  t.same([...new Set(t3.quotes().map((f) => f.tr))], [3], 'every frame the tier-3 client received is tier 3');
  t.ok(q1.l[0][2] - q1.l[0][1] <= q3.l[0][2] - q3.l[0][1], 'tier 1 is at least as tight as tier 3');
  t.ok(q1.l.length > q3.l.length, 'tier 1 sees more size bands');
});

t.test('stream - a stale feed pulls Tier-3 quotes within the configured budget; Tier 1 goes indicative', async (t) => {
  const te = await startTestEngine(t);
  const t3 = await TestClient.connect(te.url, TestClient.token(te.secret, 'pinecrest'));
  const t1 = await TestClient.connect(te.url, TestClient.token(te.secret, 'halcyon'));
  t.teardown(() => { t3.close(); t1.close(); });
  t3.send({ t: 'sub', i: ['UST-10Y'] });
  t1.send({ t: 'sub', i: ['UST-10Y'] });
  await t3.waitFor((f) => f.t === 'subscribed');
  await t1.waitFor((f) => f.t === 'subscribed');
  const lastTick = Date.now();
  te.tickAll('UST-10Y', 97.5);
  await t3.waitFor(firm(3, 'UST-10Y'));
  await t1.waitFor(firm(1, 'UST-10Y'));
  const pulled = await t3.next((f) => f.t === 'q' && f.st === 'pulled', 5000, 'tier-3 pull');
  const elapsed = Date.now() - lastTick;
  t.equal(pulled.rs, 'stale');
  t.same(pulled.l, [], 'a pulled quote carries no levels');
  const budget = te.config.market.staleAfterMs + te.config.market.staleSweepMs;
  t.ok(elapsed >= te.config.market.staleAfterMs - 20, `not pulled early (${elapsed} ms)`);
  t.ok(elapsed <= budget + 250, `pulled ${elapsed} ms after the last tick (budget ${budget} ms + scheduling)`);
  const ind = await t1.waitFor((f) => f.t === 'q' && f.st === 'indicative', 3000, 'tier-1 indicative');
  t.equal(ind.rs, 'stale');
  t.ok(ind.l.length > 0, 'indicative quote still shows prices');
  te.tickAll('UST-10Y', 97.6);
  await t3.next(firm(3, 'UST-10Y'), 5000, 'firm again after fresh ticks');
});

t.test('stream - malformed NATS payloads are counted and streaming goes on', async (t) => {
  const te = await startTestEngine(t);
  const c = await TestClient.connect(te.url, TestClient.token(te.secret, 'bluewater'));
  t.teardown(() => c.close());
  c.send({ t: 'sub', i: ['EURUSD'] });
  await c.waitFor((f) => f.t === 'subscribed');
  const subj = 'md.book.EURUSD.EBS';
  const bad: Uint8Array[] = [
    new Uint8Array([0xc1, 0xff, 0x00]),
    new TextEncoder().encode('{"i":"EURUSD"}'),
    encode({ i: 'EURUSD', v: 'EBS', s: 1, ts: Date.now(), b: 'x', a: 1, bs: 1, as: 1 }),
    encode({ i: 'EURUSD', v: 'EBS', s: 1, ts: Date.now(), b: NaN, a: 1, bs: 1, as: 1 }),
    encode({ i: 'NOPE', v: 'EBS', s: 1, ts: Date.now(), b: 1, a: 1.1, bs: 1, as: 1 }),
    encode({ i: 'EURUSD', v: 'NOPE', s: 1, ts: Date.now(), b: 1, a: 1.1, bs: 1, as: 1 }),
    encode([1, 2, 3]),
    new Uint8Array(0),
    // a map with a __proto__ key, written by hand: fixmap(1) fixstr(9)"__proto__" fixmap(0)
    new Uint8Array([0x81, 0xa9, ...new TextEncoder().encode('__proto__'), 0x80]),
  ];
  for (let k = 0; k < 50; k++) for (const b of bad) te.pub.publish(subj, b);
  for (let k = 0; k < 200; k++) te.pub.publish(subj, crypto.getRandomValues(new Uint8Array(1 + (k % 64))));
  te.tickAll('EURUSD', 1.0842);
  const q = await c.waitFor(firm(2, 'EURUSD'), 5000, 'firm quote after garbage');
  t.ok(Math.abs(q.mid - 1.0842) < 1e-9);
  const m = await metrics(te.engine.port);
  t.ok(metricValue(m, 'qe_md_messages_total', 'result="QE_MD_DECODE"') >= 100, 'decode failures counted');
  t.ok(metricValue(m, 'qe_md_messages_total', 'result="QE_MD_SCHEMA"') >= 150, 'schema failures counted');
  t.ok(metricValue(m, 'qe_md_messages_total', 'result="QE_MD_UNKNOWN_INSTRUMENT"') >= 50);
  t.ok(metricValue(m, 'qe_md_messages_total', 'result="QE_MD_UNKNOWN_VENUE"') >= 50);
  t.ok(metricValue(m, 'qe_md_messages_total', 'result="ok"') >= 3);
});

t.test('stream - malformed WebSocket frames get coded errors, are counted, and the stream goes on', async (t) => {
  const te = await startTestEngine(t);
  const c = await TestClient.connect(te.url, TestClient.token(te.secret, 'cedar'));
  t.teardown(() => c.close());
  c.send({ t: 'sub', i: ['ACME-27'] });
  await c.waitFor((f) => f.t === 'subscribed');
  c.ws.send(new Uint8Array([0xc1, 0x00, 0x13]));
  c.ws.send('{not json');
  c.send({ t: 'sub', i: 'ACME-27' });
  c.send({ t: 'explode' });
  c.send({ t: 'sub', i: [42] });
  const errors = () => c.frames.filter((f) => f.t === 'error');
  await c.waitFor(() => errors().length >= 5, 3000, 'five error frames');
  for (const e of errors()) t.match(e.code, /^QE_WS_/, `error code ${e.code}`);
  te.tickAll('ACME-27', 101.2, 10);
  await c.waitFor(firm(2, 'ACME-27'), 5000, 'quotes still flow');
  t.equal(c.closed, null, 'socket still open');
});

t.test('stream - JSON mode clients get the same quotes as text frames', async (t) => {
  const te = await startTestEngine(t);
  const c = await TestClient.connect(te.url, TestClient.token(te.secret, 'orbit'), { json: true });
  t.teardown(() => c.close());
  c.send({ t: 'sub', i: ['EURUSD'] }, true);
  await c.waitFor((f) => f.t === 'subscribed');
  te.tickAll('EURUSD', 1.08);
  const q = await c.waitFor(firm(3, 'EURUSD'));
  t.ok(Array.isArray(q.l) && q.l[0].length === 3);
});

t.test('stream - with nats.publishQuotes, quotes are also published on NATS per tier and instrument', async (t) => {
  const te = await startTestEngine(t, { config: testConfig((c) => (c.nats = { ...c.nats, publishQuotes: true })) });
  const sub = te.pub.subscribe('quote.t1.EURUSD', { max: 50 });
  await te.pub.flush();
  const got = (async () => {
    for await (const m of sub) {
      const f = decode(m.data) as Frame;
      if (f.st === 'firm') return f;
    }
    return null;
  })();
  te.tickAll('EURUSD', 1.08);
  const f = await Promise.race([got, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
  t.ok(f, 'a firm tier-1 quote arrived on quote.t1.EURUSD');
  t.equal(f?.tr, 1);
  t.equal(f?.i, 'EURUSD');
});

t.test('stream - by default no quote reaches NATS (tier prices stay off the shared bus)', async (t) => {
  const te = await startTestEngine(t);
  let seen = 0;
  const sub = te.pub.subscribe('quote.>', { callback: () => seen++ });
  t.teardown(() => sub.unsubscribe());
  await te.pub.flush();
  const c = await TestClient.connect(te.url, TestClient.token(te.secret, 'orbit'));
  t.teardown(() => c.close());
  c.send({ t: 'sub', i: ['EURUSD'] });
  await c.waitFor((f) => f.t === 'subscribed');
  te.tickAll('EURUSD', 1.08);
  await c.waitFor(firm(3, 'EURUSD'), 5000, 'firm tier-3 quote on the socket');
  await te.pub.flush();
  await new Promise((r) => setTimeout(r, 200));
  t.equal(seen, 0, 'nothing published on quote.>');
});

t.test('stream - a sequence gap quarantines the instrument (T2/T3 pulled, T1 indicative) until the venue is consistent', async (t) => {
  const te = await startTestEngine(t);
  const t1 = await TestClient.connect(te.url, TestClient.token(te.secret, 'northwind'));
  const t2 = await TestClient.connect(te.url, TestClient.token(te.secret, 'meridian'));
  t.teardown(() => { t1.close(); t2.close(); });
  t1.send({ t: 'sub', i: ['EURUSD'] });
  t2.send({ t: 'sub', i: ['EURUSD'] });
  await t1.waitFor((f) => f.t === 'subscribed');
  await t2.waitFor((f) => f.t === 'subscribed');
  te.book('EURUSD', 'EBS', 1, 1.0799, 1.0801);
  te.book('EURUSD', 'LSG', 1, 1.0799, 1.0801);
  te.book('EURUSD', 'CBX', 1, 1.0799, 1.0801);
  await t2.waitFor(firm(2, 'EURUSD'));
  te.book('EURUSD', 'EBS', 5, 1.0799, 1.0801); // 2..4 lost
  const q2 = await t2.next((f) => f.t === 'q' && f.st !== 'firm', 3000, 'tier-2 degraded');
  t.equal(q2.st, 'pulled');
  t.equal(q2.rs, 'quarantined');
  const q1 = await t1.waitFor((f) => f.t === 'q' && f.rs === 'quarantined', 3000, 'tier-1 quarantined');
  t.equal(q1.st, 'indicative');
  te.book('EURUSD', 'EBS', 6, 1.0799, 1.0802);
  te.book('EURUSD', 'EBS', 7, 1.0798, 1.0802);
  await t2.next(firm(2, 'EURUSD'), 3000, 'firm again after recoveryTicks in-order messages');
});

t.test('stream - a broker restart pulls quotes while disconnected, then they resume', async (t) => {
  const te = await startTestEngine(t);
  const c = await TestClient.connect(te.url, TestClient.token(te.secret, 'atlas'));
  t.teardown(() => c.close());
  c.send({ t: 'sub', i: ['EURUSD'] });
  await c.waitFor((f) => f.t === 'subscribed');
  te.tickAll('EURUSD', 1.08);
  await c.waitFor(firm(3, 'EURUSD'));
  const restarted = te.broker.restart(1000);
  const down = await c.next((f) => f.t === 'q' && f.st !== 'firm', 5000, 'pull on disconnect');
  t.equal(down.rs, 'disconnected');
  t.equal(down.st, 'pulled', 'tier 3 pulls while the broker is down');
  await restarted;
  // the publisher reconnects too; keep ticking until the engine is back and quoting
  const deadline = Date.now() + 15_000;
  let back: Frame | null = null;
  const waitBack = c.next(firm(3, 'EURUSD'), 15_000, 'firm after reconnect').then((f) => (back = f));
  while (!back && Date.now() < deadline) {
    te.tickAll('EURUSD', 1.0805);
    await new Promise((r) => setTimeout(r, 100));
  }
  await waitBack;
  t.ok(back, 'quotes resumed after the broker came back');
});

t.test('stream - a mutant pricer returning 10× prices is blocked by the final gate', async (t) => {
  const te = await startTestEngine(t, { engine: { pricerFaultMode: 'garbage' } });
  const c = await TestClient.connect(te.url, TestClient.token(te.secret, 'northwind'));
  t.teardown(() => c.close());
  c.send({ t: 'sub', i: ['EURUSD', 'UST-10Y'] });
  await c.waitFor((f) => f.t === 'subscribed');
  te.tickAll('EURUSD', 1.08);
  te.tickAll('UST-10Y', 97.5);
  await new Promise((r) => setTimeout(r, 500));
  const m = await metrics(te.engine.port);
  t.ok(metricValue(m, 'qe_gate_rejections_total', 'reason="outside_collar"') > 0, 'collar rejections counted');
  t.ok(c.quotes().length > 0, 'frames were published');
  for (const q of c.quotes()) {
    t.equal(q.st, 'pulled', `${q.i} never firm or indicative`);
    t.same(q.l, []);
  }
  t.ok(c.quotes().some((q) => q.rs === 'gate'), 'reason gate');
});

t.test('stream - a pricer that hangs or throws pulls quotes with reason pricer and the engine stays up', async (t) => {
  for (const mode of ['hang', 'throw'] as const) {
    const te = await startTestEngine(t, { engine: { pricerFaultMode: mode }, config: testConfig((c) => { c.pricing!.workers = { threads: 1, maxQueue: 4, batchTimeoutMs: 100 }; }) });
    const c = await TestClient.connect(te.url, TestClient.token(te.secret, 'halcyon'));
    c.send({ t: 'sub', i: ['EURUSD'] });
    await c.waitFor((f) => f.t === 'subscribed');
    te.tickAll('EURUSD', 1.08);
    const q = await c.waitFor((f) => f.t === 'q' && f.rs === 'pricer', 5000, `${mode}: pulled by pricer`);
    t.equal(q.st, 'pulled', `${mode}: pulled`);
    t.notOk(c.quotes().some((f) => f.st === 'firm'), `${mode}: never firm`);
    const h = await fetch(`http://127.0.0.1:${te.engine.port}/health`);
    t.equal(h.status, 503, `${mode}: /health reports the failure`);
    c.close();
  }
});
