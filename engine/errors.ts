/**
 * Error codes of the engine. Every code here is documented in docs/errors.md
 * (test/engine/errors.test.ts fails when one is missing).
 *
 * Two ways a code travels:
 *  - on the hot path an expected outcome is a *value*: functions return one of
 *    the numeric `Result` codes below (no throw, no allocation);
 *  - at the edges (config, CLI, startup, bugs) an `EngineError` subclass is thrown,
 *    carrying the stable string code and the underlying `cause`.
 */

export const ErrorCode = {
  // configuration
  CONFIG_INVALID: 'QE_CONFIG_INVALID',
  CONFIG_UNREADABLE: 'QE_CONFIG_UNREADABLE',
  // market data (NATS payloads)
  MD_DECODE: 'QE_MD_DECODE',
  MD_SCHEMA: 'QE_MD_SCHEMA',
  MD_UNKNOWN_INSTRUMENT: 'QE_MD_UNKNOWN_INSTRUMENT',
  MD_UNKNOWN_VENUE: 'QE_MD_UNKNOWN_VENUE',
  MD_CROSSED: 'QE_MD_CROSSED',
  MD_DUPLICATE: 'QE_MD_DUPLICATE',
  MD_SEQ_GAP: 'QE_MD_SEQ_GAP',
  MD_OUT_OF_ORDER: 'QE_MD_OUT_OF_ORDER',
  // WebSocket protocol
  WS_AUTH_MISSING: 'QE_WS_AUTH_MISSING',
  WS_AUTH_INVALID: 'QE_WS_AUTH_INVALID',
  WS_AUTH_EXPIRED: 'QE_WS_AUTH_EXPIRED',
  WS_ORIGIN: 'QE_WS_ORIGIN',
  WS_UNKNOWN_CLIENT: 'QE_WS_UNKNOWN_CLIENT',
  WS_DECODE: 'QE_WS_DECODE',
  WS_BAD_MESSAGE: 'QE_WS_BAD_MESSAGE',
  WS_UNKNOWN_INSTRUMENT: 'QE_WS_UNKNOWN_INSTRUMENT',
  WS_NOT_ENTITLED: 'QE_WS_NOT_ENTITLED',
  WS_RATE_LIMITED: 'QE_WS_RATE_LIMITED',
  WS_TOO_MANY_SUBSCRIPTIONS: 'QE_WS_TOO_MANY_SUBSCRIPTIONS',
  WS_SLOW_CONSUMER: 'QE_WS_SLOW_CONSUMER',
  // pricing
  PRICER_TIMEOUT: 'QE_PRICER_TIMEOUT',
  PRICER_FAILED: 'QE_PRICER_FAILED',
  PRICER_BUSY: 'QE_PRICER_BUSY',
  // infrastructure
  NATS_UNAVAILABLE: 'QE_NATS_UNAVAILABLE',
  NATS_SERVER_MISSING: 'QE_NATS_SERVER_MISSING',
  INTERNAL: 'QE_INTERNAL',
  // WebSocket gateway (appended)
  WS_FRAME_TOO_LARGE: 'QE_WS_FRAME_TOO_LARGE',
  GATEWAY_LISTEN: 'QE_GATEWAY_LISTEN',
  // CRM, relationship score, markout (appended)
  CRM_INVALID: 'QE_CRM_INVALID',
  CRM_UNKNOWN_CLIENT: 'QE_CRM_UNKNOWN_CLIENT',
  CRM_CONFLICT: 'QE_CRM_CONFLICT',
  CRM_UNAVAILABLE: 'QE_CRM_UNAVAILABLE',
  CRM_SCORE_PARAMS: 'QE_CRM_SCORE_PARAMS',
  CRM_SCORER_FAILED: 'QE_CRM_SCORER_FAILED',
  // RFQ, accept and trade rejections, carried by {t:'rejected'} (appended)
  RFQ_NOT_ENTITLED: 'QE_RFQ_NOT_ENTITLED',
  RFQ_BAD_SIZE: 'QE_RFQ_BAD_SIZE',
  RFQ_SIZE_LIMIT: 'QE_RFQ_SIZE_LIMIT',
  RFQ_MARKET_NOT_FIRM: 'QE_RFQ_MARKET_NOT_FIRM',
  RFQ_KILL_SWITCH: 'QE_RFQ_KILL_SWITCH',
  RFQ_CREDIT_LIMIT: 'QE_RFQ_CREDIT_LIMIT',
  RFQ_EXPIRED: 'QE_RFQ_EXPIRED',
  RFQ_PRICE_MOVED: 'QE_RFQ_PRICE_MOVED',
  RFQ_UNKNOWN_QUOTE: 'QE_RFQ_UNKNOWN_QUOTE',
  RFQ_UNKNOWN_RFQ: 'QE_RFQ_UNKNOWN_RFQ',
  RFQ_NOT_QUOTED: 'QE_RFQ_NOT_QUOTED',
  RFQ_QUOTE_USED: 'QE_RFQ_QUOTE_USED',
  RFQ_ACCEPT_ID_REUSED: 'QE_RFQ_ACCEPT_ID_REUSED',
  RFQ_TRADER_REJECTED: 'QE_RFQ_TRADER_REJECTED',
  RFQ_BAD_PRICE: 'QE_RFQ_BAD_PRICE',
  RFQ_PRICE_MISMATCH: 'QE_RFQ_PRICE_MISMATCH',
  RFQ_STALE_QUOTE: 'QE_RFQ_STALE_QUOTE',
  RFQ_TOO_MANY_OPEN: 'QE_RFQ_TOO_MANY_OPEN',
  // durable booking and recovery (appended)
  BOOKING_UNKNOWN: 'QE_BOOKING_UNKNOWN',
  BOOKING_FAILED: 'QE_BOOKING_FAILED',
  BOOKING_STREAM: 'QE_BOOKING_STREAM',
  RECOVERY_FAILED: 'QE_RECOVERY_FAILED',
  // venues: simulator replies and the NATS venue adapter (appended; docs/hedging.md § Venue simulator)
  VENUE_DECODE: 'QE_VENUE_DECODE',
  VENUE_BAD_ORDER: 'QE_VENUE_BAD_ORDER',
  VENUE_BAD_SIZE: 'QE_VENUE_BAD_SIZE',
  VENUE_BAD_PRICE: 'QE_VENUE_BAD_PRICE',
  VENUE_UNKNOWN_VENUE: 'QE_VENUE_UNKNOWN_VENUE',
  VENUE_UNKNOWN_INSTRUMENT: 'QE_VENUE_UNKNOWN_INSTRUMENT',
  VENUE_NO_MARKET: 'QE_VENUE_NO_MARKET',
  VENUE_QUIET: 'QE_VENUE_QUIET',
  VENUE_BUSY: 'QE_VENUE_BUSY',
  VENUE_ORDER_CONFLICT: 'QE_VENUE_ORDER_CONFLICT',
  VENUE_UNKNOWN_ORDER: 'QE_VENUE_UNKNOWN_ORDER',
  VENUE_ORDER_DONE: 'QE_VENUE_ORDER_DONE',
  VENUE_NO_LIQUIDITY: 'QE_VENUE_NO_LIQUIDITY',
  VENUE_TIMEOUT: 'QE_VENUE_TIMEOUT',
  VENUE_UNAVAILABLE: 'QE_VENUE_UNAVAILABLE',
  VENUE_BAD_REPLY: 'QE_VENUE_BAD_REPLY',
  // hedge router and its journal (engine/hedging/router.ts, docs/hedging.md § Router)
  HEDGE_JOURNAL: 'QE_HEDGE_JOURNAL',
  HEDGE_UNKNOWN_ORDER: 'QE_HEDGE_UNKNOWN_ORDER',
  HEDGE_UNKNOWN_VENUE: 'QE_HEDGE_UNKNOWN_VENUE',
  HEDGE_BAD_FILL: 'QE_HEDGE_BAD_FILL',
  HEDGE_NO_VENUE: 'QE_HEDGE_NO_VENUE',
  // risk controls and kill switch (engine/risk, docs/risk-controls.md)
  RISK_COLLAR: 'QE_RISK_COLLAR',
  RISK_ORDER_SIZE: 'QE_RISK_ORDER_SIZE',
  RISK_ORDER_VALUE: 'QE_RISK_ORDER_VALUE',
  RISK_POSITION_LIMIT: 'QE_RISK_POSITION_LIMIT',
  RISK_DESK_LIMIT: 'QE_RISK_DESK_LIMIT',
  RISK_THROTTLED: 'QE_RISK_THROTTLED',
  RISK_BALANCE_SHEET: 'QE_RISK_BALANCE_SHEET',
  RISK_LOSS_LIMIT: 'QE_RISK_LOSS_LIMIT',
  RISK_OTR: 'QE_RISK_OTR',
  RISK_HEDGE_THROTTLE: 'QE_RISK_HEDGE_THROTTLE',
  KILL_NOT_AUTHORIZED: 'QE_KILL_NOT_AUTHORIZED',
  KILL_BAD_COMMAND: 'QE_KILL_BAD_COMMAND',
  RISK_AUDIT_FAILED: 'QE_RISK_AUDIT_FAILED',
  // co-pilot, axes and decision audit (engine/copilot, docs/copilot.md)
  COPILOT_UNAVAILABLE: 'QE_COPILOT_UNAVAILABLE',
  COPILOT_TAKEN: 'QE_COPILOT_TAKEN',
  AXE_NO_POSITION: 'QE_AXE_NO_POSITION',
  AXE_UNKNOWN_CLIENT: 'QE_AXE_UNKNOWN_CLIENT',
  AUDIT_STREAM: 'QE_AUDIT_STREAM',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Every code a PreTradeControls (engine/risk/ports.ts) may return for an RFQ, quote or accept: the
 * RFQ service's counters are labelled with this list, so a code missing here cannot be counted.
 */
export const PRE_TRADE_REJECT_CODES = [
  ErrorCode.RISK_COLLAR,
  ErrorCode.RISK_ORDER_SIZE,
  ErrorCode.RISK_ORDER_VALUE,
  ErrorCode.RISK_POSITION_LIMIT,
  ErrorCode.RISK_DESK_LIMIT,
  ErrorCode.RISK_THROTTLED,
  ErrorCode.RISK_BALANCE_SHEET,
  ErrorCode.RISK_LOSS_LIMIT,
] as const;
export type PreTradeRejectCode = (typeof PRE_TRADE_REJECT_CODES)[number];

export class EngineError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Config file or object failed validation; `issues` name each bad field by path. */
export class ConfigError extends EngineError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[], options?: { cause?: unknown }) {
    super(ErrorCode.CONFIG_INVALID, `invalid configuration:\n  ${issues.join('\n  ')}`, options);
    this.issues = issues;
  }
}

export class ProtocolError extends EngineError {}
export class InfrastructureError extends EngineError {}

/** A CRM record, override, axes, score or score parameter was refused; `issues` name each bad field by path. */
export class CrmError extends EngineError {
  readonly issues: readonly string[];
  constructor(code: ErrorCode, message: string, issues: readonly string[] = [], options?: { cause?: unknown }) {
    super(code, issues.length ? `${message}:\n  ${issues.join('\n  ')}` : message, options);
    this.issues = issues;
  }
}

/**
 * Hot-path outcome of applying one market-data message. `OK_*` values changed state;
 * everything else is a rejection that was counted and changed nothing (or quarantined).
 * Indexes into `MD_RESULT_CODE` for the string code used in metrics and logs.
 */
export const MdResult = {
  OK: 0,
  OK_NO_CHANGE: 1,
  DECODE: 2,
  SCHEMA: 3,
  UNKNOWN_INSTRUMENT: 4,
  UNKNOWN_VENUE: 5,
  CROSSED: 6,
  DUPLICATE: 7,
  SEQ_GAP: 8,
  OUT_OF_ORDER: 9,
} as const;
export type MdResult = (typeof MdResult)[keyof typeof MdResult];

export const MD_RESULT_CODE: readonly string[] = [
  'ok',
  'ok',
  ErrorCode.MD_DECODE,
  ErrorCode.MD_SCHEMA,
  ErrorCode.MD_UNKNOWN_INSTRUMENT,
  ErrorCode.MD_UNKNOWN_VENUE,
  ErrorCode.MD_CROSSED,
  ErrorCode.MD_DUPLICATE,
  ErrorCode.MD_SEQ_GAP,
  ErrorCode.MD_OUT_OF_ORDER,
];
