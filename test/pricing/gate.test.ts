import t from 'tap';
import fc from 'fast-check';
import { gateLevel, GateResult } from '../../engine/pricing/gate.js';

const ok = (mid: number, size: number, bid: number, ask: number) => gateLevel(mid, size, bid, ask, 1, 100, 10e6, 1e5);

t.test('gate - passes a sane level and blocks each failure with its code', async (t) => {
  t.equal(ok(100, 1e6, 99.9, 100.1), GateResult.OK);
  t.equal(ok(NaN, 1e6, 99.9, 100.1), GateResult.NO_MID);
  t.equal(ok(0, 1e6, 99.9, 100.1), GateResult.NO_MID);
  t.equal(ok(-0, 1e6, 99.9, 100.1), GateResult.NO_MID);
  t.equal(ok(100, 1e6, NaN, 100.1), GateResult.NON_FINITE);
  t.equal(ok(100, 1e6, 99.9, Infinity), GateResult.NON_FINITE);
  t.equal(ok(100, Infinity, 99.9, 100.1), GateResult.NON_FINITE);
  t.equal(ok(100, 1e6, 100.1, 99.9), GateResult.CROSSED);
  t.equal(ok(100, 1e6, 100, 100), GateResult.CROSSED, 'locked');
  t.equal(ok(100, 1e6, 0, 100.1), GateResult.CROSSED, 'zero bid');
  t.equal(ok(100, 1e6, 99.999, 100.004), GateResult.BELOW_MIN_SPREAD, '0.5 bp < 1 bp floor');
  t.equal(ok(100, 1e6, 98.9, 100.1), GateResult.OUTSIDE_COLLAR, 'bid 110 bp away');
  t.equal(ok(100, 1e6, 99.9, 101.2), GateResult.OUTSIDE_COLLAR, 'ask 120 bp away');
  t.equal(ok(100, 10e6 + 1, 99.9, 100.1), GateResult.OVERSIZE, 'limit + 1');
  t.equal(ok(100, 10e6, 99.9, 100.1), GateResult.OK, 'limit exactly');
  t.equal(ok(100, 1e5 - 1, 99.9, 100.1), GateResult.BAD_SIZE, 'below min size');
  t.equal(ok(100, 1e308, 99.9, 100.1), GateResult.OVERSIZE);
  t.equal(ok(100, -1e6, 99.9, 100.1), GateResult.BAD_SIZE);
});

t.test('gate - a 10× mutant price never passes (property)', async (t) => {
  let blocked = 0;
  fc.assert(
    fc.property(fc.double({ min: 1e-3, max: 1e6, noNaN: true }), fc.double({ min: 0.0002, max: 0.009, noNaN: true }), (mid, half) => {
      const bid = mid * (1 - half);
      const ask = mid * (1 + half);
      if (ok(mid, 1e6, bid, ask) !== GateResult.OK) throw new Error('sane level blocked');
      if (ok(mid, 1e6, bid * 0.1, ask * 10) === GateResult.OK) throw new Error('mutant passed');
      if (ok(mid, 1e6, bid, ask * 10) === GateResult.OK) throw new Error('mutant ask passed');
      blocked++;
    }),
    { numRuns: 2000 },
  );
  t.equal(blocked, 2000);
});
