/**
 * Hedge cost model: pure functions, no I/O, no clock (docs/hedging.md § Cost model).
 *
 * For a position of q notional in instrument i, four ways to lay it off are costed in the same units
 * and compared on one objective, the Almgren–Chriss mean–variance cost:
 *
 *   score = E[cost] + λ·Var[P&L of what is left unhedged]
 *
 * Units: X = |q| / clip (clips); prices and costs in bps of the mid; σ in bps/√s (MarketState's
 * volFastBps / volSlowBps); E in bps × clips and Var in bps² × clips², reported per clip of the
 * position, so every option's `expectedCostBps`, `riskBps` (= √Var / X) and `scoreBps` reads as
 * "bps of the notional hedged". λ is `riskAversionPerBpClip`.
 *
 *   immediate  E = X·(H + I(X)),                 Var = 0
 *              I(X) = H·impactCoef·(√X − 1)⁺  (sqrt, the pricer's hedge-cost law)  or  η·X / T_exec (linear)
 *   paced      Almgren–Chriss over T in N slices (τ = T/N): x_k = X·sinh(κ(T − t_k)) / sinh(κT),
 *              n_k = x_{k−1} − x_k,  E = H·X + (η/τ)·Σ n_k²,  Var = σ²·τ·Σ_{k=1..N} x_k²,
 *              κ from cosh(κτ) = 1 + ½·κ̃²τ², κ̃² = λσ²/η
 *   hold       O = min(X, (F + p_axe·A) / clip) clips expected to be taken off by clients within τ_h,
 *              R = X − O hedged at the end:  E = R·(H + I(R)) − O·e,
 *              Var = σ²·τ_h·(X² + X·R + R²)/3 (the position runs down linearly from X to R);
 *              with no offsetting flow this is γσ²q²τ on top of the later hedge
 *   proxy      q_p = β·q·S_i/S_p in the proxy, entry and (unwindCostFrac of) exit paid there:
 *              E = X·|β|·(1 + u)·(H_p + I_p(q_p)),  Var = (1 − ρ²)·σ²·τ_p·X²  (basis risk)
 *
 * Permanent impact (Almgren–Chriss γ) is left out: in the linear model it costs ½γX² whatever the
 * schedule, so it cannot change which option wins. The venue simulator does model it.
 */
import type { LIQUIDITY_CLASSES } from '../config.js';
import type { HedgeLiquidityParams, HedgingConfig } from './config.js';

export type LiquidityClass = (typeof LIQUIDITY_CLASSES)[number];

export const HedgeOption = { IMMEDIATE: 'immediate', PACED: 'paced', HOLD: 'hold', PROXY: 'proxy' } as const;
export type HedgeOption = (typeof HedgeOption)[keyof typeof HedgeOption];
/** `none`: nothing to send (fully internalized, below one lot, or no option feasible). */
export type HedgeChoice = HedgeOption | 'none';

/** Reference data of an instrument, as the cost model needs it (see `hedgeInstrumentFromConfig`). */
export interface HedgeInstrument {
  readonly id: string;
  /** The standard clip, `sizeBands[0]`: the unit X counts in. */
  readonly clipNotional: number;
  readonly lotSize: number;
  readonly liquidityClass: LiquidityClass;
  /** `liquidity.<class>.impactCoef`: the square-root law coefficient, a multiple of the half-spread. */
  readonly impactCoef: number;
}

/** Market state of an instrument at the decision (MarketState: mid, max(volFastBps, volSlowBps), halfSpreadBps, status). */
export interface HedgeMarket {
  readonly mid: number;
  /** σ, bps per √second. */
  readonly volBpsPerSqrtSec: number;
  /** H, the composite half-spread, bps. */
  readonly halfSpreadBps: number;
  /** The composite is firm: a hedge may cross it. Hold needs only finite σ and H (last known). */
  readonly firm: boolean;
}

/** What client flow is expected against the position (CRM, flow statistics); notionals ≥ 0. */
export interface HedgeFlow {
  /** F: opposite-side client flow expected within the hold horizon. */
  readonly expectedOffsetNotional: number;
  /** A: desk axes and clients' natural interest pointing the other way (would take the position off). */
  readonly axeOffsetNotional: number;
  /** e: half-spread the desk earns on those client trades, bps. */
  readonly earnedHalfSpreadBps: number;
}

export interface HedgeProxy {
  readonly instrument: HedgeInstrument;
  readonly market: HedgeMarket;
  /** β of the instrument to the proxy (returns): the hedge is β × the position's value. */
  readonly beta: number;
  /** ρ, correlation of their returns (`proxy.correlation`, or the per-instrument override). */
  readonly correlation: number;
}

export interface HedgeInputs {
  readonly instrument: HedgeInstrument;
  readonly market: HedgeMarket;
  /** Signed position, + long. */
  readonly positionNotional: number;
  /** Signed client flow agreed but not yet in the position (e.g. accepted RFQs): nets first. */
  readonly pendingClientFlowNotional?: readonly number[];
  readonly flow?: HedgeFlow;
  readonly proxy?: HedgeProxy | null;
  readonly params: HedgingConfig;
}

export interface HedgeOptionEstimate {
  readonly option: HedgeOption;
  readonly feasible: boolean;
  /** Expected cost per unit hedged, bps (negative: expected to earn). NaN when infeasible. */
  readonly expectedCostBps: number;
  /** Standard deviation of the P&L of what is left unhedged, bps of the notional hedged. */
  readonly riskBps: number;
  /** λ·Var per clip, bps. */
  readonly riskPenaltyBps: number;
  /** expectedCostBps + riskPenaltyBps: what `chooseHedge` minimises. +∞ when infeasible. */
  readonly scoreBps: number;
  /** riskBps × X ≤ maxRiskClipBps. */
  readonly withinRiskLimit: boolean;
  /** Why infeasible, or the terms of the estimate. */
  readonly reason: string;
}

export interface ChildOrder {
  /** Send this long after the plan starts (the first child goes at once). */
  readonly offsetMs: number;
  /** Notional, a whole number of lots. */
  readonly size: number;
  /** Position left after this child, notional. */
  readonly remainingAfter: number;
}

export interface PacedPlan {
  readonly horizonSec: number;
  readonly slices: number;
  readonly kappaPerSec: number;
  readonly children: readonly ChildOrder[];
}

export interface ProxyPlan {
  readonly instrument: string;
  readonly side: 'buy' | 'sell';
  /** Notional in the proxy, a whole number of its lots. */
  readonly notional: number;
}

export interface HedgeDecision {
  readonly choice: HedgeChoice;
  readonly positionNotional: number;
  /** Netted against opposite pending client flow before anything goes out. */
  readonly internalizedNotional: number;
  /** Signed position left to hedge, whole lots. */
  readonly residualNotional: number;
  /** The side to trade in the instrument itself (immediate, paced); null otherwise. */
  readonly hedgeSide: 'buy' | 'sell' | null;
  readonly options: { readonly [K in HedgeOption]: HedgeOptionEstimate };
  /** The child-order schedule when the choice is paced. */
  readonly paced?: PacedPlan;
  /** The proxy order when the choice is proxy. */
  readonly proxy?: ProxyPlan;
  readonly reasonText: string;
}

// ---------------------------------------------------------------------------------------------
// Internalization

export interface NettingResult {
  /** Signed position after netting. */
  readonly residualNotional: number;
  /** |position| − |residual|: how much the opposite flow took off. */
  readonly nettedNotional: number;
  /** Per input flow, the part of it used (same sign as the flow; 0 for same-side flows). */
  readonly used: readonly number[];
}

/**
 * Internalize first: client flow on the opposite side of the position offsets it before any hedge
 * goes out, in the order given (the caller sorts, e.g. oldest first). Same-side flow is left alone:
 * it adds risk, it does not hedge. A flow larger than what is left is used only in part.
 */
export function netOpposingFlow(positionNotional: number, flowsNotional: readonly number[]): NettingResult {
  let left = positionNotional;
  const used = flowsNotional.map((f) => {
    if (!Number.isFinite(f) || left === 0 || Math.sign(f) !== -Math.sign(left)) return 0;
    const take = Math.min(Math.abs(f), Math.abs(left)) * Math.sign(f);
    left += take;
    return take;
  });
  return { residualNotional: left, nettedNotional: Math.abs(positionNotional) - Math.abs(left), used };
}

// ---------------------------------------------------------------------------------------------
// Almgren–Chriss

/**
 * κ of the discrete Almgren–Chriss solution: cosh(κτ) = 1 + ½·κ̃²·τ², κ̃² = λσ²/η.
 * λ in 1/(bps·clip), σ in bps/√s, η in bps per (clip/s), τ in s; κ in 1/s. λ = 0 gives 0 (TWAP).
 */
export function acKappaPerSec(riskAversionPerBpClip: number, volBpsPerSqrtSec: number, etaBpsPerClipPerSec: number, tauSec: number): number {
  const k2 = (riskAversionPerBpClip * volBpsPerSqrtSec * volBpsPerSqrtSec) / etaBpsPerClipPerSec;
  if (!(k2 > 0) || !(tauSec > 0)) return 0;
  return Math.acosh(1 + 0.5 * k2 * tauSec * tauSec) / tauSec;
}

/**
 * Holdings x_0..x_N (x_0 = X, x_N = 0) of the Almgren–Chriss trajectory over `horizonSec` in
 * `slices` equal intervals. κ → 0 is the straight line (TWAP); large κ front-loads.
 */
export function acTrajectory(X: number, horizonSec: number, slices: number, kappaPerSec: number): Float64Array {
  const x = new Float64Array(slices + 1);
  const kT = kappaPerSec * horizonSec;
  for (let k = 0; k <= slices; k++) {
    const frac = k / slices;
    // sinh(κ(T − t))/sinh(κT) → (T − t)/T as κT → 0; past ~700 sinh overflows, the ratio is then e^(−κt)
    let w: number;
    if (kT < 1e-6) w = 1 - frac;
    else if (kT > 350) w = Math.exp(-kT * frac) * (frac === 1 ? 0 : 1);
    else w = Math.sinh(kT * (1 - frac)) / Math.sinh(kT);
    x[k] = X * w;
  }
  x[slices] = 0;
  return x;
}

/** Expected cost (bps × clips) and variance (bps² × clips²) of a trajectory: E = H·X + (η/τ)Σn², Var = σ²τΣx_k² (k ≥ 1). */
export function acCostOfTrajectory(x: Float64Array, tauSec: number, halfSpreadBps: number, etaBpsPerClipPerSec: number, volBpsPerSqrtSec: number): { expected: number; variance: number } {
  let sumN2 = 0;
  let sumX2 = 0;
  for (let k = 1; k < x.length; k++) {
    const n = x[k - 1] - x[k];
    sumN2 += n * n;
    sumX2 += x[k] * x[k];
  }
  return {
    expected: halfSpreadBps * x[0] + (etaBpsPerClipPerSec / tauSec) * sumN2,
    variance: volBpsPerSqrtSec * volBpsPerSqrtSec * tauSec * sumX2,
  };
}

/**
 * The child-order schedule for |q| over `horizonSec` in up to `slices` children: the Almgren–Chriss
 * holdings rounded to whole lots, never increasing, so the children are whole lots and add up to
 * |q| rounded to the lot exactly. Children that round to nothing are dropped (a small |q| gets fewer).
 */
export function acSchedule(qNotional: number, lotSize: number, horizonSec: number, slices: number, kappaPerSec: number): PacedPlan {
  const lots = Math.round(Math.abs(qNotional) / lotSize);
  const x = acTrajectory(lots, horizonSec, slices, kappaPerSec);
  const tauMs = (horizonSec * 1000) / slices;
  const children: ChildOrder[] = [];
  let prev = lots;
  for (let k = 1; k <= slices; k++) {
    let r = k === slices ? 0 : Math.round(x[k]);
    if (r > prev) r = prev;
    const n = prev - r;
    if (n > 0) children.push({ offsetMs: (k - 1) * tauMs, size: n * lotSize, remainingAfter: r * lotSize });
    prev = r;
  }
  return { horizonSec, slices, kappaPerSec, children };
}

// ---------------------------------------------------------------------------------------------
// The four options

const fmt = (x: number): string => (Number.isFinite(x) ? String(Number(x.toPrecision(3))) : String(x));

function infeasible(option: HedgeOption, reason: string): HedgeOptionEstimate {
  return { option, feasible: false, expectedCostBps: Number.NaN, riskBps: Number.NaN, riskPenaltyBps: Number.NaN, scoreBps: Number.POSITIVE_INFINITY, withinRiskLimit: false, reason };
}

function estimate(option: HedgeOption, X: number, expected: number, variance: number, params: HedgingConfig, reason: string): HedgeOptionEstimate {
  const riskBps = Math.sqrt(Math.max(0, variance)) / X;
  const riskPenaltyBps = (params.riskAversionPerBpClip * variance) / X;
  const expectedCostBps = expected / X;
  return {
    option,
    feasible: true,
    expectedCostBps,
    riskBps,
    riskPenaltyBps,
    scoreBps: expectedCostBps + riskPenaltyBps,
    withinRiskLimit: riskBps * X <= params.maxRiskClipBps,
    reason,
  };
}

const usable = (m: HedgeMarket): boolean => m.halfSpreadBps >= 0 && m.halfSpreadBps < Infinity && m.volBpsPerSqrtSec >= 0 && m.volBpsPerSqrtSec < Infinity;

/** Temporary impact of trading X clips at once, bps (see the header for the two laws). */
export function immediateImpactBps(X: number, ins: HedgeInstrument, mkt: HedgeMarket, params: HedgingConfig): number {
  if (params.immediate.impactModel === 'linear') return (params.liquidity[ins.liquidityClass].etaBpsPerClipPerSec * X) / params.immediate.linearExecutionSec;
  return X > 1 ? mkt.halfSpreadBps * ins.impactCoef * (Math.sqrt(X) - 1) : 0;
}

/** Crossing the spread now for all of |q|. */
export function immediateCost(qNotional: number, ins: HedgeInstrument, mkt: HedgeMarket, params: HedgingConfig): HedgeOptionEstimate {
  const X = Math.abs(qNotional) / ins.clipNotional;
  if (!(X > 0)) return infeasible(HedgeOption.IMMEDIATE, 'nothing to hedge');
  if (!mkt.firm || !usable(mkt)) return infeasible(HedgeOption.IMMEDIATE, `no firm market in ${ins.id}`);
  const I = immediateImpactBps(X, ins, mkt, params);
  const law = params.immediate.impactModel === 'linear' ? `η·X/${fmt(params.immediate.linearExecutionSec)}s` : 'square-root law';
  return estimate(HedgeOption.IMMEDIATE, X, X * (mkt.halfSpreadBps + I), 0, params, `half-spread ${fmt(mkt.halfSpreadBps)} + impact ${fmt(I)} bps (${law}), no risk left`);
}

/** Paced Almgren–Chriss execution; the estimate and the schedule it would follow. */
export function pacedCost(qNotional: number, ins: HedgeInstrument, mkt: HedgeMarket, params: HedgingConfig): { estimate: HedgeOptionEstimate; plan: PacedPlan | undefined } {
  const X = Math.abs(qNotional) / ins.clipNotional;
  if (!(X > 0)) return { estimate: infeasible(HedgeOption.PACED, 'nothing to hedge'), plan: undefined };
  if (!mkt.firm || !usable(mkt)) return { estimate: infeasible(HedgeOption.PACED, `no firm market in ${ins.id}`), plan: undefined };
  const lp: HedgeLiquidityParams = params.liquidity[ins.liquidityClass];
  const lots = Math.round(Math.abs(qNotional) / ins.lotSize);
  const N = Math.min(lp.pacedSlices, lots);
  if (N < 2) return { estimate: infeasible(HedgeOption.PACED, 'a single lot cannot be sliced'), plan: undefined };
  const T = lp.pacedHorizonSec;
  const tau = T / N;
  const kappa = acKappaPerSec(params.riskAversionPerBpClip, mkt.volBpsPerSqrtSec, lp.etaBpsPerClipPerSec, tau);
  const x = acTrajectory(X, T, N, kappa);
  const { expected, variance } = acCostOfTrajectory(x, tau, mkt.halfSpreadBps, lp.etaBpsPerClipPerSec, mkt.volBpsPerSqrtSec);
  const impact = expected / X - mkt.halfSpreadBps;
  const est = estimate(
    HedgeOption.PACED,
    X,
    expected,
    variance,
    params,
    `${N} child orders over ${fmt(T)} s (κ ${fmt(kappa)}/s): half-spread ${fmt(mkt.halfSpreadBps)} + impact ${fmt(impact)} bps, timing risk ${fmt(Math.sqrt(variance) / X)} bps`,
  );
  return { estimate: est, plan: acSchedule(qNotional, ins.lotSize, T, N, kappa) };
}

/** Keeping the position for the hold horizon while client flow takes part of it off; the rest is hedged then. */
export function holdCost(qNotional: number, ins: HedgeInstrument, mkt: HedgeMarket, flow: HedgeFlow | undefined, params: HedgingConfig): HedgeOptionEstimate {
  const X = Math.abs(qNotional) / ins.clipNotional;
  if (!(X > 0)) return infeasible(HedgeOption.HOLD, 'nothing to hedge');
  if (!usable(mkt)) return infeasible(HedgeOption.HOLD, `no volatility or spread known for ${ins.id}`);
  const F = flow && flow.expectedOffsetNotional > 0 ? flow.expectedOffsetNotional : 0;
  const A = flow && flow.axeOffsetNotional > 0 ? flow.axeOffsetNotional : 0;
  const e = flow && Number.isFinite(flow.earnedHalfSpreadBps) ? flow.earnedHalfSpreadBps : 0;
  const tau = params.liquidity[ins.liquidityClass].holdHorizonSec;
  const O = Math.min(X, (F + params.hold.axeFillProbability * A) / ins.clipNotional);
  const R = X - O;
  // The rest is hedged at the end at today's cost: crossing a spread later is no cheaper than now.
  const later = R > 0 ? R * (mkt.halfSpreadBps + immediateImpactBps(R, ins, mkt, params)) : 0;
  const expected = later - O * e;
  const s2 = mkt.volBpsPerSqrtSec * mkt.volBpsPerSqrtSec;
  const variance = (s2 * tau * (X * X + X * R + R * R)) / 3;
  const reason =
    O > 0
      ? `expect ${fmt(O)} of ${fmt(X)} clips taken off by clients within ${fmt(tau)} s (flow ${fmt(F / ins.clipNotional)}, axe ${fmt(A / ins.clipNotional)} × ${fmt(params.hold.axeFillProbability)}), earning ${fmt(e)} bps on them; the rest hedged then`
      : `no offsetting client flow expected within ${fmt(tau)} s: inventory risk, then the whole hedge`;
  return estimate(HedgeOption.HOLD, X, expected, variance, params, reason);
}

/** Hedging the beta through the proxy; the original is left for client flow and the proxy unwound against it. */
export function proxyCost(qNotional: number, ins: HedgeInstrument, mkt: HedgeMarket, proxy: HedgeProxy | null | undefined, params: HedgingConfig): { estimate: HedgeOptionEstimate; notional: number } {
  const X = Math.abs(qNotional) / ins.clipNotional;
  const no = (reason: string) => ({ estimate: infeasible(HedgeOption.PROXY, reason), notional: 0 });
  if (!(X > 0)) return no('nothing to hedge');
  if (!proxy) return no(`${ins.id} has no hedge proxy`);
  const p = proxy.instrument;
  const rho = proxy.correlation;
  if (!(Number.isFinite(proxy.beta) && proxy.beta !== 0)) return no(`beta to ${p.id} is ${proxy.beta}`);
  if (!(Math.abs(rho) >= params.proxy.minAbsCorrelation && Math.abs(rho) <= 1)) return no(`|ρ| ${fmt(Math.abs(rho))} to ${p.id} is below ${fmt(params.proxy.minAbsCorrelation)}`);
  if (!proxy.market.firm || !usable(proxy.market) || !(proxy.market.mid > 0)) return no(`no firm market in the proxy ${p.id}`);
  if (!(mkt.mid > 0) || !usable(mkt)) return no(`no mid or volatility for ${ins.id}`);
  // Value-neutral beta hedge: β × the position's value, in proxy notional.
  const lots = Math.round((Math.abs(proxy.beta * qNotional) * mkt.mid) / proxy.market.mid / p.lotSize);
  if (lots < 1) return no(`β × position is less than one lot of ${p.id}`);
  const qp = lots * p.lotSize;
  const Xp = qp / p.clipNotional;
  const entryBps = proxy.market.halfSpreadBps + immediateImpactBps(Xp, p, proxy.market, params);
  const u = params.proxy.unwindCostFrac;
  const expected = X * Math.abs(proxy.beta) * (1 + u) * entryBps;
  const tau = params.proxy.horizonSec;
  const variance = (1 - rho * rho) * mkt.volBpsPerSqrtSec * mkt.volBpsPerSqrtSec * tau * X * X;
  const est = estimate(
    HedgeOption.PROXY,
    X,
    expected,
    variance,
    params,
    `${fmt(qp)} ${p.id} (β ${fmt(proxy.beta)}, ρ ${fmt(rho)}): ${fmt(entryBps)} bps in the proxy × |β| × ${fmt(1 + u)} (in and out), basis risk ${fmt(Math.sqrt(variance) / X)} bps over ${fmt(tau)} s`,
  );
  return { estimate: est, notional: qp };
}

// ---------------------------------------------------------------------------------------------
// The decision

/** Preference among equal scores: the simplest to carry out first. */
const ORDER: readonly HedgeOption[] = [HedgeOption.IMMEDIATE, HedgeOption.PACED, HedgeOption.PROXY, HedgeOption.HOLD];

/**
 * Nets pending opposite client flow, costs the four options for what is left, and picks the lowest
 * score among the feasible options within the risk limit (if none is within it, the least risky
 * feasible option). Pure: the same inputs give the same decision and the same words.
 */
export function chooseHedge(inputs: HedgeInputs): HedgeDecision {
  const { instrument: ins, market: mkt, params } = inputs;
  const position = inputs.positionNotional;
  const net = netOpposingFlow(position, inputs.pendingClientFlowNotional ?? []);
  const residualLots = Math.round(Math.abs(net.residualNotional) / ins.lotSize);
  const residual = Math.sign(net.residualNotional) * residualLots * ins.lotSize;
  const nettedText = net.nettedNotional > 0 ? `netted ${fmt(net.nettedNotional)} against opposite client flow; ` : '';

  const paced = pacedCost(residual, ins, mkt, params);
  const proxy = proxyCost(residual, ins, mkt, inputs.proxy, params);
  const options = {
    immediate: immediateCost(residual, ins, mkt, params),
    paced: paced.estimate,
    hold: holdCost(residual, ins, mkt, inputs.flow, params),
    proxy: proxy.estimate,
  };
  const base = { positionNotional: position, internalizedNotional: net.nettedNotional, residualNotional: residual, options };

  if (residualLots === 0) {
    return { ...base, choice: 'none', hedgeSide: null, reasonText: `${nettedText}nothing left to hedge (less than one lot of ${ins.id})` };
  }
  const feasible = ORDER.filter((k) => options[k].feasible);
  if (feasible.length === 0) {
    return { ...base, choice: 'none', hedgeSide: null, reasonText: `${nettedText}no option is feasible: ${ORDER.map((k) => `${k}: ${options[k].reason}`).join('; ')}` };
  }
  const within = feasible.filter((k) => options[k].withinRiskLimit);
  let choice: HedgeOption;
  let why: string;
  if (within.length > 0) {
    choice = within.reduce((a, b) => (options[b].scoreBps < options[a].scoreBps ? b : a));
    why = `lowest risk-adjusted cost within the risk limit (${fmt(params.maxRiskClipBps)} clip·bps)`;
  } else {
    choice = feasible.reduce((a, b) => (options[b].riskBps < options[a].riskBps ? b : a));
    why = `no option within the risk limit (${fmt(params.maxRiskClipBps)} clip·bps): the least risky`;
  }
  const c = options[choice];
  const others = ORDER.filter((k) => k !== choice)
    .map((k) => (options[k].feasible ? `${k} ${fmt(options[k].scoreBps)}${options[k].withinRiskLimit ? '' : ' (over the risk limit)'}` : `${k} infeasible: ${options[k].reason}`))
    .join('; ');
  const hedgeSide = residual > 0 ? 'sell' : 'buy';
  const reasonText = `${nettedText}${choice} ${fmt(residual)} ${ins.id}: ${why}, ${fmt(c.scoreBps)} bps (cost ${fmt(c.expectedCostBps)} + risk ${fmt(c.riskPenaltyBps)}); ${c.reason}. Others: ${others}`;

  if (choice === HedgeOption.PACED && paced.plan) return { ...base, choice, hedgeSide, paced: paced.plan, reasonText };
  if (choice === HedgeOption.PROXY && inputs.proxy) {
    // Long the instrument and β > 0: sell the proxy; a negative β flips it.
    const side = Math.sign(residual) * Math.sign(inputs.proxy.beta) > 0 ? 'sell' : 'buy';
    return { ...base, choice, hedgeSide: null, proxy: { instrument: inputs.proxy.instrument.id, side, notional: proxy.notional }, reasonText };
  }
  return { ...base, choice, hedgeSide: choice === HedgeOption.HOLD ? null : hedgeSide, reasonText };
}

/** Reference data from the engine config (cold path). `impactCoef` is the config's `liquidity.<class>.impactCoef`. */
export function hedgeInstrumentFromConfig(
  ins: { readonly id: string; readonly sizeBands: readonly number[]; readonly lotSize: number; readonly liquidityClass: LiquidityClass },
  liquidity: { readonly [K in LiquidityClass]: { readonly impactCoef: number } },
): HedgeInstrument {
  return { id: ins.id, clipNotional: ins.sizeBands[0], lotSize: ins.lotSize, liquidityClass: ins.liquidityClass, impactCoef: liquidity[ins.liquidityClass].impactCoef };
}

/** ρ for an instrument: the per-instrument override, else the default. */
export function proxyCorrelation(params: HedgingConfig, instrumentId: string): number {
  return params.proxy.correlationByInstrument[instrumentId] ?? params.proxy.correlation;
}

/** σ the model uses: the larger of the fast and slow estimates, as the pricer does. */
export function hedgeVol(volFastBps: number, volSlowBps: number): number {
  return volFastBps > volSlowBps ? volFastBps : volSlowBps;
}
