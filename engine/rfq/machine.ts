/**
 * The RFQ state machine: a pure `transition(state, event)`. No clock, no I/O, no ids made here:
 * the service gathers the facts (market, CRM, credit, prices, time) into the event and applies
 * the result. Every refusal and every rejection carries a code (STYLE 4: outcomes are values).
 *
 * Checks on a request, in this order (the first refusal wins; among queue reasons, the first):
 *
 *   1. role is 'client'                         else refuse QE_RFQ_NOT_ENTITLED
 *   2. instrument known, client entitled to it  else refuse QE_WS_UNKNOWN_INSTRUMENT / QE_RFQ_NOT_ENTITLED
 *   3. open RFQs below rfq.maxOpenPerClient     else refuse QE_RFQ_TOO_MANY_OPEN
 *   4. instrument state: market firm            else queue  stale_market
 *   5. kill switch off                          else refuse QE_RFQ_KILL_SWITCH
 *   6. size: valid (> 0, lots, ≥ minSize)       else refuse QE_RFQ_BAD_SIZE
 *            ≤ instrument maxSize               else refuse QE_RFQ_SIZE_LIMIT
 *            ≤ CRM / tier limit                 else queue  oversize
 *   7. credit (counting pending accepts)        else queue  limit
 *   8. stress regime routes the tier to a human      queue  stressed
 *   9. tier 1                                        queue  tier1
 *  10. an automatic price exists                else queue  oversize (no band covers the size)
 *  11. within the client's limit price          else queue  limit_price
 *  → quoted (firm: quoteId, price, size, validUntil)
 *
 * Last look on accept (quoted only): in time (received ≤ validUntil, else expired), kill switch,
 * pre-trade controls (engine/risk), market firm and not moved beyond the symmetric tolerance (when the quote has a reference mid),
 * credit still there (counting pending accepts) → accepted_pending.
 */
import { ErrorCode } from '../errors.js';
import { marketMoved } from './lastlook.js';
import { QueueReason, SizeCheck, type RfqEvent, type RfqRejectCode, type RfqState, type Transition } from './types.js';

const refuse = (code: RfqRejectCode, reason: string): Transition => ({ ok: false, code, reason });
const to = (next: RfqState): Transition => ({ ok: true, next });

const TRADER_ROLES: ReadonlySet<string> = new Set(['trader', 'admin']);

export function isTerminal(s: RfqState): boolean {
  return s.kind === 'booked' || s.kind === 'rejected' || s.kind === 'expired';
}

export function transition(state: RfqState | undefined, ev: RfqEvent): Transition {
  if (ev.t === 'request') {
    if (state !== undefined) return refuse(ErrorCode.RFQ_UNKNOWN_RFQ, 'request for an RFQ that already exists');
    const f = ev.facts;
    const rfq = ev.rfq;
    if (f.role !== 'client') return refuse(ErrorCode.RFQ_NOT_ENTITLED, `role ${f.role} may not request quotes`);
    if (!f.known) return refuse(ErrorCode.WS_UNKNOWN_INSTRUMENT, `unknown instrument ${rfq.instrument}`);
    if (!f.entitled) return refuse(ErrorCode.RFQ_NOT_ENTITLED, `not entitled to ${rfq.instrument}`);
    if (f.openRfqs >= f.maxOpen) return refuse(ErrorCode.RFQ_TOO_MANY_OPEN, `at most ${f.maxOpen} open RFQs per client`);
    let queue: QueueReason | null = null;
    if (!f.marketFirm) queue = QueueReason.STALE_MARKET;
    if (f.killed) return refuse(ErrorCode.RFQ_KILL_SWITCH, 'trading is halted');
    if (f.size === SizeCheck.BAD) return refuse(ErrorCode.RFQ_BAD_SIZE, 'size must be a positive whole number of lots, at least the minimum size');
    if (f.size === SizeCheck.OVER_HARD) return refuse(ErrorCode.RFQ_SIZE_LIMIT, 'size above the largest size the desk trades in this instrument');
    if (f.size === SizeCheck.OVER_LIMIT) queue ??= QueueReason.OVERSIZE;
    if (!f.creditOk) queue ??= QueueReason.LIMIT;
    if (f.stressed) queue ??= QueueReason.STRESSED;
    if (rfq.tier === 1) queue ??= QueueReason.TIER1;
    if (queue === null && f.auto === null) queue = QueueReason.OVERSIZE;
    if (queue === null && f.auto !== null && rfq.limit === rfq.limit) {
      const worse = rfq.side === 'buy' ? f.auto.price > rfq.limit : f.auto.price < rfq.limit;
      if (worse) queue = QueueReason.LIMIT_PRICE;
    }
    if (queue !== null || f.auto === null) {
      return to({ kind: 'queued', rfq, reason: queue ?? QueueReason.OVERSIZE, deadlineMs: rfq.createdMs + f.queueTtlMs });
    }
    return to({
      kind: 'quoted',
      rfq,
      quote: { quoteId: f.quoteId, price: f.auto.price, size: rfq.size, quotedMs: rfq.createdMs, validUntil: rfq.createdMs + f.ttlMs, refMid: f.auto.mid, bd: f.auto.bd, by: 'auto' },
    });
  }

  if (state === undefined) {
    return refuse(ev.t === 'accept' ? ErrorCode.RFQ_UNKNOWN_QUOTE : ErrorCode.RFQ_UNKNOWN_RFQ, 'no such RFQ');
  }

  switch (ev.t) {
    case 'trader_quote': {
      const f = ev.facts;
      if (!TRADER_ROLES.has(f.role)) return refuse(ErrorCode.RFQ_NOT_ENTITLED, 'trader role required');
      if (state.kind !== 'queued' && state.kind !== 'quoted') return refuse(ErrorCode.RFQ_NOT_QUOTED, `RFQ is ${state.kind}: nothing to quote`);
      if (state.kind === 'queued' && f.nowMs > state.deadlineMs) return to({ kind: 'expired', rfq: state.rfq });
      if (f.killed) return refuse(ErrorCode.RFQ_KILL_SWITCH, 'trading is halted');
      if (!f.priceOk) return refuse(ErrorCode.RFQ_BAD_PRICE, 'price must be positive, on the tick grid and inside the collar');
      if (!f.sizeOk) return refuse(ErrorCode.RFQ_BAD_SIZE, 'size must be a whole number of lots, at least the minimum and at most the requested size');
      return to({
        kind: 'quoted',
        rfq: state.rfq,
        quote: { quoteId: f.quoteId, price: f.price, size: f.size, quotedMs: f.nowMs, validUntil: f.nowMs + f.ttlMs, refMid: f.refMid, bd: [0, 0, 0, 0, 0, 0], by: 'trader' },
      });
    }
    case 'trader_reject': {
      if (!TRADER_ROLES.has(ev.role)) return refuse(ErrorCode.RFQ_NOT_ENTITLED, 'trader role required');
      if (state.kind !== 'queued' && state.kind !== 'quoted') return refuse(ErrorCode.RFQ_NOT_QUOTED, `RFQ is ${state.kind}: nothing to reject`);
      return to({ kind: 'rejected', rfq: state.rfq, code: ErrorCode.RFQ_TRADER_REJECTED, reason: ev.reason });
    }
    case 'expire': {
      if (state.kind === 'queued' && ev.nowMs > state.deadlineMs) return to({ kind: 'expired', rfq: state.rfq });
      if (state.kind === 'quoted' && ev.nowMs > state.quote.validUntil) return to({ kind: 'expired', rfq: state.rfq, quote: state.quote });
      return refuse(ErrorCode.RFQ_NOT_QUOTED, 'not due');
    }
    case 'accept': {
      const f = ev.facts;
      // a foreign client's quote is indistinguishable from a quote that does not exist
      if (f.clientId !== state.rfq.clientId) return refuse(ErrorCode.RFQ_UNKNOWN_QUOTE, 'no such quote');
      switch (state.kind) {
        case 'quoted': {
          const q = state.quote;
          if (f.receivedMs > q.validUntil) return to({ kind: 'expired', rfq: state.rfq, quote: q });
          const reject = (code: RfqRejectCode, reason: string) => to({ kind: 'rejected', rfq: state.rfq, code, reason, quote: q, acceptId: f.acceptId });
          if (f.killed) return reject(ErrorCode.RFQ_KILL_SWITCH, 'trading is halted');
          if (f.blocked !== null) return reject(f.blocked.code, f.blocked.reason);
          if (q.refMid === q.refMid) {
            if (!f.marketFirm) return reject(ErrorCode.RFQ_MARKET_NOT_FIRM, 'the market is not firm');
            if (marketMoved(q.refMid, f.midNow, f.toleranceBps)) return reject(ErrorCode.RFQ_PRICE_MOVED, 'the market moved beyond the last-look tolerance');
          }
          if (!f.creditOk) return reject(ErrorCode.RFQ_CREDIT_LIMIT, 'credit limit');
          return to({ kind: 'accepted_pending', rfq: state.rfq, quote: q, acceptId: f.acceptId, tradeId: f.tradeId, acceptedMs: f.nowMs });
        }
        case 'accepted_pending':
        case 'booked':
        case 'booking_unknown':
          return state.acceptId === f.acceptId ? to(state) : refuse(ErrorCode.RFQ_QUOTE_USED, 'quote already accepted');
        case 'rejected':
          if (state.acceptId !== undefined && state.acceptId === f.acceptId) return to(state);
          return refuse(state.quote ? ErrorCode.RFQ_QUOTE_USED : ErrorCode.RFQ_NOT_QUOTED, `RFQ was rejected (${state.code})`);
        case 'expired':
          return refuse(ErrorCode.RFQ_EXPIRED, 'quote expired');
        case 'queued':
          return refuse(ErrorCode.RFQ_NOT_QUOTED, 'RFQ is waiting for a trader');
      }
      break;
    }
    case 'booked':
      if (state.kind === 'accepted_pending' || state.kind === 'booking_unknown') {
        return to({ kind: 'booked', rfq: state.rfq, quote: state.quote, acceptId: state.acceptId, tradeId: state.tradeId, seq: ev.seq });
      }
      return state.kind === 'booked' ? to(state) : refuse(ErrorCode.RFQ_NOT_QUOTED, `cannot book an RFQ that is ${state.kind}`);
    case 'book_unknown':
      if (state.kind === 'accepted_pending') return to({ ...state, kind: 'booking_unknown' });
      return state.kind === 'booking_unknown' ? to(state) : refuse(ErrorCode.RFQ_NOT_QUOTED, `no booking in flight (${state.kind})`);
    case 'book_failed':
      if (state.kind === 'accepted_pending' || state.kind === 'booking_unknown') {
        return to({ kind: 'rejected', rfq: state.rfq, code: ErrorCode.BOOKING_FAILED, reason: ev.reason, quote: state.quote, acceptId: state.acceptId });
      }
      return refuse(ErrorCode.RFQ_NOT_QUOTED, `no booking in flight (${state.kind})`);
  }
  return refuse(ErrorCode.RFQ_UNKNOWN_RFQ, 'unexpected event');
}
