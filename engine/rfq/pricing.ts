/**
 * Firm prices for a requested size, from the same pure kernel that prices the streams
 * (pricing/ladder.ts `priceInstrument`), the same market inputs and the same final gate. So an
 * RFQ is never priced tighter than the client's own stream, except by its CRM agreement.
 *
 *   size → the smallest band of the client's tier ladder with band ≥ size (choose band, never
 *          interpolate down: a 3M request is priced as the 5M band). No band ≥ size → null
 *          (the RFQ goes to a trader as oversize).
 *   shading: the agreement's bps come off both sides, but never closer than half the minimum
 *          spread to the centre; prices are re-rounded in the desk's favour (bid down, ask up).
 *   gate: gateLevel() on the shaded level: crossed, too tight, outside the collar → null.
 */
import type { Config, InstrumentConfig } from '../config.js';
import type { ClientRecord } from '../crm/types.js';
import { gateLevel, GateResult } from '../pricing/gate.js';
import {
  buildPricingParams, priceInstrument, type PricingParams,
  G_BANDMULT, IN_CHALF, IN_IID, IN_IMB, IN_MID, IN_POS, IN_STRIDE, IN_VOLF, IN_VOLS,
  O_BD, O_LEVELS, O_NLEV, O_TIER_STRIDE, OUT_STRIDE, S_BASE_HALF, S_CLIP, S_HEDGE, S_IMPACT, S_STRIDE, T_MULT, T_STRIDE,
} from '../pricing/ladder.js';
import { SizeCheck, type Breakdown, type Side } from './types.js';

export interface MarketInputs {
  readonly mid: number;
  readonly volFastBps: number;
  readonly volSlowBps: number;
  readonly position: number;
  readonly imbalance: number;
  readonly compHalfSpreadBps: number;
}

export interface FirmPrice {
  readonly price: number;
  readonly mid: number;
  /** the band the price was taken from */
  readonly bandSize: number;
  readonly bid: number;
  readonly ask: number;
  readonly bd: Breakdown;
}

export function floorTick(x: number, tick: number): number {
  const perUnit = 1 / tick;
  const k = Math.floor(x / tick + 1e-9);
  return Math.abs(perUnit - Math.round(perUnit)) < 1e-9 * perUnit ? k / Math.round(perUnit) : k * tick;
}

export function ceilTick(x: number, tick: number): number {
  const perUnit = 1 / tick;
  const k = Math.ceil(x / tick - 1e-9);
  return Math.abs(perUnit - Math.round(perUnit)) < 1e-9 * perUnit ? k / Math.round(perUnit) : k * tick;
}

export function onTick(price: number, tick: number): boolean {
  const r = price / tick;
  return Math.abs(r - Math.round(r)) <= 1e-9 * Math.max(1, Math.abs(r));
}

function offLot(size: number, lot: number): boolean {
  const r = size / lot;
  return Math.abs(r - Math.round(r)) > 1e-9 * Math.max(1, Math.abs(r));
}

/**
 * R2: NaN, ±Infinity, −0, 0, negatives, 1e308, off-lot and below-minimum sizes are BAD; above the
 * instrument's maxSize is OVER_HARD (refused); above `limit` (CRM and tier) is OVER_LIMIT.
 */
export function checkSize(size: number, ins: InstrumentConfig, limit: number): SizeCheck {
  if (typeof size !== 'number' || !Number.isFinite(size) || !(size > 0) || size < ins.minSize) return SizeCheck.BAD;
  if (size > ins.maxSize) return SizeCheck.OVER_HARD;
  if (offLot(size, ins.lotSize)) return SizeCheck.BAD;
  if (size > limit) return SizeCheck.OVER_LIMIT;
  return SizeCheck.OK;
}

/** The client's automatic size limit: the smallest of CRM maxOrderSize, CRM instrumentMaxSize and the tier's maxSize. */
export function sizeLimit(rec: ClientRecord | undefined, ins: InstrumentConfig, tierMaxSize: number): number {
  let limit = tierMaxSize;
  if (rec !== undefined) {
    limit = Math.min(limit, rec.maxOrderSize);
    const per = rec.instrumentMaxSize[ins.id];
    if (per !== undefined) limit = Math.min(limit, per);
  }
  return limit;
}

/** Agreement shading (bps): the largest agreement naming the instrument, else the largest naming its asset class. */
export function shadingBps(rec: ClientRecord | undefined, ins: InstrumentConfig): number {
  if (rec === undefined) return 0;
  let byInstrument = -1;
  let byClass = 0;
  for (const a of rec.agreements) {
    if (a.instrument === ins.id) byInstrument = Math.max(byInstrument, a.shadingBps);
    else if (a.instrument === undefined && a.assetClass === ins.assetClass) byClass = Math.max(byClass, a.shadingBps);
  }
  return byInstrument >= 0 ? byInstrument : byClass;
}

export class FirmPricer {
  private readonly params: PricingParams;
  private readonly input = new Float64Array(IN_STRIDE);
  private readonly out = new Float64Array(OUT_STRIDE);

  constructor(private readonly config: Config) {
    this.params = buildPricingParams(config);
  }

  /** A firm price for (tier, side, size) or null; pure given its inputs (scratch buffers are private). */
  price(iid: number, tier: 1 | 2 | 3, side: Side, size: number, m: MarketInputs, shadeBps: number): FirmPrice | null {
    const ins = this.config.instruments[iid];
    const inp = this.input;
    inp[IN_IID] = iid;
    inp[IN_MID] = m.mid;
    inp[IN_VOLF] = m.volFastBps;
    inp[IN_VOLS] = m.volSlowBps;
    inp[IN_POS] = m.position;
    inp[IN_IMB] = m.imbalance;
    inp[IN_CHALF] = m.compHalfSpreadBps;
    priceInstrument(this.params, inp, 0, this.out, 0);
    const t = tier - 1;
    const to = t * O_TIER_STRIDE;
    const n = this.out[to + O_NLEV];
    let j = -1;
    for (let k = 0; k < n; k++) {
      if (this.out[to + O_LEVELS + 3 * k] >= size) {
        j = k;
        break;
      }
    }
    if (j < 0) return null;
    const lo = to + O_LEVELS + 3 * j;
    const bandSize = this.out[lo];
    let bid = this.out[lo + 1];
    let ask = this.out[lo + 2];
    const mid = m.mid;
    const tick = ins.tickSize;
    const minSpreadPx = Math.max(tick, (this.config.pricing.minSpreadBps * mid) / 1e4);
    if (shadeBps > 0) {
      const sh = (shadeBps * mid) / 1e4;
      const centre = (bid + ask) / 2;
      bid = floorTick(Math.min(bid + sh, centre - minSpreadPx / 2), tick);
      ask = ceilTick(Math.max(ask - sh, centre + minSpreadPx / 2), tick);
    }
    const tierCfg = this.config.tiers[String(tier) as '1' | '2' | '3'];
    const collar = ins.collarBps ?? this.config.pricing.collarBps;
    const g = gateLevel(mid, bandSize, bid, ask, this.config.pricing.minSpreadBps, collar, Math.min(tierCfg.maxSize, ins.maxSize), ins.minSize);
    if (g !== GateResult.OK) return null;
    const { table, tiers, global } = this.params;
    const so = iid * S_STRIDE;
    const clip = table[so + S_CLIP];
    const base = table[so + S_BASE_HALF] * tiers[t * T_STRIDE + T_MULT] * global[G_BANDMULT + j];
    const hedge = table[so + S_HEDGE] * (1 + table[so + S_IMPACT] * (Math.sqrt(bandSize / clip) - 1));
    const price = side === 'buy' ? ask : bid;
    const unshaded = side === 'buy' ? this.out[lo + 2] : this.out[lo + 1];
    const shadingApplied = (Math.abs(unshaded - price) / mid) * 1e4;
    const bd: Breakdown = [base, this.out[to + O_BD + 1], hedge, this.out[to + O_BD + 3], this.out[to + O_BD + 4], shadingApplied];
    return { price, mid, bandSize, bid, ask, bd };
  }
}
