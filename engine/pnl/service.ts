/**
 * The P&L module as the rest of the engine sees it: the book (pnl.ts), the risk ledger
 * (ledger.ts), `deskPnlToday()` for the daily loss limit (PnlSource, engine/risk/ports.ts), and
 * the WebSocket kinds `pnl` and `positions` for the trader and admin roles (docs/protocol.md
 * § Positions and P&L). Knows nothing of sockets: it answers through a `send` function.
 */
import type { Clock } from '../clock.js';
import { ErrorCode } from '../errors.js';
import type { OutboundMessage, RequestRefusal, Session } from '../gateway/index.js';
import { BAD_REQUEST_ID, isRequestId } from '../gateway/messages.js';
import type { PnlSource } from '../risk/ports.js';
import type { PnlConfig } from './config.js';
import type { RiskLedger } from './ledger.js';
import { PnlBook, type HedgeFillInput, type PnlEventResult, type PnlTradeInput } from './pnl.js';

export const PNL_KINDS: ReadonlySet<string> = new Set(['pnl', 'positions']);
const ROLES: ReadonlySet<string> = new Set(['trader', 'admin']);

/** What the hedge router offers the P&L (structural: engine/hedging/router.ts need not import this). */
export interface HedgeFillSource {
  onFill(listener: (fill: HedgeFillInput, replay: boolean) => void): void;
}

export interface PnlOut {
  sendTo(session: Session, msg: OutboundMessage): boolean;
  sendToRole(role: 'trader' | 'admin', msg: OutboundMessage): number;
}

export class PnlService implements PnlSource {
  private lastPushedVersion = -1;
  private lastPushedTotal = NaN;

  constructor(
    readonly book: PnlBook,
    readonly ledger: RiskLedger,
    private readonly cfg: PnlConfig,
    private readonly clock: Clock,
  ) {}

  deskPnlToday(): number {
    this.book.rollIfDue(this.clock.nowMs());
    return this.book.deskTotal();
  }

  onTrade(t: PnlTradeInput): PnlEventResult {
    return this.book.onTrade(t);
  }

  onHedgeFill(f: HedgeFillInput): PnlEventResult {
    return this.book.onHedgeFill(f);
  }

  /** The `pnl` message: the split by desk, tier, client and instrument, and the last `trades` trades. */
  pnlMessage(trades: number, id?: string | number): OutboundMessage {
    const now = this.clock.nowMs();
    this.book.rollIfDue(now);
    const s = this.book.splits();
    const m: Record<string, unknown> = {
      t: 'pnl', currency: this.cfg.currency, dayStartMs: Number.isNaN(this.book.dayStartMs) ? null : this.book.dayStartMs,
      deskTotal: this.book.deskTotal(), ...s, trades: this.book.recent(trades), serverTime: now,
    };
    if (id !== undefined) m.id = id;
    return m as OutboundMessage;
  }

  positionsMessage(all: boolean, id?: string | number): OutboundMessage {
    const m: Record<string, unknown> = { t: 'positions', currency: this.cfg.currency, ...this.ledger.view(all), serverTime: this.clock.nowMs() };
    if (id !== undefined) m.id = id;
    return m as OutboundMessage;
  }

  /** RequestHandler.handle for `pnl` / `positions`. */
  handle(s: Session, msg: Record<string, unknown>, out: PnlOut): RequestRefusal | void {
    const id = msg.id as string | number | undefined;
    if (id !== undefined && !isRequestId(id)) return { code: ErrorCode.WS_BAD_MESSAGE, message: BAD_REQUEST_ID };
    const allowed = msg.t === 'pnl' ? ['t', 'id', 'trades'] : ['t', 'id', 'all'];
    for (const k of Object.keys(msg)) if (!allowed.includes(k)) return { code: ErrorCode.WS_BAD_MESSAGE, message: `unknown field "${k}" in ${String(msg.t)}`, id };
    if (!ROLES.has(s.role)) {
      const m: Record<string, unknown> = { t: 'rejected', code: ErrorCode.RFQ_NOT_ENTITLED, message: `role ${s.role} may not read ${String(msg.t)}: trader or admin role required`, serverTime: this.clock.nowMs() };
      if (id !== undefined) m.id = id;
      out.sendTo(s, m as OutboundMessage);
      return;
    }
    if (msg.t === 'pnl') {
      const n = msg.trades ?? 20;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > this.cfg.recentTrades) {
        return { code: ErrorCode.WS_BAD_MESSAGE, message: `trades must be an integer from 0 to ${this.cfg.recentTrades}`, id };
      }
      out.sendTo(s, this.pnlMessage(n, id));
      return;
    }
    if (msg.all !== undefined && typeof msg.all !== 'boolean') return { code: ErrorCode.WS_BAD_MESSAGE, message: 'all must be a boolean', id };
    out.sendTo(s, this.positionsMessage(msg.all === true, id));
  }

  /**
   * Called every pushIntervalMs: sends `{t:'pnl', push:true, …}` to trader and admin sessions when
   * the book changed or the desk total moved by a cent or more since the last push. Returns the
   * number of sockets reached (0 = nothing changed or nobody listening).
   */
  pushIfChanged(out: PnlOut): number {
    this.book.rollIfDue(this.clock.nowMs());
    const total = this.book.deskTotal();
    if (this.book.version === this.lastPushedVersion && Math.abs(total - this.lastPushedTotal) < 0.01) return 0;
    this.lastPushedVersion = this.book.version;
    this.lastPushedTotal = total;
    const m = { ...this.pnlMessage(this.cfg.pushTrades), push: true };
    return out.sendToRole('trader', m) + out.sendToRole('admin', m);
  }
}
