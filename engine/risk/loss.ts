/**
 * Daily loss limit: a timer reads the desk's P&L today (`ctx.services.pnl`, read at each check so
 * the P&L module may attach later) and, once the loss passes `risk.lossLimit.maxDailyLoss`, trips:
 * every stream is pulled through the quote overlay (source 'loss', reason risk_limit) and the
 * controls refuse RFQs and accepts with QE_RISK_LOSS_LIMIT. It stays tripped, across restarts (the
 * trip is audited), until a human re-enables (`reset`). If the loss is still beyond the limit then,
 * the next check trips it again: raise the limit in config first if the desk is to keep trading.
 *
 * A P&L that is not a finite number is not a breach (the P&L module is broken, not the desk): it
 * is logged once per episode, and the limit keeps its last state.
 */
import type { Logger } from '../hotpath.js';
import type { PnlSource, QuoteOverlay } from './ports.js';

export interface LossLimitDeps {
  readonly maxDailyLoss: number | null;
  readonly checkMs: number;
  readonly pnl: () => PnlSource | undefined;
  readonly overlay: QuoteOverlay;
  readonly log: Logger;
  readonly nowMs: () => number;
  /** the trip, once (attach audits, alerts and broadcasts it) */
  readonly onTrip: (pnl: number, nowMs: number) => void;
  /** the controls' flag follows this */
  readonly setBlocked: (on: boolean) => void;
}

export class LossLimit {
  private timer: NodeJS.Timeout | null = null;
  private state: { sinceMs: number; pnl: number } | null = null;
  private warnedBadPnl = false;
  lastPnl = NaN;

  constructor(private readonly d: LossLimitDeps) {}

  get breached(): { readonly sinceMs: number; readonly pnl: number } | null {
    return this.state;
  }

  /** Sets the state with its effects but without a trip event (start-up replay, reset). */
  set(state: { sinceMs: number; pnl: number } | null): void {
    this.state = state;
    this.d.setBlocked(state !== null);
    if (state !== null) this.d.overlay.set('loss', { mode: 'pulled', reason: 'risk_limit' });
    else this.d.overlay.clear('loss');
  }

  start(): void {
    if (this.d.maxDailyLoss === null || this.timer !== null) return;
    this.timer = setInterval(() => this.check(), this.d.checkMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One check (the timer's body; tests call it directly). */
  check(): void {
    const lim = this.d.maxDailyLoss;
    const src = this.d.pnl();
    if (lim === null || src === undefined) return;
    let pnl: number;
    try {
      pnl = src.deskPnlToday();
    } catch (e) {
      pnl = NaN;
      if (!this.warnedBadPnl) this.d.log.error({ err: (e as Error).message }, 'loss limit: the P&L source failed');
    }
    this.lastPnl = pnl;
    if (!Number.isFinite(pnl)) {
      if (!this.warnedBadPnl) this.d.log.warn({ pnl: String(pnl) }, 'loss limit: desk P&L is not a number; the limit keeps its state');
      this.warnedBadPnl = true;
      return;
    }
    this.warnedBadPnl = false;
    if (this.state === null && pnl < -lim) {
      const now = this.d.nowMs();
      this.set({ sinceMs: now, pnl });
      this.d.onTrip(pnl, now);
    }
  }
}
