/**
 * Relationship score: a pure function of the trade record. Runs on a worker thread
 * (workers/score.ts) and in tests; imports nothing that touches I/O.
 *
 * Per client, over the trailing window (12 months by default), four raw factors:
 *
 *   volume          Σ notional                                   → log10(1 + v)       (sizes span decades)
 *   profitability   Σ side·(price − mid)/mid·notional             → sign·log10(1 + |p|) (spread captured)
 *   flowQuality     notional-weighted mean markout, bps, clipped  → as is              (+ = good for the desk)
 *   diversification Shannon entropy of notional over asset classes / ln(K)   (0 = one class, 1 = even over K)
 *
 * Each transformed factor is min-max normalized across the clients that traded in the window
 * (0 = the worst of them, 1 = the best). When every client has the same value the factor carries
 * no information and each gets 0.5. Score = 100·Σ weightₖ·componentₖ; tier by the cut-offs.
 * Min-max (not rank) keeps the distance between clients; the log transforms stop one very large
 * client from squashing everyone else to ≈ 0.
 *
 * Sign conventions: `side` is the CLIENT's side. A client buy (+1) at a price above mid is spread
 * captured by the desk. `(price − mid)/mid·notional` equals `(price − mid)·side·size` when
 * notional = size·mid, and stays right for percent-of-par bonds and cross-currency pairs where
 * price·size is not in the reporting currency.
 */
import { CrmError, ErrorCode } from '../errors.js';
import type { RelationshipScore } from './types.js';

export interface ScoreTrade {
  /** lets markouts that arrive later be attached to the trade (Scorer.onMarkout) */
  readonly tradeId?: string;
  readonly clientId: string;
  readonly instrument: string;
  readonly assetClass: string;
  /** the client's side: 'buy' = the client bought from the desk */
  readonly side: 'buy' | 'sell';
  readonly size: number;
  readonly price: number;
  readonly midAtTrade: number;
  /** |notional| in the reporting currency */
  readonly notional: number;
  readonly tsMs: number;
  /**
   * Markout per horizon, bps, positive = good for the desk (see markout.ts). Keys are
   * `horizonKey(ms)`: h1s, h10s, h60s for the default horizons.
   */
  readonly markoutBps?: Readonly<Record<string, number>>;
}

export interface ScoreWeights {
  readonly volume: number;
  readonly profitability: number;
  readonly flowQuality: number;
  readonly diversification: number;
}

/** score ≥ tier1 → tier 1; ≥ tier2 → tier 2; else tier 3 */
export interface TierCuts {
  readonly tier1: number;
  readonly tier2: number;
}

export interface ScoreOptions {
  /** trailing window; trades older than nowMs − windowMs do not count */
  readonly windowMs: number;
  /** a single trade's markout is clipped to ±this before averaging (one bad mid cannot dominate) */
  readonly markoutClipBps: number;
  /** K in the entropy normalization: the number of asset classes the desk trades */
  readonly assetClassCount: number;
}

export const DEFAULT_WEIGHTS: ScoreWeights = Object.freeze({ volume: 0.25, profitability: 0.35, flowQuality: 0.3, diversification: 0.1 });
export const DEFAULT_TIER_CUTS: TierCuts = Object.freeze({ tier1: 70, tier2: 40 });
export const YEAR_MS = 365 * 86_400_000;
export const DEFAULT_SCORE_OPTIONS: ScoreOptions = Object.freeze({ windowMs: YEAR_MS, markoutClipBps: 100, assetClassCount: 5 });
const WEIGHT_KEYS = ['volume', 'profitability', 'flowQuality', 'diversification'] as const;
/** Σ weights may differ from 1 by this much (decimal weights like .1 + .2 are not exact in binary) */
const WEIGHT_SUM_TOLERANCE = 1e-6;

/** `h1s`, `h10s`, `h60s`, `h0.5s`: the ScoreTrade.markoutBps key for a horizon. */
export function horizonKey(horizonMs: number): string {
  return `h${horizonMs / 1000}s`;
}

/** Every problem with the parameters, as `field: problem`; empty = valid. */
export function validateScoreParams(weights: unknown, cuts: unknown, options: unknown = DEFAULT_SCORE_OPTIONS): string[] {
  const issues: string[] = [];
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (weights === null || typeof weights !== 'object') issues.push('weights: must be an object');
  else {
    const w = weights as Record<string, unknown>;
    for (const k of Object.keys(w)) if (!(WEIGHT_KEYS as readonly string[]).includes(k)) issues.push(`weights.${k}: unknown factor`);
    let sum = 0;
    let ok = true;
    for (const k of WEIGHT_KEYS) {
      const v = w[k];
      if (!finite(v) || v < 0 || v > 1) {
        issues.push(`weights.${k}: must be a number in [0, 1]`);
        ok = false;
      } else sum += v;
    }
    if (ok && Math.abs(sum - 1) > WEIGHT_SUM_TOLERANCE) issues.push(`weights: must sum to 1 (they sum to ${sum})`);
  }
  if (cuts === null || typeof cuts !== 'object') issues.push('tierCuts: must be an object');
  else {
    const c = cuts as Record<string, unknown>;
    for (const k of Object.keys(c)) if (k !== 'tier1' && k !== 'tier2') issues.push(`tierCuts.${k}: unknown key`);
    const t1 = c.tier1;
    const t2 = c.tier2;
    if (!finite(t1) || t1 < 0 || t1 > 100) issues.push('tierCuts.tier1: must be a number in [0, 100]');
    if (!finite(t2) || t2 < 0 || t2 > 100) issues.push('tierCuts.tier2: must be a number in [0, 100]');
    if (finite(t1) && finite(t2) && t2 > t1) issues.push(`tierCuts.tier2: must not exceed tierCuts.tier1 (${t1})`);
  }
  if (options === null || typeof options !== 'object') issues.push('options: must be an object');
  else {
    const o = options as Record<string, unknown>;
    if (!finite(o.windowMs) || o.windowMs <= 0) issues.push('options.windowMs: must be a positive number');
    if (!finite(o.markoutClipBps) || o.markoutClipBps <= 0) issues.push('options.markoutClipBps: must be a positive number');
    if (!Number.isInteger(o.assetClassCount) || (o.assetClassCount as number) < 1) issues.push('options.assetClassCount: must be a positive integer');
  }
  return issues;
}

/** Throws CrmError QE_CRM_SCORE_PARAMS naming every bad parameter. */
export function assertScoreParams(weights: unknown, cuts: unknown, options: unknown = DEFAULT_SCORE_OPTIONS): void {
  const issues = validateScoreParams(weights, cuts, options);
  if (issues.length) throw new CrmError(ErrorCode.CRM_SCORE_PARAMS, 'invalid relationship-score parameters', issues);
}

export function tierForScore(score: number, cuts: TierCuts): 1 | 2 | 3 {
  return score >= cuts.tier1 ? 1 : score >= cuts.tier2 ? 2 : 3;
}

export interface ScoreResult {
  readonly scores: RelationshipScore[];
  /** trades ignored because a field was missing, non-finite or out of range (not an error: counted) */
  readonly skipped: number;
}

interface Acc {
  trades: number;
  notional: number;
  pnl: number;
  markoutWeighted: number;
  markoutNotional: number;
  byClass: Map<string, number>;
}

function tradeIsSane(t: ScoreTrade): boolean {
  return (
    t !== null &&
    typeof t === 'object' &&
    typeof t.clientId === 'string' &&
    t.clientId.length > 0 &&
    (t.side === 'buy' || t.side === 'sell') &&
    typeof t.assetClass === 'string' &&
    Number.isFinite(t.price) &&
    Number.isFinite(t.midAtTrade) &&
    t.midAtTrade > 0 &&
    Number.isFinite(t.notional) &&
    t.notional > 0 &&
    Number.isFinite(t.tsMs)
  );
}

/** x ↦ (x − min)/(max − min) over `xs`; all equal → 0.5 each (no information to rank on). */
function minMax(xs: readonly number[]): number[] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of xs) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const span = hi - lo;
  if (!(span > 1e-12 * Math.max(1, Math.abs(hi)))) return xs.map(() => 0.5);
  return xs.map((x) => (x - lo) / span);
}

/**
 * Scores every client that appears in `trades`. A client whose trades all fall outside the window
 * gets score 0 / tier 3 with trades = 0 and does not take part in the normalization of the others.
 * Throws QE_CRM_SCORE_PARAMS on bad weights, cut-offs or options; never on a bad trade (skipped).
 */
export function computeScoresDetailed(
  trades: readonly ScoreTrade[],
  nowMs: number,
  weights: ScoreWeights = DEFAULT_WEIGHTS,
  tierCuts: TierCuts = DEFAULT_TIER_CUTS,
  options: Partial<ScoreOptions> = {},
): ScoreResult {
  const opts: ScoreOptions = { ...DEFAULT_SCORE_OPTIONS, ...options };
  assertScoreParams(weights, tierCuts, opts);
  if (!Number.isFinite(nowMs)) throw new CrmError(ErrorCode.CRM_SCORE_PARAMS, 'invalid relationship-score parameters', ['nowMs: must be finite']);
  const since = nowMs - opts.windowMs;
  const clip = opts.markoutClipBps;
  const accs = new Map<string, Acc>();
  let skipped = 0;

  for (const t of trades) {
    if (!tradeIsSane(t)) {
      skipped++;
      continue;
    }
    let a = accs.get(t.clientId);
    if (a === undefined) {
      a = { trades: 0, notional: 0, pnl: 0, markoutWeighted: 0, markoutNotional: 0, byClass: new Map() };
      accs.set(t.clientId, a);
    }
    if (t.tsMs <= since) continue; // seen (so scored), but outside the window
    const sign = t.side === 'buy' ? 1 : -1;
    a.trades++;
    a.notional += t.notional;
    a.pnl += (sign * (t.price - t.midAtTrade) * t.notional) / t.midAtTrade;
    a.byClass.set(t.assetClass, (a.byClass.get(t.assetClass) ?? 0) + t.notional);
    // mean of the horizons present for this trade; the longer horizons carry the information, the
    // shorter ones are there so a trade counts before its 60 s markout exists
    const m = t.markoutBps;
    if (m !== undefined && m !== null && typeof m === 'object') {
      let s = 0;
      let n = 0;
      for (const k of Object.keys(m)) {
        const v = m[k];
        if (typeof v === 'number' && Number.isFinite(v)) {
          s += Math.max(-clip, Math.min(clip, v));
          n++;
        }
      }
      if (n > 0) {
        a.markoutWeighted += (s / n) * t.notional;
        a.markoutNotional += t.notional;
      }
    }
  }

  const ids = [...accs.keys()].sort();
  const active = ids.filter((id) => accs.get(id)!.trades > 0);
  const K = opts.assetClassCount;
  const rawVol: number[] = [];
  const rawPnl: number[] = [];
  const rawDiv: number[] = [];
  const withMarkout: number[] = [];
  const rawMk: number[] = [];
  active.forEach((id, i) => {
    const a = accs.get(id)!;
    rawVol.push(Math.log10(1 + a.notional));
    rawPnl.push(Math.sign(a.pnl) * Math.log10(1 + Math.abs(a.pnl)));
    let h = 0;
    for (const v of a.byClass.values()) {
      const p = v / a.notional;
      if (p > 0) h -= p * Math.log(p);
    }
    const k = Math.max(K, a.byClass.size);
    rawDiv.push(k > 1 ? h / Math.log(k) : 0);
    if (a.markoutNotional > 0) {
      withMarkout.push(i);
      rawMk.push(a.markoutWeighted / a.markoutNotional);
    }
  });
  const cVol = minMax(rawVol);
  const cPnl = minMax(rawPnl);
  const cDiv = minMax(rawDiv);
  // a client with no markout yet is neutral (0.5), and does not stretch the others' range
  const cMk = active.map(() => 0.5);
  minMax(rawMk).forEach((c, j) => (cMk[withMarkout[j]] = c));
  const mkOf = new Map(withMarkout.map((i, j) => [i, rawMk[j]]));

  const computedAtMs = Math.floor(nowMs);
  const activeIndex = new Map(active.map((id, i) => [id, i]));
  const scores: RelationshipScore[] = ids.map((clientId) => {
    const a = accs.get(clientId)!;
    const i = activeIndex.get(clientId);
    const components =
      i === undefined
        ? { volume: 0, profitability: 0, flowQuality: 0, diversification: 0 }
        : { volume: cVol[i], profitability: cPnl[i], flowQuality: cMk[i], diversification: cDiv[i] };
    let s = 0;
    for (const k of WEIGHT_KEYS) s += weights[k] * components[k];
    // rounded to 1e-6 so float noise (49.99999999999999) cannot flip a tier at a cut-off
    const score = Math.max(0, Math.min(100, Math.round(1e8 * s) / 1e6));
    return {
      clientId,
      score,
      components,
      proposedTier: tierForScore(score, tierCuts),
      computedAtMs,
      trades: a.trades,
      raw: {
        notional: a.notional,
        pnl: a.pnl,
        markoutBps: i !== undefined && mkOf.has(i) ? mkOf.get(i)! : null,
        assetClasses: a.byClass.size,
      },
    };
  });
  return { scores, skipped };
}

export function computeScores(
  trades: readonly ScoreTrade[],
  nowMs: number,
  weights: ScoreWeights = DEFAULT_WEIGHTS,
  tierCuts: TierCuts = DEFAULT_TIER_CUTS,
  options: Partial<ScoreOptions> = {},
): RelationshipScore[] {
  return computeScoresDetailed(trades, nowMs, weights, tierCuts, options).scores;
}
