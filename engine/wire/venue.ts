/**
 * Venue order protocol on NATS (docs/hedging.md § Venue simulator). Spoken by the synthetic venue
 * simulator (feeds/venue-sim.ts) and the engine's NATS venue adapter (engine/hedging/venue.ts); a
 * gateway to a real venue would translate between this and the venue's own API (FIX, REST).
 *
 *   request/reply  <prefix>.<venue>.order    VenueOrderWire   → VenueReplyWire
 *   request/reply  <prefix>.<venue>.cancel   VenueCancelWire  → VenueReplyWire
 *   publish        <prefix>.<venue>.fill     VenueFillWire    (one message per execution)
 *
 * Payloads are msgpack maps with the field names below (no short keys: a few messages per second,
 * read by people in logs). `clientOrderId` is the sender's idempotency key on that venue: sending
 * the same order again returns the venue's record of the first one, never a second order.
 *
 * Validation is zod on the cold path (hedge orders, not ticks); every failure is a value naming
 * the first bad field, never a throw.
 */
import type { Decoder } from '@msgpack/msgpack';
import { z } from 'zod';
import { ErrorCode } from '../errors.js';
import { makeDecoder, type DecodeLimits } from './codec.js';

export const DEFAULT_VENUE_PREFIX = 'venue';

export function venueOrderSubject(prefix: string, venue: string): string {
  return `${prefix}.${venue}.order`;
}
export function venueCancelSubject(prefix: string, venue: string): string {
  return `${prefix}.${venue}.cancel`;
}
export function venueFillSubject(prefix: string, venue: string): string {
  return `${prefix}.${venue}.fill`;
}

export const OrderSide = { BUY: 'buy', SELL: 'sell' } as const;
export type OrderSide = (typeof OrderSide)[keyof typeof OrderSide];
export const OrderType = { LIMIT: 'limit', IOC: 'ioc' } as const;
export type OrderType = (typeof OrderType)[keyof typeof OrderType];

/**
 * The order as the venue holds it when it replies:
 *  - filled     nothing left;
 *  - partial    an IOC that filled some and cancelled the rest;
 *  - working    a limit order resting with `leavesSize` > 0 (it may already have fills);
 *  - cancelled  cancelled by request, or an IOC that filled nothing (reason QE_VENUE_NO_LIQUIDITY);
 *  - rejected   nothing was done (reason says why).
 */
export const VenueOrderStatus = {
  FILLED: 'filled',
  PARTIAL: 'partial',
  WORKING: 'working',
  CANCELLED: 'cancelled',
  REJECTED: 'rejected',
} as const;
export type VenueOrderStatus = (typeof VenueOrderStatus)[keyof typeof VenueOrderStatus];

/** Rejection and reason codes a venue reply may carry (engine/errors.ts, docs/errors.md). */
export type VenueReasonCode =
  | typeof ErrorCode.VENUE_DECODE
  | typeof ErrorCode.VENUE_BAD_ORDER
  | typeof ErrorCode.VENUE_BAD_SIZE
  | typeof ErrorCode.VENUE_BAD_PRICE
  | typeof ErrorCode.VENUE_UNKNOWN_VENUE
  | typeof ErrorCode.VENUE_UNKNOWN_INSTRUMENT
  | typeof ErrorCode.VENUE_NO_MARKET
  | typeof ErrorCode.VENUE_QUIET
  | typeof ErrorCode.VENUE_BUSY
  | typeof ErrorCode.VENUE_ORDER_CONFLICT
  | typeof ErrorCode.VENUE_UNKNOWN_ORDER
  | typeof ErrorCode.VENUE_ORDER_DONE
  | typeof ErrorCode.VENUE_NO_LIQUIDITY
  | typeof ErrorCode.INTERNAL;

const VENUE_REASONS = [
  ErrorCode.VENUE_DECODE,
  ErrorCode.VENUE_BAD_ORDER,
  ErrorCode.VENUE_BAD_SIZE,
  ErrorCode.VENUE_BAD_PRICE,
  ErrorCode.VENUE_UNKNOWN_VENUE,
  ErrorCode.VENUE_UNKNOWN_INSTRUMENT,
  ErrorCode.VENUE_NO_MARKET,
  ErrorCode.VENUE_QUIET,
  ErrorCode.VENUE_BUSY,
  ErrorCode.VENUE_ORDER_CONFLICT,
  ErrorCode.VENUE_UNKNOWN_ORDER,
  ErrorCode.VENUE_ORDER_DONE,
  ErrorCode.VENUE_NO_LIQUIDITY,
  ErrorCode.INTERNAL,
] as const;

/** Ids: what NATS tokens and logs tolerate; `:` and `.` allowed so a hedger can write `<tradeId>:<slice>`. */
const ORDER_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
const NAME = /^[A-Za-z0-9_-]{1,32}$/;
const orderId = () => z.string().regex(ORDER_ID, 'must be 1-64 characters of A-Z a-z 0-9 _ . : -');
const name = () => z.string().regex(NAME, 'must be 1-32 characters of A-Z a-z 0-9 _ -');
const price = () => z.number().finite().positive();
/**
 * Any number, NaN and ±Infinity included (msgpack float64 carries them): the venue answers a bad
 * size or price with its own code (QE_VENUE_BAD_SIZE / QE_VENUE_BAD_PRICE), not a shape error.
 */
const anyNumber = () => z.custom<number>((v) => typeof v === 'number', 'expected a number');
const epochMs = () => z.number().finite().nonnegative();

/** Wire request on `<prefix>.<venue>.order`. `size` is validated against the instrument by the venue. */
export const venueOrderWireSchema = z.strictObject({
  /** The sender's own reference (e.g. hedge child id), echoed back. */
  orderId: orderId().optional(),
  /** Idempotency key, unique per venue for the sender's lifetime. */
  clientOrderId: orderId(),
  instrument: name(),
  side: z.enum(['buy', 'sell']),
  type: z.enum(['limit', 'ioc']),
  /** Notional, a multiple of the instrument's lotSize. Checked by the venue (QE_VENUE_BAD_SIZE), not here. */
  size: anyNumber(),
  /** Required for `limit`; optional for `ioc` (a marketable IOC without a limit walks the book). */
  limitPrice: anyNumber().optional(),
  /** Sender's clock, epoch ms. */
  ts: epochMs(),
});
export type VenueOrderWire = z.output<typeof venueOrderWireSchema>;

export const venueCancelWireSchema = z.strictObject({
  clientOrderId: orderId(),
  ts: epochMs(),
});
export type VenueCancelWire = z.output<typeof venueCancelWireSchema>;

export const executionWireSchema = z.strictObject({ price: price(), size: z.number().finite().positive(), ts: epochMs() });
export type ExecutionWire = z.output<typeof executionWireSchema>;

/** At most this many executions travel in one reply (the newest); filledSize/avgPrice cover all. */
export const MAX_REPLY_FILLS = 256;

export const venueReplyWireSchema = z.strictObject({
  /** Echo of the request's orderId, else the venue's id. */
  orderId: z.string().max(64),
  /** Assigned by the venue; empty when nothing was registered (decode errors, unknown venue). */
  venueOrderId: z.string().max(64),
  clientOrderId: z.string().max(64),
  venue: z.string().max(32),
  instrument: z.string().max(32),
  side: z.enum(['buy', 'sell', '']),
  status: z.enum(['filled', 'partial', 'working', 'cancelled', 'rejected']),
  fills: z.array(executionWireSchema).max(MAX_REPLY_FILLS),
  filledSize: z.number().finite().nonnegative(),
  leavesSize: z.number().finite().nonnegative(),
  /** Size-weighted average fill price; 0 when nothing filled. */
  avgPrice: z.number().finite().nonnegative(),
  reason: z.enum(VENUE_REASONS).optional(),
  text: z.string().max(200).optional(),
  /** True when this reply answers a repeated clientOrderId. */
  duplicate: z.boolean().optional(),
  /** Venue clock at the reply, epoch ms. */
  ts: epochMs(),
});
export type VenueReplyWire = z.output<typeof venueReplyWireSchema>;

export const venueFillWireSchema = z.strictObject({
  /** Unique per venue: the key to de-duplicate on (a fill also travels in the order's reply). */
  fillId: z.string().min(1).max(64),
  venue: name(),
  venueOrderId: z.string().min(1).max(64),
  orderId: z.string().max(64),
  clientOrderId: orderId(),
  instrument: name(),
  side: z.enum(['buy', 'sell']),
  price: price(),
  size: z.number().finite().positive(),
  /** What is left of the order after this execution. */
  leavesSize: z.number().finite().nonnegative(),
  ts: epochMs(),
});
export type VenueFillWire = z.output<typeof venueFillWireSchema>;

/**
 * Decoder limits: one order is ≤ 8 keys of short strings and numbers; a reply's `fills` array is
 * capped at MAX_REPLY_FILLS.
 */
export const VENUE_LIMITS: DecodeLimits = { maxStrLength: 200, maxArrayLength: MAX_REPLY_FILLS, maxMapLength: 16 };

export function makeVenueDecoder(): Decoder {
  return makeDecoder(VENUE_LIMITS);
}

export type WireParse<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: typeof ErrorCode.VENUE_DECODE | typeof ErrorCode.VENUE_BAD_ORDER; readonly message: string };

/** Decodes and validates `payload` against `schema`; a decoder failure is DECODE, a shape failure BAD_ORDER. */
export function parseVenueWire<S extends z.ZodType>(decoder: Decoder, payload: Uint8Array, schema: S): WireParse<z.output<S>> {
  let m: unknown;
  try {
    m = decoder.decode(payload);
  } catch (err) {
    // Any decoder failure (truncated, over a limit, forbidden key, trailing bytes) is the same
    // answer to the sender; nothing was registered.
    return { ok: false, code: ErrorCode.VENUE_DECODE, message: `not a msgpack map within limits: ${(err as Error).message}` };
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return { ok: false, code: ErrorCode.VENUE_BAD_ORDER, message: 'payload must be a map' };
  const r = schema.safeParse(m);
  if (!r.success) {
    const i = r.error.issues[0];
    return { ok: false, code: ErrorCode.VENUE_BAD_ORDER, message: `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}` };
  }
  return { ok: true, value: r.data };
}
