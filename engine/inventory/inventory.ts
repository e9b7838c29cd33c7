/**
 * Positions per instrument, in notional (positive = long). Written only by the booking path
 * (seeded from config until trades arrive with the RFQ issue); the pricer reads `position`.
 */
import type { Config } from '../config.js';

export class Inventory {
  readonly position: Float64Array;
  /** Bumped on every change so the hot path can tell which instruments to re-skew. */
  private readonly listeners: Array<(iid: number) => void> = [];

  constructor(config: Config) {
    this.position = new Float64Array(config.instruments.length);
    config.instruments.forEach((ins, i) => (this.position[i] = ins.initialPosition));
  }

  /** Applies a signed quantity (buy = +). Non-finite quantities are a bug upstream: refused. */
  apply(iid: number, signedQty: number): boolean {
    if (!Number.isFinite(signedQty) || iid < 0 || iid >= this.position.length) return false;
    this.position[iid] += signedQty;
    for (const l of this.listeners) l(iid);
    return true;
  }

  onChange(listener: (iid: number) => void): void {
    this.listeners.push(listener);
  }
}
