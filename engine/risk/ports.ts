/**
 * The narrow interfaces between the engine's core (hot path, gateway, RFQ service) and the risk
 * side (controls, kill switch, regime, hedger, P&L). The core depends only on these; the risk
 * modules implement them and engine.ts wires one to the other. Everything here is a cold path
 * except `QuoteOverlay`, which the hot path reads per (instrument, tier) on every pricing batch.
 */
import type { ErrorCode, PreTradeRejectCode } from '../errors.js';
import type { Tier } from '../config.js';

export type ClientSide = 'buy' | 'sell';

// ── quotes: what the hot path applies on top of the market's own state ──────────────────────
/** How a (instrument, tier) stream is forced: `null` = by the market alone. */
export type OverlayMode = 'indicative' | 'pulled' | null;
/** Why: shown to clients as the frame's `rs` (docs/protocol.md). */
export type OverlayReason = 'killed' | 'regime' | 'risk_limit';

/**
 * Implemented by the hot path. Several writers share it (kill switch, regime, loss limit): each
 * owns a `source` and the hot path combines them (the most severe mode wins; multipliers multiply).
 * Every call re-prices the affected instruments at once.
 */
export interface QuoteOverlay {
  /** `iid` undefined = every instrument; `tier` undefined = every tier */
  set(source: OverlaySource, o: OverlaySetting, iid?: number, tier?: Tier): void;
  /** removes `source`'s setting from every (instrument, tier) it touched, or only the given ones */
  clear(source: OverlaySource, iid?: number, tier?: Tier): void;
}
export type OverlaySource = 'kill' | 'regime' | 'loss';
export interface OverlaySetting {
  readonly mode: OverlayMode;
  readonly reason: OverlayReason;
  /** multiplies every band's size (1 = unchanged; (0, 1]) */
  readonly sizeMult?: number;
  /** widens each side's distance from mid (1 = unchanged; ≥ 1) */
  readonly spreadMult?: number;
}

/** Implemented by the gateway: one client's streams, all instruments (client-level kill switch). */
export interface ClientStreams {
  /** every session of `clientId` gets an explicit pulled frame (rs = reason) for what it subscribed, and no quotes until resumed */
  pullClient(clientId: string, reason: OverlayReason): void;
  /** resubscribes and sends fresh snapshots */
  resumeClient(clientId: string): void;
}

// ── RFQ / accept: pre-trade checks ──────────────────────────────────────────────────────────
export interface PreTradeRequest {
  readonly clientId: string;
  readonly tier: Tier;
  readonly iid: number;
  readonly instrument: string;
  /** the client's side */
  readonly side: ClientSide;
  readonly size: number;
  /** the price about to be quoted or traded; undefined at request time */
  readonly price?: number;
  /** the composite mid now (NaN when none) */
  readonly mid: number;
  readonly nowMs: number;
}

/**
 * Implemented by engine/risk/controls.ts. `null` = allowed. A returned code is sent to the client
 * as the rejection (`rejected` / `error`), counted, and nothing else changes. `onBooked` is called
 * for every booked trade (live, and replayed at start-up with replay = true) so usage (balance
 * sheet, throttles' trade counts) follows the journal.
 */
export interface PreTradeControls {
  /** an RFQ arrives (throttles, size / value limits, position limits) */
  checkRfq(r: PreTradeRequest): PreTradeRejection | null;
  /** before a firm quote is sent (collar around the mid, limits with the price known) */
  checkQuote(r: PreTradeRequest): PreTradeRejection | null;
  /** an accept or a streamed trade, before last look (everything again, with the price) */
  checkAccept(r: PreTradeRequest): PreTradeRejection | null;
  onBooked(t: { clientId: string; tier: Tier; iid: number; deskQty: number; price: number; mid: number }, replay: boolean): void;
  /** funding cost of carrying the inventory a trade of `deskQty` would add, bps of price (0 when it reduces inventory) */
  fundingCostBps?(iid: number, tier: Tier, deskQty: number): number;
}
export interface PreTradeRejection {
  /** one of PRE_TRADE_REJECT_CODES (engine/errors.ts) */
  readonly code: PreTradeRejectCode;
  readonly message: string;
}

// ── stress regime as the RFQ service sees it ────────────────────────────────────────────────
export interface RegimeView {
  /** the regime of the instrument (the worse of its own and its asset class's) */
  regimeOf(iid: number): 'normal' | 'stressed' | 'halted';
  /** whether an RFQ of `tier` on `iid` must go to a trader now; the size multiplier of the tier */
  action(iid: number, tier: Tier): { readonly routeRfqToTrader: boolean; readonly sizeMult: number; readonly spreadMult: number; readonly mode: 'firm' | 'indicative' | 'pulled' };
  /** words for the trader: which signals tripped */
  reason(iid: number): string;
}

// ── hedging as the kill switch and the P&L see it ───────────────────────────────────────────
export interface KillScope {
  readonly level: 'global' | 'tier' | 'instrument' | 'client';
  /** tier number as a string, instrument id, or client id; absent for global */
  readonly target?: string;
}

export interface HedgeCanceller {
  /** cancels working hedge child orders whose instrument is in scope; resolves to how many */
  cancelWorking(scope: KillScope, reason: string): Promise<number>;
}

/** Implemented by the P&L ledger; read by the daily loss limit. */
export interface PnlSource {
  /** the desk's total P&L since the start of the trading day (realized + unrealized, hedges included), in currency */
  deskPnlToday(): number;
}

/**
 * Implemented by engine/risk (hedge order guard, RELIABILITY R1/R2/R5/R6): the hedger asks before
 * each child order and reports orders and fills so order-to-trade ratios and repeated-execution
 * throttles can be kept. `null` = allowed.
 */
export interface HedgeGuard {
  checkOrder(o: { venue: string; iid: number; instrument: string; side: ClientSide; size: number; limitPrice?: number; mid: number; nowMs: number }): HedgeRejection | null;
  onOrder(venue: string, nowMs: number): void;
  onFill(venue: string, size: number, nowMs: number): void;
}
export interface HedgeRejection {
  /** e.g. QE_RISK_COLLAR, QE_RISK_ORDER_SIZE, QE_RISK_OTR, QE_RISK_HEDGE_THROTTLE, QE_KILL_SWITCH… */
  readonly code: ErrorCode;
  readonly message: string;
}
