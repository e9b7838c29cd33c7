/**
 * The hedger's view of a venue: place, cancel, and a stream of fills. `NatsVenueAdapter` talks to
 * the synthetic venues (feeds/venue-sim.ts) over the NATS protocol in engine/wire/venue.ts; an
 * adapter for a real venue (FIX session, REST/WebSocket API) implements the same interface, so the
 * hedger never knows which one it drives.
 *
 * Contract every implementation keeps:
 *  - `place` and `cancel` never throw for an outcome: a rejection, a timeout or a broken reply is a
 *    result with a status and a code (STYLE 4). They reject only on a bug (e.g. called after close).
 *  - `clientOrderId` is the idempotency key per venue. After a timeout or a crash the caller resends
 *    the same order with the same id and gets the venue's record of it, never a second order.
 *  - status `unknown` means the order may or may not be live at the venue: resend with the same id.
 *  - every execution is delivered to `onFill` listeners with a venue-unique `fillId`; the same
 *    execution also appears in the `fills` of the reply that caused it, so consumers de-duplicate on
 *    `fillId`.
 */
import type { NatsConnection, Subscription } from 'nats';
import { ErrorCode as NatsErrorCode } from 'nats';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { ErrorCode } from '../errors.js';
import { encodeOwned } from '../wire/codec.js';
import {
  DEFAULT_VENUE_PREFIX,
  makeVenueDecoder,
  parseVenueWire,
  venueCancelSubject,
  venueFillWireSchema,
  venueOrderSubject,
  venueReplyWireSchema,
  type OrderSide,
  type OrderType,
  type VenueOrderStatus,
  type VenueReasonCode,
  type VenueReplyWire,
} from '../wire/venue.js';

export interface VenueOrderRequest {
  readonly venue: string;
  readonly instrument: string;
  readonly side: OrderSide;
  readonly type: OrderType;
  /** Notional, a multiple of the instrument's lotSize. */
  readonly size: number;
  /** Required for `limit`, on the instrument's tick. */
  readonly limitPrice?: number;
  /** Idempotency key on that venue. */
  readonly clientOrderId: string;
  /** The caller's own reference (e.g. `<hedgeId>:<slice>`), echoed on replies and fills. */
  readonly orderId?: string;
}

export interface VenueExecution {
  readonly price: number;
  readonly size: number;
  readonly ts: number;
}

/** A venue status, or `unknown` when the adapter could not learn the outcome. */
export type VenueResultStatus = VenueOrderStatus | 'unknown';

export type VenueResultCode =
  | VenueReasonCode
  | typeof ErrorCode.VENUE_TIMEOUT
  | typeof ErrorCode.VENUE_UNAVAILABLE
  | typeof ErrorCode.VENUE_BAD_REPLY;

export interface VenueOrderResult {
  readonly venue: string;
  readonly clientOrderId: string;
  readonly orderId: string;
  /** '' when the venue registered nothing (or the outcome is unknown). */
  readonly venueOrderId: string;
  readonly instrument: string;
  readonly status: VenueResultStatus;
  readonly fills: readonly VenueExecution[];
  readonly filledSize: number;
  readonly leavesSize: number;
  /** Size-weighted average fill price; NaN when nothing filled. */
  readonly avgPrice: number;
  readonly reason?: VenueResultCode;
  readonly text?: string;
  /** The venue answered a repeated clientOrderId with its record of the first order. */
  readonly duplicate: boolean;
}

export interface VenueFill {
  readonly fillId: string;
  readonly venue: string;
  readonly venueOrderId: string;
  readonly orderId: string;
  readonly clientOrderId: string;
  readonly instrument: string;
  readonly side: OrderSide;
  readonly price: number;
  readonly size: number;
  readonly leavesSize: number;
  readonly ts: number;
}

export interface VenueAdapter {
  place(order: VenueOrderRequest): Promise<VenueOrderResult>;
  cancel(venue: string, clientOrderId: string): Promise<VenueOrderResult>;
  /** Registers a listener for every fill on every venue; returns a function that removes it. */
  onFill(listener: (fill: VenueFill) => void): () => void;
  close(): Promise<void>;
}

export interface NatsVenueAdapterOptions {
  readonly nc: NatsConnection;
  /** Subject root (default `venue`). */
  readonly prefix?: string;
  /** No reply within this long → status `unknown`, QE_VENUE_TIMEOUT. */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
}

export interface NatsVenueAdapterStats {
  requests: number;
  timeouts: number;
  unavailable: number;
  badReplies: number;
  fills: number;
  badFills: number;
  listenerErrors: number;
}

const DEFAULT_TIMEOUT_MS = 2_000;

export class NatsVenueAdapter implements VenueAdapter {
  readonly stats: NatsVenueAdapterStats = { requests: 0, timeouts: 0, unavailable: 0, badReplies: 0, fills: 0, badFills: 0, listenerErrors: 0 };
  private readonly nc: NatsConnection;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly decoder = makeVenueDecoder();
  private readonly listeners = new Set<(fill: VenueFill) => void>();
  private fillSub: Subscription | undefined;
  private closed = false;

  constructor(opts: NatsVenueAdapterOptions) {
    this.nc = opts.nc;
    this.prefix = opts.prefix ?? DEFAULT_VENUE_PREFIX;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.clock = opts.clock ?? systemClock;
    if (!(Number.isFinite(this.timeoutMs) && this.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${this.timeoutMs}`);
  }

  place(order: VenueOrderRequest): Promise<VenueOrderResult> {
    const body: Record<string, unknown> = {
      clientOrderId: order.clientOrderId,
      instrument: order.instrument,
      side: order.side,
      type: order.type,
      size: order.size,
      ts: this.clock.nowMs(),
    };
    if (order.orderId !== undefined) body.orderId = order.orderId;
    if (order.limitPrice !== undefined) body.limitPrice = order.limitPrice;
    const base = { venue: order.venue, clientOrderId: order.clientOrderId, orderId: order.orderId ?? '', instrument: order.instrument };
    return this.request(venueOrderSubject(this.prefix, order.venue), body, base);
  }

  cancel(venue: string, clientOrderId: string): Promise<VenueOrderResult> {
    const base = { venue, clientOrderId, orderId: '', instrument: '' };
    return this.request(venueCancelSubject(this.prefix, venue), { clientOrderId, ts: this.clock.nowMs() }, base);
  }

  onFill(listener: (fill: VenueFill) => void): () => void {
    if (this.closed) throw new Error('NatsVenueAdapter: onFill after close');
    this.listeners.add(listener);
    if (!this.fillSub) {
      this.fillSub = this.nc.subscribe(`${this.prefix}.*.fill`, { callback: (_err, msg) => this.deliver(msg.subject, msg.data) });
    }
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    if (this.fillSub && !this.nc.isClosed()) this.fillSub.unsubscribe();
    this.fillSub = undefined;
  }

  private deliver(subject: string, data: Uint8Array): void {
    const r = parseVenueWire(this.decoder, data, venueFillWireSchema);
    // The venue token of the subject must match the payload: a fill published under another
    // venue's subject is someone else's mistake, not an execution of ours.
    if (!r.ok || subject !== `${this.prefix}.${r.value.venue}.fill`) {
      this.stats.badFills++;
      return;
    }
    this.stats.fills++;
    const f = r.value;
    const fill: VenueFill = {
      fillId: f.fillId,
      venue: f.venue,
      venueOrderId: f.venueOrderId,
      orderId: f.orderId,
      clientOrderId: f.clientOrderId,
      instrument: f.instrument,
      side: f.side,
      price: f.price,
      size: f.size,
      leavesSize: f.leavesSize,
      ts: f.ts,
    };
    for (const l of this.listeners) {
      try {
        l(fill);
      } catch {
        // A listener that throws is a bug in that listener; the others and the subscription must
        // keep receiving fills, so it is counted here rather than allowed to unwind the callback.
        this.stats.listenerErrors++;
      }
    }
  }

  private async request(
    subject: string,
    body: Record<string, unknown>,
    base: { venue: string; clientOrderId: string; orderId: string; instrument: string },
  ): Promise<VenueOrderResult> {
    if (this.closed) throw new Error('NatsVenueAdapter: request after close');
    this.stats.requests++;
    const noOutcome = (status: VenueResultStatus, reason: VenueResultCode, text: string): VenueOrderResult => ({
      ...base,
      venueOrderId: '',
      status,
      fills: [],
      filledSize: 0,
      leavesSize: 0,
      avgPrice: Number.NaN,
      reason,
      text,
      duplicate: false,
    });
    let data: Uint8Array;
    try {
      const msg = await this.nc.request(subject, encodeOwned(body), { timeout: this.timeoutMs });
      data = msg.data;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === NatsErrorCode.NoResponders) {
        this.stats.unavailable++;
        return noOutcome('rejected', ErrorCode.VENUE_UNAVAILABLE, `no venue is listening on ${subject}`);
      }
      if (code === NatsErrorCode.ConnectionClosed || code === NatsErrorCode.ConnectionDraining || this.nc.isClosed()) {
        this.stats.unavailable++;
        return noOutcome('rejected', ErrorCode.VENUE_UNAVAILABLE, 'NATS connection closed: the order was not sent');
      }
      // Timeout, or a disconnect after the request left: the venue may have the order.
      this.stats.timeouts++;
      return noOutcome('unknown', ErrorCode.VENUE_TIMEOUT, `no reply on ${subject} within ${this.timeoutMs} ms (${code ?? (err as Error).message}): resend with the same clientOrderId`);
    }
    const r = parseVenueWire(this.decoder, data, venueReplyWireSchema);
    if (!r.ok) {
      this.stats.badReplies++;
      return noOutcome('unknown', ErrorCode.VENUE_BAD_REPLY, `unreadable reply on ${subject}: ${r.message}`);
    }
    return fromReply(r.value, base.venue);
  }
}

function fromReply(w: VenueReplyWire, venue: string): VenueOrderResult {
  return {
    venue,
    clientOrderId: w.clientOrderId,
    orderId: w.orderId,
    venueOrderId: w.venueOrderId,
    instrument: w.instrument,
    status: w.status,
    fills: w.fills,
    filledSize: w.filledSize,
    leavesSize: w.leavesSize,
    avgPrice: w.filledSize > 0 ? w.avgPrice : Number.NaN,
    ...(w.reason !== undefined && { reason: w.reason }),
    ...(w.text !== undefined && { text: w.text }),
    duplicate: w.duplicate === true,
  };
}
