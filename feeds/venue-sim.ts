/**
 * Synthetic venues that take orders: the other half of the seeded synthetic market. Each (instrument,
 * venue) stream of a `SyntheticMarket` becomes an order book the hedger can trade against over NATS
 * (protocol in engine/wire/venue.ts, documented in docs/hedging.md § Venue simulator).
 *
 * Book depth, built on demand from the venue's top of book (price P₀, size D₀, half-spread H bps):
 *
 *   level k   size  D_k = D₀ · decay^k · (depthMult in the sell-off)         k = 0 … levels−1
 *             price P_k = P₀ · (1 ± d(Q_k)/10⁴), Q_k = D₀ + … + D_{k−1}     (+ for asks, − for bids)
 *             d(Q)  = H · c · √(Q / clip)                                   square-root law, bps
 *
 *   price ▲ asks
 *     P₃  ─ ▇                      deeper levels are smaller and further away;
 *     P₂  ─ ▇▇                     a marketable order walks them (temporary impact)
 *     P₁  ─ ▇▇▇▇
 *     P₀  ─ ▇▇▇▇▇▇▇▇  touch
 *     ─────────────── mid
 *
 * c is the liquidity class's `impactCoef` from the engine config (the coefficient the pricer uses
 * for its hedge-cost term), so the world the hedger meets is the one the desk prices for.
 *
 * Liquidity taken is remembered per (stream, side) and refills exponentially (resilienceHalfLifeMs):
 * a second order straight after a first one walks a thinner book. After each execution of total
 * size Q the venue's prices move permanently by permanentFrac · d(Q) in the direction of the trade
 * (`SyntheticMarket.applyVenueImpact`), so later books on that venue, published or traded, carry it.
 *
 * Everything the core decides is synchronous and seeded; the NATS service adds latency: each venue
 * handles its messages in arrival order, each one after a seeded latency draw (floor + exponential).
 */
import type { Msg, NatsConnection, Subscription } from 'nats';
import { systemClock, type Clock } from '../engine/clock.js';
import type { Config, InstrumentConfig } from '../engine/config.js';
import { LIQUIDITY_CLASSES } from '../engine/config.js';
import { ConfigError, ErrorCode } from '../engine/errors.js';
import { encodeOwned } from '../engine/wire/codec.js';
import {
  DEFAULT_VENUE_PREFIX,
  MAX_REPLY_FILLS,
  makeVenueDecoder,
  parseVenueWire,
  venueCancelWireSchema,
  venueFillSubject,
  venueOrderWireSchema,
  type ExecutionWire,
  type OrderSide,
  type OrderType,
  type VenueFillWire,
  type VenueOrderStatus,
  type VenueReasonCode,
  type VenueReplyWire,
} from '../engine/wire/venue.js';
import { MarketPhase, Xoshiro128, type SyntheticMarket, type VenueBook } from './synthetic.js';

type LiquidityClass = (typeof LIQUIDITY_CLASSES)[number];

export interface VenueSimOptions {
  /** Seeds latency draws and random rejects (the market has its own seed). */
  readonly seed: number;
  /** Subject root: `<prefix>.<venue>.order|cancel|fill`. */
  readonly prefix: string;
  /** Depth levels per side, the touch included. */
  readonly levels: number;
  /** Size of level k = top size × depthDecay^k. */
  readonly depthDecay: number;
  /** Square-root impact coefficient per liquidity class; default the config's `liquidity.<class>.impactCoef`. */
  readonly impactCoef?: Partial<Record<LiquidityClass, number>>;
  /** Share of d(Q) that stays in the venue's prices after an execution. */
  readonly permanentFrac: number;
  /** Liquidity taken from a side refills with this half-life. */
  readonly resilienceHalfLifeMs: number;
  /** Venue latency per message: floor + exponential with this mean. */
  readonly latencyFloorMs: number;
  readonly latencyMeanMs: number;
  /** Probability that a valid order is refused with QE_VENUE_BUSY. */
  readonly rejectRate: number;
  /** Depth beyond the touch is multiplied by this during the stressed scenario's sell-off and dislocation. */
  readonly stressedDepthMult: number;
  /** Resting limit orders across all venues; more are refused (QE_VENUE_BUSY). */
  readonly maxWorkingOrders: number;
  /** Orders remembered for idempotency; the oldest finished ones are forgotten beyond this. */
  readonly maxRememberedOrders: number;
  /** How often resting limit orders are matched against the moving book. */
  readonly sweepMs: number;
}

export const DEFAULT_VENUE_SIM: VenueSimOptions = Object.freeze({
  seed: 1,
  prefix: DEFAULT_VENUE_PREFIX,
  levels: 5,
  depthDecay: 0.6,
  permanentFrac: 0.3,
  resilienceHalfLifeMs: 2_000,
  latencyFloorMs: 0.5,
  latencyMeanMs: 1.5,
  rejectRate: 0,
  stressedDepthMult: 0.5,
  maxWorkingOrders: 10_000,
  maxRememberedOrders: 100_000,
  sweepMs: 25,
});

function checkOptions(o: VenueSimOptions): void {
  const issues: string[] = [];
  if (!Number.isSafeInteger(o.seed)) issues.push('seed: must be a safe integer');
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(o.prefix)) issues.push('prefix: must be 1-32 characters of A-Z a-z 0-9 _ -');
  if (!(Number.isSafeInteger(o.levels) && o.levels >= 1 && o.levels <= 50)) issues.push('levels: must be an integer in [1, 50]');
  if (!(o.depthDecay > 0 && o.depthDecay <= 1)) issues.push('depthDecay: must be in (0, 1]');
  if (!(o.permanentFrac >= 0 && o.permanentFrac <= 1)) issues.push('permanentFrac: must be in [0, 1]');
  if (!(Number.isFinite(o.resilienceHalfLifeMs) && o.resilienceHalfLifeMs > 0)) issues.push('resilienceHalfLifeMs: must be positive');
  if (!(Number.isFinite(o.latencyFloorMs) && o.latencyFloorMs >= 0)) issues.push('latencyFloorMs: must be ≥ 0');
  if (!(Number.isFinite(o.latencyMeanMs) && o.latencyMeanMs >= 0)) issues.push('latencyMeanMs: must be ≥ 0');
  if (!(o.rejectRate >= 0 && o.rejectRate <= 1)) issues.push('rejectRate: must be in [0, 1]');
  if (!(o.stressedDepthMult > 0 && o.stressedDepthMult <= 1)) issues.push('stressedDepthMult: must be in (0, 1]');
  if (!(Number.isSafeInteger(o.maxWorkingOrders) && o.maxWorkingOrders >= 0)) issues.push('maxWorkingOrders: must be an integer ≥ 0');
  if (!(Number.isSafeInteger(o.maxRememberedOrders) && o.maxRememberedOrders >= 1)) issues.push('maxRememberedOrders: must be an integer ≥ 1');
  if (!(Number.isFinite(o.sweepMs) && o.sweepMs >= 1)) issues.push('sweepMs: must be ≥ 1');
  for (const [k, v] of Object.entries(o.impactCoef ?? {})) {
    if (!(LIQUIDITY_CLASSES as readonly string[]).includes(k)) issues.push(`impactCoef.${k}: not a liquidity class`);
    else if (!(Number.isFinite(v) && (v as number) >= 0)) issues.push(`impactCoef.${k}: must be ≥ 0`);
  }
  if (issues.length) throw new ConfigError(issues);
}

interface SimOrder {
  readonly key: string;
  readonly venue: string;
  readonly venueOrderId: string;
  readonly orderId: string;
  readonly clientOrderId: string;
  readonly instrument: string;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly size: number;
  /** NaN: no limit (a marketable IOC). */
  readonly limitPrice: number;
  /** Stream id in the market; −1 when the order was rejected before one was found. */
  readonly stream: number;
  status: VenueOrderStatus;
  filled: number;
  notional: number;
  leaves: number;
  fills: ExecutionWire[];
  reason: VenueReasonCode | undefined;
  text: string | undefined;
}

export interface VenueSimCounters {
  orders: number;
  cancels: number;
  duplicates: number;
  fills: number;
  filledNotional: number;
  /** Replies and cancels by reason code (rejections, no-liquidity IOCs, cancels of finished orders). */
  byReason: Record<string, number>;
  working: number;
  remembered: number;
}

/** Receives each execution as it happens (the service publishes it on `<prefix>.<venue>.fill`). */
export type FillSink = (fill: VenueFillWire) => void;

const LOT_EPS = 1e-9;

/**
 * The venues' matching logic, without I/O. `order`, `cancel` and `sweep` are synchronous and never
 * throw for bad input: every outcome is a reply value.
 */
export class VenueSimulator {
  readonly options: VenueSimOptions;
  readonly counters: VenueSimCounters = { orders: 0, cancels: 0, duplicates: 0, fills: 0, filledNotional: 0, byReason: {}, working: 0, remembered: 0 };
  private readonly market: SyntheticMarket;
  private readonly clock: Clock;
  private readonly venues: ReadonlySet<string>;
  private readonly byId: ReadonlyMap<string, InstrumentConfig>;
  private readonly coef: Readonly<Record<LiquidityClass, number>>;
  private readonly rng: Xoshiro128;
  private readonly decoder = makeVenueDecoder();
  private readonly orders = new Map<string, SimOrder>();
  private readonly working = new Set<SimOrder>();
  /** Liquidity taken per stream and side (0 = bids, hit by sells; 1 = asks, lifted by buys), and when. */
  private readonly taken: Float64Array;
  private readonly takenAtMs: Float64Array;
  private readonly book: VenueBook = { bid: 0, ask: 0, bidSize: 0, askSize: 0 };
  private orderSeq = 0;
  private fillSeq = 0;

  constructor(config: Config, market: SyntheticMarket, options: Partial<VenueSimOptions> = {}, clock: Clock = systemClock) {
    const o: VenueSimOptions = { ...DEFAULT_VENUE_SIM, ...options };
    checkOptions(o);
    this.options = Object.freeze(o);
    this.market = market;
    this.clock = clock;
    this.venues = new Set(config.venues);
    this.byId = new Map(market.instruments.map((ins) => [ins.id, ins]));
    this.coef = {
      high: o.impactCoef?.high ?? config.liquidity.high.impactCoef,
      medium: o.impactCoef?.medium ?? config.liquidity.medium.impactCoef,
      low: o.impactCoef?.low ?? config.liquidity.low.impactCoef,
    };
    this.rng = new Xoshiro128(o.seed, 11);
    this.taken = new Float64Array(market.streamCount * 2);
    this.takenAtMs = new Float64Array(market.streamCount * 2);
  }

  isVenue(venue: string): boolean {
    return this.venues.has(venue);
  }

  /** One latency draw, ms. Consumes the simulator's PRNG (not the market's). */
  drawLatencyMs(): number {
    const o = this.options;
    return o.latencyFloorMs + (o.latencyMeanMs > 0 ? o.latencyMeanMs * this.rng.exp() : 0);
  }

  /** Handles one order payload sent to `venue` at `nowMs`; executions go to `onFill` before the reply is returned. */
  order(venue: string, payload: Uint8Array, nowMs: number, onFill: FillSink): VenueReplyWire {
    this.counters.orders++;
    if (!this.venues.has(venue)) return this.bare(venue, '', ErrorCode.VENUE_UNKNOWN_VENUE, `unknown venue "${venue}"`, nowMs);
    const p = parseVenueWire(this.decoder, payload, venueOrderWireSchema);
    if (!p.ok) return this.bare(venue, '', p.code, p.message, nowMs);
    const w = p.value;
    const key = `${venue}\u0000${w.clientOrderId}`;
    const limit = w.limitPrice === undefined ? Number.NaN : w.limitPrice;

    const prior = this.orders.get(key);
    if (prior) {
      const same =
        prior.instrument === w.instrument &&
        prior.side === w.side &&
        prior.type === w.type &&
        prior.size === w.size &&
        (prior.limitPrice === limit || (prior.limitPrice !== prior.limitPrice && limit !== limit));
      if (!same) {
        return this.bare(venue, w.clientOrderId, ErrorCode.VENUE_ORDER_CONFLICT, `clientOrderId ${w.clientOrderId} was used for a different order (${prior.venueOrderId})`, nowMs);
      }
      this.counters.duplicates++;
      return this.reply(prior, nowMs, true);
    }

    const ins = this.byId.get(w.instrument);
    const stream = ins ? this.market.streamOf(w.instrument, venue) : -1;
    const rec: SimOrder = {
      key,
      venue,
      venueOrderId: `${venue}-${++this.orderSeq}`,
      orderId: w.orderId ?? '',
      clientOrderId: w.clientOrderId,
      instrument: w.instrument,
      side: w.side,
      type: w.type,
      size: w.size,
      limitPrice: limit,
      stream,
      status: 'rejected',
      filled: 0,
      notional: 0,
      leaves: 0,
      fills: [],
      reason: undefined,
      text: undefined,
    };
    const reject = (code: VenueReasonCode, text: string): VenueReplyWire => {
      rec.reason = code;
      rec.text = text;
      this.count(code);
      this.remember(rec);
      return this.reply(rec, nowMs, false);
    };

    if (!ins) return reject(ErrorCode.VENUE_UNKNOWN_INSTRUMENT, `unknown instrument "${w.instrument}"`);
    if (stream < 0) return reject(ErrorCode.VENUE_UNKNOWN_INSTRUMENT, `${w.instrument} is not listed on ${venue}`);
    const lots = w.size / ins.lotSize;
    if (!(w.size > 0) || Math.abs(lots - Math.round(lots)) > LOT_EPS * Math.max(1, lots) || w.size > ins.maxSize) {
      return reject(ErrorCode.VENUE_BAD_SIZE, `size ${w.size} must be a positive multiple of ${ins.lotSize} up to ${ins.maxSize}`);
    }
    if (w.type === 'limit' && w.limitPrice === undefined) return reject(ErrorCode.VENUE_BAD_ORDER, 'limitPrice: required for a limit order');
    if (w.limitPrice !== undefined) {
      const ticks = w.limitPrice / ins.tickSize;
      if (!(Number.isFinite(w.limitPrice) && w.limitPrice > 0) || Math.abs(ticks - Math.round(ticks)) > 1e-6 * Math.max(1, ticks)) {
        return reject(ErrorCode.VENUE_BAD_PRICE, `limitPrice ${w.limitPrice} must be a positive multiple of the tick ${ins.tickSize}`);
      }
    }
    if (this.market.isQuiet(stream, nowMs)) return reject(ErrorCode.VENUE_QUIET, `${venue} is quiet in ${w.instrument}`);
    if (!this.market.venueBook(stream, this.book)) return reject(ErrorCode.VENUE_NO_MARKET, `${venue} has no book in ${w.instrument} yet`);
    if (this.options.rejectRate > 0 && this.rng.float() < this.options.rejectRate) return reject(ErrorCode.VENUE_BUSY, `${venue} refused the order (simulated reject rate)`);
    if (w.type === 'limit' && this.working.size >= this.options.maxWorkingOrders) {
      return reject(ErrorCode.VENUE_BUSY, `too many resting orders (${this.options.maxWorkingOrders})`);
    }

    rec.leaves = w.size;
    this.execute(rec, ins, nowMs, onFill);
    if (rec.leaves <= 0) {
      rec.status = 'filled';
    } else if (w.type === 'ioc') {
      rec.leaves = 0;
      rec.status = rec.filled > 0 ? 'partial' : 'cancelled';
      if (rec.filled === 0) {
        rec.reason = ErrorCode.VENUE_NO_LIQUIDITY;
        rec.text = `nothing to fill ${Number.isNaN(limit) ? '' : `at or inside ${limit} `}on ${venue}`;
        this.count(ErrorCode.VENUE_NO_LIQUIDITY);
      }
    } else {
      rec.status = 'working';
      this.working.add(rec);
    }
    this.remember(rec);
    return this.reply(rec, nowMs, false);
  }

  /** Handles one cancel payload sent to `venue`. */
  cancel(venue: string, payload: Uint8Array, nowMs: number): VenueReplyWire {
    this.counters.cancels++;
    if (!this.venues.has(venue)) return this.bare(venue, '', ErrorCode.VENUE_UNKNOWN_VENUE, `unknown venue "${venue}"`, nowMs);
    const p = parseVenueWire(this.decoder, payload, venueCancelWireSchema);
    if (!p.ok) return this.bare(venue, '', p.code, p.message, nowMs);
    const rec = this.orders.get(`${venue}\u0000${p.value.clientOrderId}`);
    if (!rec) return this.bare(venue, p.value.clientOrderId, ErrorCode.VENUE_UNKNOWN_ORDER, `no order ${p.value.clientOrderId} on ${venue}`, nowMs);
    if (rec.status === 'working') {
      rec.status = 'cancelled';
      rec.leaves = 0;
      this.working.delete(rec);
      this.counters.working = this.working.size;
      return this.reply(rec, nowMs, false);
    }
    // Cancelling a cancelled order is idempotent; anything else is already finished.
    if (rec.status === 'cancelled' && rec.reason === undefined) return this.reply(rec, nowMs, false);
    this.count(ErrorCode.VENUE_ORDER_DONE);
    return { ...this.reply(rec, nowMs, false), reason: ErrorCode.VENUE_ORDER_DONE, text: `order ${rec.venueOrderId} is already ${rec.status}` };
  }

  /**
   * Matches resting limit orders against the books as they are now (a book that moved through a
   * limit fills it). Returns how many orders traded. Orders on a quiet venue wait.
   */
  sweep(nowMs: number, onFill: FillSink): number {
    let traded = 0;
    for (const rec of this.working) {
      if (this.market.isQuiet(rec.stream, nowMs) || !this.market.venueBook(rec.stream, this.book)) continue;
      const ins = this.byId.get(rec.instrument);
      if (!ins) continue; // registered only after the instrument was found
      const before = rec.filled;
      this.execute(rec, ins, nowMs, onFill);
      if (rec.filled > before) traded++;
      if (rec.leaves <= 0) {
        rec.status = 'filled';
        this.working.delete(rec);
      }
    }
    this.counters.working = this.working.size;
    return traded;
  }

  /** The price ladder one side of stream `s` shows right now (tests and screens). Cold path: allocates. */
  depth(instrument: string, venue: string, side: 'bid' | 'ask', nowMs = this.clock.nowMs()): { price: number; size: number }[] {
    const ins = this.byId.get(instrument);
    const s = this.market.streamOf(instrument, venue);
    if (!ins || s < 0 || !this.market.venueBook(s, this.book)) return [];
    const out: { price: number; size: number }[] = [];
    this.walk(s, ins, side === 'ask' ? 1 : 0, nowMs, Number.POSITIVE_INFINITY, Number.NaN, (price, size) => out.push({ price, size }), false);
    return out;
  }

  /** Fills `rec` against the book in `this.book` (already loaded by the caller). */
  private execute(rec: SimOrder, ins: InstrumentConfig, nowMs: number, onFill: FillSink): void {
    const buy = rec.side === 'buy';
    let got = 0;
    const sideIdx = buy ? 1 : 0;
    this.walk(rec.stream, ins, sideIdx, nowMs, rec.leaves, rec.limitPrice, (price, size) => {
      got += size;
      rec.filled += size;
      rec.notional += price * size;
      rec.leaves -= size;
      if (rec.leaves < ins.lotSize * LOT_EPS) rec.leaves = 0;
      const exec: ExecutionWire = { price, size, ts: nowMs };
      rec.fills.push(exec);
      this.counters.fills++;
      this.counters.filledNotional += size;
      onFill({
        fillId: `${rec.venue}-F${++this.fillSeq}`,
        venue: rec.venue,
        venueOrderId: rec.venueOrderId,
        orderId: rec.orderId,
        clientOrderId: rec.clientOrderId,
        instrument: rec.instrument,
        side: rec.side,
        price,
        size,
        leavesSize: rec.leaves,
        ts: nowMs,
      });
    }, true);
    if (got > 0 && this.options.permanentFrac > 0) {
      const b = this.book;
      const mid = (b.bid + b.ask) * 0.5;
      const halfBps = ((b.ask - b.bid) * 0.5 * 1e4) / mid;
      const clip = ins.sizeBands[0];
      const shiftBps = this.options.permanentFrac * halfBps * this.coef[ins.liquidityClass] * Math.sqrt(got / clip);
      this.market.applyVenueImpact(rec.stream, buy ? shiftBps : -shiftBps);
    }
  }

  /**
   * Walks one side of stream `s`'s ladder from the touch, skipping liquidity already taken (decayed
   * to `nowMs`), and calls `take(price, size)` for each level used, up to `want` and not through
   * `limit` (NaN: no limit). With `consume`, what was taken is remembered.
   */
  private walk(
    s: number,
    ins: InstrumentConfig,
    sideIdx: 0 | 1,
    nowMs: number,
    want: number,
    limit: number,
    take: (price: number, size: number) => void,
    consume: boolean,
  ): void {
    const o = this.options;
    const b = this.book;
    const buy = sideIdx === 1;
    const top = buy ? b.ask : b.bid;
    const topSize = buy ? b.askSize : b.bidSize;
    const mid = (b.bid + b.ask) * 0.5;
    const halfBps = ((b.ask - b.bid) * 0.5 * 1e4) / mid;
    const clip = ins.sizeBands[0];
    const lot = ins.lotSize;
    const tick = ins.tickSize;
    const c = this.coef[ins.liquidityClass];
    const phase = this.market.phaseAt(nowMs);
    const depthMult = phase === MarketPhase.SELLOFF || phase === MarketPhase.DISLOCATED ? o.stressedDepthMult : 1;

    const slot = s * 2 + sideIdx;
    const dt = nowMs - this.takenAtMs[slot];
    let taken = this.taken[slot] * (dt > 0 ? Math.pow(2, -dt / o.resilienceHalfLifeMs) : 1);
    // levels trade in whole lots: less than half a lot still missing counts as refilled
    if (taken < lot * 0.5) taken = 0;
    let skip = taken;
    let left = want;
    let cum = 0;
    let prev = Number.NaN;
    let used = 0;
    for (let k = 0; k < o.levels && left > 0; k++) {
      const raw = k === 0 ? topSize : topSize * depthMult * Math.pow(o.depthDecay, k);
      const size = Math.max(lot, Math.round(raw / lot) * lot);
      const dBps = halfBps * c * Math.sqrt(cum / clip);
      let price = buy ? ceilTo(top * (1 + dBps * 1e-4), tick) : floorTo(top * (1 - dBps * 1e-4), tick);
      // each level strictly beyond the previous one, by at least a tick
      if (k > 0) {
        if (buy && !(price > prev)) price = ceilTo(prev + tick * 0.5, tick);
        if (!buy && !(price < prev)) price = floorTo(prev - tick * 0.5, tick);
      }
      if (!buy && price <= 0) break;
      prev = price;
      cum += size;
      let avail = size;
      if (skip > 0) {
        const eaten = Math.min(avail, skip);
        avail -= eaten;
        skip -= eaten;
      }
      if (avail <= 0) continue;
      if (limit === limit && (buy ? price > limit : price < limit)) break;
      let q = Math.min(avail, left);
      q = Math.floor(q / lot + LOT_EPS) * lot;
      if (q <= 0) continue; // less than a lot left at this level after what was taken
      take(price, q);
      left -= q;
      used += q;
    }
    if (consume) {
      this.taken[slot] = taken + used;
      this.takenAtMs[slot] = nowMs;
    }
  }

  private count(code: string): void {
    this.counters.byReason[code] = (this.counters.byReason[code] ?? 0) + 1;
  }

  private remember(rec: SimOrder): void {
    this.orders.set(rec.key, rec);
    if (this.orders.size > this.options.maxRememberedOrders) {
      // Map iteration is insertion order: the oldest first. Resting orders are never forgotten.
      for (const [k, r] of this.orders) {
        if (this.orders.size <= this.options.maxRememberedOrders) break;
        if (r.status !== 'working') this.orders.delete(k);
      }
    }
    this.counters.working = this.working.size;
    this.counters.remembered = this.orders.size;
  }

  /** A rejection for which no order was registered (bad payload, unknown venue, id conflict). */
  private bare(venue: string, clientOrderId: string, code: VenueReasonCode, text: string, nowMs: number): VenueReplyWire {
    this.count(code);
    return {
      orderId: '',
      venueOrderId: '',
      clientOrderId,
      venue,
      instrument: '',
      side: '',
      status: 'rejected',
      fills: [],
      filledSize: 0,
      leavesSize: 0,
      avgPrice: 0,
      reason: code,
      text: text.slice(0, 200),
      ts: nowMs,
    };
  }

  private reply(rec: SimOrder, nowMs: number, duplicate: boolean): VenueReplyWire {
    const fills = rec.fills.length > MAX_REPLY_FILLS ? rec.fills.slice(-MAX_REPLY_FILLS) : rec.fills.slice();
    const r: VenueReplyWire = {
      orderId: rec.orderId || rec.venueOrderId,
      venueOrderId: rec.venueOrderId,
      clientOrderId: rec.clientOrderId,
      venue: rec.venue,
      instrument: rec.instrument,
      side: rec.side,
      status: rec.status,
      fills,
      filledSize: rec.filled,
      leavesSize: rec.leaves,
      avgPrice: rec.filled > 0 ? rec.notional / rec.filled : 0,
      ts: nowMs,
    };
    if (rec.reason !== undefined) r.reason = rec.reason;
    if (rec.text !== undefined) r.text = rec.text.slice(0, 200);
    if (duplicate) r.duplicate = true;
    return r;
  }
}

function ceilTo(x: number, tick: number): number {
  const inv = 1 / tick;
  // An integer number of ticks per unit (0.001, 1/128) rounds exactly as k / inv; else multiply back.
  if (Math.abs(inv - Math.round(inv)) < 1e-9 * inv) {
    const k = Math.round(inv);
    return Math.ceil(x * k - 1e-9) / k;
  }
  return Math.ceil(x / tick - 1e-9) * tick;
}

function floorTo(x: number, tick: number): number {
  const inv = 1 / tick;
  if (Math.abs(inv - Math.round(inv)) < 1e-9 * inv) {
    const k = Math.round(inv);
    return Math.floor(x * k + 1e-9) / k;
  }
  return Math.floor(x / tick + 1e-9) * tick;
}

// ---------------------------------------------------------------------------------------------
// NATS service

export interface VenueSimServiceOptions {
  readonly nc: NatsConnection;
  readonly config: Config;
  /** The market whose books the venues show: pass the running feed's `market` so fills and quotes agree. */
  readonly market: SyntheticMarket;
  /** Venue clock (timestamps, quiet windows, scenario phase). Latency itself is real time. */
  readonly clock?: Clock;
  readonly options?: Partial<VenueSimOptions>;
}

export interface VenueSimHandle {
  readonly sim: VenueSimulator;
  readonly prefix: string;
  /** Resolves once the subscriptions are registered with the server. */
  readonly ready: Promise<void>;
  /** Answers what is queued, unsubscribes and stops the sweep timer. Does not close the connection. */
  stop(): Promise<void>;
}

interface Queued {
  readonly atMs: number;
  readonly run: () => void;
}

export function startVenueSim(opts: VenueSimServiceOptions): VenueSimHandle {
  const clock = opts.clock ?? systemClock;
  const sim = new VenueSimulator(opts.config, opts.market, opts.options, clock);
  const nc = opts.nc;
  const prefix = sim.options.prefix;
  const fillSubjects = new Map(opts.config.venues.map((v) => [v, venueFillSubject(prefix, v)]));
  let stopped = false;

  const publishFill: FillSink = (f) => {
    if (nc.isClosed()) return;
    nc.publish(fillSubjects.get(f.venue) ?? venueFillSubject(prefix, f.venue), encodeOwned(f));
  };
  const respond = (msg: Msg, reply: VenueReplyWire): void => {
    if (!msg.reply || nc.isClosed()) return;
    msg.respond(encodeOwned(reply));
  };

  // Per-venue FIFO with latency: a message is handled no earlier than its arrival + a latency draw
  // and never before the venue's previous message, so a cancel cannot overtake its order.
  const queues = new Map<string, Queued[]>();
  const tails = new Map<string, number>();
  const timers = new Map<string, NodeJS.Timeout>();
  const drain = (venue: string, all: boolean): void => {
    timers.delete(venue);
    const q = queues.get(venue);
    if (!q) return;
    const now = performance.now();
    while (q.length > 0 && (all || q[0].atMs <= now + 0.5)) q.shift()!.run();
    if (q.length > 0) arm(venue);
  };
  const arm = (venue: string): void => {
    const q = queues.get(venue)!;
    timers.set(venue, setTimeout(() => drain(venue, false), Math.max(0, q[0].atMs - performance.now())));
  };
  const enqueue = (venue: string, run: () => void): void => {
    const at = Math.max(tails.get(venue) ?? 0, performance.now() + sim.drawLatencyMs());
    tails.set(venue, at);
    let q = queues.get(venue);
    if (!q) queues.set(venue, (q = []));
    q.push({ atMs: at, run });
    if (!timers.has(venue)) arm(venue);
  };

  const handler = (kind: 'order' | 'cancel') => (err: Error | null, msg: Msg) => {
    if (err || stopped) return; // the subscription is closing: nobody to answer
    const venue = msg.subject.slice(prefix.length + 1, msg.subject.length - kind.length - 1);
    const data = msg.data.slice(); // kept across the latency wait
    const handle = (): void => {
      let reply: VenueReplyWire;
      const now = clock.nowMs();
      try {
        reply = kind === 'order' ? sim.order(venue, data, now, publishFill) : sim.cancel(venue, data, now);
      } catch (e) {
        // A bug in the simulator: the sender still gets a coded answer and the service keeps running.
        process.stderr.write(`venue-sim: ${(e as Error).stack ?? String(e)}\n`);
        reply = {
          orderId: '', venueOrderId: '', clientOrderId: '', venue, instrument: '', side: '', status: 'rejected',
          fills: [], filledSize: 0, leavesSize: 0, avgPrice: 0, reason: ErrorCode.INTERNAL, text: 'internal error', ts: now,
        };
      }
      respond(msg, reply);
    };
    // An unknown venue has no latency to simulate: it is refused at once.
    if (!sim.isVenue(venue)) handle();
    else enqueue(venue, handle);
  };

  const subs: Subscription[] = [
    nc.subscribe(`${prefix}.*.order`, { callback: handler('order') }),
    nc.subscribe(`${prefix}.*.cancel`, { callback: handler('cancel') }),
  ];
  const sweepTimer = setInterval(() => sim.sweep(clock.nowMs(), publishFill), sim.options.sweepMs);

  return {
    sim,
    prefix,
    ready: nc.flush(),
    async stop() {
      if (stopped) return;
      clearInterval(sweepTimer);
      for (const venue of [...timers.keys()]) {
        clearTimeout(timers.get(venue));
        drain(venue, true);
      }
      stopped = true;
      if (nc.isClosed()) return;
      for (const s of subs) s.unsubscribe();
      try {
        await nc.flush();
      } catch {
        // The connection closed under us: the replies it held are lost either way.
      }
    },
  };
}
