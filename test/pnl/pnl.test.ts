/** The P&L split: hand-computed example, the day roll, bad input, and the identity as a property. */
import t from 'tap';
import fc from 'fast-check';
import type { Test } from 'tap';
import { PnlBook, type PnlBookOptions, type Split } from '../../engine/pnl/pnl.js';

/** BOND is quoted in % of par (0.01 currency per notional × point), FX is a plain price (1). */
function book(over: Partial<PnlBookOptions> = {}) {
  const mids = new Map<number, number>();
  const b = new PnlBook({
    ids: ['BOND', 'FX', 'IDX'], scale: [0.01, 1, 0.01], recentTrades: 1000, dayStart: 'engine_start', rollUtcMinute: 0,
    liveMid: (iid) => mids.get(iid) ?? NaN, ...over,
  });
  return { b, mids };
}

const close = (t: Test, a: number, b: number, msg: string, tol = 1e-6) => t.ok(Math.abs(a - b) <= tol, `${msg}: ${a} ≈ ${b}`);
const parts = (s: Split) => s.spread + s.hedgeCost + s.markout + s.inventory;

t.test('pnl - scripted example: every part, client, tier and the total by hand', async (t) => {
  const { b, mids } = book();
  // client A (tier 2) buys 1M BOND at 101.10, mid 101.00: the desk sells, captures 0.10 pt = 1,000
  t.equal(b.onTrade({ tradeId: 'T1', clientId: 'A', tier: 2, iid: 0, deskQty: -1e6, price: 101.1, mid: 101.0, ts: 1 }), 'ok');
  // the hedge for T1: the desk buys 600k at 101.05, decided at mid 101.00: cost 0.05 pt × 600k = −300
  t.equal(b.onHedgeFill({ fillId: 'F1', tradeId: 'T1', iid: 0, deskQty: 6e5, price: 101.05, midAtDecision: 101.0, ts: 2 }), 'ok');
  // 60 s markout of T1: mid 101.20 → −1M × 0.20 pt = −2,000 (the client was right)
  t.equal(b.onMarkout('T1', 60_000, 101.2), 'ok');
  t.equal(b.onMarkout('T1', 10_000, 101.9), 'duplicate', 'a shorter horizon after a longer one is ignored');
  // client B (tier 3) sells 2M FX at 1.0840, mid 1.0842: the desk buys, captures 2M × 0.0002 = 400
  t.equal(b.onTrade({ tradeId: 'T2', clientId: 'B', tier: 3, iid: 1, deskQty: 2e6, price: 1.084, mid: 1.0842, ts: 3 }), 'ok');
  mids.set(0, 101.3);
  mids.set(1, 1.085);
  // inventory: T1 −1M × (101.30 − 101.20) = −1,000; F1 600k × (101.30 − 101.00) = +1,800; T2 2M × 0.0008 = +1,600
  const s = b.splits();
  close(t, s.desk.spread, 1400, 'desk spread capture');
  close(t, s.desk.hedgeCost, -300, 'desk hedge cost');
  close(t, s.desk.markout, -2000, 'desk markout');
  close(t, s.desk.inventory, 2400, 'desk inventory');
  close(t, s.desk.total, 1500, 'desk total');
  // independently: BOND cash 101.1M − 60.63M − 0.4M × 101.30 = −50,000 pts → −500; FX 2M × 0.001 = 2,000
  close(t, b.instrumentTotal(0), -500, 'BOND realized + unrealized (average cost)');
  close(t, b.instrumentTotal(1), 2000, 'FX realized + unrealized');
  close(t, b.deskTotal(), 1500, 'book total = split total');
  const a = s.byClient.find((c) => c.clientId === 'A')!;
  t.match(a, { trades: 1, hedgeFills: 1 });
  close(t, a.total, -500, 'client A: 1,000 − 300 − 2,000 + 800');
  close(t, s.byClient.find((c) => c.clientId === 'B')!.total, 2000, 'client B: 400 + 1,600');
  t.same(s.byTier.map((x) => x.tier), [2, 3]);
  close(t, s.byTier[0].total, -500, 'tier 2');
  t.same(s.byInstrument.map((x) => x.instrument), ['BOND', 'FX']);
  close(t, s.unattributed.total, 0, 'nothing unattributed');
  const [t2, t1] = b.recent(10);
  t.match(t1, { tradeId: 'T1', clientId: 'A', instrument: 'BOND', hedgeFills: 1, markoutHorizonMs: 60_000 });
  close(t, t1.spread, 1000, 'T1 spread');
  close(t, t1.hedgeCost, -300, 'T1 hedge cost');
  close(t, t1.markout, -2000, 'T1 markout');
  close(t, t1.inventory, 800, 'T1 inventory (its own fill and its hedge)');
  close(t, t2.total, 2000, 'T2 total');
  t.equal(b.recent(1).length, 1, 'newest first, limited');
  // the bps markout of engine/crm/markout.ts, in currency: size × mid × bps / 10⁴ × scale
  const bps = (1 * (101.0 - 101.2)) / 101.0 * 1e4; // client buy: s = +1
  close(t, 1e6 * 101.0 * bps / 1e4 * 0.01, t1.markout, 'same as the CRM markout in bps turned into currency');
});

t.test('pnl - the day roll carries positions in at the mark and restarts every part', async (t) => {
  const DAY = 86_400_000;
  const { b, mids } = book({ dayStart: 'utc_midnight', rollUtcMinute: 60 });
  const d0 = Date.UTC(2026, 10, 25, 1, 0);
  t.equal(b.dayStartOf(d0 + 5), d0, 'the day starts at 01:00 UTC');
  t.equal(b.dayStartOf(d0 - 1), d0 - DAY);
  b.onTrade({ tradeId: 'T1', clientId: 'A', tier: 2, iid: 0, deskQty: -1e6, price: 101.1, mid: 101.0, ts: d0 + 1000 });
  b.onHedgeFill({ fillId: 'F1', tradeId: 'T1', iid: 0, deskQty: 6e5, price: 101.05, midAtDecision: 101.0, ts: d0 + 2000 });
  t.equal(b.dayStartMs, d0);
  mids.set(0, 101.3);
  close(t, b.deskTotal(), -500, 'day 1');
  b.rollIfDue(d0 + DAY - 1);
  t.equal(b.dayStartMs, d0, 'not yet');
  b.rollIfDue(d0 + DAY);
  t.equal(b.dayStartMs, d0 + DAY, 'rolled at the boundary');
  close(t, b.deskTotal(), 0, 'a new day starts at 0');
  t.same(b.recent(10), [], 'per-trade records belong to the day');
  mids.set(0, 101.4);
  // carried −400k × 0.10 pt = −400, all inventory, all client A's
  const s = b.splits();
  close(t, s.desk.inventory, -400, 'carry-in marked from 101.30');
  close(t, s.desk.total, b.deskTotal(), 'split = book after the roll');
  close(t, s.byClient[0].total, -400, "client A's carried position");
  t.equal(s.desk.trades, 0);
  // a late re-delivery of yesterday's fill is still a duplicate; a markout of yesterday's trade is unknown
  t.equal(b.onHedgeFill({ fillId: 'F1', tradeId: 'T1', iid: 0, deskQty: 6e5, price: 101.05, midAtDecision: 101.0, ts: d0 + 2000 }), 'duplicate');
  t.equal(b.onMarkout('T1', 60_000, 101.2), 'unknown_trade');
  // a fill of yesterday first seen today (the hedger replays its journal after the trades): carried in at
  // the roll's mark 101.30, not at its price, so today's P&L only sees the move since the roll
  t.equal(b.onHedgeFill({ fillId: 'F2', tradeId: 'T1', iid: 0, deskQty: 4e5, price: 100.0, midAtDecision: 101.0, ts: d0 + 3000 }), 'ok');
  const s2 = b.splits();
  close(t, s2.desk.total, 0, 'the late fill flattens the carried position: −400 + 400');
  close(t, b.deskTotal(), 0, 'the average-cost book agrees');
  t.match(s2.unattributed, { hedgeFills: 0, hedgeCost: 0 }, 'carried in: no hedge cost today');
  // and a late trade the same way, attributed to its client
  t.equal(b.onTrade({ tradeId: 'T0', clientId: 'C', tier: 1, iid: 0, deskQty: 1e6, price: 95, mid: 95, ts: d0 + 10 }), 'ok');
  close(t, b.splits().byClient.find((c) => c.clientId === 'C')!.total, 1e6 * 0.1 * 0.01, "client C: 1M carried in at 101.30, marked 101.40");
  close(t, b.deskTotal(), b.splits().desk.total, 'still equal');
  // an event two days on rolls straight to its own day
  b.onTrade({ tradeId: 'T2', clientId: 'B', tier: 3, iid: 1, deskQty: 1e6, price: 1.08, mid: 1.08, ts: d0 + 3 * DAY + 5 });
  t.equal(b.dayStartMs, d0 + 3 * DAY);
});

t.test('pnl - bad input is refused and changes nothing', async (t) => {
  const { b } = book();
  const good = { tradeId: 'T', clientId: 'A', tier: 1, iid: 0, deskQty: 1e6, price: 100, mid: 100, ts: 1 };
  for (const bad of [{ iid: 7 }, { iid: -1 }, { iid: 0.5 }, { deskQty: NaN }, { deskQty: 0 }, { deskQty: Infinity }, { price: 0 }, { price: -1 }, { price: NaN }, { ts: NaN }]) {
    t.equal(b.onTrade({ ...good, ...bad }), 'invalid', JSON.stringify(bad));
  }
  t.equal(b.onHedgeFill({ fillId: 'F', iid: 0, deskQty: 1, price: 1e309, ts: 1 }), 'invalid');
  t.equal(b.version, 0, 'nothing applied');
  t.equal(b.onTrade(good), 'ok');
  t.equal(b.onTrade(good), 'duplicate', 'a trade id counts once');
  t.equal(b.onMarkout('T', 1000, NaN), 'invalid');
  t.equal(b.onMarkout('nope', 1000, 100), 'unknown_trade');
  t.same(b.counts, { ok: 1, duplicate: 1, invalid: 12, unknown_trade: 1 });
  // a trade with no mid captures nothing: its reference is its price
  t.equal(b.onTrade({ ...good, tradeId: 'T0', mid: null, price: 101 }), 'ok');
  t.equal(b.tradeSplit('T0')!.spread, 0);
  // a fill with no trade is the desk's own, unattributed
  t.equal(b.onHedgeFill({ fillId: 'F', tradeId: 'missing', iid: 2, deskQty: -5e5, price: 99, midAtDecision: 99.1, ts: 2 }), 'ok');
  const s = b.splits();
  close(t, s.unattributed.hedgeCost, -5e5 * 0.1 * 0.01, 'unattributed hedge cost');
  t.equal(s.unattributed.hedgeFills, 1);
});

// ── the identity, on random sequences ───────────────────────────────────────────────────────

type Op =
  | { k: 'trade'; client: number; tier: number; iid: number; lots: number; edgeBps: number; hasMid: boolean }
  | { k: 'fill'; trade: number; iid: number; lots: number; slipBps: number; hasMid: boolean }
  | { k: 'mid'; iid: number; moveBps: number; stale: boolean }
  | { k: 'markout'; trade: number; horizon: number; moveBps: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('trade' as const), client: fc.integer({ min: 0, max: 3 }), tier: fc.integer({ min: 1, max: 3 }), iid: fc.integer({ min: 0, max: 2 }), lots: fc.integer({ min: -50, max: 50 }).filter((x) => x !== 0), edgeBps: fc.double({ min: -30, max: 30, noNaN: true }), hasMid: fc.boolean() }),
  fc.record({ k: fc.constant('fill' as const), trade: fc.integer({ min: -1, max: 40 }), iid: fc.integer({ min: 0, max: 2 }), lots: fc.integer({ min: -50, max: 50 }).filter((x) => x !== 0), slipBps: fc.double({ min: -20, max: 20, noNaN: true }), hasMid: fc.boolean() }),
  fc.record({ k: fc.constant('mid' as const), iid: fc.integer({ min: 0, max: 2 }), moveBps: fc.double({ min: -200, max: 200, noNaN: true }), stale: fc.boolean() }),
  fc.record({ k: fc.constant('markout' as const), trade: fc.integer({ min: 0, max: 40 }), horizon: fc.constantFrom(1_000, 10_000, 60_000), moveBps: fc.double({ min: -100, max: 100, noNaN: true }) }),
);

t.test('pnl - the parts add up to realized + unrealized of the whole book (property)', async (t) => {
  const checked = fc.check(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 80 }), fc.boolean(), (ops, roll) => {
      const { b, mids } = book();
      const truth = [101.2, 1.0842, 60.5]; // the market's mid, whether or not the engine sees it (stale)
      const fills: Array<{ iid: number; q: number; p: number }> = [];
      const tradeIds: string[] = [];
      let n = 0;
      let scale = 0;
      ops.forEach((op, j) => {
        if (roll && j === Math.floor(ops.length / 2)) {
          b.roll(j);
          // after a roll the book's P&L is marked from the carry-in prices
          const carry = [0, 1, 2].map((i) => ({ iid: i, q: fills.filter((f) => f.iid === i).reduce((s, f) => s + f.q, 0), p: b.mark(i) }));
          fills.length = 0;
          for (const c of carry) if (c.q !== 0 && c.p > 0) fills.push(c);
        }
        if (op.k === 'trade') {
          const m = truth[op.iid];
          const q = op.lots * 1e5;
          const price = m * (1 + (Math.sign(-q) * op.edgeBps) / 1e4);
          const id = `T${n++}`;
          if (b.onTrade({ tradeId: id, clientId: `C${op.client}`, tier: op.tier, iid: op.iid, deskQty: q, price, mid: op.hasMid ? m : null, ts: j }) === 'ok') {
            tradeIds.push(id);
            fills.push({ iid: op.iid, q, p: price });
            scale += Math.abs(q * price);
          }
        } else if (op.k === 'fill') {
          const m = truth[op.iid];
          const q = op.lots * 1e5;
          const price = m * (1 + op.slipBps / 1e4);
          const tradeId = op.trade < 0 ? undefined : (tradeIds[op.trade] ?? 'unknown');
          if (b.onHedgeFill({ fillId: `F${n++}`, tradeId, iid: op.iid, deskQty: q, price, midAtDecision: op.hasMid ? m : null, ts: j }) === 'ok') {
            fills.push({ iid: op.iid, q, p: price });
            scale += Math.abs(q * price);
          }
        } else if (op.k === 'mid') {
          truth[op.iid] *= 1 + op.moveBps / 1e4;
          if (op.stale) mids.delete(op.iid);
          else mids.set(op.iid, truth[op.iid]);
        } else if (tradeIds[op.trade] !== undefined) {
          const iid = b.tradeSplit(tradeIds[op.trade])?.instrument;
          if (iid !== undefined) b.onMarkout(tradeIds[op.trade], op.horizon, truth[['BOND', 'FX', 'IDX'].indexOf(iid)] * (1 + op.moveBps / 1e4));
        }
      });
      const k = [0.01, 1, 0.01];
      const tol = 1e-9 * (1 + scale);
      // brute force: Σ q·(M − p)·k over every fill (carry-ins included), at the book's marks
      const cash = fills.reduce((s, f) => s + f.q * (b.mark(f.iid) - f.p) * k[f.iid], 0);
      const s = b.splits();
      const sum = (xs: Split[], pick: (x: Split) => number) => xs.reduce((a, x) => a + pick(x), 0);
      const eq = (a: number, c: number) => Math.abs(a - c) <= tol;
      const trades = b.recent(1000);
      const fields: Array<(x: Split) => number> = [(x) => x.spread, (x) => x.hedgeCost, (x) => x.markout, (x) => x.inventory, (x) => x.total];
      return (
        eq(parts(s.desk), s.desk.total) &&
        eq(s.desk.total, b.deskTotal()) &&
        eq(b.deskTotal(), cash) &&
        fields.every((f) => eq(f(s.desk), sum(s.byClient, f) + f(s.unattributed))) &&
        fields.every((f) => eq(f(s.desk), sum(s.byTier, f) + f(s.unattributed))) &&
        fields.every((f) => eq(f(s.desk), sum(s.byInstrument, f))) &&
        // per-trade splits (own fill + its hedges) + unattributed = desk, when no carry-in is involved
        (roll || fields.every((f) => eq(f(s.desk), sum(trades, f) + f(s.unattributed)))) &&
        trades.every((x) => eq(parts(x), x.total))
      );
    }),
    { numRuns: 400 },
  );
  t.notOk(checked.failed, fc.defaultReportMessage(checked) ?? '400 random sequences');
});
