import t from 'tap';
import { transition } from '../../engine/rfq/machine.js';
import { QueueReason, SizeCheck, type AcceptFacts, type RequestFacts, type RfqRequest, type RfqState, type TraderQuoteFacts } from '../../engine/rfq/types.js';

const T0 = 1_700_000_000_000;
const TTL = 2_000;

function rfq(over: Partial<RfqRequest> = {}): RfqRequest {
  return { rfqId: 'R-1', clientId: 'meridian', reqId: 7, iid: 0, instrument: 'EURUSD', side: 'buy', size: 1e6, limit: NaN, tier: 2, createdMs: T0, origin: 'rfq', ...over };
}
function facts(over: Partial<RequestFacts> = {}): RequestFacts {
  return {
    role: 'client', entitled: true, known: true, marketFirm: true, killed: false, size: SizeCheck.OK, creditOk: true, stressed: false, openRfqs: 0, maxOpen: 50,
    auto: { price: 1.0801, mid: 1.08, bd: [1, 0.5, 0.2, 0, 0, 0] }, quoteId: 'Q-1', ttlMs: TTL, queueTtlMs: 30_000, ...over,
  };
}
function accept(over: Partial<AcceptFacts> = {}): AcceptFacts {
  return { clientId: 'meridian', acceptId: 'a1', tradeId: 'T1', receivedMs: T0 + 10, nowMs: T0 + 10, killed: false, marketFirm: true, midNow: 1.08, toleranceBps: 2, creditOk: true, blocked: null, ...over };
}
function traderQuote(over: Partial<TraderQuoteFacts> = {}): TraderQuoteFacts {
  return { role: 'trader', price: 1.0802, size: 1e6, priceOk: true, sizeOk: true, nowMs: T0 + 100, quoteId: 'Q-2', ttlMs: TTL, refMid: 1.08, killed: false, ...over };
}
function quoted(over: Partial<RfqRequest> = {}): RfqState {
  const r = transition(undefined, { t: 'request', rfq: rfq(over), facts: facts() });
  if (!r.ok || r.next.kind !== 'quoted') throw new Error('setup');
  return r.next;
}
function queued(reason: Partial<RequestFacts> = { marketFirm: false, auto: null }): RfqState {
  const r = transition(undefined, { t: 'request', rfq: rfq(), facts: facts(reason) });
  if (!r.ok || r.next.kind !== 'queued') throw new Error('setup');
  return r.next;
}

t.test('rfq machine - an automated tier within limits gets a firm quote with quoteId, price, size and validUntil = now + ttl', async (t) => {
  const r = transition(undefined, { t: 'request', rfq: rfq(), facts: facts() });
  t.ok(r.ok);
  if (!r.ok || r.next.kind !== 'quoted') return t.fail('not quoted');
  t.equal(r.next.quote.quoteId, 'Q-1');
  t.equal(r.next.quote.price, 1.0801);
  t.equal(r.next.quote.size, 1e6);
  t.equal(r.next.quote.validUntil, T0 + TTL);
  t.equal(r.next.quote.refMid, 1.08);
  t.equal(r.next.quote.by, 'auto');
});

t.test('rfq machine - refusals on request, each with its code', async (t) => {
  const cases: Array<[string, Partial<RequestFacts>, string]> = [
    ['trader role', { role: 'trader' }, 'QE_RFQ_NOT_ENTITLED'],
    ['unknown instrument', { known: false }, 'QE_WS_UNKNOWN_INSTRUMENT'],
    ['not entitled', { entitled: false }, 'QE_RFQ_NOT_ENTITLED'],
    ['too many open', { openRfqs: 50 }, 'QE_RFQ_TOO_MANY_OPEN'],
    ['kill switch', { killed: true }, 'QE_RFQ_KILL_SWITCH'],
    ['bad size', { size: SizeCheck.BAD }, 'QE_RFQ_BAD_SIZE'],
    ['above instrument max', { size: SizeCheck.OVER_HARD }, 'QE_RFQ_SIZE_LIMIT'],
  ];
  for (const [what, f, code] of cases) {
    const r = transition(undefined, { t: 'request', rfq: rfq(), facts: facts(f) });
    t.notOk(r.ok, `${what} refused`);
    if (!r.ok) t.equal(r.code, code, `${what}: ${code}`);
  }
});

t.test('rfq machine - checks run in the documented order: entitlement, instrument state, kill switch, size, credit', async (t) => {
  const code = (f: Partial<RequestFacts>, r = rfq()) => {
    const x = transition(undefined, { t: 'request', rfq: r, facts: facts(f) });
    return x.ok ? (x.next.kind === 'queued' ? `queued:${x.next.reason}` : x.next.kind) : x.code;
  };
  const everything: Partial<RequestFacts> = { entitled: false, marketFirm: false, killed: true, size: SizeCheck.BAD, creditOk: false };
  t.equal(code(everything), 'QE_RFQ_NOT_ENTITLED', 'entitlement first');
  t.equal(code({ ...everything, entitled: true }), 'QE_RFQ_KILL_SWITCH', 'a stale market queues, but the kill switch after it still refuses');
  t.equal(code({ ...everything, entitled: true, killed: false }), 'QE_RFQ_BAD_SIZE', 'size before credit');
  t.equal(code({ ...everything, entitled: true, killed: false, size: SizeCheck.OVER_LIMIT }), 'queued:stale_market', 'first queue reason wins: instrument state');
  t.equal(code({ size: SizeCheck.OVER_LIMIT, creditOk: false }), 'queued:oversize', 'oversize before limit');
  t.equal(code({ creditOk: false }), 'queued:limit');
  t.equal(code({ creditOk: false }, rfq({ tier: 1 })), 'queued:limit', 'limit before tier1');
  t.equal(code({}, rfq({ tier: 1 })), 'queued:tier1', 'tier 1 always goes to a trader');
  t.equal(code({ stressed: true }, rfq({ tier: 1 })), 'queued:stressed', 'a stressed regime is named before tier1');
  t.equal(code({ stressed: true }, rfq({ tier: 2 })), 'queued:stressed', 'the regime routes an automated tier to a trader');
  t.equal(code({ stressed: true, creditOk: false }), 'queued:limit', 'limit before stressed');
  t.equal(code({ auto: null }), 'queued:oversize', 'no band covers the size');
  t.equal(code({}, rfq({ limit: 1.08 })), 'queued:limit_price', 'a buy priced above its limit');
  t.equal(code({}, rfq({ limit: 1.0801 })), 'quoted', 'a buy at its limit is quoted');
  t.equal(code({}, rfq({ side: 'sell', limit: 1.0802 })), 'queued:limit_price', 'a sell priced below its limit');
});

t.test('rfq machine - queued RFQs carry the trader deadline; unanswered they expire at queueTtlMs', async (t) => {
  const q = queued();
  if (q.kind !== 'queued') return t.fail();
  t.equal(q.reason, QueueReason.STALE_MARKET);
  t.equal(q.deadlineMs, T0 + 30_000);
  t.notOk(transition(q, { t: 'expire', nowMs: T0 + 30_000 }).ok, 'not expired at the deadline itself');
  const e = transition(q, { t: 'expire', nowMs: T0 + 30_001 });
  t.ok(e.ok && e.next.kind === 'expired', 'expired 1 ms after');
});

t.test('rfq machine - accept at validUntil − 1 and at validUntil is in time; at validUntil + 1 it is expired (R15)', async (t) => {
  const q = quoted();
  for (const [dt, kind] of [[-1, 'accepted_pending'], [0, 'accepted_pending'], [1, 'expired']] as const) {
    const r = transition(q, { t: 'accept', facts: accept({ receivedMs: T0 + TTL + dt, nowMs: T0 + TTL + dt + 50 }) });
    t.ok(r.ok);
    if (r.ok) t.equal(r.next.kind, kind, `TTL ${dt >= 0 ? '+' : ''}${dt} ms → ${kind}`);
  }
  const late = transition(q, { t: 'expire', nowMs: T0 + TTL + 1 });
  t.ok(late.ok && late.next.kind === 'expired');
  t.notOk(transition(q, { t: 'expire', nowMs: T0 + TTL }).ok, 'the sweep does not expire at validUntil');
});

t.test('rfq machine - expiry is judged on arrival time, not on the end of the last-look hold', async (t) => {
  const r = transition(quoted(), { t: 'accept', facts: accept({ receivedMs: T0 + TTL, nowMs: T0 + TTL + 500 }) });
  t.ok(r.ok && r.next.kind === 'accepted_pending');
});

t.test('rfq machine - last look rejections carry codes and consume the quote', async (t) => {
  const cases: Array<[Partial<AcceptFacts>, string]> = [
    [{ killed: true }, 'QE_RFQ_KILL_SWITCH'],
    [{ marketFirm: false }, 'QE_RFQ_MARKET_NOT_FIRM'],
    [{ midNow: 1.08 * (1 + 2.5e-4) }, 'QE_RFQ_PRICE_MOVED'],
    [{ midNow: 1.08 * (1 - 2.5e-4) }, 'QE_RFQ_PRICE_MOVED'],
    [{ midNow: NaN }, 'QE_RFQ_PRICE_MOVED'],
    [{ creditOk: false }, 'QE_RFQ_CREDIT_LIMIT'],
    [{ blocked: { code: 'QE_RISK_POSITION_LIMIT', reason: 'position limit' } }, 'QE_RISK_POSITION_LIMIT'],
  ];
  for (const [f, code] of cases) {
    const r = transition(quoted(), { t: 'accept', facts: accept(f) });
    t.ok(r.ok);
    if (r.ok && r.next.kind === 'rejected') {
      t.equal(r.next.code, code, code);
      t.equal(r.next.acceptId, 'a1');
      const again = transition(r.next, { t: 'accept', facts: accept(f) });
      t.ok(again.ok && again.next === r.next, 'the same acceptId gets the same rejection');
      const other = transition(r.next, { t: 'accept', facts: accept({ acceptId: 'a2' }) });
      t.notOk(other.ok, 'another acceptId cannot revive the quote');
    } else t.fail(`${code} not rejected`);
  }
  const within = transition(quoted(), { t: 'accept', facts: accept({ midNow: 1.08 * (1 + 1.9e-4) }) });
  t.ok(within.ok && within.next.kind === 'accepted_pending', 'a move inside the tolerance passes');
});

t.test("rfq machine - another client's accept of a quote is refused as unknown and changes nothing", async (t) => {
  const q = quoted();
  const r = transition(q, { t: 'accept', facts: accept({ clientId: 'atlas' }) });
  t.notOk(r.ok);
  if (!r.ok) t.equal(r.code, 'QE_RFQ_UNKNOWN_QUOTE');
});

t.test('rfq machine - accepted quotes: the same acceptId is idempotent, another is refused', async (t) => {
  const p = transition(quoted(), { t: 'accept', facts: accept() });
  if (!p.ok) return t.fail();
  const dup = transition(p.next, { t: 'accept', facts: accept() });
  t.ok(dup.ok && dup.next === p.next, 'duplicate: same state');
  const other = transition(p.next, { t: 'accept', facts: accept({ acceptId: 'a2' }) });
  t.notOk(other.ok);
  if (!other.ok) t.equal(other.code, 'QE_RFQ_QUOTE_USED');
  const booked = transition(p.next, { t: 'booked', seq: 9 });
  t.ok(booked.ok && booked.next.kind === 'booked' && booked.next.seq === 9);
  if (booked.ok) t.ok(transition(booked.next, { t: 'accept', facts: accept() }).ok, 'duplicate after booking');
});

t.test('rfq machine - booking outcomes: unknown then booked; failed = rejected with QE_BOOKING_FAILED', async (t) => {
  const p = transition(quoted(), { t: 'accept', facts: accept() });
  if (!p.ok) return t.fail();
  const u = transition(p.next, { t: 'book_unknown' });
  t.ok(u.ok && u.next.kind === 'booking_unknown');
  if (!u.ok) return;
  const b = transition(u.next, { t: 'booked', seq: 3 });
  t.ok(b.ok && b.next.kind === 'booked');
  const f = transition(p.next, { t: 'book_failed', reason: 'no stream' });
  t.ok(f.ok && f.next.kind === 'rejected' && f.next.code === 'QE_BOOKING_FAILED');
  t.notOk(transition(quoted(), { t: 'booked', seq: 1 }).ok, 'a quote that was never accepted cannot be booked');
});

t.test('rfq machine - trader actions need the trader role; a trader quotes, reprices or rejects', async (t) => {
  const q = queued();
  const asClient = transition(q, { t: 'trader_quote', facts: traderQuote({ role: 'client' }) });
  t.notOk(asClient.ok);
  if (!asClient.ok) t.equal(asClient.code, 'QE_RFQ_NOT_ENTITLED');
  t.notOk(transition(q, { t: 'trader_reject', role: 'client', reason: 'x' }).ok);
  const quotedByTrader = transition(q, { t: 'trader_quote', facts: traderQuote() });
  t.ok(quotedByTrader.ok && quotedByTrader.next.kind === 'quoted');
  if (!quotedByTrader.ok || quotedByTrader.next.kind !== 'quoted') return;
  t.equal(quotedByTrader.next.quote.validUntil, T0 + 100 + TTL, 'validUntil from the trader quote time');
  t.equal(quotedByTrader.next.quote.by, 'trader');
  const repriced = transition(quotedByTrader.next, { t: 'trader_quote', facts: traderQuote({ quoteId: 'Q-3', price: 1.0803 }) });
  t.ok(repriced.ok && repriced.next.kind === 'quoted' && repriced.next.quote.quoteId === 'Q-3', 'reprice: a new quote replaces the old');
  const bad = transition(q, { t: 'trader_quote', facts: traderQuote({ priceOk: false }) });
  t.ok(!bad.ok && bad.code === 'QE_RFQ_BAD_PRICE');
  const badSize = transition(q, { t: 'trader_quote', facts: traderQuote({ sizeOk: false }) });
  t.ok(!badSize.ok && badSize.code === 'QE_RFQ_BAD_SIZE');
  const killed = transition(q, { t: 'trader_quote', facts: traderQuote({ killed: true }) });
  t.ok(!killed.ok && killed.code === 'QE_RFQ_KILL_SWITCH');
  const late = transition(q, { t: 'trader_quote', facts: traderQuote({ nowMs: T0 + 30_001 }) });
  t.ok(late.ok && late.next.kind === 'expired', 'a trader quote after the review deadline finds it expired');
  const rej = transition(q, { t: 'trader_reject', role: 'admin', reason: 'no axe' });
  t.ok(rej.ok && rej.next.kind === 'rejected' && rej.next.code === 'QE_RFQ_TRADER_REJECTED' && rej.next.reason === 'no axe');
});

t.test('rfq machine - a trader quote given on a non-firm market has no reference mid: no move check at accept', async (t) => {
  const q = transition(queued(), { t: 'trader_quote', facts: traderQuote({ refMid: NaN }) });
  if (!q.ok) return t.fail();
  const r = transition(q.next, { t: 'accept', facts: accept({ receivedMs: T0 + 200, marketFirm: false, midNow: NaN }) });
  t.ok(r.ok && r.next.kind === 'accepted_pending');
  const withRef = transition(queued(), { t: 'trader_quote', facts: traderQuote() });
  if (!withRef.ok) return t.fail();
  const r2 = transition(withRef.next, { t: 'accept', facts: accept({ receivedMs: T0 + 200, marketFirm: false }) });
  t.ok(r2.ok && r2.next.kind === 'rejected' && r2.next.code === 'QE_RFQ_MARKET_NOT_FIRM', 'with a reference mid the market must be firm');
});

t.test('rfq machine - events that do not fit the state are refused with a code and change nothing', async (t) => {
  const q = queued();
  const r = transition(q, { t: 'accept', facts: accept() });
  t.ok(!r.ok && r.code === 'QE_RFQ_NOT_QUOTED', 'accept of a queued RFQ');
  const e = transition(quoted(), { t: 'expire', nowMs: T0 + TTL + 1 });
  if (!e.ok) return t.fail();
  const late = transition(e.next, { t: 'accept', facts: accept() });
  t.ok(!late.ok && late.code === 'QE_RFQ_EXPIRED');
  t.ok(!transition(undefined, { t: 'accept', facts: accept() }).ok);
  const dupRequest = transition(q, { t: 'request', rfq: rfq(), facts: facts() });
  t.notOk(dupRequest.ok);
  t.notOk(transition(e.next, { t: 'trader_quote', facts: traderQuote() }).ok, 'an expired RFQ cannot be quoted');
});
