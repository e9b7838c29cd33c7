import t from 'tap';
import fc from 'fast-check';
import { Inventory } from '../../engine/inventory/index.js';
import { testConfig } from '../helpers/engine.js';

t.test('inventory - average-cost P&L: open, add, reduce, flip, close', async (t) => {
  const inv = new Inventory(testConfig());
  const changes: number[] = [];
  inv.onChange((i) => changes.push(i));
  inv.applyTrade(0, 10, 100);
  inv.applyTrade(0, 10, 110);
  t.equal(inv.traded[0], 20);
  t.equal(inv.avgCost[0], 105);
  inv.applyTrade(0, -5, 120);
  t.equal(inv.realizedPnl[0], 75, '5 × (120 − 105)');
  t.equal(inv.avgCost[0], 105, 'reducing keeps the cost');
  inv.applyTrade(0, -25, 100);
  t.equal(inv.realizedPnl[0], 75 + 15 * -5, 'closing 15 at 100');
  t.equal(inv.traded[0], -10);
  t.equal(inv.avgCost[0], 100, 'flipped: the remainder opened at the trade price');
  inv.applyTrade(0, 10, 90);
  t.equal(inv.realizedPnl[0], 75 - 75 + 100, 'short 10 at 100 bought back at 90');
  t.equal(inv.traded[0], 0);
  t.equal(inv.avgCost[0], 0);
  t.equal(changes.length, 5, 'each trade notifies (re-skew)');
  inv.applyTrade(1, 5, 50, true);
  t.equal(changes.length, 5, 'silent replay does not notify');
  t.notOk(inv.applyTrade(0, NaN, 1), 'NaN quantity refused');
  t.notOk(inv.applyTrade(0, 1, 0), 'zero price refused');
  t.notOk(inv.applyTrade(99, 1, 1), 'unknown instrument refused');
});

t.test('inventory - position = initial + Σ trades; realized + unrealized P&L = cash P&L of the trades, for any sequence', async (t) => {
  const checked = fc.check(
    fc.property(fc.array(fc.tuple(fc.integer({ min: -20, max: 20 }).filter((x) => x !== 0), fc.integer({ min: 90, max: 110 })), { maxLength: 60 }), fc.integer({ min: 90, max: 110 }), (trades, mark) => {
      const inv = new Inventory(testConfig());
      const start = inv.position[2];
      let cash = 0;
      let q = 0;
      for (const [qty, px] of trades) {
        inv.applyTrade(2, qty, px);
        cash -= qty * px;
        q += qty;
      }
      const total = inv.realizedPnl[2] + inv.unrealizedPnl(2, mark);
      return inv.position[2] === start + q && Math.abs(total - (cash + q * mark)) < 1e-6;
    }),
    { numRuns: 500, seed: 11 },
  );
  t.notOk(checked.failed, fc.defaultReportMessage(checked) ?? 'property held');
});
