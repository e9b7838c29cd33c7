/**
 * Kill switch end to end (R7, R10, R6 restart): a real nats-server with JetStream, the engine (worker
 * pricer, uWS gateway) with the risk module attached, `ws` clients and NATS requesters.
 */
import t, { type Test } from 'tap';
import { connect, type NatsConnection } from 'nats';
import { mintToken } from '../../engine/auth/token.js';
import type { Config } from '../../engine/config.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { accept, rfq, rfqConfig, startRfqRig, type RfqRig } from '../helpers/rfq.js';

const KILL = 'QE_RFQ_KILL_SWITCH';
const firm = (i: string, tier?: number) => (f: Frame) => f.t === 'q' && f.i === i && f.st === 'firm' && (tier === undefined || f.tr === tier);
const killed = (i: string) => (f: Frame) => f.t === 'q' && f.i === i && f.st === 'pulled' && f.rs === 'killed';

/** rfqConfig plus an admin seat `risk` */
function cfg(patch: (c: Record<string, any>) => void = () => {}): Config {
  return rfqConfig((c: any) => {
    c.clients = [...c.clients, { id: 'risk', name: 'Risk officer', tier: 1, role: 'admin' }];
    patch(c);
  });
}

async function nats(t: Test, rig: RfqRig): Promise<NatsConnection> {
  const nc = await connect({ servers: rig.te.broker.url });
  t.teardown(() => nc.close());
  return nc;
}

/** NATS request to risk.<action> with a token of (sub, role); resolves with the JSON reply */
async function natsCmd(nc: NatsConnection, secret: Buffer, action: string, body: Record<string, unknown>, who: [string, 'client' | 'trader' | 'admin'] | null = ['risk', 'admin']): Promise<any> {
  const token = who === null ? undefined : mintToken(secret, { sub: who[0], role: who[1] }, 600, Date.now() / 1000);
  const m = await nc.request(`risk.${action}`, JSON.stringify({ ...body, token }), { timeout: 5000 });
  return JSON.parse(Buffer.from(m.data).toString('utf8'));
}

/** the first frame matching `pred` received after frame index `from` (already there, or to come) */
function after(c: TestClient, from: number, pred: (f: Frame) => boolean, what: string): Promise<Frame> {
  const seen = c.frames.slice(from).find(pred);
  return seen ? Promise.resolve(seen) : c.next(pred, 3000, what);
}

/** moves an instrument's mid a little so its streams publish a fresh frame (unchanged books publish nothing) */
function nudge(rig: RfqRig, i: string): void {
  rig.mid[i] *= 1.0002;
}

let cmdSeq = 0;
/** WS command; resolves with its answer (risk_ack, risk_state or error) */
async function wsCmd(c: TestClient, t: string, body: Record<string, unknown> = {}): Promise<Frame> {
  const id = `c${++cmdSeq}`;
  c.send({ t, id, ...body });
  return c.waitFor((f) => (f.t === 'risk_ack' || f.t === 'risk_state' || f.t === 'error') && f.id === id, 5000, `answer to ${t} ${id}`);
}

t.test('killswitch - instrument level over WebSocket (admin): only that instrument is pulled (rs killed), its RFQs refused; release restores firm quotes', async (t) => {
  const rig = await startRfqRig(t, { config: cfg() });
  const admin = await rig.client('risk', 'admin');
  const desk = await rig.client('desk', 'trader');
  const atlas = await rig.client('atlas');
  atlas.send({ t: 'sub', i: ['EURUSD', 'UST-10Y'] });
  await atlas.waitFor(firm('EURUSD'));
  await atlas.waitFor(firm('UST-10Y'));
  const ack = await wsCmd(admin, 'kill', { scope: { level: 'instrument', target: 'EURUSD' }, reason: 'bad EURUSD feed' });
  t.match(ack, { t: 'risk_ack', action: 'kill', changed: true, state: { switches: [{ level: 'instrument', target: 'EURUSD', by: 'risk', role: 'admin', why: 'bad EURUSD feed', via: 'ws' }] } });
  const pulled = await atlas.waitFor(killed('EURUSD'), 3000, 'EURUSD pulled with rs killed');
  t.match(pulled, { tr: 3, st: 'pulled', rs: 'killed' });
  const pulledAt = atlas.frames.indexOf(pulled);
  nudge(rig, 'UST-10Y');
  nudge(rig, 'EURUSD');
  const still = await atlas.next(firm('UST-10Y'), 3000, 'UST-10Y still firm');
  t.match(still, { i: 'UST-10Y', st: 'firm' }, 'the other instrument keeps streaming firm');
  const st = await desk.waitFor((f) => f.t === 'risk_state' && f.switches.length === 1, 3000, 'risk_state pushed to the trader');
  t.match(st.switches[0], { level: 'instrument', target: 'EURUSD' });
  const r = await rfq(atlas, 'EURUSD', 'buy', 1e6);
  t.match(r, { t: 'rejected', code: KILL });
  t.match(await rfq(atlas, 'UST-10Y', 'buy', 1e6), { t: 'quote_firm' });
  // a streamed trade on the last firm EURUSD frame is refused too
  const lastFirm = atlas.quotes('EURUSD').filter((f) => f.st === 'firm').at(-1)!;
  atlas.send({ t: 'trade', acceptId: 'st-1', i: 'EURUSD', side: 'buy', size: lastFirm.l[0][0], price: lastFirm.l[0][2], sq: lastFirm.sq });
  t.match(await atlas.waitFor((f) => f.t === 'rejected' && f.acceptId === 'st-1'), { code: KILL });
  t.equal(atlas.quotes('EURUSD').filter((f) => f.sq > pulled.sq && f.st === 'firm').length, 0, 'no firm EURUSD frame while killed');

  const rel = await wsCmd(admin, 'release', { scope: { level: 'instrument', target: 'EURUSD' }, reason: 'feed fixed' });
  t.match(rel, { t: 'risk_ack', action: 'release', changed: true, state: { switches: [] } });
  await after(atlas, pulledAt, firm('EURUSD'), 'EURUSD firm again');
  t.match(await rfq(atlas, 'EURUSD', 'buy', 1e6), { t: 'quote_firm' });
  t.ok(rig.te.engine.registry.getSingleMetric('qe_kill_switch_apply_seconds'), 'latency histogram registered');
  const h = await rig.te.engine.registry.getSingleMetricAsString('qe_kill_switch_apply_seconds');
  t.match(h, /qe_kill_switch_apply_seconds_count\{action="kill"\} 1/);
});

t.test('killswitch - tier level: tier 3 streams and RFQs stop, tier 2 unaffected', async (t) => {
  const rig = await startRfqRig(t, { config: cfg() });
  const admin = await rig.client('risk', 'admin');
  const atlas = await rig.client('atlas');
  const meridian = await rig.client('meridian');
  for (const c of [atlas, meridian]) c.send({ t: 'sub', i: ['UST-10Y'] });
  await atlas.waitFor(firm('UST-10Y', 3));
  await meridian.waitFor(firm('UST-10Y', 2));
  t.match(await wsCmd(admin, 'kill', { scope: { level: 'tier', target: 3 }, reason: 'tier 3 pricing review' }), { t: 'risk_ack', changed: true });
  const k3 = await atlas.waitFor(killed('UST-10Y'));
  t.match(k3, { tr: 3 });
  const n = meridian.frames.length;
  nudge(rig, 'UST-10Y');
  await meridian.next(firm('UST-10Y', 2), 3000, 'tier 2 still firm');
  t.ok(meridian.frames.slice(n).every((f) => f.t !== 'q' || f.st === 'firm'), 'tier 2 never pulled');
  t.match(await rfq(atlas, 'UST-10Y', 'sell', 1e6), { t: 'rejected', code: KILL });
  t.match(await rfq(meridian, 'UST-10Y', 'sell', 1e6), { t: 'quote_firm' });
  t.match(await wsCmd(admin, 'release', { scope: { level: 'tier', target: '3' }, reason: 'done' }), { changed: true });
  await after(atlas, atlas.frames.indexOf(k3), firm('UST-10Y', 3), 'tier 3 firm again');
});

t.test('killswitch - client level: that client sees explicit pulled frames and its accept is refused; another client of the same tier keeps trading', async (t) => {
  const rig = await startRfqRig(t, { config: cfg() });
  const admin = await rig.client('risk', 'admin');
  const atlas = await rig.client('atlas');
  const orbit = await rig.client('orbit');
  for (const c of [atlas, orbit]) c.send({ t: 'sub', i: ['EURUSD'] });
  await atlas.waitFor(firm('EURUSD'));
  await orbit.waitFor(firm('EURUSD'));
  const q = await rfq(atlas, 'EURUSD', 'buy', 1e6);
  t.equal(q.t, 'quote_firm');
  t.match(await wsCmd(admin, 'kill', { scope: { level: 'client', target: 'atlas' }, reason: 'client under review' }), { changed: true });
  const ka = await atlas.waitFor(killed('EURUSD'), 3000, 'atlas pulled');
  t.match(await accept(atlas, q.quoteId, 'a-1'), { t: 'rejected', code: KILL }, 'the accept of a quote given before the kill is refused');
  t.match(await rfq(atlas, 'EURUSD', 'buy', 1e6), { t: 'rejected', code: KILL });
  const n = orbit.frames.length;
  const na = atlas.frames.length;
  nudge(rig, 'EURUSD');
  await orbit.next(firm('EURUSD'), 3000, 'orbit still firm');
  t.ok(orbit.frames.slice(n).every((f) => f.t !== 'q' || f.st === 'firm'), 'orbit never pulled');
  t.equal(atlas.frames.slice(na).filter((f) => f.t === 'q').length, 0, 'atlas receives no quotes while killed');
  t.match(await rfq(orbit, 'EURUSD', 'buy', 1e6), { t: 'quote_firm' });
  t.equal(rig.te.engine.hot.overlayOf(3, 0).mode, null, 'a client switch touches no shared stream');
  const iid = rig.te.config.instruments.findIndex((i) => i.id === 'EURUSD');
  t.equal(rig.te.engine.inventory.position[iid], 0, 'nothing traded');
  t.match(await wsCmd(admin, 'release', { scope: { level: 'client', target: 'atlas' }, reason: 'cleared' }), { changed: true });
  await after(atlas, atlas.frames.indexOf(ka), firm('EURUSD'), 'atlas firm again');
});

t.test('killswitch - global over NATS (the CLI path): every stream pulled; status; trader may engage but not release; client tokens refused on WS and NATS', async (t) => {
  const rig = await startRfqRig(t, { config: cfg() });
  const nc = await nats(t, rig);
  const secret = rig.te.secret;
  const atlas = await rig.client('atlas');
  const northwind = await rig.client('northwind');
  const desk = await rig.client('desk', 'trader');
  atlas.send({ t: 'sub', i: ['EURUSD'] });
  northwind.send({ t: 'sub', i: ['CDX-IG'] });
  await atlas.waitFor(firm('EURUSD'));
  await northwind.waitFor(firm('CDX-IG'));

  // R10: a client token, no token, a bad scope: refused, nothing changes
  t.match(await natsCmd(nc, secret, 'kill', { scope: { level: 'global' }, reason: 'x' }, ['atlas', 'client']), { ok: false, code: 'QE_KILL_NOT_AUTHORIZED' });
  t.match(await natsCmd(nc, secret, 'kill', { scope: { level: 'global' }, reason: 'x' }, null), { ok: false, code: 'QE_KILL_NOT_AUTHORIZED' });
  t.match(await natsCmd(nc, Buffer.alloc(32, 7), 'kill', { scope: { level: 'global' }, reason: 'x' }), { ok: false, code: 'QE_KILL_NOT_AUTHORIZED' }, 'a token signed with another secret');
  t.match(await natsCmd(nc, secret, 'status', {}, ['atlas', 'client']), { ok: false, code: 'QE_KILL_NOT_AUTHORIZED' });
  t.match(await wsCmd(atlas, 'kill', { scope: { level: 'global' }, reason: 'x' }), { t: 'error', code: 'QE_KILL_NOT_AUTHORIZED' });
  t.match(await wsCmd(atlas, 'risk_status'), { t: 'error', code: 'QE_KILL_NOT_AUTHORIZED' });
  t.match(await natsCmd(nc, secret, 'kill', { scope: { level: 'instrument', target: 'NOPE' }, reason: 'x' }), { ok: false, code: 'QE_KILL_BAD_COMMAND' });
  t.match(await natsCmd(nc, secret, 'kill', { scope: { level: 'global' } }), { ok: false, code: 'QE_KILL_BAD_COMMAND' }, 'a reason is required');
  const raw = await nc.request('risk.kill', 'not json', { timeout: 5000 });
  t.match(JSON.parse(Buffer.from(raw.data).toString()), { ok: false, code: 'QE_KILL_BAD_COMMAND' });
  t.match(await natsCmd(nc, secret, 'status', {}), { ok: true, state: { switches: [] } }, 'nothing changed');
  t.equal(rig.te.engine.hot.overlayOf(3, 0).mode, null);

  // the hedger as the kill switch sees it (HedgeCanceller): record what it is asked to cancel
  const cancels: Array<[unknown, string]> = [];
  (rig.te.engine.services as Record<string, unknown>).hedger = { cancelWorking: async (scope: unknown, why: string) => (cancels.push([scope, why]), 0) };
  // a trader engages (over NATS), may not release
  const k = await natsCmd(nc, secret, 'kill', { scope: { level: 'global' }, reason: 'market halt' }, ['desk', 'trader']);
  t.match(k, { ok: true, action: 'kill', changed: true, state: { switches: [{ level: 'global', target: null, by: 'desk', role: 'trader', via: 'nats' }] } });
  const kA = await atlas.waitFor(killed('EURUSD'), 3000, 'tier 3 pulled');
  const kN = await northwind.waitFor(killed('CDX-IG'), 3000, 'tier 1 pulled');
  t.match(await rfq(northwind, 'CDX-IG', 'buy', 1e6), { t: 'rejected', code: KILL });
  t.match(cancels, [[{ level: 'global' }, /market halt/]], 'working hedge orders in scope cancelled (killSwitch.cancelHedges)');
  const g = rig.te.engine.services.hedgeGuard!;
  t.match(g.checkOrder({ venue: 'EBS', iid: 0, instrument: rig.te.config.instruments[0].id, side: 'buy', size: 1e6, mid: 100, nowMs: Date.now() }), { code: KILL }, 'and new hedge orders refused');
  t.match(await natsCmd(nc, secret, 'release', { scope: { level: 'global' }, reason: 'x' }, ['desk', 'trader']), { ok: false, code: 'QE_KILL_NOT_AUTHORIZED' });
  t.match(await wsCmd(desk, 'release', { scope: { level: 'global' }, reason: 'x' }), { t: 'error', code: 'QE_KILL_NOT_AUTHORIZED' });
  t.match(await wsCmd(desk, 'risk_status'), { t: 'risk_state', switches: [{ level: 'global' }] }, 'a trader reads the status');
  t.match(await natsCmd(nc, secret, 'kill', { scope: { level: 'global' }, reason: 'again' }), { ok: true, changed: false }, 'engaging twice is a no-op');

  const rel = await natsCmd(nc, secret, 'release', { scope: { level: 'global' }, reason: 'market reopened' });
  t.match(rel, { ok: true, changed: true, state: { switches: [] } });
  await after(atlas, atlas.frames.indexOf(kA), firm('EURUSD'), 'firm again');
  await after(northwind, northwind.frames.indexOf(kN), firm('CDX-IG'), 'firm again');
});

t.test('killswitch - survives an engine restart on the same broker: switches re-applied before the first quote, audited with who and why; the R6 hedging disable too', async (t) => {
  const config = cfg((c) => {
    c.risk = { hedge: { repeated: { maxFills: 3, windowMs: 60_000 } } };
  });
  const rig1 = await startRfqRig(t, { config });
  const nc = await nats(t, rig1);
  const admin = await rig1.client('risk', 'admin');
  t.match(await wsCmd(admin, 'kill', { scope: { level: 'tier', target: '2' }, reason: 'tier 2 review' }), { changed: true });
  t.match(await wsCmd(admin, 'kill', { scope: { level: 'client', target: 'atlas' }, reason: 'atlas review' }), { changed: true });
  t.match(await wsCmd(admin, 'kill', { scope: { level: 'instrument', target: 'CDX-IG' }, reason: 'cdx' }), { changed: true });
  t.match(await wsCmd(admin, 'release', { scope: { level: 'instrument', target: 'CDX-IG' }, reason: 'cdx ok' }), { changed: true });
  // R6: N + 1 hedge fills in the window disable hedging
  const guard = rig1.te.engine.services.hedgeGuard!;
  const now = Date.now();
  for (let k = 0; k < 4; k++) guard.onFill('EBS', 1e6, now + k);
  const disabled = await admin.waitFor((f) => f.t === 'risk_state' && f.hedging.enabled === false, 3000, 'hedging disabled broadcast');
  t.match(disabled.hedging.why, /repeated-execution/);
  // let the engine's own audit write land before the crash-free stop
  const ready = Date.now() + 3000;
  while ((await natsCmd(nc, rig1.te.secret, 'status', {})).state.hedging.enabled && Date.now() < ready) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 200));
  rig1.stopTicking();
  await rig1.te.engine.stop();

  const rig2 = await startRfqRig(t, { config, broker: rig1.te.broker });
  const e2 = rig2.te.engine;
  const ust = rig2.te.config.instruments.findIndex((i) => i.id === 'UST-10Y');
  const cdx = rig2.te.config.instruments.findIndex((i) => i.id === 'CDX-IG');
  t.match(e2.hot.overlayOf(2, ust), { mode: 'pulled', reason: 'killed' }, 'tier 2 still killed');
  t.equal(e2.hot.overlayOf(3, ust).mode, null, 'tier 3 not');
  t.equal(e2.hot.overlayOf(2, cdx).reason, 'killed', 'CDX tier 2 by the tier switch');
  t.equal(e2.hot.overlayOf(1, cdx).mode, null, 'the released instrument switch stays released');
  t.ok(e2.gateway.isClientPulled('atlas'), 'client switch re-applied');
  const meridian = await rig2.client('meridian');
  meridian.send({ t: 'sub', i: ['UST-10Y'] });
  const first = await meridian.waitFor((f) => f.t === 'q' && f.i === 'UST-10Y');
  t.match(first, { st: 'pulled', rs: 'killed' }, 'the first frame a tier-2 client sees is pulled');
  const atlas = await rig2.client('atlas');
  atlas.send({ t: 'sub', i: ['EURUSD'] });
  t.match(await atlas.waitFor((f) => f.t === 'q' && f.i === 'EURUSD'), { st: 'pulled', rs: 'killed' });
  t.match(await rfq(meridian, 'UST-10Y', 'buy', 1e6), { t: 'rejected', code: KILL });
  t.match(await rfq(atlas, 'EURUSD', 'buy', 1e6), { t: 'rejected', code: KILL });

  // R6 state survived: the guard refuses until an admin re-enables
  const g2 = e2.services.hedgeGuard!;
  const order = { venue: 'EBS', iid: rig2.te.config.instruments.findIndex((i) => i.id === 'EURUSD'), instrument: 'EURUSD', side: 'buy' as const, size: 1e6, mid: rig2.mid.EURUSD, nowMs: Date.now() };
  t.match(g2.checkOrder(order), { code: 'QE_RISK_HEDGE_THROTTLE' });
  const nc2 = await nats(t, rig2);
  t.match(await natsCmd(nc2, rig2.te.secret, 'enable_hedging', { reason: 'x' }, ['desk', 'trader']), { ok: false, code: 'QE_KILL_NOT_AUTHORIZED' });
  t.match(await natsCmd(nc2, rig2.te.secret, 'enable_hedging', { reason: 'loop fixed' }), { ok: true, changed: true, state: { hedging: { enabled: true } } });
  t.equal(g2.checkOrder({ ...order, nowMs: Date.now() }), null, 're-enabled');

  // the audit trail: who, when, why, scope, action — in JetStream
  const jsm = await nc2.jetstreamManager();
  const info = await jsm.streams.info('RISK_AUDIT');
  const events: any[] = [];
  for (let s = 1; s <= info.state.last_seq; s++) events.push(JSON.parse(Buffer.from((await jsm.streams.getMessage('RISK_AUDIT', { seq: s })).data).toString()));
  t.same(events.map((e) => `${e.action}:${e.scope ? e.scope.level + '/' + (e.scope.target ?? '') : ''}:${e.who}`), [
    'kill:tier/2:risk', 'kill:client/atlas:risk', 'kill:instrument/CDX-IG:risk', 'release:instrument/CDX-IG:risk', 'hedge_disabled::engine', 'hedge_enabled::risk',
  ]);
  t.match(events[0], { v: 1, role: 'admin', why: 'tier 2 review', via: 'ws' });
  t.ok(events.every((e) => typeof e.ts === 'number' && e.ts > 0), 'each with its time');
});

