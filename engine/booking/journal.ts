/**
 * The trade journal: a JetStream stream on file storage, written only by the engine.
 *
 *   stream  booking.stream (TRADES)   subjects  <booking.subjectPrefix>.>  (trade.<client>.<instrument>)
 *   storage file, limits retention, no max age/msgs/bytes, discard new, deny delete and purge,
 *   duplicate_window booking.duplicateWindowMs (Nats-Msg-Id = trade id)
 *
 * A publish has three outcomes, and only the first may be confirmed to a client (R19):
 *
 *   acked       PubAck from the stream (duplicate: true = an earlier attempt with this id was stored)
 *   not_stored  the server answered and did not store it (no stream bound to the subject, API error)
 *   unknown     no answer in time, or the connection dropped with the request in flight: it may or
 *               may not be stored. Retrying with the same Nats-Msg-Id inside the duplicate window
 *               resolves it without any risk of booking twice.
 *
 * Reading: one ordered consumer from sequence 1 replays the journal at start-up and then keeps
 * tailing it, so a trade that landed without this process seeing its PubAck (a publish left in
 * flight by a killed predecessor, an unknown outcome) still reaches the ledger exactly once.
 */
import { AckPolicy, ConsumerEvents, DeliverPolicy, nanos, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type NatsConnection, type NatsError } from 'nats';
import type { Config } from '../config.js';
import { EngineError, ErrorCode } from '../errors.js';
import { openJournalStream } from '../nats/journal-stream.js';
import { encodeTrade, type TradeRecord } from './trade.js';

export type PublishResult =
  | { readonly kind: 'acked'; readonly seq: number; readonly duplicate: boolean }
  | { readonly kind: 'not_stored'; readonly reason: string; readonly retryable: boolean }
  | { readonly kind: 'unknown'; readonly reason: string };

export type BookingConfig = Config['booking'];

/** No journal progress for this long during start-up replay = recovery failed. */
const REPLAY_STALL_MS = 10_000;
/** The server drops the tailing consumer this long after the engine went away. */
const CONSUMER_INACTIVE_MS = 60_000;

export function tradeSubject(cfg: BookingConfig, t: Pick<TradeRecord, 'clientId' | 'instrument'>): string {
  return `${cfg.subjectPrefix}.${t.clientId}.${t.instrument}`;
}

export class TradeJournal {
  private readonly js: JetStreamClient;
  private messages: ConsumerMessages | null = null;

  private constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    readonly cfg: BookingConfig,
  ) {
    this.js = nc.jetstream();
  }

  /** Creates the stream if missing; refuses to start against a stream configured differently (QE_BOOKING_STREAM). */
  static async open(nc: NatsConnection, cfg: BookingConfig): Promise<TradeJournal> {
    const jsm = await openJournalStream(nc, cfg, ErrorCode.BOOKING_STREAM);
    return new TradeJournal(nc, jsm, cfg);
  }

  async lastSeq(): Promise<number> {
    return (await this.jsm.streams.info(this.cfg.stream)).state.last_seq;
  }

  /** The stored entry at `seq`, or null. */
  async get(seq: number): Promise<Uint8Array | null> {
    try {
      return (await this.jsm.streams.getMessage(this.cfg.stream, { seq })).data;
    } catch {
      // not found or not reachable: the caller treats both as "could not read"
      return null;
    }
  }

  /** One publish attempt with Nats-Msg-Id = tradeId. Never throws. */
  async publishOnce(t: TradeRecord): Promise<PublishResult> {
    try {
      const ack = await this.js.publish(tradeSubject(this.cfg, t), encodeTrade(t), {
        msgID: t.tradeId,
        timeout: this.cfg.ackTimeoutMs,
        expect: { streamName: this.cfg.stream },
      });
      return { kind: 'acked', seq: ack.seq, duplicate: ack.duplicate };
    } catch (e) {
      const err = e as NatsError;
      // no stream bound to the subject: nothing stored; can be transient while JetStream restarts
      if (err.code === '503') return { kind: 'not_stored', reason: 'no responders (JetStream not available)', retryable: true };
      // the stream answered with an error: it did not store the message
      if (err.api_error) return { kind: 'not_stored', reason: `${err.api_error.description} (${err.api_error.err_code})`, retryable: false };
      // timeout, disconnect, closed connection: the request may have reached the stream
      return { kind: 'unknown', reason: `${err.code ?? 'error'}: ${err.message}` };
    }
  }

  /**
   * Delivers every journal entry from sequence 1, in order and each once, then keeps tailing.
   * Resolves once the entries present at call time have been delivered (replay done); rejects
   * with QE_RECOVERY_FAILED if the replay stalls or `onEntry` throws during it.
   *
   * An ephemeral pull consumer without acks (the ordered consumer of nats.js 2.29 does not run
   * against nats-server 2.9.10). Delivery is checked against the stream sequence: a gap (entries
   * dropped on a reconnect) is filled with direct gets before going on; a consumer the server lost
   * (broker restart) is re-created from the next sequence.
   */
  async follow(onEntry: (data: Uint8Array, seq: number) => void): Promise<{ replayed: number; lastSeq: number }> {
    const target = await this.lastSeq();
    let replayed = 0;
    let lastProgressMs = Date.now();
    let done = target === 0;
    let fail: ((e: Error) => void) | null = null;
    let finish: (() => void) | null = null;
    const caughtUp = new Promise<void>((res, rej) => {
      finish = res;
      fail = rej;
    });
    const deliver = (data: Uint8Array, seq: number): void => {
      try {
        onEntry(data, seq);
      } catch (e) {
        if (!done) {
          done = true;
          fail?.(e as Error);
        }
        return;
      }
      if (!done) {
        replayed++;
        lastProgressMs = Date.now();
        if (seq >= target) {
          done = true;
          finish?.();
        }
      }
    };
    await this.startConsumer(deliver);
    if (target === 0) return { replayed: 0, lastSeq: 0 };
    const watchdog = setInterval(() => {
      if (!done && Date.now() - lastProgressMs > REPLAY_STALL_MS) {
        done = true;
        fail?.(new EngineError(ErrorCode.RECOVERY_FAILED, `journal replay stalled after ${replayed} of ${target} entries`));
      }
    }, 250);
    try {
      await caughtUp;
    } finally {
      clearInterval(watchdog);
    }
    return { replayed, lastSeq: target };
  }

  private delivered = 0;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;

  private async startConsumer(deliver: (data: Uint8Array, seq: number) => void): Promise<void> {
    const from = this.delivered + 1;
    const ci = await this.jsm.consumers.add(this.cfg.stream, {
      ack_policy: AckPolicy.None,
      deliver_policy: from === 1 ? DeliverPolicy.All : DeliverPolicy.StartSequence,
      ...(from === 1 ? {} : { opt_start_seq: from }),
      inactive_threshold: nanos(CONSUMER_INACTIVE_MS),
    });
    const consumer = await this.js.consumers.get(this.cfg.stream, ci.name);
    const messages = await consumer.consume({
      max_messages: 512,
      callback: (m) => {
        const seq = m.seq;
        const data = m.data;
        // serialized: a gap fill is async, and entries must reach the ledger in sequence order
        this.chain = this.chain.then(() => this.inOrder(seq, data, deliver));
      },
    });
    this.messages = messages;
    void (async () => {
      for await (const st of await messages.status()) {
        if (this.stopped || this.messages !== messages) return;
        if (st.type === ConsumerEvents.ConsumerNotFound || st.type === ConsumerEvents.ConsumerDeleted || st.type === ConsumerEvents.StreamNotFound) {
          messages.stop();
          await this.chain;
          if (this.stopped) return;
          await this.restart(deliver);
          return;
        }
      }
    })().catch(() => undefined);
  }

  private async restart(deliver: (data: Uint8Array, seq: number) => void): Promise<void> {
    for (let wait = 250; !this.stopped; wait = Math.min(wait * 2, 5_000)) {
      try {
        await this.startConsumer(deliver);
        return;
      } catch {
        // broker still down or JetStream not ready: try again
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private async inOrder(seq: number, data: Uint8Array, deliver: (data: Uint8Array, seq: number) => void): Promise<void> {
    if (seq <= this.delivered) return;
    for (let s = this.delivered + 1; s < seq && !this.stopped; s++) {
      const missing = await this.get(s);
      // a sequence with no message (never with deny_delete, but possible after a manual edit) is skipped
      if (missing !== null) deliver(missing, s);
      this.delivered = s;
    }
    deliver(data, seq);
    this.delivered = seq;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.messages?.stop();
    this.messages = null;
  }
}
