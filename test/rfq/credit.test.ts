/**
 * R4: pending accepts count at once. Any interleaving of accept decisions (check + reserve in one
 * turn), bookings and journal refusals keeps the worst-case exposure within the limit at every step,
 * and the booked exposure never passes it.
 */
import t from 'tap';
import fc from 'fast-check';
import { ClientCredit } from '../../engine/rfq/credit.js';

type Op =
  | { k: 'accept'; iid: number; side: 'buy' | 'sell'; size: number }
  | { k: 'book'; n: number }
  | { k: 'fail'; n: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('accept' as const), iid: fc.integer({ min: 0, max: 3 }), side: fc.constantFrom('buy' as const, 'sell' as const), size: fc.integer({ min: 1, max: 40 }).map((x) => x * 1e5) }),
  fc.record({ k: fc.constant('book' as const), n: fc.nat(50) }),
  fc.record({ k: fc.constant('fail' as const), n: fc.nat(50) }),
);

t.test('credit - exposure (pending counted in the worst direction) never exceeds the limit, whatever the interleaving', async (t) => {
  let accepted = 0;
  let refused = 0;
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 100 }).map((x) => x * 1e5), fc.array(op, { maxLength: 200 }), (limit, ops) => {
      const c = new ClientCredit();
      const pending: Array<{ iid: number; side: 'buy' | 'sell'; size: number }> = [];
      const booked = new Map<number, number>();
      for (const o of ops) {
        if (o.k === 'accept') {
          if (c.exposureWith(o.iid, o.side, o.size) <= limit) {
            c.reserve(o.iid, o.side, o.size);
            pending.push(o);
            accepted++;
          } else refused++;
        } else if (pending.length > 0) {
          const [p] = pending.splice(o.n % pending.length, 1);
          if (o.k === 'book') {
            c.booked(p.iid, p.side, p.size);
            c.release(p.iid, p.side, p.size);
            booked.set(p.iid, (booked.get(p.iid) ?? 0) + (p.side === 'buy' ? p.size : -p.size));
          } else c.release(p.iid, p.side, p.size);
        }
        if (c.exposure() > limit) return false;
        let actual = 0;
        for (const v of booked.values()) actual += Math.abs(v);
        if (actual > limit) return false;
      }
      return true;
    }),
    { numRuns: 2_000, seed: 3 },
  );
  t.ok(accepted > 0 && refused > 0, `both outcomes exercised (accepted ${accepted}, refused ${refused})`);
});

t.test('credit - a reducing trade frees credit; pending buys and sells do not offset each other', async (t) => {
  const c = new ClientCredit();
  c.booked(0, 'buy', 5e6);
  t.equal(c.exposure(), 5e6);
  t.equal(c.exposureWith(0, 'sell', 3e6), 5e6, 'a pending sell against a long: worst case is still the long');
  c.reserve(0, 'sell', 3e6);
  t.equal(c.exposureWith(0, 'buy', 1e6), 6e6, 'the pending sell does not net against a new pending buy');
  c.booked(0, 'sell', 3e6);
  c.release(0, 'sell', 3e6);
  t.equal(c.exposure(), 2e6, 'the booked sell reduced the exposure');
  t.equal(c.exposureWith(1, 'buy', 1e6), 3e6, 'instruments add up');
});
