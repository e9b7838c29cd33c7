/**
 * Durable booking (R19) and recovery. The journal is the only source of truth for trades; the
 * ledger here (trades by id and by accept; inventory and P&L through Inventory) is what the
 * journal says, applied exactly once per trade id whichever way a trade is first seen:
 *
 *   PubAck of our own publish ──┐
 *   ordered consumer (replay at ├──► record(trade, seq) ──► new id? ─┬─ inventory.applyTrade()
 *     start-up, then tail)    ──┘                                   └─ onBooked listeners (RFQ
 *                                                                      service: credit, state, confirm)
 *
 * `book()` confirms nothing itself: it returns `booked` only after the PubAck (or after the
 * journal showed the trade), `unknown` after booking.maxAttempts attempts without an answer, and
 * `failed` only when every attempt was answered "not stored".
 */
import type { NatsConnection } from 'nats';
import type { Registry } from 'prom-client';
import type { Universe } from '../config.js';
import { EngineError, ErrorCode } from '../errors.js';
import type { Logger } from '../hotpath.js';
import type { Inventory } from '../inventory/index.js';
import { HotCounter, readGauge } from '../metrics.js';
import { TradeJournal } from './journal.js';
import { decodeTrade, deskQty, type TradeRecord } from './trade.js';

export interface BookedTrade {
  /** the journal's record (what was stored under this trade id) */
  readonly trade: TradeRecord;
  readonly seq: number;
}

export type BookOutcome =
  | { readonly kind: 'booked'; readonly booked: BookedTrade; readonly attempts: number }
  | { readonly kind: 'unknown'; readonly reason: string; readonly attempts: number }
  | { readonly kind: 'failed'; readonly reason: string; readonly attempts: number };

/** What the RFQ service needs from booking (narrow, so the service can be driven in tests). */
export interface BookingPort {
  book(trade: TradeRecord): Promise<BookOutcome>;
  /** one more publish attempt (same id) for a trade whose outcome is unknown */
  retry(trade: TradeRecord): Promise<BookOutcome>;
  byAccept(clientId: string, acceptId: string): BookedTrade | undefined;
  byId(tradeId: string): BookedTrade | undefined;
  /** called once per trade id, synchronously when it enters the ledger; `replay` during recovery */
  onBooked(listener: (b: BookedTrade, replay: boolean) => void): void;
}

const OUTCOMES = ['booked', 'duplicate', 'unknown', 'failed', 'retry'] as const;
export type BookingCounter = (typeof OUTCOMES)[number];
/** Pause between attempts answered "no responders" (JetStream restarting). */
const NO_RESPONDERS_BACKOFF_MS = 100;

export class Booking implements BookingPort {
  private readonly trades = new Map<string, BookedTrade>();
  private readonly accepts = new Map<string, BookedTrade>();
  private readonly listeners: Array<(b: BookedTrade, replay: boolean) => void> = [];
  private replaying = false;
  private lastSeqSeen = 0;
  private badEntries = 0;
  private readonly outcomes: HotCounter;
  recovery = { replayed: 0, lastSeq: 0, ms: 0 };

  private constructor(
    readonly journal: TradeJournal,
    private readonly universe: Universe,
    private readonly inventory: Inventory,
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.outcomes = new HotCounter(
      registry,
      'qe_bookings_total',
      'Trade publishes: booked, duplicate (PubAck: already stored), unknown (no PubAck after every attempt), failed (not stored), retry (extra attempts)',
      'result',
      OUTCOMES,
    );
    readGauge(registry, 'qe_journal_last_seq', 'Highest journal sequence seen by the ledger', () => this.lastSeqSeen);
    readGauge(registry, 'qe_journal_trades', 'Trades in the ledger (replayed and booked)', () => this.trades.size);
    readGauge(registry, 'qe_journal_bad_entries', 'Journal entries that failed validation after start-up (ignored)', () => this.badEntries);
    readGauge(registry, 'qe_recovery_ms', 'Time the start-up journal replay took', () => this.recovery.ms);
  }

  static async open(nc: NatsConnection, universe: Universe, inventory: Inventory, registry: Registry, log: Logger): Promise<Booking> {
    const journal = await TradeJournal.open(nc, universe.config.booking);
    return new Booking(journal, universe, inventory, registry, log);
  }

  /**
   * Replays the journal into the ledger and inventory (silently: nothing is priced yet), then keeps
   * following it. Call before any quote is published; listeners registered before this see the
   * replayed trades with `replay = true`.
   */
  async recover(): Promise<{ replayed: number; lastSeq: number; ms: number }> {
    const t0 = performance.now();
    this.replaying = true;
    try {
      const r = await this.journal.follow((data, seq) => this.onEntry(data, seq));
      this.recovery = { ...r, ms: performance.now() - t0 };
    } catch (cause) {
      if (cause instanceof EngineError) throw cause;
      throw new EngineError(ErrorCode.RECOVERY_FAILED, `journal replay failed: ${(cause as Error).message}`, { cause });
    } finally {
      this.replaying = false;
    }
    this.log.info({ stream: this.journal.cfg.stream, ...this.recovery, trades: this.trades.size }, 'journal replayed');
    return this.recovery;
  }

  private onEntry(data: Uint8Array, seq: number): void {
    const t = decodeTrade(data);
    if (typeof t === 'string') {
      // During replay a bad entry stops the start-up (fail closed: inventory would be wrong).
      if (this.replaying) throw new EngineError(ErrorCode.RECOVERY_FAILED, `journal entry ${seq} of ${this.journal.cfg.stream} is invalid: ${t}`);
      this.badEntries++;
      this.log.error({ seq, problem: t, code: ErrorCode.RECOVERY_FAILED }, 'invalid journal entry ignored');
      return;
    }
    this.record(t, seq);
  }

  /** Applies a journaled trade once; returns false if its id was already applied. */
  private record(trade: TradeRecord, seq: number): boolean {
    if (seq > this.lastSeqSeen) this.lastSeqSeen = seq;
    if (this.trades.has(trade.tradeId)) return false;
    const b: BookedTrade = { trade, seq };
    this.trades.set(trade.tradeId, b);
    this.accepts.set(`${trade.clientId}\n${trade.acceptId}`, b);
    const iid = this.universe.instrumentIndex.get(trade.instrument);
    if (iid === undefined) {
      // the universe no longer has it: the trade still counts for idempotency and credit
      this.log.warn({ tradeId: trade.tradeId, instrument: trade.instrument, seq }, 'journaled trade for an instrument not in the universe: inventory not updated');
    } else {
      this.inventory.applyTrade(iid, deskQty(trade), trade.price, this.replaying);
    }
    for (const l of this.listeners) l(b, this.replaying);
    return true;
  }

  async book(trade: TradeRecord): Promise<BookOutcome> {
    const known = this.trades.get(trade.tradeId);
    if (known) return { kind: 'booked', booked: known, attempts: 0 };
    const max = this.journal.cfg.maxAttempts;
    let maybeStored = false;
    let reason = '';
    let attempts = 0;
    for (let attempt = 1; attempt <= max; attempt++) {
      attempts = attempt;
      if (attempt > 1) this.outcomes.incLabel('retry');
      const r = await this.journal.publishOnce(trade);
      if (r.kind === 'acked') return this.acked(trade, r.seq, r.duplicate, attempt);
      // the tail may have shown it meanwhile (an earlier attempt landed)
      const seen = this.trades.get(trade.tradeId);
      if (seen) return { kind: 'booked', booked: seen, attempts: attempt };
      reason = r.reason;
      if (r.kind === 'unknown') maybeStored = true;
      else if (!r.retryable) break;
      else if (attempt < max) await new Promise((res) => setTimeout(res, NO_RESPONDERS_BACKOFF_MS));
    }
    if (maybeStored) {
      this.outcomes.incLabel('unknown');
      this.log.error({ tradeId: trade.tradeId, reason, attempts, code: ErrorCode.BOOKING_UNKNOWN }, 'trade outcome unknown: not confirmed; retrying with the same id');
      return { kind: 'unknown', reason, attempts };
    }
    this.outcomes.incLabel('failed');
    this.log.error({ tradeId: trade.tradeId, reason, attempts, code: ErrorCode.BOOKING_FAILED }, 'trade not stored by the journal');
    return { kind: 'failed', reason, attempts };
  }

  async retry(trade: TradeRecord): Promise<BookOutcome> {
    const known = this.trades.get(trade.tradeId);
    if (known) return { kind: 'booked', booked: known, attempts: 0 };
    this.outcomes.incLabel('retry');
    const r = await this.journal.publishOnce(trade);
    if (r.kind === 'acked') return this.acked(trade, r.seq, r.duplicate, 1);
    const seen = this.trades.get(trade.tradeId);
    if (seen) return { kind: 'booked', booked: seen, attempts: 1 };
    // "not stored" now proves nothing about the earlier attempt that went unanswered
    return { kind: 'unknown', reason: r.reason, attempts: 1 };
  }

  private async acked(trade: TradeRecord, seq: number, duplicate: boolean, attempts: number): Promise<BookOutcome> {
    this.outcomes.incLabel(duplicate ? 'duplicate' : 'booked');
    let rec = trade;
    if (duplicate && !this.trades.has(trade.tradeId)) {
      // The stream already holds this trade id (an earlier attempt, or an earlier process) and the
      // ledger has not seen it yet. Same id = same client and acceptId, but the stored record is
      // the truth (price, size): read it rather than assume ours matches.
      const stored = await this.journal.get(seq);
      const t = stored === null ? 'not readable' : decodeTrade(stored);
      if (typeof t !== 'string' && t.tradeId === trade.tradeId) rec = t;
      else this.log.error({ tradeId: trade.tradeId, seq, problem: t }, 'duplicate PubAck but the stored entry could not be read: recording our copy');
    }
    this.record(rec, seq);
    return { kind: 'booked', booked: this.trades.get(trade.tradeId)!, attempts };
  }

  byAccept(clientId: string, acceptId: string): BookedTrade | undefined {
    return this.accepts.get(`${clientId}\n${acceptId}`);
  }

  byId(tradeId: string): BookedTrade | undefined {
    return this.trades.get(tradeId);
  }

  /** Every trade in the ledger, in order of first sight (tests, CLI). */
  all(): IterableIterator<BookedTrade> {
    return this.trades.values();
  }

  get size(): number {
    return this.trades.size;
  }

  get lastSeq(): number {
    return this.lastSeqSeen;
  }

  onBooked(listener: (b: BookedTrade, replay: boolean) => void): void {
    this.listeners.push(listener);
  }

  count(label: BookingCounter): number {
    return this.outcomes.get(label);
  }

  async close(): Promise<void> {
    await this.journal.close();
  }
}
