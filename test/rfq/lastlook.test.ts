/**
 * Last look is symmetric (R16): a move of +δ and a move of −δ from the quoted mid get the same
 * decision, through the pure check and through the state machine's accept.
 */
import t from 'tap';
import fc from 'fast-check';
import { marketMoved, moveBps } from '../../engine/rfq/lastlook.js';
import { transition } from '../../engine/rfq/machine.js';
import { SizeCheck, type RfqState } from '../../engine/rfq/types.js';

const T0 = 1_700_000_000_000;

function quotedAt(mid: number): RfqState {
  const r = transition(undefined, {
    t: 'request',
    rfq: { rfqId: 'R', clientId: 'c', reqId: undefined, iid: 0, instrument: 'X', side: 'buy', size: 1, limit: NaN, tier: 3, createdMs: T0, origin: 'rfq' },
    facts: { role: 'client', entitled: true, known: true, marketFirm: true, killed: false, size: SizeCheck.OK, creditOk: true, stressed: false, openRfqs: 0, maxOpen: 9, auto: { price: mid, mid, bd: [0, 0, 0, 0, 0, 0] }, quoteId: 'Q', ttlMs: 1000, queueTtlMs: 1000 },
  });
  if (!r.ok) throw new Error('setup');
  return r.next;
}

function decide(mid: number, midNow: number, tolBps: number): string {
  const r = transition(quotedAt(mid), { t: 'accept', facts: { clientId: 'c', acceptId: 'a', tradeId: 'T', receivedMs: T0, nowMs: T0, killed: false, marketFirm: true, midNow, toleranceBps: tolBps, creditOk: true, blocked: null } });
  if (!r.ok) return r.code;
  return r.next.kind === 'rejected' ? r.next.code : r.next.kind;
}

// Mids and moves on a dyadic grid (k / 2^20): q ± d is then exact, so the property tests the
// decision rule and not the rounding of the test's own arithmetic.
const GRID = 2 ** 20;
const mid = fc.integer({ min: GRID / 64, max: 512 * GRID }).map((k) => k / GRID);
const tol = fc.constantFrom(0, 0.5, 1, 2, 5, 10, 25);

t.test('last look - +δ and −δ moves get the same decision (dyadic mids, property)', async (t) => {
  let up = 0;
  let down = 0;
  let runs = 0;
  fc.assert(
    fc.property(mid, fc.double({ min: 0, max: 30, noNaN: true }), tol, (q, bps, tolBps) => {
      const d = Math.round((q * bps * GRID) / 1e4) / GRID;
      const a = decide(q, q + d, tolBps);
      const b = decide(q, q - d, tolBps);
      runs++;
      if (a !== 'accepted_pending') up++;
      if (b !== 'accepted_pending') down++;
      return a === b;
    }),
    { numRuns: 5_000, seed: 42 },
  );
  t.equal(up, down, `reject counts equal: +δ ${up}, −δ ${down} of ${runs}`);
  t.ok(up > 0 && up < runs, 'both outcomes occurred');
  t.comment(`last-look rejects: +δ ${up}/${runs}, −δ ${down}/${runs}`);
});

t.test('last look - symmetric for arbitrary doubles too (moves up to 10%)', async (t) => {
  const checked = fc.check(
    fc.property(fc.double({ min: 1e-6, max: 1e9, noNaN: true }), fc.double({ min: 0, max: 0.1, noNaN: true }), fc.double({ min: 0, max: 100, noNaN: true }), (q, rel, tolBps) => {
      const d = q * rel;
      // exactness aside, an exact tie is the only place float rounding could split the two sides
      const threshold = (tolBps * q) / 1e4;
      if (Math.abs(Math.abs(q + d - q) - threshold) <= 4 * Number.EPSILON * q) return true;
      return marketMoved(q, q + d, tolBps) === marketMoved(q, q - d, tolBps);
    }),
    { numRuns: 5_000, seed: 7 },
  );
  t.notOk(checked.failed, fc.defaultReportMessage(checked) ?? 'property held');
});

t.test('last look - boundary: exactly the tolerance passes, one grid step beyond fails, both ways', async (t) => {
  const q = 1; // 2 bps of 1 = 0.0002, not dyadic: use a dyadic tolerance instead
  const tolBps = 1e4 / 1024; // 1/1024 of the mid
  const d = q / 1024;
  t.equal(decide(q, q + d, tolBps), 'accepted_pending');
  t.equal(decide(q, q - d, tolBps), 'accepted_pending');
  t.equal(decide(q, q + d + 2 ** -30, tolBps), 'QE_RFQ_PRICE_MOVED');
  t.equal(decide(q, q - d - 2 ** -30, tolBps), 'QE_RFQ_PRICE_MOVED');
  t.equal(decide(q, q, 0), 'accepted_pending', 'zero tolerance: an unchanged mid passes');
  t.equal(decide(q, q + 2 ** -40, 0), 'QE_RFQ_PRICE_MOVED', 'zero tolerance: any move fails');
});

t.test('last look - an unusable current mid fails closed', async (t) => {
  for (const m of [NaN, 0, -1, Infinity]) t.ok(marketMoved(1.08, m, 1000), `mid ${m}`);
  t.equal(Math.round(moveBps(100, 100.02) * 1e6) / 1e6, 2);
});
