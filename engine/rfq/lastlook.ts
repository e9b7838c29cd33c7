/**
 * Last look (R16, FX Global Code principle 17): the only market check between accept and booking
 * is whether the composite mid moved more than a fixed tolerance, *either way*, since the quote.
 * The decision depends on |move| alone, so a move in the client's favour and one against it are
 * treated the same (a one-sided check would be asymmetric last look). The hold before deciding is
 * fixed and disclosed (`rfq.lastLookHoldMs`); nothing is hedged inside it (there is no hedger yet).
 */

/**
 * True when `midNow` is more than `toleranceBps` of `refMid` away from it, in either direction,
 * or when `midNow` is not a usable price (fail closed). The difference of two doubles within a
 * factor of two of each other is exact (Sterbenz), so ±δ compare against the same threshold.
 */
export function marketMoved(refMid: number, midNow: number, toleranceBps: number): boolean {
  if (!(midNow > 0) || !Number.isFinite(midNow) || !(refMid > 0) || !Number.isFinite(refMid)) return true;
  return Math.abs(midNow - refMid) > (toleranceBps * refMid) / 1e4;
}

/** The signed move in bps, for logs and the client's rejection message. */
export function moveBps(refMid: number, midNow: number): number {
  return ((midNow - refMid) / refMid) * 1e4;
}
