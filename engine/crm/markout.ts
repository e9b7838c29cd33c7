/**
 * Post-trade markout: the composite mid at fixed horizons after each trade (+1 s, +10 s, +60 s by
 * default), in bps, signed so that POSITIVE IS GOOD FOR THE DESK:
 *
 *   bps      = s · (midAtTrade − mid(t + h)) / midAtTrade · 10⁴      s = +1 client buy, −1 client sell
 *   totalBps = s · (price      − mid(t + h)) / midAtTrade · 10⁴      (adds the spread captured)
 *
 * A client that buys just before the mid rises took the desk's offer cheaply: bps < 0 (adverse
 * selection). `bps` is the mid move only, so the relationship score's flow-quality factor does not
 * count the spread twice (profitability already does); `totalBps` is reported alongside.
 *
 * Scheduling: one queue per horizon, each sorted by trade time (trades arrive in time order, so
 * an insert is a push), swept by ONE interval timer — not a setTimeout per trade per horizon. A
 * sample is read on the first sweep at or after its due time, so it is late by at most `sweepMs`
 * plus any event-loop stall; past `maxLateMs` it is dropped (counted as `late`) rather than
 * recorded at the wrong horizon. A missing, zero or non-finite mid (stale instrument: `midOf`
 * should say NaN) drops the sample (counted as `no_mid`): a markout is never made up.
 *
 *   queue[h]:  [ t0 | t1 | t2 | … ]   head → first trade whose (tsMs + h) is not yet swept
 */
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { HotCounter } from '../metrics.js';
import { horizonKey } from './score.js';

export const DEFAULT_HORIZONS_MS: readonly number[] = Object.freeze([1_000, 10_000, 60_000]);

export interface MarkoutOptions {
  readonly horizonsMs?: readonly number[];
  /** interval of the sweep timer (the sampling precision) */
  readonly sweepMs?: number;
  /** a sample read later than this after its due time is dropped */
  readonly maxLateMs?: number;
  /** trades awaiting a horizon; record() refuses more (returns FULL) */
  readonly maxPending?: number;
  readonly registry?: Registry;
  /** where a throwing listener is reported (it never stops the sweep) */
  readonly log?: { error(obj: object, msg?: string): void };
}

/** record()'s outcome: a value, not a throw (it is called on the booking path). */
export const MarkoutResult = { OK: 0, INVALID: 1, FULL: 2 } as const;
export type MarkoutResult = (typeof MarkoutResult)[keyof typeof MarkoutResult];

export interface MarkoutDetail {
  readonly clientId: string;
  readonly iid: number;
  readonly midAtHorizon: number;
  readonly totalBps: number;
}
export type MarkoutListener = (tradeId: string, horizonMs: number, bps: number, detail: MarkoutDetail) => void;

interface Pending {
  readonly tradeId: string;
  readonly clientId: string;
  readonly iid: number;
  readonly sign: number;
  readonly price: number;
  readonly mid: number;
  readonly tsMs: number;
  remaining: number;
}

interface Queue {
  items: Pending[];
  head: number;
}

const SAMPLE_RESULTS = ['ok', 'late', 'no_mid'] as const;

export class MarkoutRecorder {
  readonly horizonsMs: readonly number[];
  private readonly keys: readonly string[];
  private readonly sweepMs: number;
  private readonly maxLateMs: number;
  private readonly maxPending: number;
  private readonly queues: Queue[];
  private pendingTrades = 0;
  private readonly listeners: MarkoutListener[] = [];
  /** per client: [sum₀, n₀, sum₁, n₁, …] by horizon index */
  private readonly agg = new Map<string, Float64Array>();
  private timer: NodeJS.Timeout | undefined;
  private readonly samples: HotCounter | undefined;
  private readonly counts = { ok: 0, late: 0, no_mid: 0, invalid: 0, full: 0 };
  private listenerErrors = 0;
  private readonly log: MarkoutOptions['log'];

  constructor(
    private readonly midOf: (iid: number) => number,
    private readonly clock: Clock,
    opts: MarkoutOptions = {},
  ) {
    const hs = [...(opts.horizonsMs ?? DEFAULT_HORIZONS_MS)];
    if (hs.length === 0 || hs.some((h) => !Number.isInteger(h) || h <= 0) || new Set(hs).size !== hs.length) {
      throw new RangeError(`markout horizons must be distinct positive integer ms, got ${JSON.stringify(hs)}`);
    }
    this.horizonsMs = Object.freeze(hs.sort((a, b) => a - b));
    this.keys = this.horizonsMs.map(horizonKey);
    this.sweepMs = opts.sweepMs ?? 100;
    this.maxLateMs = opts.maxLateMs ?? 1_000;
    this.maxPending = opts.maxPending ?? 100_000;
    if (!(this.sweepMs > 0) || !(this.maxLateMs >= 0) || !(this.maxPending > 0)) throw new RangeError('markout sweepMs, maxLateMs and maxPending must be positive');
    this.queues = this.horizonsMs.map(() => ({ items: [], head: 0 }));
    this.log = opts.log;
    if (opts.registry) {
      this.samples = new HotCounter(opts.registry, 'qe_markout_samples_total', 'Markout samples by outcome (late / no_mid = dropped)', 'result', SAMPLE_RESULTS);
    }
  }

  onMarkout(listener: MarkoutListener): void {
    this.listeners.push(listener);
  }

  /** Starts the sweep timer (unref'd: it never keeps a process alive). */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.sweep(), this.sweepMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Schedules the horizons of one trade. `side` is the client's side. */
  record(tradeId: string, clientId: string, iid: number, side: 'buy' | 'sell', price: number, midAtTrade: number, tsMs: number): MarkoutResult {
    if (
      typeof tradeId !== 'string' ||
      typeof clientId !== 'string' ||
      !Number.isInteger(iid) ||
      iid < 0 ||
      (side !== 'buy' && side !== 'sell') ||
      !Number.isFinite(price) ||
      !Number.isFinite(midAtTrade) ||
      midAtTrade <= 0 ||
      !Number.isFinite(tsMs)
    ) {
      this.counts.invalid++;
      return MarkoutResult.INVALID;
    }
    if (this.pendingTrades >= this.maxPending) {
      this.counts.full++;
      return MarkoutResult.FULL;
    }
    const p: Pending = { tradeId, clientId, iid, sign: side === 'buy' ? 1 : -1, price, mid: midAtTrade, tsMs, remaining: this.queues.length };
    for (const q of this.queues) {
      const items = q.items;
      // trades come in time order: an append; otherwise binary search the unswept part
      if (items.length === q.head || items[items.length - 1].tsMs <= tsMs) items.push(p);
      else {
        let lo = q.head;
        let hi = items.length;
        while (lo < hi) {
          const m = (lo + hi) >>> 1;
          if (items[m].tsMs <= tsMs) lo = m + 1;
          else hi = m;
        }
        items.splice(lo, 0, p);
      }
    }
    this.pendingTrades++;
    return MarkoutResult.OK;
  }

  /** Samples every horizon that is due; returns how many samples were taken or dropped. */
  sweep(): number {
    const now = this.clock.nowMs();
    let n = 0;
    for (let h = 0; h < this.queues.length; h++) {
      const q = this.queues[h];
      const horizon = this.horizonsMs[h];
      while (q.head < q.items.length && q.items[q.head].tsMs + horizon <= now) {
        const p = q.items[q.head];
        q.items[q.head++] = undefined as unknown as Pending; // let the trade be collected after its last horizon
        this.sample(p, h, now - (p.tsMs + horizon));
        if (--p.remaining === 0) this.pendingTrades--;
        n++;
      }
      // compact once the swept prefix dominates (amortized O(1) per trade)
      if (q.head > 1024 && q.head * 2 > q.items.length) {
        q.items = q.items.slice(q.head);
        q.head = 0;
      } else if (q.head === q.items.length && q.head > 0) {
        q.items.length = 0;
        q.head = 0;
      }
    }
    return n;
  }

  private sample(p: Pending, h: number, lateMs: number): void {
    if (lateMs > this.maxLateMs) return this.count('late');
    const mid = this.midOf(p.iid);
    if (!(mid > 0) || !Number.isFinite(mid)) return this.count('no_mid');
    const bps = (p.sign * (p.mid - mid) * 1e4) / p.mid;
    const totalBps = (p.sign * (p.price - mid) * 1e4) / p.mid;
    let a = this.agg.get(p.clientId);
    if (a === undefined) this.agg.set(p.clientId, (a = new Float64Array(2 * this.queues.length)));
    a[2 * h] += bps;
    a[2 * h + 1] += 1;
    this.count('ok');
    const detail: MarkoutDetail = { clientId: p.clientId, iid: p.iid, midAtHorizon: mid, totalBps };
    for (const l of this.listeners) {
      try {
        l(p.tradeId, this.horizonsMs[h], bps, detail);
      } catch (err) {
        // the sweep runs from a timer: an exception here would take the process down, and the
        // other trades' samples must still be taken
        this.listenerErrors++;
        this.log?.error({ tradeId: p.tradeId, err: (err as Error).stack }, 'markout listener threw');
      }
    }
  }

  private count(r: (typeof SAMPLE_RESULTS)[number]): void {
    this.counts[r]++;
    this.samples?.incLabel(r);
  }

  /** Mean markout per horizon for a client (keys h1s, h10s, h60s), horizons with no sample omitted. */
  averages(clientId: string): Readonly<Record<string, number>> {
    const a = this.agg.get(clientId);
    const out: Record<string, number> = {};
    if (a === undefined) return out;
    for (let h = 0; h < this.keys.length; h++) if (a[2 * h + 1] > 0) out[this.keys[h]] = a[2 * h] / a[2 * h + 1];
    return out;
  }

  /** Samples per horizon for a client. */
  sampleCounts(clientId: string): Readonly<Record<string, number>> {
    const a = this.agg.get(clientId);
    const out: Record<string, number> = {};
    for (let h = 0; h < this.keys.length; h++) out[this.keys[h]] = a === undefined ? 0 : a[2 * h + 1];
    return out;
  }

  /** Trades with at least one horizon still to sample. */
  pending(): number {
    return this.pendingTrades;
  }

  stats(): Readonly<{ ok: number; late: number; no_mid: number; invalid: number; full: number; pending: number; listenerErrors: number }> {
    return { ...this.counts, pending: this.pendingTrades, listenerErrors: this.listenerErrors };
  }
}
