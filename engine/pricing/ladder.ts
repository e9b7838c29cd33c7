/**
 * The pricing kernel: pure functions over flat Float64Arrays, shared by the piscina worker
 * (workers/pricer.ts) and anything that wants to price inline (tests, perf, the RFQ path).
 * It imports nothing that does I/O. docs/pricing.md has the model; the symbols match it.
 *
 * For instrument i, tier k, size band j (all in bps of the composite mid S):
 *
 *   σ        = max(σ_fast, σ_slow)                                   bps/√s
 *   half     = (base/2)·m_k·b_j  +  c_vol·σ·√τ  +  h·(1 + η·(√(size_j/clip) − 1))
 *   ω        = σ · √( γ/(2κA) · (1 + γ/κ)^(1 + κ/γ) )                GLFT, bps per clip
 *   skew     = −clamp(q·ω, ±maxSkew),  q = position / clip
 *   signal_k = w_k · imbalance · compositeHalfSpread                  (Tier 2 microprice shading)
 *   bid      = floor_tick( S·(1 + (skew + signal_k − half)/1e4) )
 *   ask      =  ceil_tick( S·(1 + (skew + signal_k + half)/1e4) )
 *
 * then the ladder is made monotone after rounding: within a tier the spread never narrows as
 * size grows, and across tiers Tier 1 ≤ Tier 2 ≤ Tier 3 in every band (a rounding tick can
 * otherwise invert them). The *final gate* (gate.ts) runs on the main thread on the result;
 * this kernel is not trusted to be right.
 */
import type { Config } from '../config.js';

export const MAX_BANDS = 8;
export const N_TIERS = 3;

// ── static per-instrument table ─────────────────────────────────────────────────────────────
//  [ tick | baseHalfBps | hedgeBps | impact | clip | nBands | omegaCoef | maxSize | ticksPerUnit | band0..band7 ]
export const S_TICK = 0;
export const S_BASE_HALF = 1;
export const S_HEDGE = 2;
export const S_IMPACT = 3;
export const S_CLIP = 4;
export const S_NBANDS = 5;
export const S_OMEGA = 6;
export const S_MAXSIZE = 7;
/** 1/tick when that is a whole number (0.001 → 1000): k/1000 is the closest double to the price, k·0.001 often is not */
export const S_TICKS_PER_UNIT = 8;
export const S_BANDS = 9;
export const S_STRIDE = S_BANDS + MAX_BANDS;

// ── per-tier parameters ────────────────────────────────────────────────────────────────────
//  [ spreadMult | maxSize | maxBands | signalWeight ]
export const T_MULT = 0;
export const T_MAXSIZE = 1;
export const T_MAXBANDS = 2;
export const T_SIGNAL = 3;
export const T_STRIDE = 4;

// ── global parameters ──────────────────────────────────────────────────────────────────────
//  [ volCoef | √horizon | maxSkewBps | minSpreadBps | bandMult0..bandMult7 ]
export const G_VOLCOEF = 0;
export const G_SQRT_HORIZON = 1;
export const G_MAXSKEW = 2;
export const G_MINSPREAD = 3;
export const G_BANDMULT = 4;
export const G_STRIDE = G_BANDMULT + MAX_BANDS;

// ── one input row per instrument to price ──────────────────────────────────────────────────
//  [ iid | mid | σ_fast | σ_slow | position | imbalance | compHalfSpreadBps | spare ]
export const IN_IID = 0;
export const IN_MID = 1;
export const IN_VOLF = 2;
export const IN_VOLS = 3;
export const IN_POS = 4;
export const IN_IMB = 5;
export const IN_CHALF = 6;
export const IN_STRIDE = 8;

// ── one output row per instrument: N_TIERS blocks of ───────────────────────────────────────
//  [ nLevels | (size, bid, ask) × MAX_BANDS | base, vol, hedge, skew, signal ]
export const O_NLEV = 0;
export const O_LEVELS = 1;
export const O_BD = O_LEVELS + 3 * MAX_BANDS;
export const O_TIER_STRIDE = O_BD + 5;
export const OUT_STRIDE = N_TIERS * O_TIER_STRIDE;

export interface PricingParams {
  readonly table: Float64Array;
  readonly tiers: Float64Array;
  readonly global: Float64Array;
}

/** Built once at startup from validated config; structured-cloneable (workerData). */
export function buildPricingParams(config: Config): PricingParams {
  const n = config.instruments.length;
  const table = new Float64Array(n * S_STRIDE);
  const gamma = config.pricing.gamma;
  config.instruments.forEach((ins, i) => {
    const o = i * S_STRIDE;
    const liq = config.liquidity[ins.liquidityClass];
    const k = liq.kappaPerBp;
    table[o + S_TICK] = ins.tickSize;
    table[o + S_BASE_HALF] = ins.baseSpreadBps / 2;
    table[o + S_HEDGE] = ins.hedgeCostBps;
    table[o + S_IMPACT] = liq.impactCoef;
    table[o + S_CLIP] = ins.sizeBands[0];
    table[o + S_NBANDS] = ins.sizeBands.length;
    table[o + S_OMEGA] = Math.sqrt((gamma / (2 * k * liq.arrivalA)) * Math.pow(1 + gamma / k, 1 + k / gamma));
    table[o + S_MAXSIZE] = ins.maxSize;
    const perUnit = 1 / ins.tickSize;
    table[o + S_TICKS_PER_UNIT] = Math.abs(perUnit - Math.round(perUnit)) < 1e-9 * perUnit ? Math.round(perUnit) : 0;
    ins.sizeBands.forEach((s, j) => (table[o + S_BANDS + j] = s));
  });
  const tiers = new Float64Array(N_TIERS * T_STRIDE);
  for (let t = 0; t < N_TIERS; t++) {
    const tc = config.tiers[String(t + 1) as '1' | '2' | '3'];
    tiers[t * T_STRIDE + T_MULT] = tc.spreadMult;
    tiers[t * T_STRIDE + T_MAXSIZE] = tc.maxSize;
    tiers[t * T_STRIDE + T_MAXBANDS] = tc.maxBands;
    tiers[t * T_STRIDE + T_SIGNAL] = tc.signalWeight;
  }
  const global = new Float64Array(G_STRIDE);
  global[G_VOLCOEF] = config.pricing.volCoef;
  global[G_SQRT_HORIZON] = Math.sqrt(config.pricing.volHorizonSec);
  global[G_MAXSKEW] = config.pricing.maxSkewBps;
  global[G_MINSPREAD] = config.pricing.minSpreadBps;
  const bm = config.pricing.bandSpreadMults;
  for (let j = 0; j < MAX_BANDS; j++) global[G_BANDMULT + j] = bm[Math.min(j, bm.length - 1)];
  return { table, tiers, global };
}

/**
 * Prices one instrument for every tier into `out` at `oo` (OUT_STRIDE values). Fail closed: a
 * mid that is not a finite positive number, or a non-finite σ/position/imbalance, yields zero
 * levels for every tier. Sizes beyond the tier's maxSize, the instrument's maxSize or the tier's
 * band count are not quoted.
 */
export function priceInstrument(p: PricingParams, input: Float64Array, io: number, out: Float64Array, oo: number): void {
  const { table, tiers, global } = p;
  const iid = input[io + IN_IID];
  const mid = input[io + IN_MID];
  const volF = input[io + IN_VOLF];
  const volS = input[io + IN_VOLS];
  const pos = input[io + IN_POS];
  const imb = input[io + IN_IMB];
  const cHalf = input[io + IN_CHALF];
  const so = iid * S_STRIDE;
  let valid = mid > 0 && Number.isFinite(mid) && Number.isFinite(volF) && Number.isFinite(volS) && Number.isFinite(pos) && so >= 0 && so < table.length;
  const sigma = volF > volS ? volF : volS;
  if (!(sigma >= 0)) valid = false;
  if (!valid) {
    for (let t = 0; t < N_TIERS; t++) out[oo + t * O_TIER_STRIDE + O_NLEV] = 0;
    return;
  }
  const tick = table[so + S_TICK];
  const perUnit = table[so + S_TICKS_PER_UNIT];
  const clip = table[so + S_CLIP];
  const nBands = table[so + S_NBANDS];
  const instMax = table[so + S_MAXSIZE];
  const hedge = table[so + S_HEDGE];
  const impact = table[so + S_IMPACT];
  const volHalf = global[G_VOLCOEF] * sigma * global[G_SQRT_HORIZON];
  const maxSkew = global[G_MAXSKEW];
  let skew = -(pos / clip) * sigma * table[so + S_OMEGA];
  if (skew > maxSkew) skew = maxSkew;
  else if (skew < -maxSkew) skew = -maxSkew;
  const imbalance = Number.isFinite(imb) ? (imb > 1 ? 1 : imb < -1 ? -1 : imb) : 0;
  const compHalf = Number.isFinite(cHalf) && cHalf > 0 ? cHalf : 0;
  const minSpreadPx = Math.max(tick, (global[G_MINSPREAD] * mid) / 1e4);

  for (let t = 0; t < N_TIERS; t++) {
    const to = oo + t * O_TIER_STRIDE;
    const tp = t * T_STRIDE;
    const tierMax = tiers[tp + T_MAXSIZE];
    const maxBands = Math.min(tiers[tp + T_MAXBANDS], nBands);
    const signal = tiers[tp + T_SIGNAL] * imbalance * compHalf;
    const center = skew + signal;
    const baseHalf = table[so + S_BASE_HALF] * tiers[tp + T_MULT];
    let n = 0;
    let prevSpread = 0;
    for (let j = 0; j < maxBands; j++) {
      const size = table[so + S_BANDS + j];
      if (size > tierMax || size > instMax) break;
      const hedgeHalf = hedge * (1 + impact * (Math.sqrt(size / clip) - 1));
      const half = baseHalf * global[G_BANDMULT + j] + volHalf + hedgeHalf;
      let bid = Math.floor((mid * (1 + (center - half) / 1e4)) / tick) * tick;
      let ask = Math.ceil((mid * (1 + (center + half) / 1e4)) / tick) * tick;
      // monotone in size within the tier, and at least the minimum spread
      let need = Math.max(minSpreadPx, prevSpread);
      // monotone across tiers: never tighter than the previous (better) tier's same band
      if (t > 0 && j < out[to - O_TIER_STRIDE + O_NLEV]) {
        const po = to - O_TIER_STRIDE + O_LEVELS + 3 * j;
        need = Math.max(need, out[po + 2] - out[po + 1]);
      }
      if (ask - bid < need - tick * 1e-9) ask = bid + Math.ceil((need - 1e-9 * tick) / tick) * tick;
      if (perUnit > 0) {
        bid = Math.round(bid * perUnit) / perUnit;
        ask = Math.round(ask * perUnit) / perUnit;
      }
      const lo = to + O_LEVELS + 3 * n;
      out[lo] = size;
      out[lo + 1] = bid;
      out[lo + 2] = ask;
      prevSpread = ask - bid;
      if (j === 0) {
        out[to + O_BD] = baseHalf;
        out[to + O_BD + 1] = volHalf;
        out[to + O_BD + 2] = hedgeHalf;
        out[to + O_BD + 3] = skew;
        out[to + O_BD + 4] = signal;
      }
      n++;
    }
    out[to + O_NLEV] = n;
  }
}

/** Prices `count` rows of `input` into `out`; the worker's whole job. */
export function priceBatch(p: PricingParams, input: Float64Array, count: number, out: Float64Array): void {
  for (let r = 0; r < count; r++) priceInstrument(p, input, r * IN_STRIDE, out, r * OUT_STRIDE);
}
