/**
 * WebSocket control messages (docs/protocol.md § WebSocket). Quote frames `{t:'q'}` are defined in
 * engine/wire/quote.ts; everything else a client and the gateway exchange is here.
 *
 * Client requests arrive as msgpack (binary frame) or JSON (text frame), whatever the socket's
 * output format. `parseClientMessage` checks shape only (it knows nothing of the universe) and
 * returns a value for every input: a bad frame is an expected outcome, not a bug.
 */
import { ErrorCode } from '../errors.js';
import { CLIENT_LIMITS } from '../wire/codec.js';

export const ClientKind = { SUB: 'sub', UNSUB: 'unsub', PING: 'ping' } as const;
export type ClientKind = (typeof ClientKind)[keyof typeof ClientKind];

/** Correlation id chosen by the client, echoed on the reply. */
export type RequestId = string | number;

export type ClientMessage =
  | { readonly t: 'sub'; readonly i: readonly string[]; readonly id?: RequestId }
  | { readonly t: 'unsub'; readonly i: readonly string[]; readonly id?: RequestId }
  | { readonly t: 'ping'; readonly id?: RequestId };

export type ParseFailureCode = typeof ErrorCode.WS_BAD_MESSAGE | typeof ErrorCode.WS_DECODE | typeof ErrorCode.WS_NOT_ENTITLED;

export interface ParseFailure {
  readonly t: 'invalid';
  readonly code: ParseFailureCode;
  readonly message: string;
  /** the request's id when it was itself valid, so the error can still be correlated */
  readonly id?: RequestId;
}

export const ServerKind = {
  HELLO: 'hello',
  SUBSCRIBED: 'subscribed',
  UNSUBSCRIBED: 'unsubscribed',
  ERROR: 'error',
  PONG: 'pong',
  STATUS: 'status',
  SLOW: 'slow',
  QUOTE: 'q',
} as const;
export type ServerKind = (typeof ServerKind)[keyof typeof ServerKind];

export interface HelloMessage {
  readonly t: 'hello';
  /** protocol version */
  readonly v: 1;
  readonly client: string;
  readonly tier: 1 | 2 | 3;
  readonly role: string;
  /** tiers whose ladders a `sub` streams: [tier] for a client, [1, 2, 3] for desk roles */
  readonly tiers: readonly (1 | 2 | 3)[];
  readonly format: 'msgpack' | 'json';
  readonly instruments: readonly string[];
  /** tick size of each instrument, parallel to `instruments` */
  readonly ticks: readonly number[];
  /** epoch ms */
  readonly serverTime: number;
  /** the token's expiry, epoch s: the socket is closed with 4001 once it passes (plus skew) */
  readonly exp: number;
  readonly limits: { readonly maxPayloadBytes: number; readonly inboundRatePerSec: number; readonly maxSubscriptions: number };
}
export interface SubscribedMessage { readonly t: 'subscribed'; readonly i: readonly string[]; readonly id?: RequestId }
export interface UnsubscribedMessage { readonly t: 'unsubscribed'; readonly i: readonly string[]; readonly id?: RequestId }
export interface ErrorMessage { readonly t: 'error'; readonly code: ErrorCode; readonly message: string; readonly id?: RequestId }
export interface PongMessage { readonly t: 'pong'; readonly serverTime: number; readonly id?: RequestId }
export interface SlowMessage {
  readonly t: 'slow';
  readonly code: typeof ErrorCode.WS_SLOW_CONSUMER;
  readonly bufferedBytes: number;
  readonly softLimitBytes: number;
  readonly closeAfterMs: number;
  readonly serverTime: number;
}
/** Broadcast state (e.g. `nats: 'disconnected'`) or this socket's new tier after a re-tier; other fields vary. */
export interface StatusMessage {
  readonly t: 'status';
  readonly serverTime: number;
  readonly tier?: 1 | 2 | 3;
  readonly [field: string]: unknown;
}
export type ServerMessage = HelloMessage | SubscribedMessage | UnsubscribedMessage | ErrorMessage | PongMessage | SlowMessage | StatusMessage;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Keys a client might use to pick a tier or a topic itself: refused as an entitlement breach (R17). */
const ENTITLEMENT_KEYS = new Set(['tier', 'tr', 'topic', 'topics']);
/** A request `id`: a string of at most this many characters, or a safe integer; echoed on the reply. */
export const MAX_ID_CHARS = 64;
export const BAD_REQUEST_ID = `id must be a string of at most ${MAX_ID_CHARS} characters or a safe integer`;
const MAX_INSTRUMENT_CHARS = CLIENT_LIMITS.maxStrLength;

/**
 * JSON.parse reviver refusing the same keys the msgpack decoder refuses, at any depth, so both
 * encodings fail a poisoned frame the same way (QE_WS_DECODE).
 */
export function rejectForbiddenKeys(key: string, value: unknown): unknown {
  if (FORBIDDEN_KEYS.has(key)) throw new TypeError(`key "${key}" is not allowed`);
  return value;
}

const bad = (code: ParseFailureCode, message: string, id?: RequestId): ParseFailure =>
  id === undefined ? { t: 'invalid', code, message } : { t: 'invalid', code, message, id };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export function isRequestId(v: unknown): v is RequestId {
  return (typeof v === 'string' && v.length <= MAX_ID_CHARS) || (typeof v === 'number' && Number.isSafeInteger(v));
}

export function parseClientMessage(v: unknown): ClientMessage | ParseFailure {
  const B = ErrorCode.WS_BAD_MESSAGE;
  if (!isPlainObject(v)) return bad(B, 'message must be a map/object');
  let id: RequestId | undefined;
  if (v.id !== undefined) {
    if (!isRequestId(v.id)) return bad(B, BAD_REQUEST_ID);
    id = v.id;
  }
  const t = v.t;
  if (t !== 'sub' && t !== 'unsub' && t !== 'ping') {
    return bad(B, typeof t === 'string' ? `unknown message type ${JSON.stringify(t.slice(0, 32))}` : 't must be a string', id);
  }
  for (const k of Object.keys(v)) {
    if (k === 't' || k === 'id' || (k === 'i' && t !== 'ping')) continue;
    if (FORBIDDEN_KEYS.has(k)) return bad(ErrorCode.WS_DECODE, `key "${k}" is not allowed`, id);
    if (ENTITLEMENT_KEYS.has(k)) return bad(ErrorCode.WS_NOT_ENTITLED, `"${k}" cannot be chosen by a client: tier and topics are assigned by the server`, id);
    return bad(B, `unknown field ${JSON.stringify(k.slice(0, 32))} in ${t}`, id);
  }
  if (t === 'ping') return id === undefined ? { t } : { t, id };
  const i = v.i;
  if (!Array.isArray(i) || i.length === 0 || i.length > CLIENT_LIMITS.maxArrayLength) {
    return bad(B, `i must be a non-empty array of at most ${CLIENT_LIMITS.maxArrayLength} instrument ids`, id);
  }
  for (let k = 0; k < i.length; k++) {
    const s = i[k];
    if (typeof s !== 'string' || s.length === 0 || s.length > MAX_INSTRUMENT_CHARS) return bad(B, `i[${k}] must be a non-empty string`, id);
  }
  return id === undefined ? { t, i: i as string[] } : { t, i: i as string[], id };
}
