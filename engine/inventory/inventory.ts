/**
 * Positions per instrument, in notional (positive = long), and the realized P&L of the traded
 * book. Written only by the booking path (engine/booking: the trade journal and its recovery);
 * the pricer reads `position`.
 *
 *   position[i] = initialPosition[i] (config) + traded[i]
 *
 * P&L is average-cost on the traded book only: the configured starting inventory has no known
 * cost, so it never produces P&L. Units are price × notional in the instrument's own price units
 * (a bond quoted in % of par realizes (p − avg) × face, i.e. 100× the currency amount).
 */
import type { Config } from '../config.js';

export class Inventory {
  readonly position: Float64Array;
  /** position built by trades (position − initialPosition) */
  readonly traded: Float64Array;
  /** average cost of `traded` (0 when flat) */
  readonly avgCost: Float64Array;
  readonly realizedPnl: Float64Array;
  /** Bumped on every change so the hot path can tell which instruments to re-skew. */
  private readonly listeners: Array<(iid: number) => void> = [];

  constructor(config: Config) {
    const n = config.instruments.length;
    this.position = new Float64Array(n);
    this.traded = new Float64Array(n);
    this.avgCost = new Float64Array(n);
    this.realizedPnl = new Float64Array(n);
    config.instruments.forEach((ins, i) => (this.position[i] = ins.initialPosition));
  }

  /** Applies a signed quantity (buy = +) with no price: no P&L. Non-finite quantities are a bug upstream: refused. */
  apply(iid: number, signedQty: number): boolean {
    if (!Number.isFinite(signedQty) || iid < 0 || iid >= this.position.length) return false;
    this.position[iid] += signedQty;
    this.notify(iid);
    return true;
  }

  /**
   * Applies one booked trade from the desk's side (the desk buys = +qty) at `price`, updating the
   * average cost and realized P&L. `silent` skips the change listeners (journal replay at start-up,
   * before anything is priced). Returns false, changing nothing, for a non-finite input.
   */
  applyTrade(iid: number, deskQty: number, price: number, silent = false): boolean {
    if (!Number.isFinite(deskQty) || !(price > 0) || !Number.isFinite(price) || iid < 0 || iid >= this.position.length) return false;
    const q = this.traded[iid];
    const c = this.avgCost[iid];
    if (q === 0 || Math.sign(q) === Math.sign(deskQty)) {
      const nq = q + deskQty;
      this.avgCost[iid] = nq === 0 ? 0 : (q * c + deskQty * price) / nq;
      this.traded[iid] = nq;
    } else {
      const closed = Math.min(Math.abs(deskQty), Math.abs(q));
      this.realizedPnl[iid] += closed * (price - c) * Math.sign(q);
      const nq = q + deskQty;
      this.traded[iid] = nq;
      // flat: no cost; flipped through zero: the remainder was opened at this price
      if (nq === 0 || Math.abs(deskQty) <= Math.abs(q)) this.avgCost[iid] = nq === 0 ? 0 : c;
      else this.avgCost[iid] = price;
    }
    this.position[iid] += deskQty;
    if (!silent) this.notify(iid);
    return true;
  }

  /** Unrealized P&L of the traded book at `mid` (NaN-safe: 0 for a missing mid). */
  unrealizedPnl(iid: number, mid: number): number {
    const q = this.traded[iid];
    return q === 0 || !(mid > 0) ? 0 : q * (mid - this.avgCost[iid]);
  }

  onChange(listener: (iid: number) => void): void {
    this.listeners.push(listener);
  }

  private notify(iid: number): void {
    for (const l of this.listeners) l(iid);
  }
}
