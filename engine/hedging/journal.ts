/**
 * The hedge journal: one JetStream stream (default HEDGES) on file storage, written only by the
 * engine's hedge router, read back at start-up. Same settings as the trade journal (engine/booking):
 *
 *   stream  hedging.router.journal.stream (HEDGES)   subjects  <prefix>.>   (prefix default `hedge`)
 *   storage file, limits retention, no max age, deny delete and purge,
 *   duplicate_window journal.duplicateWindowMs, Nats-Msg-Id = the record's id (below)
 *
 *   subject                        record    Nats-Msg-Id                 written
 *   <prefix>.decision.<instr>      decision  planId                      before anything is sent for it
 *   <prefix>.order.<instr>         order     clientOrderId               before the order goes to the venue (intent)
 *   <prefix>.fill.<instr>          fill      <clientOrderId>#<k>         one per execution k of the order
 *   <prefix>.result.<instr>        result    <clientOrderId>.r           after the fills: the order is finished
 *   <prefix>.refused.<instr>       refused   <clientOrderId>.x           the guard or the router refused it: never sent
 *   <prefix>.plan.<instr>          plan end  <planId>.end                done, cancelled or superseded
 *
 * Records are JSON (read by people with `nats stream view` and by the P&L). Core NATS subscribers of
 * `hedge.decision.*` receive the decisions as they are journaled: a JetStream publish is also an
 * ordinary message on its subject.
 */
import { AckPolicy, DeliverPolicy, nanos, type JetStreamClient, type JetStreamManager, type NatsConnection, type NatsError } from 'nats';
import { EngineError, ErrorCode } from '../errors.js';
import { openJournalStream } from '../nats/journal-stream.js';
import type { HedgingConfig } from './config.js';

export type HedgeJournalConfig = HedgingConfig['router']['journal'];

export type JournalPublish =
  | { readonly kind: 'acked'; readonly seq: number; readonly duplicate: boolean }
  | { readonly kind: 'failed'; readonly reason: string };

const enc = new TextEncoder();
const dec = new TextDecoder();

export class HedgeJournal {
  private readonly js: JetStreamClient;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    readonly cfg: HedgeJournalConfig,
  ) {
    this.js = nc.jetstream();
  }

  /** Creates the stream if missing; refuses a stream configured differently (QE_HEDGE_JOURNAL). */
  static async open(nc: NatsConnection, cfg: HedgeJournalConfig): Promise<HedgeJournal> {
    const jsm = await openJournalStream(nc, cfg, ErrorCode.HEDGE_JOURNAL);
    return new HedgeJournal(nc, jsm, cfg);
  }

  subject(kind: string, instrument: string): string {
    return `${this.cfg.subjectPrefix}.${kind}.${instrument}`;
  }

  /**
   * Publishes one record with its id; retries an unanswered attempt (same id: the duplicate window
   * makes a repeat harmless) up to `attempts` times. Never throws.
   */
  async publish(subject: string, msgId: string, record: object, attempts = 3): Promise<JournalPublish> {
    const data = enc.encode(JSON.stringify(record));
    let reason = '';
    for (let a = 0; a < attempts; a++) {
      try {
        const ack = await this.js.publish(subject, data, { msgID: msgId, timeout: this.cfg.ackTimeoutMs, expect: { streamName: this.cfg.stream } });
        return { kind: 'acked', seq: ack.seq, duplicate: ack.duplicate };
      } catch (e) {
        const err = e as NatsError;
        reason = `${err.code ?? 'error'}: ${err.message}`;
        // the stream answered "not stored" (bad request, wrong stream): a repeat changes nothing
        if (err.api_error) break;
        if (this.nc.isClosed()) break;
      }
    }
    return { kind: 'failed', reason };
  }

  /** The stored record at `seq`, parsed, or null. */
  async get(seq: number): Promise<unknown> {
    try {
      return JSON.parse(dec.decode((await this.jsm.streams.getMessage(this.cfg.stream, { seq })).data));
    } catch {
      // not found, unreachable or not JSON: the caller treats all as "could not read"
      return null;
    }
  }

  /**
   * Delivers every record stored now, in sequence order, then resolves. A throw-away pull
   * consumer without acks; the router is the only writer, so nothing needs tailing afterwards.
   * An entry that is not JSON is passed as `undefined` (the caller counts it).
   */
  async replay(onEntry: (rec: unknown, seq: number, subject: string) => void): Promise<{ replayed: number; lastSeq: number }> {
    const last = (await this.jsm.streams.info(this.cfg.stream)).state.last_seq;
    if (last === 0) return { replayed: 0, lastSeq: 0 };
    const ci = await this.jsm.consumers.add(this.cfg.stream, { ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, inactive_threshold: nanos(30_000) });
    const consumer = await this.js.consumers.get(this.cfg.stream, ci.name);
    let replayed = 0;
    let at = 0;
    try {
      while (at < last) {
        const it = await consumer.fetch({ max_messages: Math.min(1_000, last - at), expires: 2_000 });
        let got = 0;
        for await (const m of it) {
          got++;
          at = m.seq;
          let rec: unknown;
          try {
            rec = JSON.parse(dec.decode(m.data));
          } catch {
            rec = undefined;
          }
          onEntry(rec, m.seq, m.subject);
          replayed++;
          if (at >= last) break;
        }
        if (got === 0) throw new EngineError(ErrorCode.HEDGE_JOURNAL, `hedge journal replay stalled at ${at} of ${last}`);
      }
    } finally {
      await this.jsm.consumers.delete(this.cfg.stream, ci.name).catch(() => undefined);
    }
    return { replayed, lastSeq: last };
  }
}
