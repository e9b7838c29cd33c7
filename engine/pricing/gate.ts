/**
 * The final gate (R1, R3, R13): the last check between a computed level and the wire. It runs on
 * the main thread on every level the worker returned, so a wrong or mutated pricer cannot publish
 * a crossed, too-tight, off-market or oversized price. Outcomes are values; each code is counted.
 */
export const GateResult = {
  OK: 0,
  NON_FINITE: 1,
  CROSSED: 2,
  BELOW_MIN_SPREAD: 3,
  OUTSIDE_COLLAR: 4,
  OVERSIZE: 5,
  BAD_SIZE: 6,
  NO_MID: 7,
} as const;
export type GateResult = (typeof GateResult)[keyof typeof GateResult];

export const GATE_RESULT_NAMES: readonly string[] = ['ok', 'non_finite', 'crossed', 'below_min_spread', 'outside_collar', 'oversize', 'bad_size', 'no_mid'];

export interface GateLimits {
  /** minimum full spread, bps of mid */
  readonly minSpreadBps: number;
  /** maximum distance of bid or ask from mid, bps */
  readonly collarBps: number;
  /** the smaller of the tier's and the instrument's maximum size */
  readonly maxSize: number;
  readonly minSize: number;
}

export function gateLevel(mid: number, size: number, bid: number, ask: number, minSpreadBps: number, collarBps: number, maxSize: number, minSize: number): GateResult {
  if (!(mid > 0) || !Number.isFinite(mid)) return GateResult.NO_MID;
  if (!Number.isFinite(bid) || !Number.isFinite(ask) || !Number.isFinite(size)) return GateResult.NON_FINITE;
  if (!(bid > 0) || !(ask > bid)) return GateResult.CROSSED;
  if (!(size >= minSize)) return GateResult.BAD_SIZE;
  if (size > maxSize) return GateResult.OVERSIZE;
  // tolerance of 1e-9 relative: prices are rounded to ticks, comparisons must not flap on ulps
  if ((ask - bid) / mid < (minSpreadBps / 1e4) * (1 - 1e-9)) return GateResult.BELOW_MIN_SPREAD;
  const collar = (collarBps / 1e4) * (1 + 1e-9);
  if ((mid - bid) / mid > collar || (ask - mid) / mid > collar) return GateResult.OUTSIDE_COLLAR;
  return GateResult.OK;
}
