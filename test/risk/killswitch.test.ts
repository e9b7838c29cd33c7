import t from 'tap';
import { Registry } from 'prom-client';
import { buildUniverse, loadDefaultConfig, parseConfig, type Config, type Tier } from '../../engine/config.js';
import { ErrorCode } from '../../engine/errors.js';
import { BreachReporter } from '../../engine/risk/alerts.js';
import type { AuditEvent } from '../../engine/risk/audit.js';
import { HedgeOrderGuard } from '../../engine/risk/hedge-guard.js';
import { KillSwitchBoard, parseScope } from '../../engine/risk/killswitch.js';
import { LossLimit } from '../../engine/risk/loss.js';
import type { KillScope, OverlaySetting, OverlaySource, QuoteOverlay } from '../../engine/risk/ports.js';
import { mayDo } from '../../engine/risk/service.js';

const T0 = 1_700_000_000_000;
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function config(risk: Record<string, unknown> = {}): Config {
  const raw = JSON.parse(JSON.stringify(loadDefaultConfig())) as any;
  raw.instruments = raw.instruments.filter((i: any) => ['EURUSD', 'UST-10Y', 'CDX-IG'].includes(i.id));
  raw.risk = risk;
  return parseConfig(raw);
}

/** A QuoteOverlay that records the cells it holds per source, and every write. */
class RecordingOverlay implements QuoteOverlay {
  readonly cells = new Map<string, OverlaySetting>();
  writes = 0;
  constructor(private readonly n: number) {}
  set(source: OverlaySource, o: OverlaySetting, iid?: number, tier?: Tier): void {
    this.writes++;
    for (let i = 0; i < this.n; i++) for (const t of [1, 2, 3]) if ((iid === undefined || iid === i) && (tier === undefined || tier === t)) this.cells.set(`${source}:${i}:${t}`, o);
  }
  clear(source: OverlaySource, iid?: number, tier?: Tier): void {
    this.writes++;
    for (let i = 0; i < this.n; i++) for (const t of [1, 2, 3]) if ((iid === undefined || iid === i) && (tier === undefined || tier === t)) this.cells.delete(`${source}:${i}:${t}`);
  }
  pulled(source: OverlaySource): string[] {
    return [...this.cells.keys()].filter((k) => k.startsWith(source + ':')).sort();
  }
}

function board() {
  const cfg = config();
  const u = buildUniverse(cfg);
  const overlay = new RecordingOverlay(cfg.instruments.length);
  const pulls: string[] = [];
  const tiers: Record<string, Tier> = { atlas: 3, meridian: 2, northwind: 1 };
  const b = new KillSwitchBoard({
    universe: u, overlay,
    clients: { pullClient: (c, r) => void pulls.push(`pull ${c} ${r}`), resumeClient: (c) => void pulls.push(`resume ${c}`) },
    tierOf: (c) => tiers[c],
  });
  const ev = (action: 'kill' | 'release', scope: KillScope): AuditEvent => ({ v: 1, action, scope, who: 'risk', role: 'admin', why: 'test', via: 'ws', ts: T0 });
  return { u, b, overlay, pulls, ev, iid: (id: string) => u.instrumentIndex.get(id)! };
}

t.test('killswitch - scopes are validated: levels, tiers 1-3, instruments of the universe, client ids', async (t) => {
  const { u } = board();
  t.match(parseScope({ level: 'global' }, u), { ok: true, scope: { level: 'global' } });
  t.match(parseScope({ level: 'tier', target: 2 }, u), { ok: true, scope: { level: 'tier', target: '2' } });
  t.match(parseScope({ level: 'instrument', target: 'EURUSD' }, u), { ok: true });
  t.match(parseScope({ level: 'client', target: 'atlas' }, u), { ok: true });
  for (const bad of [null, 'global', [], { level: 'desk' }, { level: 'global', target: 'x' }, { level: 'tier', target: '4' }, { level: 'tier', target: 0 },
    { level: 'instrument', target: 'NOPE' }, { level: 'client', target: 'a b' }, { level: 'client', target: 'x'.repeat(33) }, { level: 'global', extra: 1 }]) {
    t.equal(parseScope(bad, u).ok, false, JSON.stringify(bad));
  }
});

t.test('killswitch - each level engages exactly its streams and RFQs; releasing one leaves the others', async (t) => {
  const { b, overlay, pulls, ev, iid } = board();
  const E = iid('EURUSD');
  const U = iid('UST-10Y');
  t.notOk(b.engaged('atlas', E));
  b.apply(ev('kill', { level: 'instrument', target: 'EURUSD' }));
  b.sync();
  t.same(overlay.pulled('kill'), [`kill:${E}:1`, `kill:${E}:2`, `kill:${E}:3`], 'instrument: its three tier streams');
  t.ok(b.engaged('atlas', E));
  t.notOk(b.engaged('atlas', U));
  b.apply(ev('kill', { level: 'tier', target: '2' }));
  b.sync();
  t.same(overlay.pulled('kill').length, 3 + 2, 'tier 2: the other instruments’ tier-2 streams added');
  t.ok(b.engaged('meridian', U), 'a tier-2 client');
  t.notOk(b.engaged('atlas', U), 'a tier-3 client');
  b.apply(ev('kill', { level: 'client', target: 'atlas' }));
  b.sync();
  t.same(pulls, ['pull atlas killed']);
  t.ok(b.engaged('atlas', U));
  t.notOk(b.engaged('northwind', U));
  const writes = overlay.writes;
  b.apply(ev('release', { level: 'instrument', target: 'EURUSD' }));
  b.sync();
  t.same(overlay.pulled('kill'), [`kill:${E}:2`, `kill:${U}:2`, `kill:${iid('CDX-IG')}:2`].sort(), 'EURUSD tier 2 stays pulled by the tier switch');
  t.equal(overlay.writes - writes, 2, 'only the cells that changed were written');
  b.apply(ev('release', { level: 'client', target: 'atlas' }));
  b.apply(ev('release', { level: 'tier', target: '2' }));
  b.apply(ev('kill', { level: 'global' }));
  b.sync();
  t.same(pulls, ['pull atlas killed', 'resume atlas']);
  t.equal(overlay.pulled('kill').length, 9, 'global: every stream');
  t.ok(b.engaged('anyone', U));
  t.ok(b.instrumentHalted(U));
  t.equal(b.apply(ev('kill', { level: 'global' })), false, 'engaging twice changes nothing');
  t.equal(b.apply(ev('release', { level: 'client', target: 'orbit' })), false, 'releasing what is not engaged changes nothing');
  b.apply(ev('release', { level: 'global' }));
  b.sync();
  t.same(overlay.pulled('kill'), []);
  t.same(b.list(), []);
});

t.test('killswitch - who may do what (R10): admin everything, trader engage and status, client and rm nothing', async (t) => {
  for (const a of ['status', 'kill', 'release', 'enable_hedging', 'reset_loss'] as const) {
    t.ok(mayDo(a, 'admin', true), `admin ${a}`);
    t.notOk(mayDo(a, 'client', true), `client ${a}`);
    t.notOk(mayDo(a, 'rm', true), `rm ${a}`);
  }
  t.ok(mayDo('kill', 'trader', true));
  t.notOk(mayDo('kill', 'trader', false), 'traderMayEngage off');
  t.ok(mayDo('status', 'trader', true));
  t.notOk(mayDo('release', 'trader', true));
  t.notOk(mayDo('enable_hedging', 'trader', true));
  t.notOk(mayDo('reset_loss', 'trader', true));
});

function guard(risk: Record<string, unknown> = {}) {
  const cfg = config(risk);
  const u = buildUniverse(cfg);
  const reporter = new BreachReporter(new Registry(), quiet, 1000);
  const disabled: string[] = [];
  let halted = false;
  const g = new HedgeOrderGuard({ config: cfg, universe: u, reporter, halted: () => halted, onDisabled: (why) => void disabled.push(why) });
  const E = u.instrumentIndex.get('EURUSD')!;
  const order = (p: Record<string, unknown> = {}) => ({ venue: 'EBS', iid: E, instrument: 'EURUSD', side: 'buy' as const, size: 1e6, mid: 1.25, nowMs: T0, ...p });
  return { g, order, disabled, reporter, halt: (v: boolean) => (halted = v) };
}

t.test('hedge guard - collar on the limit price, max size and value: limit ±1, NaN, Infinity, 1e308', async (t) => {
  const { g, order } = guard({ hedge: { collarBps: 20, maxOrderSize: 5e6, maxOrderValue: 5e6, orders: { ratePerSec: 1000, burst: 1000 } } });
  t.equal(g.checkOrder(order({ limitPrice: 1.25 * (1 + 20e-4) })), null, 'on the collar');
  t.equal(g.checkOrder(order({ limitPrice: 1.25 * (1 + 20.01e-4) }))?.code, ErrorCode.RISK_COLLAR);
  for (const p of [NaN, Infinity, 0, -1]) t.equal(g.checkOrder(order({ limitPrice: p }))?.code, ErrorCode.RISK_COLLAR, `limit ${p}`);
  t.equal(g.checkOrder(order({ limitPrice: 1.25, mid: NaN }))?.code, ErrorCode.RISK_COLLAR, 'no mid: no limit order');
  t.equal(g.checkOrder(order({ size: 4e6 })), null, '4M × 1.25 = 5M value');
  t.equal(g.checkOrder(order({ size: 4e6 + 1 }))?.code, ErrorCode.RISK_ORDER_VALUE);
  t.equal(g.checkOrder(order({ size: 5e6 + 1, mid: 0.5 }))?.code, ErrorCode.RISK_ORDER_SIZE);
  for (const s of [NaN, Infinity, 1e308, 0, -5]) t.equal(g.checkOrder(order({ size: s }))?.code, ErrorCode.RISK_ORDER_SIZE, `size ${s}`);
});

t.test('hedge guard - orders/s throttle with a burst, and a kill switch on the instrument refuses hedges', async (t) => {
  const { g, order, halt } = guard({ hedge: { orders: { ratePerSec: 5, burst: 3 }, otr: { minOrders: 1000 } } });
  let ok = 0;
  for (let k = 0; k < 10; k++) if (g.checkOrder(order()) === null) ok++;
  t.equal(ok, 3);
  t.equal(g.checkOrder(order())?.code, ErrorCode.RISK_HEDGE_THROTTLE);
  t.equal(g.checkOrder(order({ nowMs: T0 + 200 })), null, 'one token per 200 ms');
  halt(true);
  t.equal(g.checkOrder(order({ nowMs: T0 + 5000 }))?.code, ErrorCode.RFQ_KILL_SWITCH);
});

t.test('hedge guard - order-to-trade ratio per venue over the window is capped (MiFID II style)', async (t) => {
  const { g, order } = guard({ hedge: { orders: { ratePerSec: 1000, burst: 1000 }, otr: { windowMs: 10_000, maxRatio: 4, minOrders: 5 } } });
  t.equal(g.checkOrder(order()), null, 'below minOrders the ratio is not enforced');
  g.onFill('EBS', 1e6, T0);
  g.onFill('EBS', 1e6, T0);
  for (let k = 0; k < 8; k++) {
    t.equal(g.checkOrder(order({ nowMs: T0 + k })), null, `order ${k + 1} of 8: ratio ≤ 8/2`);
    g.onOrder('EBS', T0 + k);
  }
  t.same(g.otr('EBS', T0 + 10), { orders: 8, fills: 2 });
  t.equal(g.checkOrder(order({ nowMs: T0 + 10 }))?.code, ErrorCode.RISK_OTR, '9 orders / 2 fills > 4');
  t.same(g.otr('EBS', T0 + 10), { orders: 8, fills: 2 }, 'a refused order is not counted');
  t.equal(g.checkOrder(order({ venue: 'Reuters', nowMs: T0 + 10 })), null, 'per venue');
  g.onFill('EBS', 1e6, T0 + 11);
  t.equal(g.checkOrder(order({ nowMs: T0 + 12 })), null, '9 / 3 = 3 ≤ 4');
  t.equal(g.checkOrder(order({ nowMs: T0 + 20_000 })), null, 'the window slides');
  t.same(g.otr('EBS', T0 + 20_000), { orders: 0, fills: 0 });
});

t.test('hedge guard - repeated-execution throttle (R6): more than N fills in the window disables hedging once, until re-enabled', async (t) => {
  const { g, order, disabled } = guard({ hedge: { orders: { ratePerSec: 1000, burst: 1000 }, otr: { minOrders: 1000 }, repeated: { maxFills: 5, windowMs: 10_000 } } });
  for (let k = 0; k < 5; k++) g.onFill('EBS', 1e6, T0 + k);
  t.equal(g.disabled, null, 'N fills: still on');
  t.equal(g.checkOrder(order({ nowMs: T0 + 6 })), null);
  g.onFill('EBS', 1e6, T0 + 6);
  t.ok(g.disabled, 'N + 1: disabled');
  t.equal(disabled.length, 1);
  t.equal(g.checkOrder(order({ nowMs: T0 + 60_000 }))?.code, ErrorCode.RISK_HEDGE_THROTTLE, 'and it does not wear off with time');
  g.onFill('EBS', 1e6, T0 + 7);
  t.equal(disabled.length, 1, 'one trip');
  g.setDisabled(null);
  t.equal(g.checkOrder(order({ nowMs: T0 + 60_001 })), null, 're-enabled by a human');
  for (let k = 0; k < 5; k++) g.onFill('EBS', 1e6, T0 + 60_002 + k);
  t.equal(g.disabled, null, 'the fill count started again');
});

t.test('loss limit - a loss beyond the limit trips once: everything pulled (risk_limit), controls blocked; NaN is no breach; reset clears', async (t) => {
  const cfg = config();
  const overlay = new RecordingOverlay(cfg.instruments.length);
  let pnl = -999;
  let blocked = false;
  const trips: number[] = [];
  const src = { deskPnlToday: () => pnl };
  const l = new LossLimit({ maxDailyLoss: 1000, checkMs: 1000, pnl: () => src, overlay, log: quiet, nowMs: () => T0, onTrip: (p) => void trips.push(p), setBlocked: (on) => (blocked = on) });
  l.check();
  t.equal(l.breached, null, '−999 of 1000');
  pnl = NaN;
  l.check();
  t.equal(l.breached, null, 'NaN: not a breach');
  pnl = -1000.5;
  l.check();
  t.ok(l.breached);
  t.ok(blocked);
  t.same(trips, [-1000.5]);
  t.equal(overlay.pulled('loss').length, 9, 'every (instrument, tier) pulled');
  t.match(overlay.cells.get('loss:0:3'), { mode: 'pulled', reason: 'risk_limit' });
  pnl = -5000;
  l.check();
  t.equal(trips.length, 1, 'tripped once');
  l.set(null);
  t.notOk(blocked);
  t.same(overlay.pulled('loss'), []);
  const none = new LossLimit({ maxDailyLoss: 1000, checkMs: 1000, pnl: () => undefined, overlay, log: quiet, nowMs: () => T0, onTrip: () => t.fail('no source'), setBlocked: () => undefined });
  none.check();
  t.same(overlay.pulled('loss'), [], 'no P&L source attached: nothing to check, nothing pulled');
});
