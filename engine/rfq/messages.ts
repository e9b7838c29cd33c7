/**
 * RFQ and trade messages on the WebSocket (docs/protocol.md § RFQ and trading). The gateway hands
 * every frame whose `t` is one of RFQ_KINDS to the RFQ service undecoded beyond msgpack/JSON;
 * `parseRfqMessage` checks the shape (values such as sizes are judged later, with a coded
 * rejection) and returns a value for every input.
 */
import { ErrorCode } from '../errors.js';
import { BAD_REQUEST_ID, isRequestId, MAX_ID_CHARS } from '../gateway/messages.js';
import type { Breakdown, QueueReason, RfqStateKind, Side } from './types.js';

export const RfqClientKind = {
  RFQ: 'rfq',
  ACCEPT: 'accept',
  TRADE: 'trade',
  // trader / admin role
  LIST: 'rfqs',
  SCORES: 'scores',
  QUOTE: 'quote',
  REJECT: 'reject',
} as const;
export type RfqClientKind = (typeof RfqClientKind)[keyof typeof RfqClientKind];
export const RFQ_KINDS: ReadonlySet<string> = new Set(Object.values(RfqClientKind));

type Id = string | number;

export type RfqClientMessage =
  | { readonly t: 'rfq'; readonly id?: Id; readonly i: string; readonly side: Side; readonly size: number; readonly limit?: number }
  | { readonly t: 'accept'; readonly quoteId: string; readonly acceptId: string }
  | { readonly t: 'trade'; readonly i: string; readonly side: Side; readonly size: number; readonly price: number; readonly sq?: number; readonly acceptId: string }
  | { readonly t: 'rfqs'; readonly id?: Id }
  | { readonly t: 'scores'; readonly id?: Id }
  | { readonly t: 'quote'; readonly id?: Id; readonly rfqId: string; readonly price: number; readonly size: number }
  | { readonly t: 'reject'; readonly id?: Id; readonly rfqId: string; readonly reason: string };

export interface RfqParseFailure {
  readonly t: 'invalid';
  readonly code: typeof ErrorCode.WS_BAD_MESSAGE | typeof ErrorCode.WS_NOT_ENTITLED | typeof ErrorCode.WS_DECODE;
  readonly message: string;
  readonly id?: Id;
}

// ── server → client ────────────────────────────────────────────────────────────────────────────
export interface RfqStatusMessage {
  readonly t: 'rfq';
  readonly id?: Id;
  readonly rfqId: string;
  readonly i: string;
  readonly side: Side;
  readonly size: number;
  readonly state: RfqStateKind;
  readonly reason?: QueueReason;
  readonly code?: string;
  readonly serverTime: number;
}
export interface QuoteFirmMessage {
  readonly t: 'quote_firm';
  readonly id?: Id;
  readonly rfqId: string;
  readonly quoteId: string;
  readonly i: string;
  readonly side: Side;
  readonly price: number;
  readonly size: number;
  /** server time the quote was made; validUntil = ts + rfq.ttlMs */
  readonly ts: number;
  readonly validUntil: number;
  /** bps of mid: base, vol, hedge, skew, signal, shading (zeros for a trader's quote) */
  readonly bd: Breakdown;
  readonly by: 'auto' | 'trader';
  readonly serverTime: number;
}
export interface TradeConfirmMessage {
  readonly t: 'trade_confirm';
  readonly tradeId: string;
  readonly acceptId: string;
  readonly quoteId: string;
  readonly rfqId: string;
  readonly i: string;
  readonly side: Side;
  readonly size: number;
  readonly price: number;
  /** server time the trade was decided */
  readonly ts: number;
  /** journal (JetStream) sequence */
  readonly seq: number;
  readonly serverTime: number;
}
export interface RejectedMessage {
  readonly t: 'rejected';
  readonly code: string;
  readonly message: string;
  readonly id?: Id;
  readonly rfqId?: string;
  readonly quoteId?: string;
  readonly acceptId?: string;
  readonly serverTime: number;
}
export interface TradeUnknownMessage {
  readonly t: 'trade_unknown';
  readonly code: typeof ErrorCode.BOOKING_UNKNOWN;
  readonly message: string;
  readonly tradeId: string;
  readonly acceptId: string;
  readonly serverTime: number;
}
/** One RFQ as a trader sees it. */
export interface RfqView {
  readonly rfqId: string;
  readonly client: string;
  readonly tier: 1 | 2 | 3;
  readonly i: string;
  readonly side: Side;
  readonly size: number;
  readonly limit: number | null;
  readonly state: RfqStateKind;
  readonly reason: QueueReason | null;
  readonly createdMs: number;
  readonly deadlineMs: number | null;
  readonly quoteId: string | null;
  /** queued with reason `stressed`: the regime and the signals that tripped, e.g. "stressed: vol ratio 3.1" */
  readonly regime: string | null;
  /** size of the firm quote (a trader may quote less than asked), null before one */
  readonly quoteSize: number | null;
  /** who priced the firm quote: auto | trader | stream */
  readonly by: 'auto' | 'trader' | 'stream' | null;
  readonly price: number | null;
  readonly validUntil: number | null;
}
export interface RfqListMessage { readonly t: 'rfqs'; readonly id?: Id; readonly rfqs: readonly RfqView[]; readonly serverTime: number }
/** Pushed to every trader/admin socket when an RFQ enters the queue or changes state. */
export interface RfqQueueMessage { readonly t: 'rfq_queue'; readonly rfq: RfqView; readonly serverTime: number }

export type RfqServerMessage = RfqStatusMessage | QuoteFirmMessage | TradeConfirmMessage | RejectedMessage | TradeUnknownMessage | RfqListMessage | RfqQueueMessage;

// ── parsing ────────────────────────────────────────────────────────────────────────────────────
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** A client names neither tiers, topics nor other clients (R17). */
const ENTITLEMENT_KEYS = new Set(['tier', 'tr', 'topic', 'topics', 'client', 'clientId', 'role']);
const MAX_REASON_CHARS = 200;

const FIELDS: Record<RfqClientKind, { readonly required: readonly string[]; readonly optional: readonly string[] }> = {
  rfq: { required: ['i', 'side', 'size'], optional: ['id', 'limit'] },
  accept: { required: ['quoteId', 'acceptId'], optional: [] },
  trade: { required: ['i', 'side', 'size', 'price', 'acceptId'], optional: ['sq'] },
  rfqs: { required: [], optional: ['id'] },
  scores: { required: [], optional: ['id'] },
  quote: { required: ['rfqId', 'price', 'size'], optional: ['id'] },
  reject: { required: ['rfqId', 'reason'], optional: ['id'] },
};

const bad = (message: string, id?: Id, code: RfqParseFailure['code'] = ErrorCode.WS_BAD_MESSAGE): RfqParseFailure =>
  id === undefined ? { t: 'invalid', code, message } : { t: 'invalid', code, message, id };

const isId = (v: unknown): v is Id => isRequestId(v);
const isToken = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= MAX_ID_CHARS;

/** `v` is a decoded plain object whose `t` is in RFQ_KINDS. */
export function parseRfqMessage(v: Record<string, unknown>): RfqClientMessage | RfqParseFailure {
  const t = v.t as RfqClientKind;
  const spec = FIELDS[t];
  if (spec === undefined) return bad('unknown message type');
  let id: Id | undefined;
  if (v.id !== undefined && spec.optional.includes('id')) {
    if (!isId(v.id)) return bad(BAD_REQUEST_ID);
    id = v.id;
  }
  for (const k of Object.keys(v)) {
    if (k === 't' || spec.required.includes(k) || spec.optional.includes(k)) continue;
    if (FORBIDDEN_KEYS.has(k)) return bad(`key "${k}" is not allowed`, id, ErrorCode.WS_DECODE);
    if (ENTITLEMENT_KEYS.has(k)) return bad(`"${k}" cannot be chosen by a client: the server assigns it`, id, ErrorCode.WS_NOT_ENTITLED);
    return bad(`unknown field ${JSON.stringify(k.slice(0, 32))} in ${t}`, id);
  }
  for (const k of spec.required) if (v[k] === undefined) return bad(`${t} needs ${k}`, id);
  const num = (k: string) => typeof v[k] === 'number';
  const side = v.side;
  if ((t === 'rfq' || t === 'trade') && side !== 'buy' && side !== 'sell') return bad("side must be 'buy' or 'sell'", id);
  if ((t === 'rfq' || t === 'trade') && !isToken(v.i)) return bad('i must be an instrument id', id);
  // sizes and prices must be numbers here; whether they are sane is a coded RFQ rejection later
  for (const k of ['size', 'price', 'limit']) if (v[k] !== undefined && !num(k)) return bad(`${k} must be a number`, id);
  switch (t) {
    case 'rfq': {
      const m = { t, i: v.i as string, side: side as Side, size: v.size as number };
      const withLimit = v.limit === undefined ? m : { ...m, limit: v.limit as number };
      return id === undefined ? withLimit : { ...withLimit, id };
    }
    case 'accept':
      if (!isToken(v.quoteId)) return bad('quoteId must be a string', id);
      if (!isToken(v.acceptId)) return bad(`acceptId must be a string of 1-${MAX_ID_CHARS} characters`, id);
      return { t, quoteId: v.quoteId, acceptId: v.acceptId };
    case 'trade': {
      if (!isToken(v.acceptId)) return bad(`acceptId must be a string of 1-${MAX_ID_CHARS} characters`, id);
      if (v.sq !== undefined && !(typeof v.sq === 'number' && Number.isSafeInteger(v.sq) && v.sq > 0)) return bad('sq must be a positive integer', id);
      const m = { t, i: v.i as string, side: side as Side, size: v.size as number, price: v.price as number, acceptId: v.acceptId };
      return v.sq === undefined ? m : { ...m, sq: v.sq as number };
    }
    case 'rfqs':
    case 'scores':
      return id === undefined ? { t } : { t, id };
    case 'quote': {
      if (!isToken(v.rfqId)) return bad('rfqId must be a string', id);
      const m = { t, rfqId: v.rfqId, price: v.price as number, size: v.size as number };
      return id === undefined ? m : { ...m, id };
    }
    case 'reject': {
      if (!isToken(v.rfqId)) return bad('rfqId must be a string', id);
      if (typeof v.reason !== 'string' || v.reason.length === 0 || v.reason.length > MAX_REASON_CHARS) return bad(`reason must be a string of 1-${MAX_REASON_CHARS} characters`, id);
      const m = { t, rfqId: v.rfqId, reason: v.reason };
      return id === undefined ? m : { ...m, id };
    }
  }
  return bad('unknown message type', id);
}
