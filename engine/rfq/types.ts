/**
 * RFQ domain types: states, events, queue reasons. Wire messages are in messages.ts; these never
 * leave the engine as they are.
 *
 *              request ─┬─ reject (entitlement, kill switch, bad size) ───────────────► (nothing kept)
 *                       ├─ queued (tier1 | oversize | limit | stale_market | limit_price | stressed)
 *                       │     ├─ trader quote ───────────► quoted
 *                       │     ├─ trader reject ──────────► rejected
 *                       │     └─ queueTtlMs passes ──────► expired
 *                       └─ quoted (automated tiers within limits: firm, quoteId, validUntil)
 *                             ├─ accept, last look fails ► rejected | expired
 *                             ├─ ttl passes ────────────► expired
 *                             └─ accept, last look ok ──► accepted_pending ─┬─ PubAck ──────────► booked
 *                                                                         ├─ no PubAck ───────► booking_unknown ─ PubAck ─► booked
 *                                                                         └─ refused by stream ► rejected
 */
import type { ErrorCode, PreTradeRejectCode } from '../errors.js';

export const Side = { BUY: 'buy', SELL: 'sell' } as const;
/** The client's side: 'buy' = the client buys from the desk (at the ask). */
export type Side = (typeof Side)[keyof typeof Side];

export const RfqStateKind = {
  QUEUED: 'queued',
  QUOTED: 'quoted',
  ACCEPTED_PENDING: 'accepted_pending',
  BOOKED: 'booked',
  BOOKING_UNKNOWN: 'booking_unknown',
  REJECTED: 'rejected',
  EXPIRED: 'expired',
} as const;
export type RfqStateKind = (typeof RfqStateKind)[keyof typeof RfqStateKind];

/** Why an RFQ went to the trader queue instead of an automatic firm quote. */
export const QueueReason = {
  /** the client is Tier 1: every Tier-1 RFQ is reviewed by a trader */
  TIER1: 'tier1',
  /** above the client's size limit (CRM maxOrderSize / instrumentMaxSize) or its tier's max, or beyond every band */
  OVERSIZE: 'oversize',
  /** would exceed the client's credit limit (counting pending accepts), or no CRM record (no automatic limits) */
  LIMIT: 'limit',
  /** the instrument's market is not firm (stale, thin, quarantined, no data, disconnected) */
  STALE_MARKET: 'stale_market',
  /** the automatic price is worse for the client than its limit price */
  LIMIT_PRICE: 'limit_price',
  /** the stress regime routes this tier's RFQs on the instrument to a trader (regime.tiers.<t>) */
  STRESSED: 'stressed',
} as const;
export type QueueReason = (typeof QueueReason)[keyof typeof QueueReason];

export type RfqRejectCode =
  | typeof ErrorCode.RFQ_NOT_ENTITLED
  | typeof ErrorCode.WS_UNKNOWN_INSTRUMENT
  | typeof ErrorCode.RFQ_BAD_SIZE
  | typeof ErrorCode.RFQ_SIZE_LIMIT
  | typeof ErrorCode.RFQ_MARKET_NOT_FIRM
  | typeof ErrorCode.RFQ_KILL_SWITCH
  | typeof ErrorCode.RFQ_CREDIT_LIMIT
  | typeof ErrorCode.RFQ_EXPIRED
  | typeof ErrorCode.RFQ_PRICE_MOVED
  | typeof ErrorCode.RFQ_UNKNOWN_QUOTE
  | typeof ErrorCode.RFQ_UNKNOWN_RFQ
  | typeof ErrorCode.RFQ_NOT_QUOTED
  | typeof ErrorCode.RFQ_QUOTE_USED
  | typeof ErrorCode.RFQ_ACCEPT_ID_REUSED
  | typeof ErrorCode.RFQ_TRADER_REJECTED
  | typeof ErrorCode.RFQ_BAD_PRICE
  | typeof ErrorCode.RFQ_PRICE_MISMATCH
  | typeof ErrorCode.RFQ_STALE_QUOTE
  | typeof ErrorCode.RFQ_TOO_MANY_OPEN
  | typeof ErrorCode.BOOKING_FAILED
  | PreTradeRejectCode;

/** What the client asked for. Immutable for the RFQ's life. */
export interface RfqRequest {
  readonly rfqId: string;
  readonly clientId: string;
  /** the client's correlation id, echoed on every message about this RFQ */
  readonly reqId: string | number | undefined;
  readonly iid: number;
  readonly instrument: string;
  readonly side: Side;
  readonly size: number;
  /** limit price (client's worst acceptable), NaN when none */
  readonly limit: number;
  readonly tier: 1 | 2 | 3;
  readonly createdMs: number;
  /** 'rfq' from a request; 'stream' for a trade on a streamed quote (created already quoted) */
  readonly origin: 'rfq' | 'stream';
}

/** Price breakdown of a firm quote, bps of mid: [base, vol, hedge, skew, signal, shading]. */
export type Breakdown = readonly [number, number, number, number, number, number];

export interface FirmQuote {
  readonly quoteId: string;
  /** the price the client deals at (ask for a buy, bid for a sell) */
  readonly price: number;
  readonly size: number;
  readonly quotedMs: number;
  /** inclusive: an accept at nowMs ≤ validUntil is in time */
  readonly validUntil: number;
  /** composite mid the price was made from; NaN for a trader quote given on a non-firm market (no last-look move check) */
  readonly refMid: number;
  readonly bd: Breakdown;
  readonly by: 'auto' | 'trader' | 'stream';
}

export type RfqState =
  | { readonly kind: 'queued'; readonly rfq: RfqRequest; readonly reason: QueueReason; readonly deadlineMs: number }
  | { readonly kind: 'quoted'; readonly rfq: RfqRequest; readonly quote: FirmQuote }
  | { readonly kind: 'accepted_pending'; readonly rfq: RfqRequest; readonly quote: FirmQuote; readonly acceptId: string; readonly tradeId: string; readonly acceptedMs: number }
  | { readonly kind: 'booked'; readonly rfq: RfqRequest; readonly quote: FirmQuote; readonly acceptId: string; readonly tradeId: string; readonly seq: number }
  | { readonly kind: 'booking_unknown'; readonly rfq: RfqRequest; readonly quote: FirmQuote; readonly acceptId: string; readonly tradeId: string; readonly acceptedMs: number }
  | { readonly kind: 'rejected'; readonly rfq: RfqRequest; readonly code: RfqRejectCode; readonly reason: string; readonly quote?: FirmQuote; readonly acceptId?: string }
  | { readonly kind: 'expired'; readonly rfq: RfqRequest; readonly quote?: FirmQuote };

/** Size check outcome, computed by the service from the instrument, the CRM record and the tier. */
export const SizeCheck = { OK: 'ok', BAD: 'bad', OVER_HARD: 'over_hard', OVER_LIMIT: 'over_limit' } as const;
export type SizeCheck = (typeof SizeCheck)[keyof typeof SizeCheck];

/** Facts about a new request, gathered by the service; the machine decides in the documented order. */
export interface RequestFacts {
  readonly role: string;
  readonly entitled: boolean;
  /** instrument exists in the universe */
  readonly known: boolean;
  readonly marketFirm: boolean;
  readonly killed: boolean;
  readonly size: SizeCheck;
  /** the request fits the client's credit with every pending accept counted (false without a CRM record) */
  readonly creditOk: boolean;
  /** the stress regime routes the RFQ to a trader */
  readonly stressed: boolean;
  readonly openRfqs: number;
  readonly maxOpen: number;
  /** automatic firm price for (tier, side, size), or null if none could be made (no band covers the size, gate) */
  readonly auto: { readonly price: number; readonly mid: number; readonly bd: Breakdown } | null;
  readonly quoteId: string;
  readonly ttlMs: number;
  readonly queueTtlMs: number;
}

/** Facts at accept time (after the last-look hold). */
export interface AcceptFacts {
  readonly clientId: string;
  readonly acceptId: string;
  readonly tradeId: string;
  /** server time the accept arrived: expiry is judged on it, not on the end of the hold */
  readonly receivedMs: number;
  readonly nowMs: number;
  readonly killed: boolean;
  readonly marketFirm: boolean;
  readonly midNow: number;
  readonly toleranceBps: number;
  readonly creditOk: boolean;
  /** a pre-trade control refused the trade (engine/risk) */
  readonly blocked: { readonly code: PreTradeRejectCode; readonly reason: string } | null;
}

export interface TraderQuoteFacts {
  readonly role: string;
  readonly price: number;
  readonly size: number;
  /** the price is positive, finite, on the tick grid and inside the collar of the current mid (if any) */
  readonly priceOk: boolean;
  /** 0 < size ≤ requested size, ≥ minSize, a whole number of lots */
  readonly sizeOk: boolean;
  readonly nowMs: number;
  readonly quoteId: string;
  readonly ttlMs: number;
  /** composite mid now when the market is firm, else NaN */
  readonly refMid: number;
  readonly killed: boolean;
}

export type RfqEvent =
  | { readonly t: 'request'; readonly rfq: RfqRequest; readonly facts: RequestFacts }
  | { readonly t: 'trader_quote'; readonly facts: TraderQuoteFacts }
  | { readonly t: 'trader_reject'; readonly role: string; readonly reason: string }
  | { readonly t: 'expire'; readonly nowMs: number }
  | { readonly t: 'accept'; readonly facts: AcceptFacts }
  | { readonly t: 'booked'; readonly seq: number }
  | { readonly t: 'book_unknown' }
  | { readonly t: 'book_failed'; readonly reason: string };

/**
 * A transition either moves to `next` (which may itself be `rejected`/`expired`, carrying the
 * code the client is told) or is refused: the event is invalid for this state and nothing changes.
 */
export type Transition = { readonly ok: true; readonly next: RfqState } | { readonly ok: false; readonly code: RfqRejectCode; readonly reason: string };
