/**
 * The co-pilot model: pure functions, no I/O, no clock (docs/copilot.md). Runs on a piscina worker
 * (workers/copilot.ts); the service gathers the inputs on the main thread (market, inventory, CRM,
 * RFQ history) into one structured-clonable `CopilotInput`.
 *
 * Units: sizes and positions are notionals (the journal's `size`); P&L in the same currency as
 * notional (notional × bps / 10⁴); distances and spreads in bps of the composite mid; σ in bps/√s.
 * Signs: positions + long; P&L + good for the desk; a distance d > 0 is worse for the client
 * (above mid when it buys, below when it sells).
 *
 *   half-spread h = max(floor, base + Δhedge cost + Δrisk penalty − axe − agreement shading)
 *   price         = mid·(1 ± h/10⁴) on the tick grid (away from the client), inside the collar,
 *                   improved to a shown axe's price when that is better for the client
 *   CI half-width = z·√(σ²T + D² + P²)   (hedge-horizon volatility, venue dispersion, parameters)
 *   win           P(d) = 1 / (1 + e^−(a + b·d)), b < 0, fitted to the client's quoted RFQs with a
 *                 ridge towards a prior scaled by the tier half-spread
 *
 * Every figure carries `inputs`: what it was computed from, so a trader can see why.
 */
import { chooseHedge, immediateImpactBps, type HedgeDecision, type HedgeFlow, type HedgeInstrument, type HedgeMarket, type HedgeProxy } from '../hedging/costs.js';
import type { HedgingConfig } from '../hedging/config.js';

export type Side = 'buy' | 'sell';

/** What the model reads from `config.copilot` (a plain subset, cloned to the worker). */
export interface ModelParams {
  readonly ciZ: number;
  readonly volParamUncertainty: number;
  readonly hedgeCostUncertainty: number;
  readonly axeImproveBps: number;
  readonly maxClips: number;
  readonly stressVolMult: number;
  readonly winModel: { readonly priorWinAtHalf: number; readonly priorSlopePerHalf: number; readonly minHistory: number; readonly priorWeight: number };
}

export interface ModelInstrument extends HedgeInstrument {
  readonly tickSize: number;
  readonly minSize: number;
  readonly maxSize: number;
  /** the desk's base full spread for the first band, bps */
  readonly baseSpreadBps: number;
  /** spreadMult of the client's tier */
  readonly tierSpreadMult: number;
  /** narrowest half-spread the engine quotes, bps (pricing.minSpreadBps / 2) */
  readonly minHalfSpreadBps: number;
  readonly collarBps: number;
}

export interface ModelMarket {
  readonly mid: number;
  readonly volFastBps: number;
  readonly volSlowBps: number;
  readonly halfSpreadBps: number;
  readonly firm: boolean;
  /** standard deviation of the live venues' mids around the composite, bps (NaN with < 2 venues) */
  readonly venueMidStdBps: number;
  readonly liveVenues: number;
}

export interface PastQuote {
  /** distance of the quoted price from mid at the quote, bps, worse for the client > 0 */
  readonly distanceBps: number;
  readonly won: boolean;
}

/** The client as the trader should see it next to the RFQ; passed through as it is. */
export interface ClientContext {
  readonly clientId: string;
  readonly name: string | null;
  readonly tier: number;
  readonly effectiveTier: number | null;
  readonly override: { readonly tier: number; readonly reason: string; readonly author: string; readonly expiresAtMs: number } | null;
  readonly score: { readonly score: number; readonly components: { readonly volume: number; readonly profitability: number; readonly flowQuality: number; readonly diversification: number }; readonly proposedTier: number } | null;
  readonly recentTrades: ReadonlyArray<{ readonly tradeId: string; readonly i: string; readonly side: Side; readonly size: number; readonly price: number; readonly ts: number }>;
  /** booked / quoted over the kept history; null without one */
  readonly hitRatio: number | null;
  readonly quotedRfqs: number;
  /** the client's average markout, bps, + good for the desk; null without samples */
  readonly markoutBps: number | null;
  readonly naturalInterest: ReadonlyArray<{ readonly instrument: string; readonly side: Side; readonly note: string }>;
  readonly agreements: ReadonlyArray<{ readonly instrument?: string; readonly assetClass?: string; readonly shadingBps: number; readonly note: string }>;
  /** agreement shading that applies to this instrument, bps */
  readonly shadingBps: number;
  /** the client's CRM size limit for this instrument (notional), null without a record */
  readonly maxSize: number | null;
}

export interface CopilotInput {
  readonly rfq: { readonly rfqId: string; readonly clientId: string; readonly tier: number; readonly instrument: string; readonly side: Side; readonly size: number; readonly limit: number | null; readonly reason: string | null; readonly regime: string | null };
  readonly instrument: ModelInstrument;
  readonly market: ModelMarket;
  /** the desk's position before the trade */
  readonly positionNotional: number;
  /** the CRM desk axe on this instrument: the side the desk wants to trade */
  readonly deskAxe: { readonly side: Side; readonly size: number } | null;
  readonly client: ClientContext;
  readonly history: readonly PastQuote[];
  /** an axe a trader showed this client on this instrument and side, still valid */
  readonly shownAxe: { readonly price: number; readonly size: number; readonly validUntil: number } | null;
  readonly flow: HedgeFlow;
  readonly proxy: HedgeProxy | null;
  readonly hedging: HedgingConfig;
  readonly params: ModelParams;
  readonly nowMs: number;
}

export interface WinPoint {
  readonly price: number;
  readonly distanceBps: number;
  readonly p: number;
}

export interface ScenarioRow {
  readonly name: '-3σ' | '-1σ' | '+1σ' | '+3σ' | 'stressed';
  readonly moveBps: number;
  readonly pnlUnhedged: number;
  readonly pnlHedged: number;
}

export interface Recommendation {
  readonly rfqId: string;
  readonly clientId: string;
  readonly i: string;
  readonly side: Side;
  readonly requestedSize: number;
  readonly computedMs: number;
  /** false: no firm mid, nothing to recommend (the trader prices by hand); every other figure is then absent */
  readonly ok: boolean;
  readonly why?: string;
  readonly price?: { readonly value: number; readonly halfSpreadBps: number; readonly distanceBps: number; readonly withinLimit: boolean | null; readonly inputs: Record<string, unknown> };
  readonly size?: { readonly value: number; readonly partial: boolean; readonly inputs: Record<string, unknown> };
  readonly ci?: { readonly low: number; readonly high: number; readonly halfWidthBps: number; readonly inputs: Record<string, unknown> };
  readonly impact?: { readonly bps: number; readonly cost: number; readonly inputs: Record<string, unknown> };
  readonly hedge?: { readonly option: string; readonly side: Side | null; readonly residualNotional: number; readonly expectedCostBps: number; readonly riskBps: number; readonly horizonSec: number; readonly reason: string; readonly inputs: Record<string, unknown> };
  readonly axe?: { readonly withAxe: boolean; readonly label: 'with' | 'against'; readonly inputs: Record<string, unknown> };
  readonly client: ClientContext;
  readonly pnl?: { readonly spread: number; readonly hedgeCost: number; readonly inventoryRiskBefore: number; readonly inventoryRiskAfter: number; readonly inventoryRiskChange: number; readonly expectedAtMarkout: number; readonly inputs: Record<string, unknown> };
  readonly win?: { readonly model: 'prior' | 'fitted'; readonly a: number; readonly b: number; readonly n: number; readonly atRecommended: number; readonly points: readonly WinPoint[]; readonly inputs: Record<string, unknown> };
  readonly scenarios?: { readonly sigmaBps: number; readonly horizonSec: number; readonly rows: readonly ScenarioRow[]; readonly inputs: Record<string, unknown> };
}

const r6 = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(6)) : x);

// ── pieces, exported for tests ──────────────────────────────────────────────────────────────

/** The desk's signed quantity for a client trade: the desk sells what the client buys. */
export function deskQty(side: Side, size: number): number {
  return side === 'buy' ? -size : size;
}

/** Distance of `price` from `mid` in bps, worse for the client > 0. */
export function distanceBps(side: Side, price: number, mid: number): number {
  return side === 'buy' ? ((price - mid) / mid) * 1e4 : ((mid - price) / mid) * 1e4;
}

/** The price at distance d from mid, on the tick grid, rounded away from the client (never better than d). */
export function priceAt(side: Side, d: number, mid: number, tick: number): number {
  const raw = side === 'buy' ? mid * (1 + d / 1e4) : mid * (1 - d / 1e4);
  const n = side === 'buy' ? Math.ceil(raw / tick - 1e-9) : Math.floor(raw / tick + 1e-9);
  return Number((n * tick).toPrecision(12));
}

/** Trading with the axe: the trade shrinks the desk's inventory, or goes the side the CRM desk axe wants. */
export function axeRelation(positionBefore: number, dq: number, deskAxe: { side: Side } | null): { withAxe: boolean; reduces: boolean; matchesDeskAxe: boolean } {
  const reduces = Math.abs(positionBefore + dq) < Math.abs(positionBefore);
  const deskSide: Side = dq > 0 ? 'buy' : 'sell';
  const matchesDeskAxe = deskAxe !== null && deskAxe.side === deskSide;
  return { withAxe: reduces || matchesDeskAxe, reduces, matchesDeskAxe };
}

/** The hedge horizon of an option, seconds: how long the price risk of the position is carried. */
export function horizonOf(choice: string, ins: HedgeInstrument, h: HedgingConfig): number {
  const l = h.liquidity[ins.liquidityClass];
  switch (choice) {
    case 'paced': return l.pacedHorizonSec;
    case 'hold': return l.holdHorizonSec;
    case 'proxy': return Math.min(h.proxy.horizonSec, l.holdHorizonSec);
    default: return h.immediate.linearExecutionSec;
  }
}

/** Expected cost of laying off `pos` with its chosen option, currency (0 when nothing to hedge). */
function hedgeCostCcy(d: HedgeDecision): number {
  if (d.choice === 'none') return 0;
  const o = d.options[d.choice];
  return (Math.abs(d.residualNotional) * o.expectedCostBps) / 1e4;
}
function riskPenaltyCcy(d: HedgeDecision): number {
  if (d.choice === 'none') return 0;
  const o = d.options[d.choice];
  return (Math.abs(d.residualNotional) * o.riskPenaltyBps) / 1e4;
}

/**
 * Logistic win model fitted by Newton's method with a ridge towards the prior (a₀, b₀): minimises
 * Σ logloss(yᵢ, σ(a + b·dᵢ)) + ½w·((a − a₀)² + (b − b₀)²). Fewer than `minHistory` outcomes: the
 * prior alone. b is kept ≤ −10⁻³ so the probability always falls as the price gets worse.
 */
/** The prior (a₀, b₀) for a tier half-spread of `halfBps`: P(halfBps) = priorWinAtHalf, log-odds −slope per further half-spread. */
export function winPrior(p: ModelParams['winModel'], halfBps: number): { a: number; b: number } {
  const h = halfBps > 0.1 ? halfBps : 0.1;
  const logit = Math.log(p.priorWinAtHalf / (1 - p.priorWinAtHalf));
  return { a: logit + p.priorSlopePerHalf, b: -p.priorSlopePerHalf / h };
}

export function fitWinModel(history: readonly PastQuote[], p: ModelParams['winModel'], prior: { a: number; b: number }): { model: 'prior' | 'fitted'; a: number; b: number; n: number } {
  const n = history.length;
  if (n < p.minHistory) return { model: 'prior', a: prior.a, b: Math.min(prior.b, -1e-3), n };
  let a = prior.a;
  let b = prior.b;
  const w = p.priorWeight;
  for (let it = 0; it < 30; it++) {
    let ga = w * (a - prior.a);
    let gb = w * (b - prior.b);
    let haa = w, hab = 0, hbb = w;
    for (const h of history) {
      const d = h.distanceBps;
      if (!Number.isFinite(d)) continue;
      const q = 1 / (1 + Math.exp(-(a + b * d)));
      const e = q - (h.won ? 1 : 0);
      ga += e;
      gb += e * d;
      const v = q * (1 - q);
      haa += v;
      hab += v * d;
      hbb += v * d * d;
    }
    const det = haa * hbb - hab * hab;
    if (!(Math.abs(det) > 1e-12)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    a -= da;
    b -= db;
    if (Math.abs(da) + Math.abs(db) < 1e-9) break;
  }
  if (!Number.isFinite(a) || !Number.isFinite(b)) return { model: 'prior', a: prior.a, b: Math.min(prior.b, -1e-3), n };
  return { model: 'fitted', a, b: Math.min(b, -1e-3), n };
}

export function winProbability(a: number, b: number, d: number): number {
  return 1 / (1 + Math.exp(-(a + b * d)));
}

/**
 * Confidence interval half-width, bps: z·√(σ²T + D² + P²).
 *  σ²T  price variance over the hedge horizon T (σ = max(fast, slow) vol, bps/√s)
 *  D    venue dispersion: the larger of the composite half-spread and the stdev of venue mids
 *  P    parameter uncertainty: the vol estimate's (relative u = max(floor, |fast − slow| / σ)) on σ√T,
 *       and the hedge cost estimate's (hedgeCostUncertainty × |hedge cost bps|)
 */
export function ciHalfWidthBps(o: { z: number; volFast: number; volSlow: number; horizonSec: number; halfSpreadBps: number; venueMidStdBps: number; volUncFloor: number; hedgeCostBps: number; hedgeCostUnc: number }): { hw: number; volTermBps: number; dispersionBps: number; paramBps: number; volUnc: number } {
  const sigma = Math.max(o.volFast, o.volSlow);
  const volTermBps = sigma * Math.sqrt(o.horizonSec);
  const dispersionBps = Math.max(o.halfSpreadBps, Number.isFinite(o.venueMidStdBps) ? o.venueMidStdBps : 0);
  const volUnc = Math.max(o.volUncFloor, sigma > 0 ? Math.abs(o.volFast - o.volSlow) / sigma : 0);
  const paramBps = Math.hypot(volUnc * volTermBps, o.hedgeCostUnc * Math.abs(o.hedgeCostBps));
  const hw = o.z * Math.sqrt(volTermBps * volTermBps + dispersionBps * dispersionBps + paramBps * paramBps);
  return { hw, volTermBps, dispersionBps, paramBps, volUnc };
}

// ── the recommendation ──────────────────────────────────────────────────────────────────────

export function recommend(x: CopilotInput): Recommendation {
  const { rfq, instrument: ins, market: mk, params: P, hedging: H } = x;
  const head = { rfqId: rfq.rfqId, clientId: rfq.clientId, i: rfq.instrument, side: rfq.side, requestedSize: rfq.size, computedMs: x.nowMs, client: x.client };
  const mid = mk.mid;
  if (!(mid > 0) || !Number.isFinite(mid)) return { ...head, ok: false, why: 'no composite mid: price by hand' };

  // size: all of it, unless above the per-recommendation cap (or, when oversize, the client's own limit)
  let cap = Math.min(P.maxClips * ins.clipNotional, ins.maxSize);
  if (rfq.reason === 'oversize' && x.client.maxSize !== null && x.client.maxSize > 0) cap = Math.min(cap, x.client.maxSize);
  let size = rfq.size;
  if (size > cap) size = Math.floor(cap / ins.lotSize + 1e-9) * ins.lotSize;
  if (size < ins.minSize) size = Math.min(rfq.size, ins.minSize);
  size = Number(size.toPrecision(12));
  const partial = size < rfq.size;

  const dq = deskQty(rfq.side, size);
  const before = x.positionNotional;
  const after = before + dq;
  const hm: HedgeMarket = { mid, volBpsPerSqrtSec: Math.max(mk.volFastBps, mk.volSlowBps), halfSpreadBps: mk.halfSpreadBps, firm: mk.firm };
  const decide = (pos: number) => chooseHedge({ instrument: ins, market: hm, positionNotional: pos, flow: x.flow, proxy: x.proxy, params: H });
  const hBefore = decide(before);
  const hAfter = decide(after);
  const dCost = hedgeCostCcy(hAfter) - hedgeCostCcy(hBefore);
  const dRisk = riskPenaltyCcy(hAfter) - riskPenaltyCcy(hBefore);
  const hedgeBps = (dCost / size) * 1e4;
  const riskBps = (dRisk / size) * 1e4;

  const axe = axeRelation(before, dq, x.deskAxe);
  const axeBps = axe.matchesDeskAxe ? P.axeImproveBps : 0;
  const baseHalf = (ins.baseSpreadBps / 2) * ins.tierSpreadMult;
  const floor = Math.max(ins.minHalfSpreadBps, 0);
  const rawHalf = baseHalf + hedgeBps + riskBps - axeBps - x.client.shadingBps;
  const half = Math.min(Math.max(floor, rawHalf), ins.collarBps);
  let price = priceAt(rfq.side, half, mid, ins.tickSize);
  // the collar is absolute: a price rounded out of it steps back one tick
  if (Math.abs(distanceBps(rfq.side, price, mid)) > ins.collarBps) price = Number(((rfq.side === 'buy' ? price - ins.tickSize : price + ins.tickSize)).toPrecision(12));
  let axeApplied = false;
  if (x.shownAxe !== null && x.shownAxe.validUntil >= x.nowMs) {
    const better = rfq.side === 'buy' ? x.shownAxe.price < price : x.shownAxe.price > price;
    if (better && Math.abs(distanceBps(rfq.side, x.shownAxe.price, mid)) <= ins.collarBps) {
      price = x.shownAxe.price;
      axeApplied = true;
    }
  }
  const d = distanceBps(rfq.side, price, mid);
  const withinLimit = rfq.limit === null ? null : rfq.side === 'buy' ? price <= rfq.limit : price >= rfq.limit;

  const horizonSec = horizonOf(hAfter.choice, ins, H);
  const ci = ciHalfWidthBps({
    z: P.ciZ, volFast: mk.volFastBps, volSlow: mk.volSlowBps, horizonSec, halfSpreadBps: mk.halfSpreadBps, venueMidStdBps: mk.venueMidStdBps,
    volUncFloor: P.volParamUncertainty, hedgeCostBps: hedgeBps, hedgeCostUnc: P.hedgeCostUncertainty,
  });
  const ciLow = price * (1 - ci.hw / 1e4);
  const ciHigh = price * (1 + ci.hw / 1e4);

  const X = size / ins.clipNotional;
  const impactBps = immediateImpactBps(X, ins, hm, H);
  const chosen = hAfter.choice === 'none' ? null : hAfter.options[hAfter.choice];

  const sigma = hm.volBpsPerSqrtSec;
  const sigmaT = sigma * Math.sqrt(horizonSec);
  const spread = (size * d) / 1e4;
  const riskBefore = (Math.abs(before) * sigmaT) / 1e4;
  const riskAfter = (Math.abs(after) * sigmaT) / 1e4;
  const mo = x.client.markoutBps ?? 0;
  const expectedAtMarkout = (size * (d + mo)) / 1e4;

  const prior = winPrior(P.winModel, baseHalf);
  const wm = fitWinModel(x.history, P.winModel, prior);
  const step = Math.max(0.5, half / 2);
  const points: WinPoint[] = [];
  for (let k = -2; k <= 2; k++) {
    const dk = d + k * step;
    const pk = priceAt(rfq.side, dk, mid, ins.tickSize);
    const dd = distanceBps(rfq.side, pk, mid);
    points.push({ price: pk, distanceBps: r6(dd), p: r6(winProbability(wm.a, wm.b, dd)) });
  }

  // what is left exposed while the hedge works: immediate none, paced about half on average
  // (linear run-down), hold all of it, proxy the basis √(1 − ρ²)
  const rho = x.proxy?.correlation ?? 0;
  const leftFrac = hAfter.choice === 'immediate' ? 0 : hAfter.choice === 'paced' ? 0.5 : hAfter.choice === 'proxy' ? Math.sqrt(Math.max(0, 1 - rho * rho)) : 1;
  const exposedHedged = hAfter.choice === 'none' ? after : hAfter.residualNotional * leftFrac + (after - hAfter.residualNotional);
  const totalHedgeCost = hedgeCostCcy(hAfter);
  const adverse = after >= 0 ? -1 : 1;
  const moves: Array<[ScenarioRow['name'], number]> = [['-3σ', -3 * sigmaT], ['-1σ', -sigmaT], ['+1σ', sigmaT], ['+3σ', 3 * sigmaT], ['stressed', adverse * 3 * P.stressVolMult * sigmaT]];
  const rows = moves.map(([name, m]) => ({
    name,
    moveBps: r6(m),
    pnlUnhedged: r6((after * m) / 1e4 + spread),
    pnlHedged: r6((exposedHedged * m) / 1e4 + spread - totalHedgeCost),
  }));

  return {
    ...head,
    ok: true,
    price: {
      value: price, halfSpreadBps: r6(half), distanceBps: r6(d), withinLimit,
      inputs: {
        mid, baseHalfBps: r6(baseHalf), tierSpreadMult: ins.tierSpreadMult, hedgeCostBps: r6(hedgeBps), riskPenaltyBps: r6(riskBps), axeBps: axeBps,
        shadingBps: x.client.shadingBps, floorBps: floor, collarBps: ins.collarBps, tickSize: ins.tickSize, shownAxePrice: x.shownAxe?.price ?? null, axeApplied, limit: rfq.limit,
      },
    },
    size: { value: size, partial, inputs: { requested: rfq.size, capNotional: cap, maxClips: P.maxClips, clipNotional: ins.clipNotional, lotSize: ins.lotSize, clientMaxSize: x.client.maxSize, reason: rfq.reason } },
    ci: {
      low: r6(ciLow), high: r6(ciHigh), halfWidthBps: r6(ci.hw),
      inputs: { z: P.ciZ, volFastBps: mk.volFastBps, volSlowBps: mk.volSlowBps, horizonSec, volTermBps: r6(ci.volTermBps), dispersionBps: r6(ci.dispersionBps), halfSpreadBps: mk.halfSpreadBps, venueMidStdBps: Number.isFinite(mk.venueMidStdBps) ? r6(mk.venueMidStdBps) : null, paramBps: r6(ci.paramBps), volUncertainty: r6(ci.volUnc), hedgeCostUncertainty: P.hedgeCostUncertainty },
    },
    impact: { bps: r6(impactBps), cost: r6((size * impactBps) / 1e4), inputs: { clips: r6(X), clipNotional: ins.clipNotional, halfSpreadBps: mk.halfSpreadBps, impactCoef: ins.impactCoef, law: H.immediate.impactModel } },
    hedge: {
      option: hAfter.choice, side: hAfter.hedgeSide, residualNotional: hAfter.residualNotional, expectedCostBps: chosen ? r6(chosen.expectedCostBps) : 0, riskBps: chosen ? r6(chosen.riskBps) : 0, horizonSec, reason: hAfter.reasonText,
      inputs: { positionBefore: before, positionAfter: after, volBpsPerSqrtSec: sigma, halfSpreadBps: mk.halfSpreadBps, firm: mk.firm, flow: x.flow, proxy: x.proxy?.instrument.id ?? null, optionBefore: hBefore.choice },
    },
    axe: { withAxe: axe.withAxe, label: axe.withAxe ? 'with' : 'against', inputs: { positionBefore: before, positionAfter: after, deskQty: dq, reducesInventory: axe.reduces, deskAxe: x.deskAxe, matchesDeskAxe: axe.matchesDeskAxe } },
    pnl: {
      spread: r6(spread), hedgeCost: r6(dCost), inventoryRiskBefore: r6(riskBefore), inventoryRiskAfter: r6(riskAfter), inventoryRiskChange: r6(riskAfter - riskBefore), expectedAtMarkout: r6(expectedAtMarkout),
      inputs: { size, distanceBps: r6(d), sigmaBpsPerSqrtSec: sigma, horizonSec, clientMarkoutBps: x.client.markoutBps, hedgeCostBefore: r6(hedgeCostCcy(hBefore)), hedgeCostAfter: r6(hedgeCostCcy(hAfter)) },
    },
    win: { model: wm.model, a: r6(wm.a), b: r6(wm.b), n: wm.n, atRecommended: r6(winProbability(wm.a, wm.b, d)), points, inputs: { priorA: r6(prior.a), priorB: r6(prior.b), tierHalfSpreadBps: r6(baseHalf), priorWinAtHalf: P.winModel.priorWinAtHalf, priorSlopePerHalf: P.winModel.priorSlopePerHalf, minHistory: P.winModel.minHistory, priorWeight: P.winModel.priorWeight, stepBps: r6(step) } },
    scenarios: { sigmaBps: r6(sigmaT), horizonSec, rows, inputs: { positionAfter: after, exposedWithHedge: r6(exposedHedged), hedgeOption: hAfter.choice, hedgeCostTotal: r6(totalHedgeCost), spreadPnl: r6(spread), stressVolMult: P.stressVolMult, regime: rfq.regime } },
  };
}
