/**
 * The RFQ service: the gateway's request handler for rfq / accept / trade and the trader actions.
 * It gathers facts (market, CRM, credit, prices, the server clock), asks the pure state machine
 * (machine.ts) what happens, applies the answer and tells the client. It is the RFQ *path*, apart
 * from the hot path: it reads market state and published ladders, and writes nothing the hot path
 * owns (inventory changes arrive through booking → Inventory.applyTrade → onChange → re-skew).
 *
 *   accept ──► idempotency (journal by acceptId, then in-flight accepts) ──► last-look hold
 *          ──► machine: accept ──► accepted_pending: reserve credit, publish to the journal
 *          ──► PubAck ──► booking.record ──► onBooked: credit net, booked, trade_confirm
 *
 * Idempotency (R18): an accept is keyed by (client, acceptId). A key the journal knows answers
 * with that trade's confirmation; a key in flight queues the duplicate and answers it with the
 * same result when it settles; a decided key answers with the stored result. The journal is
 * replayed at start-up, so this holds across restarts for every booked trade.
 */
import type { Registry } from 'prom-client';
import type { Role } from '../auth/token.js';
import type { BookedTrade, BookingPort, BookOutcome } from '../booking/booking.js';
import { deskQty, type TradeRecord } from '../booking/trade.js';
import type { Clock } from '../clock.js';
import type { Tier, Universe } from '../config.js';
import type { ClientDirectory, ClientRecord } from '../crm/types.js';
import { ErrorCode, PRE_TRADE_REJECT_CODES, type PreTradeRejectCode } from '../errors.js';
import type { OutboundMessage, RequestHandler, RequestRefusal, Session } from '../gateway/gateway.js';
import type { Logger, StreamedQuote } from '../hotpath.js';
import type { Inventory } from '../inventory/index.js';
import type { PreTradeControls, PreTradeRequest, RegimeView } from '../risk/ports.js';
import { InstrumentStatus, type MarketState } from '../market/index.js';
import { HotCounter, readGauge } from '../metrics.js';
import { acceptKey, IdSource, tradeIdFor } from './ids.js';
import { moveBps } from './lastlook.js';
import { isTerminal, transition } from './machine.js';
import { parseRfqMessage, RFQ_KINDS, type RfqClientMessage, type RfqView } from './messages.js';
import { ceilTick, checkSize, FirmPricer, floorTick, onTick, shadingBps, sizeLimit } from './pricing.js';
import { CreditBook } from './credit.js';
import { SizeCheck, type RfqStateKind, type FirmQuote, type RfqRejectCode, type RfqRequest, type RfqState, type Side } from './types.js';

/** An RFQ's change of state, for listeners (co-pilot, decision audit, trader screen). */
export interface RfqEvent {
  readonly rfqId: string;
  /** the trader's view after the change */
  readonly view: RfqView;
  /** the state before (null: just created) */
  readonly prev: RfqStateKind | null;
  /** who caused it when a trader acted (quote, reject); absent for the client and the clock */
  readonly actor?: { readonly client: string; readonly role: string };
}
export type RfqEventListener = (e: RfqEvent) => void;

/** R7 hook: true = no new RFQ quotes, no accepts. Scopes are up to the provider. */
export interface KillSwitch {
  engaged(clientId: string, iid: number): boolean;
}
export const KILL_SWITCH_OFF: KillSwitch = { engaged: () => false };

export interface Outbox {
  sendTo(session: Session, msg: OutboundMessage): boolean;
  sendToClient(clientId: string, msg: OutboundMessage): number;
  sendToRole(role: Role, msg: OutboundMessage): number;
}

export interface StreamSource {
  streamedQuote(tier: number, iid: number, sq?: number): StreamedQuote | null;
  readonly isFeedConnected: boolean;
}

export interface RfqServiceDeps {
  readonly universe: Universe;
  readonly clock: Clock;
  readonly market: MarketState;
  readonly stream: StreamSource;
  readonly inventory: Inventory;
  readonly booking: BookingPort;
  readonly out: Outbox;
  /** the server-side tier of a client (the gateway's, which follows re-tiering) */
  readonly tierOf: (clientId: string) => Tier | undefined;
  readonly registry: Registry;
  readonly log: Logger;
  /** CRM read side; without it (or without a record) nothing is automatic: RFQs queue with reason `limit` */
  readonly directory?: ClientDirectory;
  readonly killSwitch?: KillSwitch;
  /** default: every client may trade every instrument of the universe (what `hello.instruments` lists) */
  readonly entitled?: (clientId: string, iid: number) => boolean;
  readonly ids?: IdSource;
}

interface RfqEntry {
  state: RfqState;
  changedMs: number;
}

interface AcceptEntry {
  readonly key: string;
  readonly clientId: string;
  readonly acceptId: string;
  /** what was accepted: `q:<quoteId>` or the streamed trade's terms; a reuse for something else is refused */
  readonly ref: string;
  status: 'deciding' | 'pending' | 'unknown' | 'done';
  rfqId: string;
  waiters: Session[];
  result?: OutboundMessage;
  trade?: TradeRecord;
  reservation?: { readonly iid: number; readonly side: Side; readonly size: number };
  firstAttemptMs: number;
  retryTimer?: NodeJS.Timeout;
  doneMs: number;
}

const TRADER_ROLES: ReadonlySet<string> = new Set(['trader', 'admin']);
const ALL_REJECT_CODES: readonly RfqRejectCode[] = [
  ...PRE_TRADE_REJECT_CODES,
  ErrorCode.RFQ_NOT_ENTITLED, ErrorCode.WS_UNKNOWN_INSTRUMENT, ErrorCode.RFQ_BAD_SIZE, ErrorCode.RFQ_SIZE_LIMIT,
  ErrorCode.RFQ_MARKET_NOT_FIRM, ErrorCode.RFQ_KILL_SWITCH, ErrorCode.RFQ_CREDIT_LIMIT, ErrorCode.RFQ_EXPIRED,
  ErrorCode.RFQ_PRICE_MOVED, ErrorCode.RFQ_UNKNOWN_QUOTE, ErrorCode.RFQ_UNKNOWN_RFQ, ErrorCode.RFQ_NOT_QUOTED,
  ErrorCode.RFQ_QUOTE_USED, ErrorCode.RFQ_ACCEPT_ID_REUSED, ErrorCode.RFQ_TRADER_REJECTED, ErrorCode.RFQ_BAD_PRICE,
  ErrorCode.RFQ_PRICE_MISMATCH, ErrorCode.RFQ_STALE_QUOTE, ErrorCode.RFQ_TOO_MANY_OPEN, ErrorCode.BOOKING_FAILED,
];

const isOpen = (s: RfqState) => s.kind === 'queued' || s.kind === 'quoted';

export class RfqService implements RequestHandler {
  readonly kinds = RFQ_KINDS;
  private readonly u: Universe;
  private readonly cfg: Universe['config']['rfq'];
  private readonly clock: Clock;
  private readonly ids: IdSource;
  private readonly pricer: FirmPricer;
  readonly credit = new CreditBook();
  private kill: KillSwitch;
  /** pre-trade risk controls (engine/risk); set by its module before start() */
  controls: PreTradeControls | undefined;
  /** stress regime (engine/risk/attach-regime.ts): routes RFQs to a trader, shrinks automatic sizes */
  regime: RegimeView | undefined;
  /** co-pilot (engine/copilot): a shown axe improves the client's automatic price; returns the price to quote */
  priceAdjust: ((clientId: string, iid: number, side: Side, autoPrice: number, nowMs: number) => number) | undefined;
  /** co-pilot: refuses a trader action on an RFQ another trader took over (rfq_take) */
  traderGuard: ((s: Session, rfqId: string) => { code: string; message: string } | null) | undefined;
  private readonly listeners: RfqEventListener[] = [];
  /** stress note per queued RFQ: which regime sent it to a human */
  private readonly regimeNote = new Map<string, string>();
  private readonly rfqs = new Map<string, RfqEntry>();
  private readonly byQuote = new Map<string, string>();
  private readonly openByClient = new Map<string, number>();
  private readonly accepts = new Map<string, AcceptEntry>();
  private readonly pendingByTrade = new Map<string, AcceptEntry>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly requestsTotal: HotCounter;
  private readonly acceptsTotal: HotCounter;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly d: RfqServiceDeps) {
    this.u = d.universe;
    this.cfg = d.universe.config.rfq;
    this.clock = d.clock;
    this.ids = d.ids ?? new IdSource();
    this.pricer = new FirmPricer(d.universe.config);
    this.kill = d.killSwitch ?? KILL_SWITCH_OFF;
    this.requestsTotal = new HotCounter(d.registry, 'qe_rfq_requests_total', 'RFQ requests by outcome: quoted (automatic firm quote), queued (trader), or the refusal code', 'outcome', ['quoted', 'queued', ...ALL_REJECT_CODES]);
    this.acceptsTotal = new HotCounter(d.registry, 'qe_rfq_accepts_total', 'Accepts and streamed trades by result: booked, unknown (booking outcome unknown), duplicate (answered from an earlier result), or the rejection code', 'result', ['booked', 'unknown', 'duplicate', ...ALL_REJECT_CODES]);
    readGauge(d.registry, 'qe_rfq_open', 'RFQs queued or quoted', () => this.countOpen());
    readGauge(d.registry, 'qe_rfq_booking_unknown', 'Accepted trades whose booking outcome is unknown', () => this.countUnknown());
    d.booking.onBooked((b, replay) => this.onBooked(b, replay));
  }

  /** R7 kill switch provider (engine/risk). */
  set killSwitch(k: KillSwitch) {
    this.kill = k;
  }

  /** Every state change of an RFQ a trader sees (origin 'rfq'); listeners must not throw (errors are logged). */
  onEvent(listener: RfqEventListener): void {
    this.listeners.push(listener);
  }

  /** Starts the expiry/retention sweep. */
  start(): void {
    if (this.sweepTimer === null && !this.closed) this.sweepTimer = setInterval(() => this.sweep(), this.cfg.sweepMs);
  }

  close(): void {
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const e of this.accepts.values()) if (e.retryTimer) clearTimeout(e.retryTimer);
  }

  // ── gateway entry point ──────────────────────────────────────────────────────────────────────

  handle(session: Session, raw: Record<string, unknown>): RequestRefusal | void {
    const m = parseRfqMessage(raw);
    if (m.t === 'invalid') return m.id === undefined ? { code: m.code, message: m.message } : { code: m.code, message: m.message, id: m.id };
    this.dispatch(session, m);
  }

  dispatch(s: Session, m: RfqClientMessage): void {
    if (this.closed) return;
    switch (m.t) {
      case 'rfq': return this.request(s, m);
      case 'accept': return this.accept(s, m.quoteId, m.acceptId);
      case 'trade': return this.tradeOnStream(s, m);
      case 'rfqs': return this.list(s, m.id);
      case 'scores': return this.scores(s, m.id);
      case 'quote': return this.traderQuote(s, m);
      case 'reject': return this.traderReject(s, m);
    }
  }

  // ── request ──────────────────────────────────────────────────────────────────────────────────

  private request(s: Session, m: Extract<RfqClientMessage, { t: 'rfq' }>): void {
    const now = this.clock.nowMs();
    if (m.limit !== undefined && !(m.limit > 0 && Number.isFinite(m.limit))) {
      this.requestsTotal.incLabel(ErrorCode.RFQ_BAD_PRICE);
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_BAD_PRICE, 'limit must be a positive price', { id: m.id }));
      return;
    }
    const iid = this.u.instrumentIndex.get(m.i);
    const known = iid !== undefined;
    const ins = known ? this.u.config.instruments[iid] : undefined;
    const tier = this.d.tierOf(s.client) ?? s.tier;
    const rec = this.d.directory?.get(s.client);
    const limit = m.limit === undefined ? NaN : m.limit;
    const rfq: RfqRequest = {
      rfqId: this.ids.rfqId(), clientId: s.client, reqId: m.id, iid: iid ?? -1, instrument: m.i, side: m.side, size: m.size,
      limit, tier, createdMs: now, origin: 'rfq',
    };
    let size: SizeCheck = SizeCheck.BAD;
    let marketFirm = false;
    let creditOk = false;
    let auto = null;
    let killed = false;
    let stressed = false;
    if (ins !== undefined && iid !== undefined) {
      const ra = this.regime?.action(iid, tier);
      stressed = ra !== undefined && (ra.routeRfqToTrader || ra.mode !== 'firm');
      const sizeMult = ra !== undefined && ra.sizeMult > 0 && ra.sizeMult <= 1 ? ra.sizeMult : 1;
      size = checkSize(m.size, ins, sizeLimit(rec, ins, this.u.config.tiers[String(tier) as '1' | '2' | '3'].maxSize) * sizeMult);
      marketFirm = this.marketFirm(iid);
      // risk limits judge well-formed requests only: a malformed size keeps its own code (QE_RFQ_BAD_SIZE / SIZE_LIMIT)
      const wellFormed = s.role === 'client' && (size === SizeCheck.OK || size === SizeCheck.OVER_LIMIT);
      const blocked = wellFormed ? this.controls?.checkRfq(this.preTrade(s.client, tier, iid, m.side, m.size, undefined, now)) : undefined;
      if (blocked) {
        this.requestsTotal.incLabel(blocked.code);
        this.d.out.sendTo(s, this.rejected(blocked.code, blocked.message, { id: m.id }));
        return;
      }
      killed = this.kill.engaged(s.client, iid);
      const sizeUsable = size === SizeCheck.OK || size === SizeCheck.OVER_LIMIT;
      creditOk = sizeUsable && this.creditOk(rec, s.client, iid, m.side, m.size);
      if (marketFirm && sizeUsable) {
        const mk = this.d.market;
        const p = this.pricer.price(iid, tier, m.side, m.size, {
          mid: mk.mid[iid], volFastBps: mk.volFastBps[iid], volSlowBps: mk.volSlowBps[iid], position: this.d.inventory.position[iid],
          imbalance: mk.imbalance[iid], compHalfSpreadBps: mk.halfSpreadBps[iid],
        }, shadingBps(rec, ins));
        if (p !== null) {
          // the balance sheet is not free: the funding cost of inventory this trade adds is in the price
          const f = this.controls?.fundingCostBps?.(iid, tier, m.side === 'buy' ? -m.size : m.size) ?? 0;
          const px = !(f > 0) ? p.price : m.side === 'buy' ? ceilTick(p.price * (1 + f / 1e4), ins.tickSize) : floorTick(p.price * (1 - f / 1e4), ins.tickSize);
          auto = { price: px, mid: p.mid, bd: p.bd };
        }
      }
      if (auto !== null && !stressed && tier !== 1) {
        if (this.priceAdjust !== undefined) {
          const adj = this.priceAdjust(s.client, iid, m.side, auto.price, now);
          // an axe only ever improves the client's price, and never into nonsense
          if (adj > 0 && Number.isFinite(adj) && (m.side === 'buy' ? adj <= auto.price : adj >= auto.price)) auto = { ...auto, price: adj };
        }
        // the automatic price is about to be sent firm: the controls see it first
        const b = this.controls?.checkQuote(this.preTrade(s.client, tier, iid, m.side, m.size, auto.price, now));
        if (b) {
          this.requestsTotal.incLabel(b.code);
          this.d.out.sendTo(s, this.rejected(b.code, b.message, { id: m.id }));
          return;
        }
      }
    }
    const tr = transition(undefined, {
      t: 'request',
      rfq,
      facts: {
        role: s.role, entitled: known && this.entitled(s.client, iid!), known, marketFirm, killed, size, creditOk, stressed,
        openRfqs: this.openByClient.get(s.client) ?? 0, maxOpen: this.cfg.maxOpenPerClient, auto,
        quoteId: this.ids.quoteId(), ttlMs: this.cfg.ttlMs, queueTtlMs: this.cfg.queueTtlMs,
      },
    });
    if (!tr.ok) {
      this.requestsTotal.incLabel(tr.code);
      this.d.out.sendTo(s, this.rejected(tr.code, tr.reason, { id: m.id }));
      return;
    }
    const next = tr.next;
    if (next.kind === 'queued' && next.reason === 'stressed' && iid !== undefined && this.regime !== undefined) {
      this.regimeNote.set(rfq.rfqId, `${this.regime.regimeOf(iid)}: ${this.regime.reason(iid)}`);
    }
    this.setState(rfq.rfqId, next, now);
    if (next.kind === 'quoted') {
      this.requestsTotal.incLabel('quoted');
      this.d.out.sendTo(s, this.quoteFirm(next.rfq, next.quote));
    } else if (next.kind === 'queued') {
      this.requestsTotal.incLabel('queued');
      this.d.out.sendTo(s, { t: 'rfq', id: m.id, rfqId: rfq.rfqId, i: rfq.instrument, side: rfq.side, size: rfq.size, state: 'queued', reason: next.reason, serverTime: now });
      this.tellTraders(rfq.rfqId);
    }
  }

  // ── accept on an RFQ quote ───────────────────────────────────────────────────────────────────

  private accept(s: Session, quoteId: string, acceptId: string): void {
    if (s.role !== 'client') {
      this.countAccept(ErrorCode.RFQ_NOT_ENTITLED);
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_NOT_ENTITLED, `role ${s.role} may not accept quotes`, { quoteId, acceptId }));
      return;
    }
    const ref = `q:${quoteId}`;
    if (this.answerDuplicate(s, acceptId, ref)) return;
    const rfqId = this.byQuote.get(quoteId);
    const e = rfqId === undefined ? undefined : this.rfqs.get(rfqId);
    // a foreign client's quote is answered exactly like one that does not exist
    if (rfqId === undefined || e === undefined || e.state.rfq.clientId !== s.client) {
      this.countAccept(ErrorCode.RFQ_UNKNOWN_QUOTE);
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_UNKNOWN_QUOTE, 'no such quote', { quoteId, acceptId }));
      return;
    }
    if (e.state.kind === 'quoted' && e.state.quote.quoteId !== quoteId) {
      this.countAccept(ErrorCode.RFQ_EXPIRED);
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_EXPIRED, 'this quote was replaced by a newer one', { quoteId, acceptId, rfqId }));
      return;
    }
    this.beginAccept(s, acceptId, ref, rfqId);
  }

  // ── trade on a streamed quote ────────────────────────────────────────────────────────────────

  private tradeOnStream(s: Session, m: Extract<RfqClientMessage, { t: 'trade' }>): void {
    const now = this.clock.nowMs();
    const ref = `s:${m.i}:${m.side}:${m.size}:${m.price}:${m.sq ?? ''}`;
    if (s.role !== 'client') {
      this.countAccept(ErrorCode.RFQ_NOT_ENTITLED);
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_NOT_ENTITLED, `role ${s.role} may not trade`, { acceptId: m.acceptId }));
      return;
    }
    if (this.answerDuplicate(s, m.acceptId, ref)) return;
    const refuse = (code: RfqRejectCode, message: string) => this.refuseAccept(s, m.acceptId, ref, code, message);
    const iid = this.u.instrumentIndex.get(m.i);
    if (iid === undefined) return refuse(ErrorCode.WS_UNKNOWN_INSTRUMENT, `unknown instrument ${m.i.slice(0, 40)}`);
    if (!this.entitled(s.client, iid)) return refuse(ErrorCode.RFQ_NOT_ENTITLED, `not entitled to ${m.i}`);
    if (!this.marketFirm(iid)) return refuse(ErrorCode.RFQ_MARKET_NOT_FIRM, 'the market is not firm');
    if (this.kill.engaged(s.client, iid)) return refuse(ErrorCode.RFQ_KILL_SWITCH, 'trading is halted');
    const ins = this.u.config.instruments[iid];
    const tier = this.d.tierOf(s.client) ?? s.tier;
    const rec = this.d.directory?.get(s.client);
    const sz = checkSize(m.size, ins, sizeLimit(rec, ins, this.u.config.tiers[String(tier) as '1' | '2' | '3'].maxSize));
    if (sz === SizeCheck.BAD) return refuse(ErrorCode.RFQ_BAD_SIZE, 'size must be a positive whole number of lots, at least the minimum size');
    if (sz !== SizeCheck.OK) return refuse(ErrorCode.RFQ_SIZE_LIMIT, 'size above your limit for streamed trades: send an RFQ');
    if (!this.creditOk(rec, s.client, iid, m.side, m.size)) return refuse(ErrorCode.RFQ_CREDIT_LIMIT, rec ? 'credit limit' : 'no credit line on record');
    if (!(m.price > 0) || !Number.isFinite(m.price)) return refuse(ErrorCode.RFQ_BAD_PRICE, 'price must be a positive number');
    const q = this.d.stream.streamedQuote(tier, iid, m.sq);
    if (q === null) return refuse(ErrorCode.RFQ_STALE_QUOTE, m.sq === undefined ? 'no streamed quote' : `quote sq ${m.sq} is not among the last ${this.cfg.streamHistory} frames of your stream`);
    if (q.state !== 'firm') return refuse(ErrorCode.RFQ_MARKET_NOT_FIRM, `that quote was ${q.state}`);
    const level = q.levels.find((l) => l[0] >= m.size);
    if (level === undefined) return refuse(ErrorCode.RFQ_SIZE_LIMIT, 'no band of that quote covers the size');
    const px = m.side === 'buy' ? level[2] : level[1];
    if (Math.abs(m.price - px) > 1e-9 * px) return refuse(ErrorCode.RFQ_PRICE_MISMATCH, `the quote's ${m.side === 'buy' ? 'ask' : 'bid'} for that size was ${px}`);
    const blocked = this.controls?.checkAccept(this.preTrade(s.client, tier, iid, m.side, m.size, m.price, now));
    if (blocked) return refuse(blocked.code, blocked.message);
    // the newest frame is live; an older one stays dealable for streamTtlMs after it was replaced
    const current = this.d.stream.streamedQuote(tier, iid);
    const replacedTs = current !== null && current.sq > q.sq ? (this.d.stream.streamedQuote(tier, iid, q.sq + 1)?.ts ?? q.ts) : NaN;
    const validUntil = (replacedTs === replacedTs ? replacedTs : now) + this.cfg.streamTtlMs;
    const rfq: RfqRequest = {
      rfqId: this.ids.streamRfqId(), clientId: s.client, reqId: undefined, iid, instrument: m.i, side: m.side, size: m.size,
      limit: NaN, tier, createdMs: now, origin: 'stream',
    };
    const quote: FirmQuote = { quoteId: `S${tier}.${m.i}.${q.sq}`, price: px, size: m.size, quotedMs: q.ts, validUntil, refMid: q.mid, bd: [0, 0, 0, 0, 0, 0], by: 'stream' };
    this.setState(rfq.rfqId, { kind: 'quoted', rfq, quote }, now);
    this.beginAccept(s, m.acceptId, ref, rfq.rfqId);
  }

  // ── the shared accept path: hold, last look, reserve, book ───────────────────────────────────

  private beginAccept(s: Session, acceptId: string, ref: string, rfqId: string): void {
    const receivedMs = this.clock.nowMs();
    const key = acceptKey(s.client, acceptId);
    const entry: AcceptEntry = { key, clientId: s.client, acceptId, ref, status: 'deciding', rfqId, waiters: [s], firstAttemptMs: 0, doneMs: 0 };
    this.accepts.set(key, entry);
    if (this.cfg.lastLookHoldMs > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!this.closed) this.decide(entry, receivedMs);
      }, this.cfg.lastLookHoldMs);
      this.timers.add(timer);
    } else {
      this.decide(entry, receivedMs);
    }
  }

  private decide(entry: AcceptEntry, receivedMs: number): void {
    const e = this.rfqs.get(entry.rfqId);
    if (e === undefined) return this.finish(entry, this.rejected(ErrorCode.RFQ_UNKNOWN_QUOTE, 'no such quote', { acceptId: entry.acceptId }), ErrorCode.RFQ_UNKNOWN_QUOTE);
    const st = e.state;
    const rfq = st.rfq;
    const now = this.clock.nowMs();
    const rec = this.d.directory?.get(entry.clientId);
    const size = st.kind === 'quoted' ? st.quote.size : rfq.size;
    const tradeId = tradeIdFor(entry.clientId, entry.acceptId);
    const tr = transition(st, {
      t: 'accept',
      facts: {
        clientId: entry.clientId, acceptId: entry.acceptId, tradeId, receivedMs, nowMs: now,
        killed: this.kill.engaged(entry.clientId, rfq.iid), marketFirm: this.marketFirm(rfq.iid), midNow: this.d.market.mid[rfq.iid],
        toleranceBps: this.cfg.lastLookToleranceBps, creditOk: this.creditOk(rec, entry.clientId, rfq.iid, rfq.side, size),
        blocked: this.acceptBlocked(entry.clientId, rfq, st, now),
      },
    });
    // the quote the accept named, also once the expiry sweep has moved the RFQ on (expired keeps its quote)
    const ids = { acceptId: entry.acceptId, rfqId: rfq.rfqId, quoteId: 'quote' in st ? st.quote?.quoteId : undefined };
    if (!tr.ok) return this.finish(entry, this.rejected(tr.code, tr.reason, ids), tr.code);
    const next = tr.next;
    this.setState(rfq.rfqId, next, now);
    if (next.kind === 'expired') {
      if (rfq.origin === 'rfq') this.tellTraders(rfq.rfqId);
      return this.finish(entry, this.rejected(ErrorCode.RFQ_EXPIRED, 'the quote expired before the accept arrived', ids), ErrorCode.RFQ_EXPIRED);
    }
    if (next.kind === 'rejected') {
      if (rfq.origin === 'rfq') this.tellTraders(rfq.rfqId);
      // R16: every last-look rejection is logged with its reason and the move it saw
      const q = next.quote;
      const midNow = this.d.market.mid[rfq.iid];
      this.d.log.info(
        { client: entry.clientId, rfqId: rfq.rfqId, acceptId: entry.acceptId, code: next.code, refMid: q?.refMid, midNow, moveBps: q && q.refMid > 0 ? moveBps(q.refMid, midNow) : null, heldMs: now - receivedMs },
        'last look rejected an accept',
      );
      return this.finish(entry, this.rejected(next.code, next.reason, ids), next.code);
    }
    if (next.kind !== 'accepted_pending') {
      return this.finish(entry, this.rejected(ErrorCode.RFQ_QUOTE_USED, `quote is ${next.kind}`, ids), ErrorCode.RFQ_QUOTE_USED);
    }
    const q = next.quote;
    const mid = this.d.market.mid[rfq.iid];
    const trade: TradeRecord = {
      v: 1, tradeId, acceptId: entry.acceptId, clientId: entry.clientId, instrument: rfq.instrument, side: rfq.side, size: q.size, price: q.price,
      ts: now, quoteId: q.quoteId, rfqId: rfq.rfqId, origin: rfq.origin, tier: rfq.tier, mid: mid > 0 && Number.isFinite(mid) ? mid : null, by: q.by,
    };
    entry.status = 'pending';
    entry.trade = trade;
    entry.reservation = { iid: rfq.iid, side: rfq.side, size: q.size };
    entry.firstAttemptMs = now;
    this.credit.of(entry.clientId).reserve(rfq.iid, rfq.side, q.size);
    this.pendingByTrade.set(tradeId, entry);
    if (rfq.origin === 'rfq') this.tellTraders(rfq.rfqId);
    this.d.booking.book(trade).then(
      (o) => this.onOutcome(entry, o),
      (err: unknown) => this.onOutcome(entry, { kind: 'unknown', reason: String((err as Error)?.message ?? err), attempts: 0 }),
    );
  }

  /** The pre-trade controls' verdict on an accept of `st` (quoted), or null. */
  private acceptBlocked(clientId: string, rfq: RfqRequest, st: RfqState, now: number): { code: PreTradeRejectCode; reason: string } | null {
    if (this.controls === undefined || st.kind !== 'quoted') return null;
    const b = this.controls.checkAccept(this.preTrade(clientId, rfq.tier, rfq.iid, rfq.side, st.quote.size, st.quote.price, now));
    return b ? { code: b.code, reason: b.message } : null;
  }

  private preTrade(clientId: string, tier: Tier, iid: number, side: Side, size: number, price: number | undefined, nowMs: number): PreTradeRequest {
    const mid = this.d.market.mid[iid];
    return { clientId, tier, iid, instrument: this.u.config.instruments[iid].id, side, size, price, mid: mid > 0 ? mid : NaN, nowMs };
  }

  /** Journal → ledger (PubAck, tail or replay): exactly once per trade id, synchronously. */
  private onBooked(b: BookedTrade, replay = false): void {
    const t = b.trade;
    const iid = this.u.instrumentIndex.get(t.instrument);
    if (iid !== undefined) this.credit.of(t.clientId).booked(iid, t.side, t.size);
    if (iid !== undefined && this.controls !== undefined) {
      try {
        this.controls.onBooked({ clientId: t.clientId, tier: t.tier, iid, deskQty: deskQty(t), price: t.price, mid: t.mid ?? t.price }, replay);
      } catch (e) {
        this.d.log.error({ err: (e as Error).message, tradeId: t.tradeId }, 'risk controls failed to record a booked trade');
      }
    }
    const entry = this.pendingByTrade.get(t.tradeId);
    if (entry !== undefined) this.settleBooked(entry, b);
  }

  private settleBooked(entry: AcceptEntry, b: BookedTrade): void {
    if (entry.status === 'done') return;
    // the client was told "unknown" and holds no open request: tell it now, on every socket
    const push = entry.status === 'unknown';
    this.pendingByTrade.delete(entry.trade!.tradeId);
    const r = entry.reservation!;
    // the net position already holds the journaled trade (onBooked ran first in this turn)
    this.credit.of(entry.clientId).release(r.iid, r.side, r.size);
    if (entry.retryTimer) clearTimeout(entry.retryTimer);
    const e = this.rfqs.get(entry.rfqId);
    if (e !== undefined) {
      const tr = transition(e.state, { t: 'booked', seq: b.seq });
      if (tr.ok) {
        this.setState(entry.rfqId, tr.next, this.clock.nowMs());
        if (tr.next.rfq.origin === 'rfq') this.tellTraders(entry.rfqId);
      }
    }
    this.finish(entry, this.confirm(b), 'booked');
    if (push) this.d.out.sendToClient(entry.clientId, entry.result!);
  }

  private onOutcome(entry: AcceptEntry, o: BookOutcome): void {
    if (entry.status === 'done') return;
    const now = this.clock.nowMs();
    if (o.kind === 'booked') return this.settleBooked(entry, o.booked);
    const e = this.rfqs.get(entry.rfqId);
    if (o.kind === 'failed') {
      this.pendingByTrade.delete(entry.trade!.tradeId);
      const r = entry.reservation!;
      this.credit.of(entry.clientId).release(r.iid, r.side, r.size);
      if (e !== undefined) {
        const tr = transition(e.state, { t: 'book_failed', reason: o.reason });
        if (tr.ok) {
          this.setState(entry.rfqId, tr.next, now);
          if (tr.next.rfq.origin === 'rfq') this.tellTraders(entry.rfqId);
        }
      }
      return this.finish(entry, this.rejected(ErrorCode.BOOKING_FAILED, 'the trade journal refused the trade: not booked', { acceptId: entry.acceptId, rfqId: entry.rfqId }), ErrorCode.BOOKING_FAILED);
    }
    // unknown: credit stays reserved, nothing is confirmed, retries continue with the same id
    if (e !== undefined) {
      const tr = transition(e.state, { t: 'book_unknown' });
      if (tr.ok) {
        this.setState(entry.rfqId, tr.next, now);
        if (tr.next.rfq.origin === 'rfq') this.tellTraders(entry.rfqId);
      }
    }
    if (entry.status !== 'unknown') this.acceptsTotal.incLabel('unknown');
    entry.status = 'unknown';
    const msg = this.unknownMsg(entry);
    for (const w of entry.waiters) this.d.out.sendTo(w, msg);
    entry.waiters = [];
    this.scheduleRetry(entry);
  }

  private scheduleRetry(entry: AcceptEntry): void {
    if (this.closed || entry.retryTimer) return;
    entry.retryTimer = setTimeout(() => {
      entry.retryTimer = undefined;
      this.retryNow(entry);
    }, this.u.config.booking.retryIntervalMs);
  }

  /** One more publish with the same id, only while the de-duplication window still covers it. */
  private retryNow(entry: AcceptEntry): void {
    if (this.closed || entry.status !== 'unknown') return;
    const b = this.u.config.booking;
    if (this.clock.nowMs() - entry.firstAttemptMs + b.ackTimeoutMs >= b.duplicateWindowMs) {
      this.d.log.error({ tradeId: entry.trade!.tradeId, code: ErrorCode.BOOKING_UNKNOWN }, 'trade outcome still unknown at the end of the de-duplication window: no more retries; credit stays reserved until the journal shows it or an operator resolves it');
      return;
    }
    this.d.booking.retry(entry.trade!).then(
      (o) => (o.kind === 'booked' ? this.settleBooked(entry, o.booked) : this.scheduleRetry(entry)),
      () => this.scheduleRetry(entry),
    );
  }

  private finish(entry: AcceptEntry, msg: OutboundMessage, label: string): void {
    entry.status = 'done';
    entry.result = msg;
    entry.doneMs = this.clock.nowMs();
    this.countAccept(label);
    for (const w of entry.waiters) this.d.out.sendTo(w, msg);
    entry.waiters = [];
  }

  /** A refusal before any state exists, stored so that a duplicate gets the same answer. */
  private refuseAccept(s: Session, acceptId: string, ref: string, code: RfqRejectCode, message: string): void {
    const key = acceptKey(s.client, acceptId);
    const entry: AcceptEntry = { key, clientId: s.client, acceptId, ref, status: 'deciding', rfqId: '', waiters: [s], firstAttemptMs: 0, doneMs: 0 };
    this.accepts.set(key, entry);
    this.finish(entry, this.rejected(code, message, { acceptId }), code);
  }

  /** True if (client, acceptId) was seen before: the same result is (or will be) sent to `s`. */
  private answerDuplicate(s: Session, acceptId: string, ref: string): boolean {
    const booked = this.d.booking.byAccept(s.client, acceptId);
    const entry = this.accepts.get(acceptKey(s.client, acceptId));
    if (booked !== undefined && (entry === undefined || entry.status === 'done')) {
      this.acceptsTotal.incLabel('duplicate');
      this.d.out.sendTo(s, this.confirm(booked));
      return true;
    }
    if (entry === undefined) return false;
    if (entry.ref !== ref) {
      this.countAccept(ErrorCode.RFQ_ACCEPT_ID_REUSED);
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_ACCEPT_ID_REUSED, 'this acceptId was already used for another quote or trade', { acceptId }));
      return true;
    }
    this.acceptsTotal.incLabel('duplicate');
    switch (entry.status) {
      case 'done':
        this.d.out.sendTo(s, entry.result!);
        break;
      case 'deciding':
      case 'pending':
        entry.waiters.push(s);
        break;
      case 'unknown':
        this.d.out.sendTo(s, this.unknownMsg(entry));
        // a duplicate is a good moment to try again (same id, inside the window)
        if (entry.retryTimer) {
          clearTimeout(entry.retryTimer);
          entry.retryTimer = undefined;
        }
        this.retryNow(entry);
        break;
    }
    return true;
  }

  // ── trader actions ───────────────────────────────────────────────────────────────────────────

  /** Relationship scores with their components and each client's record vs effective tier (trader/admin). */
  private scores(s: Session, id: string | number | undefined): void {
    if (!TRADER_ROLES.has(s.role) && s.role !== 'rm') {
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_NOT_ENTITLED, 'trader, rm or admin role required', { id }));
      return;
    }
    const dir = this.d.directory;
    const now = this.clock.nowMs();
    const clients = (dir?.list() ?? []).map((r) => ({
      clientId: r.id,
      name: r.name,
      tier: r.tier,
      effectiveTier: dir!.effectiveTier(r.id, now) ?? null,
      override: r.override,
      score: dir!.score(r.id) ?? null,
    }));
    this.d.out.sendTo(s, { t: 'scores', id, clients, serverTime: now });
  }

  private list(s: Session, id: string | number | undefined): void {
    if (!TRADER_ROLES.has(s.role)) {
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_NOT_ENTITLED, 'trader role required', { id }));
      return;
    }
    const rfqs: RfqView[] = [];
    for (const [rfqId, e] of this.rfqs) if (e.state.rfq.origin === 'rfq' && isOpen(e.state)) rfqs.push(this.view(rfqId)!);
    this.d.out.sendTo(s, { t: 'rfqs', id, rfqs, serverTime: this.clock.nowMs() });
  }

  /** The RFQ a trader action names, or undefined after telling the sender why not (role, unknown id). */
  private traderTarget(s: Session, m: { id?: string | number; rfqId: string }) {
    if (!TRADER_ROLES.has(s.role)) {
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_NOT_ENTITLED, 'trader role required', { id: m.id, rfqId: m.rfqId }));
      return undefined;
    }
    const e = this.rfqs.get(m.rfqId);
    if (e === undefined || e.state.rfq.origin !== 'rfq') {
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_UNKNOWN_RFQ, 'no such RFQ', { id: m.id, rfqId: m.rfqId }));
      return undefined;
    }
    const g = this.traderGuard?.(s, m.rfqId);
    if (g) {
      this.d.out.sendTo(s, this.rejected(g.code, g.message, { id: m.id, rfqId: m.rfqId }));
      return undefined;
    }
    return e;
  }

  private traderQuote(s: Session, m: Extract<RfqClientMessage, { t: 'quote' }>): void {
    const now = this.clock.nowMs();
    const e = this.traderTarget(s, m);
    if (e === undefined) return;
    const rfq = e.state.rfq;
    const ins = this.u.config.instruments[rfq.iid];
    const mid = this.d.market.mid[rfq.iid];
    const firm = this.marketFirm(rfq.iid);
    const collar = ins.collarBps ?? this.u.config.pricing.collarBps;
    const priceOk = typeof m.price === 'number' && Number.isFinite(m.price) && m.price > 0 && onTick(m.price, ins.tickSize) &&
      (!(mid > 0) || (Math.abs(m.price - mid) / mid) * 1e4 <= collar * (1 + 1e-9));
    const sizeOk = checkSize(m.size, ins, Number.POSITIVE_INFINITY) === SizeCheck.OK && m.size <= rfq.size;
    if (priceOk && sizeOk && (e.state.kind === 'queued' || e.state.kind === 'quoted')) {
      const b = this.controls?.checkQuote(this.preTrade(rfq.clientId, rfq.tier, rfq.iid, rfq.side, m.size, m.price, now));
      if (b) {
        this.d.out.sendTo(s, this.rejected(b.code, b.message, { id: m.id, rfqId: m.rfqId }));
        return;
      }
    }
    const tr = transition(e.state, {
      t: 'trader_quote',
      facts: { role: s.role, price: m.price, size: m.size, priceOk, sizeOk, nowMs: now, quoteId: this.ids.quoteId(), ttlMs: this.cfg.ttlMs, refMid: firm ? mid : NaN, killed: this.kill.engaged(rfq.clientId, rfq.iid) },
    });
    if (!tr.ok) {
      this.d.out.sendTo(s, this.rejected(tr.code, tr.reason, { id: m.id, rfqId: m.rfqId }));
      return;
    }
    this.setState(m.rfqId, tr.next, now, s);
    if (tr.next.kind === 'expired') {
      this.tellClientExpired(tr.next.rfq, now);
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_EXPIRED, 'the RFQ expired before the quote', { id: m.id, rfqId: m.rfqId }));
    } else if (tr.next.kind === 'quoted') {
      this.d.out.sendToClient(rfq.clientId, this.quoteFirm(tr.next.rfq, tr.next.quote));
    }
    this.tellTraders(m.rfqId);
  }

  private traderReject(s: Session, m: Extract<RfqClientMessage, { t: 'reject' }>): void {
    const now = this.clock.nowMs();
    const e = this.traderTarget(s, m);
    if (e === undefined) return;
    const tr = transition(e.state, { t: 'trader_reject', role: s.role, reason: m.reason });
    if (!tr.ok) {
      this.d.out.sendTo(s, this.rejected(tr.code, tr.reason, { id: m.id, rfqId: m.rfqId }));
      return;
    }
    this.setState(m.rfqId, tr.next, now, s);
    const rfq = tr.next.rfq;
    this.d.out.sendToClient(rfq.clientId, this.rejected(ErrorCode.RFQ_TRADER_REJECTED, m.reason, { id: rfq.reqId, rfqId: rfq.rfqId }));
    this.tellTraders(m.rfqId);
  }

  // ── time ─────────────────────────────────────────────────────────────────────────────────────

  /** Expires due RFQs (telling their clients) and forgets finished ones after rfq.retainMs. */
  sweep(): void {
    if (this.closed) return;
    const now = this.clock.nowMs();
    for (const [rfqId, e] of this.rfqs) {
      if (isOpen(e.state)) {
        const tr = transition(e.state, { t: 'expire', nowMs: now });
        if (!tr.ok) continue;
        this.setState(rfqId, tr.next, now);
        if (e.state.rfq.origin === 'rfq') {
          this.tellClientExpired(e.state.rfq, now);
          this.tellTraders(rfqId);
        }
      } else if (isTerminal(e.state) && now - e.changedMs > this.cfg.retainMs) {
        this.rfqs.delete(rfqId);
        this.regimeNote.delete(rfqId);
        const q = 'quote' in e.state ? e.state.quote : undefined;
        if (q !== undefined) this.byQuote.delete(q.quoteId);
      }
    }
    for (const [key, a] of this.accepts) if (a.status === 'done' && now - a.doneMs > this.cfg.retainMs) this.accepts.delete(key);
  }

  // ── helpers ──────────────────────────────────────────────────────────────────────────────────

  private setState(rfqId: string, next: RfqState, now: number, actor?: Session): void {
    const prev = this.rfqs.get(rfqId);
    const prevKind = prev === undefined ? null : prev.state.kind;
    const wasOpen = prev !== undefined && isOpen(prev.state);
    if (prev === undefined) this.rfqs.set(rfqId, { state: next, changedMs: now });
    else {
      prev.state = next;
      prev.changedMs = now;
    }
    if (next.rfq.origin === 'rfq') {
      const c = next.rfq.clientId;
      const delta = (isOpen(next) ? 1 : 0) - (wasOpen ? 1 : 0);
      if (delta !== 0) this.openByClient.set(c, (this.openByClient.get(c) ?? 0) + delta);
    }
    if (next.kind === 'quoted') this.byQuote.set(next.quote.quoteId, rfqId);
    if (next.rfq.origin === 'rfq' && this.listeners.length > 0 && prevKind !== next.kind) this.emit(rfqId, prevKind, actor);
  }

  private emit(rfqId: string, prev: RfqStateKind | null, actor: Session | undefined): void {
    const view = this.view(rfqId);
    if (view === null) return;
    const ev: RfqEvent = actor === undefined ? { rfqId, view, prev } : { rfqId, view, prev, actor: { client: actor.client, role: actor.role } };
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch (e) {
        this.d.log.error({ err: (e as Error).message, rfqId }, 'RFQ event listener failed');
      }
    }
  }

  private marketFirm(iid: number): boolean {
    const m = this.d.market;
    return this.d.stream.isFeedConnected && m.status[iid] === InstrumentStatus.FIRM && m.mid[iid] > 0 && Number.isFinite(m.mid[iid]);
  }

  private entitled(clientId: string, iid: number): boolean {
    return this.d.entitled ? this.d.entitled(clientId, iid) : true;
  }

  private creditOk(rec: ClientRecord | undefined, clientId: string, iid: number, side: Side, size: number): boolean {
    if (rec === undefined || !(size > 0) || !Number.isFinite(size)) return false;
    return this.credit.of(clientId).exposureWith(iid, side, size) <= rec.creditLimit;
  }

  private countAccept(label: string): void {
    this.acceptsTotal.incLabel(label);
  }

  private countOpen(): number {
    let n = 0;
    for (const v of this.openByClient.values()) n += v;
    return n;
  }

  private countUnknown(): number {
    let n = 0;
    for (const a of this.accepts.values()) if (a.status === 'unknown') n++;
    return n;
  }

  private tellClientExpired(rfq: RfqRequest, now: number): void {
    this.d.out.sendToClient(rfq.clientId, {
      t: 'rfq', id: rfq.reqId, rfqId: rfq.rfqId, i: rfq.instrument, side: rfq.side, size: rfq.size, state: 'expired', code: ErrorCode.RFQ_EXPIRED, serverTime: now,
    });
  }

  private tellTraders(rfqId: string): void {
    const v = this.view(rfqId);
    if (v === null) return;
    const msg = { t: 'rfq_queue', rfq: v, serverTime: this.clock.nowMs() };
    this.d.out.sendToRole('trader', msg);
    this.d.out.sendToRole('admin', msg);
  }

  /** The trader's view of one RFQ (null if unknown). */
  view(rfqId: string): RfqView | null {
    const e = this.rfqs.get(rfqId);
    if (e === undefined) return null;
    const s = e.state;
    const r = s.rfq;
    const q = 'quote' in s ? s.quote : undefined;
    return {
      rfqId, client: r.clientId, tier: r.tier, i: r.instrument, side: r.side, size: r.size, limit: r.limit === r.limit ? r.limit : null,
      state: s.kind, reason: s.kind === 'queued' ? s.reason : null, createdMs: r.createdMs, deadlineMs: s.kind === 'queued' ? s.deadlineMs : null,
      quoteId: q?.quoteId ?? null, price: q?.price ?? null, validUntil: q?.validUntil ?? null,
      regime: this.regimeNote.get(rfqId) ?? null, quoteSize: q?.size ?? null, by: q?.by ?? null,
    };
  }

  /** Current state of an RFQ (tests, CLI). */
  state(rfqId: string): RfqState | undefined {
    return this.rfqs.get(rfqId)?.state;
  }

  private quoteFirm(rfq: RfqRequest, q: FirmQuote): OutboundMessage {
    return {
      t: 'quote_firm', id: rfq.reqId, rfqId: rfq.rfqId, quoteId: q.quoteId, i: rfq.instrument, side: rfq.side, price: q.price, size: q.size,
      ts: q.quotedMs, validUntil: q.validUntil, bd: q.bd, by: q.by === 'trader' ? 'trader' : 'auto', serverTime: this.clock.nowMs(),
    } as OutboundMessage;
  }

  private confirm(b: BookedTrade): OutboundMessage {
    const t = b.trade;
    return {
      t: 'trade_confirm', tradeId: t.tradeId, acceptId: t.acceptId, quoteId: t.quoteId, rfqId: t.rfqId, i: t.instrument, side: t.side,
      size: t.size, price: t.price, ts: t.ts, seq: b.seq, serverTime: this.clock.nowMs(),
    } as OutboundMessage;
  }

  private unknownMsg(entry: AcceptEntry): OutboundMessage {
    return {
      t: 'trade_unknown', code: ErrorCode.BOOKING_UNKNOWN, tradeId: entry.trade!.tradeId, acceptId: entry.acceptId,
      message: 'the trade journal did not acknowledge in time: NOT confirmed; send the same accept again to learn the outcome', serverTime: this.clock.nowMs(),
    } as OutboundMessage;
  }

  private rejected(code: string, message: string, ids: { id?: string | number; rfqId?: string; quoteId?: string; acceptId?: string }): OutboundMessage {
    const m: Record<string, unknown> = { t: 'rejected', code, message, serverTime: this.clock.nowMs() };
    if (ids.id !== undefined) m.id = ids.id;
    if (ids.rfqId !== undefined) m.rfqId = ids.rfqId;
    if (ids.quoteId !== undefined) m.quoteId = ids.quoteId;
    if (ids.acceptId !== undefined) m.acceptId = ids.acceptId;
    return m as unknown as OutboundMessage;
  }
}
