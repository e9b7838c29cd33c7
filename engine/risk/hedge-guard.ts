/**
 * The hedge order guard (RELIABILITY R1, R2, R5, R6): the hedger asks before every child order and
 * reports what it sent and what filled.
 *
 *   checkOrder   disabled (R6)? → kill switch on the instrument? → size → collar → value → venue OTR → orders/s
 *   onOrder      counts the order in its venue's window (OTR)
 *   onFill       counts the fill in its venue's window (OTR) and in the repeated-execution window (R6)
 *
 * R6: more than `repeated.maxFills` fills within `repeated.windowMs` means the hedger is running
 * away (a loop re-hedging its own fills, a venue echoing fills): hedging is disabled until a human
 * re-enables it. The trip is written to the risk audit stream by the caller (`onDisabled`) and
 * folded back in at start-up, so a restart does not re-enable it.
 *
 * Windows are arrays of timestamps pruned on use: their length is bounded by the orders/s bucket
 * times the window, and the hedger sends a few orders a second at most.
 */
import type { Config, Universe } from '../config.js';
import { ErrorCode } from '../errors.js';
import type { BreachCode, BreachReporter } from './alerts.js';
import { TokenBucket, unitValue } from './controls.js';
import type { RiskConfig } from './config.js';
import type { ClientSide, HedgeGuard, HedgeRejection } from './ports.js';

class Window {
  private readonly ts: number[] = [];
  constructor(private readonly spanMs: number) {}
  add(nowMs: number): void {
    this.ts.push(nowMs);
  }
  count(nowMs: number): number {
    const from = nowMs - this.spanMs;
    let k = 0;
    while (k < this.ts.length && this.ts[k] <= from) k++;
    if (k > 0) this.ts.splice(0, k);
    return this.ts.length;
  }
  clear(): void {
    this.ts.length = 0;
  }
}

export interface HedgeGuardDeps {
  readonly config: Config;
  readonly universe: Universe;
  readonly reporter: BreachReporter;
  /** global or instrument kill switch engaged */
  readonly halted: (iid: number) => boolean;
  /** called once per R6 trip with the reason (attach audits and broadcasts it) */
  readonly onDisabled: (why: string, nowMs: number) => void;
}

export class HedgeOrderGuard implements HedgeGuard {
  private readonly h: RiskConfig['hedge'];
  private readonly bucket: TokenBucket;
  private readonly orders = new Map<string, Window>();
  private readonly fills = new Map<string, Window>();
  private readonly allFills: Window;
  private disabledState: { sinceMs: number; why: string } | null = null;

  constructor(private readonly d: HedgeGuardDeps) {
    this.h = d.config.risk.hedge;
    this.bucket = new TokenBucket(this.h.orders.ratePerSec, this.h.orders.burst);
    this.allFills = new Window(this.h.repeated.windowMs);
  }

  get disabled(): { readonly sinceMs: number; readonly why: string } | null {
    return this.disabledState;
  }

  /** Sets the R6 state without side effects (start-up replay of the audit stream, and re-enable). */
  setDisabled(state: { sinceMs: number; why: string } | null): void {
    this.disabledState = state;
    if (state === null) this.allFills.clear();
  }

  checkOrder(o: { venue: string; iid: number; instrument: string; side: ClientSide; size: number; limitPrice?: number; mid: number; nowMs: number }): HedgeRejection | null {
    const reject = (code: BreachCode, message: string): HedgeRejection => {
      this.d.reporter.breach(code, message, { hedge: true, venue: o.venue, instrument: o.instrument, side: o.side, size: o.size, limitPrice: o.limitPrice ?? null, mid: o.mid }, o.nowMs);
      return { code, message };
    };
    if (this.disabledState !== null) return reject(ErrorCode.RISK_HEDGE_THROTTLE, `hedging is disabled since ${new Date(this.disabledState.sinceMs).toISOString()}: ${this.disabledState.why}; an admin must re-enable it`);
    const ins = this.d.config.instruments[o.iid];
    if (ins === undefined) return reject(ErrorCode.RISK_ORDER_SIZE, `unknown instrument index ${o.iid}`);
    if (this.d.config.risk.killSwitch.cancelHedges && this.d.halted(o.iid)) return reject(ErrorCode.RFQ_KILL_SWITCH, `the kill switch is engaged for ${ins.id}`);
    if (typeof o.size !== 'number' || !(o.size > 0) || !Number.isFinite(o.size)) return reject(ErrorCode.RISK_ORDER_SIZE, 'hedge size must be a positive finite number');
    const maxSize = this.h.maxOrderSize ?? ins.maxSize;
    if (o.size > maxSize) return reject(ErrorCode.RISK_ORDER_SIZE, `hedge size ${o.size} above the limit ${maxSize}`);
    const mid = o.mid;
    const hasMid = mid > 0 && Number.isFinite(mid);
    const px = o.limitPrice ?? mid;
    if (o.limitPrice !== undefined) {
      const p = o.limitPrice;
      if (typeof p !== 'number' || !(p > 0) || !Number.isFinite(p)) return reject(ErrorCode.RISK_COLLAR, 'hedge limit price must be a positive finite number');
      // a hedge needs a reference: no mid, no limit order (R1/R3)
      if (!hasMid) return reject(ErrorCode.RISK_COLLAR, 'no composite mid to collar the hedge limit price against');
      const lim = this.h.collarBps ?? this.d.config.risk.collar.bps ?? ins.collarBps ?? this.d.config.pricing.collarBps;
      const bps = (Math.abs(p - mid) / mid) * 1e4;
      if (bps > lim * (1 + 1e-9)) return reject(ErrorCode.RISK_COLLAR, `hedge limit ${p} is ${bps.toFixed(1)} bps from the mid ${mid}: collar ${lim} bps`);
    }
    if (this.h.maxOrderValue !== null) {
      // without any price the value cannot be bounded: fail closed
      const value = px > 0 ? o.size * unitValue(this.d.config.risk.valuation[ins.assetClass], px) : Infinity;
      if (!(value <= this.h.maxOrderValue)) return reject(ErrorCode.RISK_ORDER_VALUE, `hedge value ${value} above the limit ${this.h.maxOrderValue}`);
    }
    const otr = this.h.otr;
    const n = this.window(this.orders, o.venue, otr.windowMs).count(o.nowMs);
    const f = this.window(this.fills, o.venue, otr.windowMs).count(o.nowMs);
    if (n + 1 >= otr.minOrders && (n + 1) / Math.max(1, f) > otr.maxRatio) {
      return reject(ErrorCode.RISK_OTR, `order-to-trade ratio on ${o.venue} would be ${(n + 1)}/${f} over ${otr.windowMs} ms: cap ${otr.maxRatio}`);
    }
    if (!this.bucket.take(o.nowMs)) return reject(ErrorCode.RISK_HEDGE_THROTTLE, `more than ${this.h.orders.ratePerSec} hedge orders/s (burst ${this.h.orders.burst})`);
    return null;
  }

  onOrder(venue: string, nowMs: number): void {
    this.window(this.orders, venue, this.h.otr.windowMs).add(nowMs);
  }

  onFill(venue: string, _size: number, nowMs: number): void {
    this.window(this.fills, venue, this.h.otr.windowMs).add(nowMs);
    this.allFills.add(nowMs);
    const r = this.h.repeated;
    if (this.disabledState === null && this.allFills.count(nowMs) > r.maxFills) {
      const why = `repeated-execution throttle: more than ${r.maxFills} hedge fills within ${r.windowMs} ms`;
      this.disabledState = { sinceMs: nowMs, why };
      this.d.reporter.breach(ErrorCode.RISK_HEDGE_THROTTLE, why, { hedge: true, venue }, nowMs);
      this.d.onDisabled(why, nowMs);
    }
  }

  /** the venue's order-to-trade counts now (status, tests) */
  otr(venue: string, nowMs: number): { orders: number; fills: number } {
    return { orders: this.window(this.orders, venue, this.h.otr.windowMs).count(nowMs), fills: this.window(this.fills, venue, this.h.otr.windowMs).count(nowMs) };
  }

  private window(m: Map<string, Window>, venue: string, spanMs: number): Window {
    let w = m.get(venue);
    if (w === undefined) m.set(venue, (w = new Window(spanMs)));
    return w;
  }
}
