/**
 * Pre-trade risk controls (RELIABILITY R1, R2, R5; issue 6 §5): the RFQ service asks before it
 * answers an RFQ, sends a firm quote, or takes an accept / streamed trade.
 *
 *   checkRfq     loss limit → throttles (per client, overall) → order size / value → position → desk → balance sheet
 *   checkQuote   loss limit → collar → order size / value → position → desk → balance sheet
 *   checkAccept  as checkQuote (the price is the one about to trade)
 *
 * Each check is a pure read of the books except the throttles, which take a token when the RFQ
 * passes them. A breach returns a coded rejection, is counted and alerted (alerts.ts), and changes
 * nothing else: no inventory, credit or balance-sheet usage moves until the journal books a trade
 * (`onBooked`, which also runs for every replayed trade at start-up, so usage follows the journal).
 *
 * Limits that *grow* risk are enforced; a trade that brings a position, the desk or a tier's
 * balance sheet closer to flat is always allowed, even when the book is already beyond a limit
 * (a limit lowered intraday must not trap the desk in its position).
 *
 * Non-finite input fails closed: a NaN, ±Infinity or non-positive size is QE_RISK_ORDER_SIZE; a
 * NaN price is QE_RISK_COLLAR; a value that overflows (1e308 × price) is above any value limit.
 * Without a mid the collar cannot be measured: the RFQ service already refuses automatic prices and
 * accepts on a market that is not firm (R3), so only a trader's manual quote can get here, and it is
 * the human's call.
 */
import type { Config, Tier, Universe } from '../config.js';
import type { ClientDirectory } from '../crm/types.js';
import { ErrorCode } from '../errors.js';
import type { BreachCode, BreachReporter } from './alerts.js';
import type { RiskConfig, ValuationMode } from './config.js';
import type { PreTradeControls, PreTradeRejection, PreTradeRequest } from './ports.js';

/** Token bucket: `burst` tokens at most, refilled at `ratePerSec`. Time comes from the caller. */
export class TokenBucket {
  private tokens: number;
  private lastMs = NaN;
  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
  ) {
    this.tokens = burst;
  }
  private refill(nowMs: number): void {
    if (this.lastMs === this.lastMs && nowMs > this.lastMs) this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.lastMs) * this.ratePerSec) / 1000);
    if (!(nowMs < this.lastMs)) this.lastMs = nowMs;
  }
  /** whether a token is there now (refills, takes nothing) */
  available(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens >= 1;
  }
  take(nowMs: number): boolean {
    if (!this.available(nowMs)) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Size → value at a price, per the asset class's quoting convention (risk.valuation). */
export function unitValue(mode: ValuationMode, price: number): number {
  return mode === 'price' ? price : mode === 'percentOfPar' ? price / 100 : 1;
}

export interface ControlsDeps {
  readonly config: Config;
  readonly universe: Universe;
  /** desk position per instrument (Inventory.position: booked trades and hedges) */
  readonly position: Float64Array;
  /** composite mid per instrument (MarketState.mid) */
  readonly mid: Float64Array;
  readonly directory?: ClientDirectory;
  readonly reporter: BreachReporter;
}

export class Controls implements PreTradeControls {
  private readonly r: RiskConfig;
  private readonly n: number;
  private readonly clientBuckets = new Map<string, TokenBucket>();
  private readonly overall: TokenBucket;
  /** desk quantity attributed to each tier's trades: tierQty[(tier − 1) · n + iid] */
  private readonly tierQty: Float64Array;
  private readonly valuation: ValuationMode[];
  private readonly collarBps: Float64Array;
  private readonly maxPosition: Float64Array;
  /** set by the loss-limit monitor (loss.ts); cleared only by a human */
  lossBreached = false;

  constructor(private readonly d: ControlsDeps) {
    this.r = d.config.risk;
    const ins = d.config.instruments;
    this.n = ins.length;
    this.overall = new TokenBucket(this.r.throttle.overall.ratePerSec, this.r.throttle.overall.burst);
    this.tierQty = new Float64Array(3 * this.n);
    this.valuation = ins.map((i) => this.r.valuation[i.assetClass]);
    this.collarBps = Float64Array.from(ins, (i) => this.r.collar.bps ?? i.collarBps ?? d.config.pricing.collarBps);
    this.maxPosition = Float64Array.from(ins, (i) => this.r.orders.instruments[i.id]?.maxPosition ?? this.r.position.maxPositionMultiple * i.maxSize);
  }

  // ── PreTradeControls ─────────────────────────────────────────────────────────────────────────

  checkRfq(q: PreTradeRequest): PreTradeRejection | null {
    return this.loss(q) ?? this.throttle(q) ?? this.order(q, q.price ?? q.mid) ?? this.book(q);
  }

  checkQuote(q: PreTradeRequest): PreTradeRejection | null {
    return this.loss(q) ?? this.collar(q) ?? this.order(q, q.price!) ?? this.book(q);
  }

  checkAccept(q: PreTradeRequest): PreTradeRejection | null {
    return this.checkQuote(q);
  }

  onBooked(t: { clientId: string; tier: Tier; iid: number; deskQty: number; price: number; mid: number }, _replay: boolean): void {
    if (t.iid >= 0 && t.iid < this.n && Number.isFinite(t.deskQty) && (t.tier === 1 || t.tier === 2 || t.tier === 3)) this.tierQty[(t.tier - 1) * this.n + t.iid] += t.deskQty;
  }

  // ── balance sheet and funding ────────────────────────────────────────────────────────────────

  /** Σ |inventory attributed to `tier`'s trades| (notional). */
  balanceSheetUsage(tier: Tier): number {
    let s = 0;
    const o = (tier - 1) * this.n;
    for (let i = 0; i < this.n; i++) s += Math.abs(this.tierQty[o + i]);
    return s;
  }

  /** the tier's desk quantity in `iid` (tests, status) */
  tierPosition(tier: Tier, iid: number): number {
    return this.tierQty[(tier - 1) * this.n + iid];
  }

  /**
   * Funding cost of carrying the inventory a trade adds, in bps of its price, for the pricer:
   *
   *   cost = fundingRateBpsAnnual · (1 + utilizationSlope · u²) · holdDays / 365
   *   u    = usage after the trade / the tier's capacity   (0 when the tier has no capacity set)
   *
   * 0 for a trade that does not add to the tier's balance-sheet usage (it frees capacity). The
   * quadratic term makes the last of a scarce balance sheet dear, so a tier near its allocation
   * prices itself away from more inventory before the hard limit (QE_RISK_BALANCE_SHEET) bites.
   */
  fundingCostBps(iid: number, tier: Tier, deskQty: number): number {
    if (!(iid >= 0 && iid < this.n) || !Number.isFinite(deskQty)) return 0;
    const q = this.tierQty[(tier - 1) * this.n + iid];
    const grow = Math.abs(q + deskQty) - Math.abs(q);
    if (!(grow > 0)) return 0;
    const bs = this.r.balanceSheet;
    const cap = bs.capacity[String(tier) as '1' | '2' | '3'];
    const u = cap === null ? 0 : (this.balanceSheetUsage(tier) + grow) / cap;
    return (bs.fundingRateBpsAnnual * (1 + bs.utilizationSlope * u * u) * bs.holdDays) / 365;
  }

  // ── the checks ───────────────────────────────────────────────────────────────────────────────

  private reject(code: BreachCode & PreTradeRejection['code'], message: string, q: PreTradeRequest): PreTradeRejection {
    this.d.reporter.breach(code, message, { client: q.clientId, tier: q.tier, instrument: q.instrument, side: q.side, size: q.size, price: q.price ?? null, mid: q.mid }, q.nowMs);
    return { code, message };
  }

  private loss(q: PreTradeRequest): PreTradeRejection | null {
    return this.lossBreached ? this.reject(ErrorCode.RISK_LOSS_LIMIT, 'the daily loss limit is breached: trading is halted until a risk officer re-enables it', q) : null;
  }

  private throttle(q: PreTradeRequest): PreTradeRejection | null {
    let b = this.clientBuckets.get(q.clientId);
    if (b === undefined) this.clientBuckets.set(q.clientId, (b = new TokenBucket(this.r.throttle.perClient.ratePerSec, this.r.throttle.perClient.burst)));
    // both are checked before either is taken, so a refusal costs no token of the other bucket
    if (!b.available(q.nowMs)) return this.reject(ErrorCode.RISK_THROTTLED, `too many RFQs: at most ${this.r.throttle.perClient.ratePerSec}/s per client (burst ${this.r.throttle.perClient.burst})`, q);
    if (!this.overall.available(q.nowMs)) return this.reject(ErrorCode.RISK_THROTTLED, 'the desk is receiving too many RFQs: try again shortly', q);
    b.take(q.nowMs);
    this.overall.take(q.nowMs);
    return null;
  }

  private collar(q: PreTradeRequest): PreTradeRejection | null {
    const p = q.price;
    if (typeof p !== 'number' || !(p > 0) || !Number.isFinite(p)) return this.reject(ErrorCode.RISK_COLLAR, 'price must be a positive finite number', q);
    if (!(q.mid > 0 && Number.isFinite(q.mid))) return null;
    const bps = (Math.abs(p - q.mid) / q.mid) * 1e4;
    const lim = this.collarBps[q.iid];
    // a hair of tolerance: a price exactly on the collar, after float rounding, is inside it
    return bps > lim * (1 + 1e-9) ? this.reject(ErrorCode.RISK_COLLAR, `price ${p} is ${bps.toFixed(1)} bps from the mid ${q.mid}: collar ${lim} bps`, q) : null;
  }

  /** Max order size and value: the tightest of client (config, else CRM × crmHardMultiple), tier and instrument. */
  private order(q: PreTradeRequest, price: number): PreTradeRejection | null {
    const size = q.size;
    if (typeof size !== 'number' || !(size > 0) || !Number.isFinite(size)) return this.reject(ErrorCode.RISK_ORDER_SIZE, 'size must be a positive finite number', q);
    const o = this.r.orders;
    const ins = this.d.config.instruments[q.iid];
    const cl = o.clients[q.clientId];
    const tl = o.tiers[String(q.tier) as '1' | '2' | '3'];
    const il = o.instruments[ins.id];
    let maxSize = Infinity;
    let by = '';
    const cap = (v: number | null | undefined, who: string) => {
      if (v !== null && v !== undefined && v < maxSize) {
        maxSize = v;
        by = who;
      }
    };
    cap(cl?.maxOrderSize, 'client');
    if (cl?.maxOrderSize == null) {
      const rec = this.d.directory?.get(q.clientId);
      if (rec !== undefined) {
        if (rec.maxOrderSize > 0) cap(rec.maxOrderSize * o.crmHardMultiple, 'client (CRM)');
        const im = rec.instrumentMaxSize[ins.id];
        if (im !== undefined && im > 0) cap(im * o.crmHardMultiple, 'client instrument (CRM)');
      }
    }
    cap(tl?.maxOrderSize, `tier ${q.tier}`);
    cap(il?.maxOrderSize, 'instrument');
    if (size > maxSize) return this.reject(ErrorCode.RISK_ORDER_SIZE, `size ${size} above the ${by} limit ${maxSize}`, q);

    let maxValue = Infinity;
    let vby = '';
    for (const [v, who] of [[cl?.maxOrderValue, 'client'], [tl?.maxOrderValue, `tier ${q.tier}`], [il?.maxOrderValue, 'instrument']] as const) {
      if (v !== null && v !== undefined && v < maxValue) {
        maxValue = v;
        vby = who;
      }
    }
    if (maxValue === Infinity) return null;
    // at RFQ time the price is not known yet: valued at the mid; without a mid it waits for the quote
    if (!(price > 0)) return Number.isNaN(price) ? null : this.reject(ErrorCode.RISK_COLLAR, 'price must be a positive finite number', q);
    const value = size * unitValue(this.valuation[q.iid], price);
    return value > maxValue || !Number.isFinite(value) ? this.reject(ErrorCode.RISK_ORDER_VALUE, `value ${value} above the ${vby} limit ${maxValue}`, q) : null;
  }

  /** Position per instrument, desk-wide value, tier balance sheet: each counting the trade about to happen. */
  private book(q: PreTradeRequest): PreTradeRejection | null {
    const dq = q.side === 'buy' ? -q.size : q.size;
    const pos = this.d.position[q.iid];
    const after = pos + dq;
    const lim = this.maxPosition[q.iid];
    if (Math.abs(after) > lim && Math.abs(after) > Math.abs(pos)) {
      return this.reject(ErrorCode.RISK_POSITION_LIMIT, `the desk's position in ${q.instrument} would reach ${after}: limit ±${lim}`, q);
    }
    const deskMax = this.r.position.deskMaxValue;
    if (deskMax !== null) {
      let before = 0;
      let changed = 0;
      for (let i = 0; i < this.n; i++) {
        const v = this.valueAtMid(i);
        const x = Math.abs(this.d.position[i]) * v;
        before += x;
        if (i === q.iid) changed = Math.abs(after) * v - x;
      }
      const total = before + changed;
      if (total > deskMax && changed > 0) return this.reject(ErrorCode.RISK_DESK_LIMIT, `the desk's gross position would reach ${Math.round(total)}: limit ${deskMax}`, q);
    }
    const tier = String(q.tier) as '1' | '2' | '3';
    const capBs = this.r.balanceSheet.capacity[tier];
    if (capBs !== null && capBs !== undefined) {
      const t0 = this.tierQty[(q.tier - 1) * this.n + q.iid];
      const grow = Math.abs(t0 + dq) - Math.abs(t0);
      const usage = this.balanceSheetUsage(q.tier);
      if (grow > 0 && usage + grow > capBs) {
        return this.reject(ErrorCode.RISK_BALANCE_SHEET, `tier ${q.tier}'s balance sheet would reach ${usage + grow}: capacity ${capBs}`, q);
      }
    }
    return null;
  }

  /** the value of one unit of `iid` at its mid (the reference price while there is none) */
  private valueAtMid(iid: number): number {
    const m = this.d.mid[iid];
    return unitValue(this.valuation[iid], m > 0 && Number.isFinite(m) ? m : this.d.config.instruments[iid].refPrice);
  }
}
