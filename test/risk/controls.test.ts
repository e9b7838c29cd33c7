import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { buildUniverse, loadDefaultConfig, parseConfig, type Config } from '../../engine/config.js';
import { ConfigError, ErrorCode } from '../../engine/errors.js';
import { BreachReporter, type AlertEvent } from '../../engine/risk/alerts.js';
import { Controls, TokenBucket } from '../../engine/risk/controls.js';
import type { PreTradeRequest } from '../../engine/risk/ports.js';
import { MemoryDirectory } from '../helpers/directory.js';

const T0 = 1_700_000_000_000;

/** runs fn, expecting a ConfigError (QE_CONFIG_INVALID) with an issue on `field` */
function refused(t: Test, fn: () => unknown, field: string, what = field): void {
  try {
    fn();
    t.fail(`${what}: accepted`);
  } catch (e) {
    t.ok(e instanceof ConfigError && e.code === ErrorCode.CONFIG_INVALID && e.issues.some((i) => i.startsWith(field)), `${what}: ${(e as Error).message.split('\n')[1]?.trim()}`);
  }
}

function config(risk: Record<string, unknown> = {}): Config {
  const raw = JSON.parse(JSON.stringify(loadDefaultConfig())) as any;
  raw.instruments = raw.instruments.filter((i: any) => ['EURUSD', 'UST-10Y', 'CDX-IG'].includes(i.id));
  for (const i of raw.instruments) i.initialPosition = 0;
  raw.risk = risk;
  return parseConfig(raw);
}

function rig(risk: Record<string, unknown> = {}, dir?: MemoryDirectory) {
  const cfg = config(risk);
  const u = buildUniverse(cfg);
  const n = cfg.instruments.length;
  const position = new Float64Array(n);
  const mid = new Float64Array(n).fill(NaN);
  const lines: string[] = [];
  const alerts: AlertEvent[] = [];
  const registry = new Registry();
  const log = { info: () => undefined, warn: (o: object, m?: string) => void lines.push(`${m} ${JSON.stringify(o)}`), error: () => undefined };
  const reporter = new BreachReporter(registry, log, 1000, (e) => void alerts.push(e));
  const c = new Controls({ config: cfg, universe: u, position, mid, directory: dir, reporter });
  const iid = (id: string) => u.instrumentIndex.get(id)!;
  const req = (p: Partial<PreTradeRequest> & { instrument?: string } = {}): PreTradeRequest => {
    const instrument = p.instrument ?? 'EURUSD';
    return { clientId: 'atlas', tier: 3, iid: iid(instrument), instrument, side: 'buy', size: 1e6, mid: 1.25, nowMs: T0, ...p };
  };
  return { cfg, c, position, mid, reporter, alerts, lines, iid, req };
}

t.test('controls - config: a throttle of zero, negative, NaN or Infinity is refused naming the field; an empty section is valid', async (t) => {
  t.ok(config({}).risk.throttle.perClient.ratePerSec > 0, 'defaults fill an empty section');
  for (const bad of [0, -1, NaN, Infinity]) {
    refused(t, () => config({ throttle: { perClient: { ratePerSec: bad } } }), 'risk.throttle.perClient.ratePerSec', `ratePerSec ${bad}`);
  }
  refused(t, () => config({ throttle: { overall: { burst: 0.5 } } }), 'risk.throttle.overall.burst');
  refused(t, () => config({ hedge: { orders: { ratePerSec: 0 } } }), 'risk.hedge.orders.ratePerSec');
  refused(t, () => config({ orders: { tiers: { '3': { maxOrderSize: 0 } } } }), 'risk.orders.tiers.3.maxOrderSize');
  refused(t, () => config({ balanceSheet: { capacity: { '2': -5 } } }), 'risk.balanceSheet.capacity.2');
  refused(t, () => config({ lossLimit: { maxDailyLoss: NaN } }), 'risk.lossLimit.maxDailyLoss');
  refused(t, () => config({ nope: 1 }), 'risk');
});

t.test('controls - collar around the mid on quotes and accepts: on the limit passes, a hair past it and non-finite prices are refused', async (t) => {
  const { c, req } = rig({ collar: { bps: 40 } });
  t.equal(c.checkQuote(req({ price: 1.25 * (1 + 40e-4) })), null, 'exactly 40 bps');
  t.equal(c.checkAccept(req({ price: 1.25 * (1 - 40e-4) })), null, 'exactly −40 bps');
  t.equal(c.checkQuote(req({ price: 1.25 * (1 + 40.01e-4) }))?.code, ErrorCode.RISK_COLLAR, '40.01 bps');
  for (const p of [NaN, Infinity, -1, 0, -0, 1e308]) t.equal(c.checkQuote(req({ price: p }))?.code, ErrorCode.RISK_COLLAR, `price ${p}`);
  t.equal(c.checkQuote(req({ price: 1.3, mid: NaN })), null, 'no mid: nothing to collar against (the RFQ service requires a firm market for automatic prices)');
  const { c: c2, req: r2 } = rig();
  t.equal(c2.checkQuote(r2({ price: 1.25 * 1.0299 })), null, 'default: the pricing collar (300 bps)');
  t.equal(c2.checkQuote(r2({ price: 1.25 * 1.0301 }))?.code, ErrorCode.RISK_COLLAR);
});

t.test('controls - max order size per tier, per instrument, per client (config and CRM × crmHardMultiple): limit ±1, NaN, Infinity, 1e308, −0', async (t) => {
  const dir = new MemoryDirectory([{ id: 'atlas', name: 'Atlas', tier: 3, creditLimit: 1e9, maxOrderSize: 1e6, instrumentMaxSize: { 'UST-10Y': 5e5 } }]);
  const { c, req } = rig({ orders: { tiers: { '3': { maxOrderSize: 5e6 } }, instruments: { 'CDX-IG': { maxOrderSize: 3e6 } }, clients: { orbit: { maxOrderSize: 2e6 } } } }, dir);
  t.equal(c.checkRfq(req({ size: 4e6 })), null, 'CRM 1M × 4 = 4M');
  t.equal(c.checkRfq(req({ size: 4e6 + 1 }))?.code, ErrorCode.RISK_ORDER_SIZE);
  t.equal(c.checkRfq(req({ size: 2e6, instrument: 'UST-10Y', mid: 97 })), null, 'CRM instrument cap 0.5M × 4');
  t.equal(c.checkRfq(req({ size: 2e6 + 1, instrument: 'UST-10Y', mid: 97 }))?.code, ErrorCode.RISK_ORDER_SIZE);
  t.equal(c.checkRfq(req({ clientId: 'orbit', size: 2e6 })), null, 'config client limit');
  t.equal(c.checkRfq(req({ clientId: 'orbit', size: 2e6 + 1 }))?.code, ErrorCode.RISK_ORDER_SIZE);
  t.equal(c.checkRfq(req({ clientId: 'pinecrest', size: 5e6 })), null, 'tier 3 limit, no CRM record');
  t.equal(c.checkRfq(req({ clientId: 'pinecrest', size: 5e6 + 1 }))?.code, ErrorCode.RISK_ORDER_SIZE);
  t.equal(c.checkRfq(req({ clientId: 'pinecrest', tier: 2, size: 5e6 + 1 })), null, 'tier 2 has no limit set');
  t.equal(c.checkRfq(req({ clientId: 'pinecrest', instrument: 'CDX-IG', mid: 60, size: 3e6 })), null);
  t.equal(c.checkRfq(req({ clientId: 'pinecrest', instrument: 'CDX-IG', mid: 60, size: 3e6 + 1 }))?.code, ErrorCode.RISK_ORDER_SIZE, 'instrument limit');
  for (const s of [NaN, Infinity, 1e308, 0, -0, -1e6]) t.equal(c.checkRfq(req({ clientId: 'pinecrest', size: s }))?.code, ErrorCode.RISK_ORDER_SIZE, `size ${s}`);
});

t.test('controls - max order value: size × unit value at the price (FX × rate, bonds % of par), at the mid for an RFQ', async (t) => {
  const { c, req } = rig({ orders: { instruments: { EURUSD: { maxOrderValue: 1.25e6 }, 'UST-10Y': { maxOrderValue: 1e6 } } } });
  t.equal(c.checkRfq(req({ size: 1e6 })), null, '1M × 1.25 = 1.25M');
  t.equal(c.checkRfq(req({ size: 1e6 + 1 }))?.code, ErrorCode.RISK_ORDER_VALUE);
  t.equal(c.checkQuote(req({ size: 1e6, price: 1.25 })), null);
  t.equal(c.checkQuote(req({ size: 1e6, price: 1.2501 }))?.code, ErrorCode.RISK_ORDER_VALUE, 'the price counts at quote time');
  t.equal(c.checkRfq(req({ size: 1e6, mid: NaN })), null, 'no mid at RFQ time: valued when priced');
  t.equal(c.checkQuote(req({ instrument: 'UST-10Y', size: 1e6, price: 100, mid: 100 })), null, 'bond: 1M face at 100 = 1M');
  t.equal(c.checkQuote(req({ instrument: 'UST-10Y', size: 1e6, price: 100.01, mid: 100 }))?.code, ErrorCode.RISK_ORDER_VALUE);
});

t.test('controls - position per instrument and desk-wide count the trade about to happen; trades toward flat always pass', async (t) => {
  const { c, req, position, mid, iid } = rig({ orders: { instruments: { EURUSD: { maxPosition: 1e7 } } }, position: { deskMaxValue: 2e7 } });
  mid[iid('EURUSD')] = 1.25;
  mid[iid('UST-10Y')] = 100;
  t.equal(c.checkRfq(req({ size: 1e7, side: 'buy' })), null, 'client buys 10M: desk −10M, on the limit');
  t.equal(c.checkRfq(req({ size: 1e7 + 1, side: 'buy' }))?.code, ErrorCode.RISK_POSITION_LIMIT);
  position[iid('EURUSD')] = -2e7;
  t.equal(c.checkRfq(req({ size: 1e6, side: 'sell' })), null, 'beyond the limit, a trade toward flat passes');
  t.equal(c.checkRfq(req({ size: 1e3, side: 'buy' }))?.code, ErrorCode.RISK_POSITION_LIMIT, 'and one away from it does not');
  position[iid('EURUSD')] = 0;
  // desk gross value: EURUSD 1.25 per unit; UST 1 per unit of face
  position[iid('UST-10Y')] = 1.5e7;
  t.equal(c.checkRfq(req({ size: 4e6 })), null, '15M + 4M × 1.25 = 20M');
  t.equal(c.checkRfq(req({ size: 4e6 + 1000 }))?.code, ErrorCode.RISK_DESK_LIMIT);
  t.equal(c.checkRfq(req({ instrument: 'UST-10Y', mid: 100, size: 1e6, side: 'buy' })), null, 'reducing the UST long passes');
});

t.test('controls - balance sheet per tier: usage follows onBooked (replayed and live), capacity ±1, funding cost grows with utilisation', async (t) => {
  const { c, req, iid } = rig({ balanceSheet: { capacity: { '3': 5e6 }, fundingRateBpsAnnual: 365, holdDays: 1, utilizationSlope: 3 } });
  const e = iid('EURUSD');
  c.onBooked({ clientId: 'atlas', tier: 3, iid: e, deskQty: -3e6, price: 1.25, mid: 1.25 }, true);
  c.onBooked({ clientId: 'orbit', tier: 3, iid: e, deskQty: -1e6, price: 1.25, mid: 1.25 }, false);
  c.onBooked({ clientId: 'meridian', tier: 2, iid: e, deskQty: 9e6, price: 1.25, mid: 1.25 }, false);
  t.equal(c.balanceSheetUsage(3), 4e6);
  t.equal(c.balanceSheetUsage(2), 9e6, 'tiers are apart');
  t.equal(c.checkRfq(req({ size: 1e6 })), null, 'to 5M: on capacity');
  t.equal(c.checkRfq(req({ size: 1e6 + 1 }))?.code, ErrorCode.RISK_BALANCE_SHEET);
  t.equal(c.checkRfq(req({ size: 8e6, side: 'sell' })), null, 'a sell reduces, then flips to 4M: usage ≤ before');
  t.equal(c.checkRfq(req({ tier: 2, size: 5e7 })), null, 'tier 2 has no capacity set');
  t.equal(c.balanceSheetUsage(3), 4e6, 'checks changed nothing');
  t.equal(c.fundingCostBps(e, 3, -1e6), 1 * (1 + 3 * 1), 'the desk sells 1M more: u = 5M/5M = 1: 365 bps/yr × 1 day × (1 + 3) = 4 bps');
  t.ok(Math.abs(c.fundingCostBps(e, 3, -5e5) - (1 + 3 * 0.9 ** 2)) < 1e-12, 'u = 0.9');
  t.ok(Math.abs(c.fundingCostBps(e, 3, -2e6) - (1 + 3 * 1.2 ** 2)) < 1e-12, 'u = 6M/5M: dearer past the allocation');
  t.equal(c.fundingCostBps(e, 3, 3e6), 0, 'reducing the tier’s inventory frees capacity: no funding cost');
  t.equal(c.fundingCostBps(e, 1, -1e6), 1, 'no capacity set: the base rate');
  t.equal(c.fundingCostBps(e, 3, NaN), 0);
});

t.test('controls - RFQ throttles: per client and overall token buckets cap the rate with a burst (R5)', async (t) => {
  const { c, req } = rig({ throttle: { perClient: { ratePerSec: 10, burst: 5 }, overall: { ratePerSec: 15, burst: 8 } } });
  let ok = 0;
  for (let k = 0; k < 20; k++) if (c.checkRfq(req()) === null) ok++;
  t.equal(ok, 5, 'a burst of 20 at one instant: the burst passes');
  t.equal(c.checkRfq(req())?.code, ErrorCode.RISK_THROTTLED);
  t.equal(c.checkRfq(req({ nowMs: T0 + 100 })), null, '100 ms later: one token at 10/s');
  t.equal(c.checkRfq(req({ nowMs: T0 + 100 }))?.code, ErrorCode.RISK_THROTTLED);
  let other = 0;
  for (let k = 0; k < 10; k++) if (c.checkRfq(req({ clientId: 'orbit', nowMs: T0 + 100 })) === null) other++;
  t.equal(other, 3, 'overall bucket (8, 15/s): 8 − 5 + 1.5 − 1 = 3.5 tokens left for another client: 3 pass');
  // sustained: 10× the rate for 10 s of simulated time; passes ≤ burst + rate × T
  const { c: c2, req: r2 } = rig({ throttle: { perClient: { ratePerSec: 10, burst: 5 }, overall: { ratePerSec: 1000, burst: 1000 } } });
  let passed = 0;
  for (let ms = 0; ms < 10_000; ms += 10) if (c2.checkRfq(r2({ nowMs: T0 + ms })) === null) passed++;
  t.ok(passed <= 5 + 10 * 10 && passed >= 10 * 10 - 1, `passed ${passed} of 1000 over 10 s at cap 10/s burst 5`);
});

t.test('controls - token bucket: time going backwards refills nothing', async (t) => {
  const b = new TokenBucket(1, 1);
  t.ok(b.take(T0));
  t.notOk(b.take(T0 - 5000));
  t.notOk(b.take(T0 + 500));
  t.ok(b.take(T0 + 1000));
});

t.test('controls - each breach is counted by code and raised as a rate-limited alert; the loss limit refuses everything', async (t) => {
  const { c, req, reporter, alerts, lines } = rig({ collar: { bps: 10 } });
  for (let k = 0; k < 5; k++) c.checkQuote(req({ price: 2 }));
  t.equal(reporter.counter.get(ErrorCode.RISK_COLLAR), 5, 'every breach counted');
  t.equal(alerts.length, 1, 'one alert within alertMinIntervalMs');
  t.match(alerts[0], { alert: 'risk_breach', code: ErrorCode.RISK_COLLAR, detail: { client: 'atlas', instrument: 'EURUSD' } });
  c.checkQuote(req({ price: 2, nowMs: T0 + 1000 }));
  t.equal(alerts.length, 2);
  t.equal(alerts[1].suppressed, 4, 'the next alert says how many were folded into it');
  t.ok(lines.some((l) => l.startsWith('risk control breach')), 'logged');
  c.lossBreached = true;
  t.equal(c.checkRfq(req())?.code, ErrorCode.RISK_LOSS_LIMIT);
  t.equal(c.checkQuote(req({ price: 1.25 }))?.code, ErrorCode.RISK_LOSS_LIMIT);
  t.equal(c.checkAccept(req({ price: 1.25 }))?.code, ErrorCode.RISK_LOSS_LIMIT);
});
