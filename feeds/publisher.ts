/**
 * Publishes a SyntheticMarket to NATS at a fixed aggregate rate.
 *
 * One timer wakes every `wakeMs`; each wake emits `rate × elapsed − already scheduled` messages
 * (so timer jitter is caught up), at most `maxBurstMs` worth per wake so one wake never stalls the
 * loop. A debt larger than one second of messages (the process was starved) is written off and
 * counted as `shortfall` rather than replayed as a flood. The nats client queues every publish of a
 * wake and writes them in one socket write at its microtask flush.
 *
 * While the client is disconnected the feed stops publishing (counted as `skippedDisconnected`):
 * nats.js would otherwise queue everything in memory for the whole outage.
 */
import type { NatsConnection, Status } from 'nats';
import { parseConfig, type Config } from '../engine/config.js';
import { systemClock, type Clock } from '../engine/clock.js';
import { EngineError, ErrorCode } from '../engine/errors.js';
import { encodeShared } from '../engine/wire/codec.js';
import { bookSubject, monoUs, tradeSubject } from '../engine/wire/market-data.js';
import {
  SyntheticMarket,
  type BookMsg,
  type FaultOptions,
  type MarketPhase,
  type MdSink,
  type ScenarioName,
  type StressOptions,
  type TradeMsg,
} from './synthetic.js';
import { generateUniverse } from './universe.js';

export interface FeedOptions {
  readonly nc: NatsConnection;
  readonly config: Config;
  readonly seed: number;
  readonly scenario: ScenarioName;
  /** Aggregate messages per second over all streams (books + trades). */
  readonly ratePerSec: number;
  /** First N instruments of the config; above the config's size, a generated universe (see `FeedHandle.config`). */
  readonly instruments?: number;
  /** Stop by itself after this long (exactly rate × duration messages scheduled). */
  readonly durationMs?: number;
  /** Default config.nats.mdPrefix. */
  readonly mdPrefix?: string;
  readonly onProgress?: (stats: FeedStats) => void;
  readonly progressEveryMs?: number;
  readonly wakeMs?: number;
  readonly maxBurstMs?: number;
  /** Source of the generator's `nowMs` (the venue clock). Pacing always uses performance.now(). */
  readonly clock?: Clock;
  readonly timeScale?: number;
  readonly stress?: Partial<StressOptions>;
  readonly faults?: Partial<FaultOptions>;
}

export interface FeedStats {
  /** Messages handed to the nats client. */
  readonly published: number;
  readonly books: number;
  readonly trades: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  /** published / elapsed. */
  readonly ratePerSec: number;
  /** Messages written off because the process fell more than a second behind. */
  readonly shortfall: number;
  /** Messages not generated while the client was disconnected. */
  readonly skippedDisconnected: number;
  readonly quietSkips: number;
  readonly crossed: number;
  readonly gaps: number;
  readonly duplicates: number;
  readonly outliers: number;
  readonly largestBurst: number;
  readonly phase: MarketPhase;
}

export const FeedEnd = { STOPPED: 'stopped', DURATION: 'duration', ERROR: 'error' } as const;
export type FeedEnd = (typeof FeedEnd)[keyof typeof FeedEnd];

export interface FeedHandle {
  /** The universe being published: the input config, or the generated one when `instruments` exceeds it. */
  readonly config: Config;
  readonly market: SyntheticMarket;
  /** Resolves when the feed ends: stop(), duration reached, the connection closed or a publish failed (see `error`). */
  readonly done: Promise<FeedEnd>;
  readonly error: Error | undefined;
  /** Stops the timer and flushes what was published. Does not close the connection (the caller owns it). */
  stop(): Promise<void>;
  stats(): FeedStats;
}

/** Upper bound of one encoded message: 9 keys, two ≤32-char ids, 7 numbers of ≤9 bytes. */
const MAX_MSG_BYTES = 192;

export function startFeed(opts: FeedOptions): FeedHandle {
  const rate = opts.ratePerSec;
  if (!(Number.isFinite(rate) && rate > 0 && rate <= 1_000_000)) throw new RangeError(`ratePerSec must be in (0, 1e6], got ${rate}`);
  if (opts.durationMs !== undefined && !(Number.isFinite(opts.durationMs) && opts.durationMs > 0)) {
    throw new RangeError(`durationMs must be positive, got ${opts.durationMs}`);
  }
  const wakeMs = opts.wakeMs ?? 2;
  const maxBurst = Math.max(1, Math.ceil((rate * (opts.maxBurstMs ?? 50)) / 1000));
  const maxDebt = Math.max(maxBurst, Math.ceil(rate));
  const progressEveryMs = opts.progressEveryMs ?? 1000;
  const clock = opts.clock ?? systemClock;
  const nc = opts.nc;

  let config = opts.config;
  let subset: string[] | undefined;
  if (opts.instruments !== undefined) {
    const n = opts.instruments;
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`instruments must be a positive integer, got ${n}`);
    if (n > config.instruments.length) config = parseConfig(generateUniverse(config, n));
    else if (n < config.instruments.length) subset = config.instruments.slice(0, n).map((ins) => ins.id);
  }
  const market = new SyntheticMarket(config, {
    seed: opts.seed,
    scenario: opts.scenario,
    instruments: subset,
    timeScale: opts.timeScale,
    stress: opts.stress,
    faults: opts.faults,
  });
  const prefix = opts.mdPrefix ?? config.nats.mdPrefix;
  const bookSubjects = market.streams.map((s) => bookSubject(prefix, s.instrument, s.venue));
  const tradeSubjects = market.streams.map((s) => tradeSubject(prefix, s.instrument, s.venue));

  let published = 0;
  let books = 0;
  let trades = 0;
  let bytes = 0;
  let scheduled = 0;
  let shortfall = 0;
  let skippedDisconnected = 0;
  let largestBurst = 0;
  let connected = true;
  let stopped = false;
  let error: Error | undefined;
  let timer: NodeJS.Timeout | undefined;
  const t0 = performance.now();
  let lastProgress = t0;
  let stoppedAt = 0;

  // nats.js keeps a reference to each payload until its microtask flush (and for the whole outage
  // while reconnecting), so the encoder's shared buffer cannot be handed over as is. Payloads are
  // copied into a slab that only ever fills forwards and is replaced, never rewritten, when full:
  // one 64 KiB allocation per few hundred messages instead of one per message.
  let slab = new Uint8Array(0);
  let slabOff = 0;
  const send = (subject: string, msg: BookMsg | TradeMsg): void => {
    msg.pt = monoUs();
    const ref = encodeShared(msg);
    const len = ref.length;
    if (slabOff + len > slab.length) {
      slab = new Uint8Array(Math.max(64 * 1024, len));
      slabOff = 0;
    }
    slab.set(ref, slabOff);
    nc.publish(subject, slab.subarray(slabOff, slabOff + len));
    slabOff += len;
    bytes += len;
    published++;
  };
  const sink: MdSink = {
    book(msg, s) {
      send(bookSubjects[s], msg);
      books++;
    },
    trade(msg, s) {
      send(tradeSubjects[s], msg);
      trades++;
    },
  };

  let resolveDone!: (end: FeedEnd) => void;
  const done = new Promise<FeedEnd>((res) => (resolveDone = res));

  // At runtime this is a QueuedIterator: stop() ends the loop below and unregisters the listener,
  // which matters on a connection the feed does not own. The 2.x typings only declare AsyncIterable.
  const status = nc.status() as AsyncIterable<Status> & { stop(): void };
  void (async () => {
    for await (const s of status) {
      if (s.type === 'disconnect') connected = false;
      else if (s.type === 'reconnect') connected = true;
    }
  })();

  const finish = (end: FeedEnd): void => {
    if (stopped) return;
    stopped = true;
    stoppedAt = performance.now();
    if (timer) clearTimeout(timer);
    status.stop();
    if (opts.onProgress) opts.onProgress(stats());
    resolveDone(end);
  };

  const wake = (): void => {
    timer = undefined;
    if (stopped) return;
    const now = performance.now();
    let elapsed = now - t0;
    let last = false;
    if (opts.durationMs !== undefined && elapsed >= opts.durationMs) {
      elapsed = opts.durationMs;
      last = true;
    }
    let due = Math.floor((rate * elapsed) / 1000) - scheduled;
    if (due > maxDebt) {
      shortfall += due - maxBurst;
      scheduled += due - maxBurst;
      due = maxBurst;
    }
    if (nc.isClosed()) {
      error = new EngineError(ErrorCode.NATS_UNAVAILABLE, 'NATS connection closed under the feed');
      finish(FeedEnd.ERROR);
      return;
    }
    const n = last ? due : Math.min(due, maxBurst);
    if (n > 0) {
      scheduled += n;
      if (n > largestBurst) largestBurst = n;
      if (!connected) {
        skippedDisconnected += n;
      } else {
        if (slab.length - slabOff < n * MAX_MSG_BYTES) {
          slab = new Uint8Array(Math.max(64 * 1024, n * MAX_MSG_BYTES));
          slabOff = 0;
        }
        try {
          market.generate(clock.nowMs(), n, sink);
        } catch (err) {
          // A publish that throws means the connection is closed or a payload is over the server's
          // limit: either way nothing more can be sent, so the feed ends and reports why.
          error = err as Error;
          finish(FeedEnd.ERROR);
          return;
        }
      }
    }
    if (opts.onProgress && now - lastProgress >= progressEveryMs) {
      lastProgress = now;
      opts.onProgress(stats());
    }
    if (last) finish(FeedEnd.DURATION);
    else timer = setTimeout(wake, wakeMs);
  };

  function stats(): FeedStats {
    const elapsedMs = (stopped ? stoppedAt : performance.now()) - t0;
    const c = market.counters;
    return {
      published,
      books,
      trades,
      bytes,
      elapsedMs,
      ratePerSec: elapsedMs > 0 ? (published * 1000) / elapsedMs : 0,
      shortfall,
      skippedDisconnected,
      quietSkips: c.quietSkips,
      crossed: c.crossed,
      gaps: c.gaps,
      duplicates: c.duplicates,
      outliers: c.outliers,
      largestBurst,
      phase: market.phaseAt(clock.nowMs()),
    };
  }

  timer = setTimeout(wake, wakeMs);

  return {
    config,
    market,
    done,
    get error() {
      return error;
    },
    async stop() {
      finish(FeedEnd.STOPPED);
      await done;
      if (!nc.isClosed()) {
        try {
          await nc.flush();
        } catch {
          // The connection closed between the check and the flush: there is nothing left to flush.
        }
      }
    },
    stats,
  };
}
