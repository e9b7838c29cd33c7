/**
 * Runs the relationship score on a worker thread and writes the results to the CRM.
 *
 *   addTrade / setTrades ──debounce──┐
 *   interval (refreshMs) ────────────┼──► refresh() ──► [one run in flight] ──► piscina (workers/score.js)
 *   explicit refresh() ──────────────┘         │ requests meanwhile coalesce      │
 *                                              └── into ONE next run ◄────────────┘ putScore for changed clients
 *
 * The caller owns the trade record (the journal feeds it): `setTrades` on recovery, `addTrade`
 * per booked trade, `onMarkout` as the MarkoutRecorder samples each horizon. The scorer keeps only
 * the trailing window (and at most `maxTrades`), pruned at each run.
 *
 * At most one run is in flight and at most one more is pending, so the pool's queue never holds
 * more than one task (maxQueue 1 is a backstop, not a throttle). A failed or timed-out run keeps
 * the previous scores (the store is not touched) and is counted.
 */
import { Piscina } from 'piscina';
import { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { CrmError, ErrorCode } from '../errors.js';
import { HotCounter } from '../metrics.js';
import {
  DEFAULT_SCORE_OPTIONS,
  DEFAULT_TIER_CUTS,
  DEFAULT_WEIGHTS,
  assertScoreParams,
  horizonKey,
  type ScoreOptions,
  type ScoreResult,
  type ScoreTrade,
  type ScoreWeights,
  type TierCuts,
} from './score.js';
import type { CrmLogger } from './store.js';
import type { RelationshipScore } from './types.js';
import type { ScoreTask } from '../../workers/score.js';

export const SCORE_WORKER_URL = new URL('../../workers/score.js', import.meta.url);

/** The part of the CRM the scorer needs (CrmStore satisfies it). */
export interface ScoreSink {
  score(clientId: string): RelationshipScore | undefined;
  putScore(score: RelationshipScore): Promise<RelationshipScore>;
}

export interface ScorerOptions {
  readonly store: ScoreSink;
  readonly clock: Clock;
  readonly log: CrmLogger;
  readonly weights?: ScoreWeights;
  readonly tierCuts?: TierCuts;
  readonly score?: Partial<ScoreOptions>;
  /** periodic refresh; 0 = only after trades and on request */
  readonly refreshMs?: number;
  /** a burst of trades within this long costs one run */
  readonly debounceMs?: number;
  /** a run taking longer is aborted (the worker is replaced) */
  readonly timeoutMs?: number;
  /** hard cap on trades held, oldest dropped first */
  readonly maxTrades?: number;
  readonly registry?: Registry;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The score without its timestamp: a rerun that changes nothing writes nothing. */
function sameScore(a: RelationshipScore | undefined, b: RelationshipScore): boolean {
  if (a === undefined) return false;
  return JSON.stringify({ ...a, computedAtMs: 0 }) === JSON.stringify({ ...b, computedAtMs: 0 });
}

export class Scorer {
  private trades: ScoreTrade[] = [];
  private byId = new Map<string, number>();
  private readonly pool: Piscina;
  private readonly weights: ScoreWeights;
  private readonly tierCuts: TierCuts;
  private readonly scoreOptions: ScoreOptions;
  private readonly debounceMs: number;
  private readonly timeoutMs: number;
  private readonly maxTrades: number;
  private inFlight: Promise<readonly RelationshipScore[]> | null = null;
  private next: Deferred<readonly RelationshipScore[]> | null = null;
  private debounceTimer: NodeJS.Timeout | undefined;
  private intervalTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly runsCounter: HotCounter;
  private lastSkipped = 0;

  constructor(private readonly o: ScorerOptions) {
    this.weights = o.weights ?? DEFAULT_WEIGHTS;
    this.tierCuts = o.tierCuts ?? DEFAULT_TIER_CUTS;
    this.scoreOptions = { ...DEFAULT_SCORE_OPTIONS, ...o.score };
    assertScoreParams(this.weights, this.tierCuts, this.scoreOptions);
    this.debounceMs = o.debounceMs ?? 500;
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.maxTrades = o.maxTrades ?? 1_000_000;
    this.runsCounter = new HotCounter(o.registry ?? new Registry(), 'qe_crm_score_runs_total', 'Relationship-score runs by result', 'result', ['ok', 'failed']);
    this.pool = new Piscina({
      filename: SCORE_WORKER_URL.href,
      minThreads: 0,
      maxThreads: 1,
      maxQueue: 1,
      // a run per minute by default: keep the thread between runs, let it go when idle longer
      idleTimeout: 5 * 60_000,
      // as the pricer: no inherited --import/--loader hooks in the worker
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: 512 },
    });
    const refreshMs = o.refreshMs ?? 60_000;
    if (refreshMs > 0) {
      this.intervalTimer = setInterval(() => this.refreshQuietly(), refreshMs);
      this.intervalTimer.unref();
    }
  }

  /** Replaces the trade record (e.g. rebuilt from the journal at start-up) and schedules a run. */
  setTrades(trades: readonly ScoreTrade[]): void {
    this.trades = trades.slice(-this.maxTrades);
    this.reindex();
    this.schedule();
  }

  /** One booked trade; a run follows within debounceMs (coalesced with the others). */
  addTrade(t: ScoreTrade): void {
    if (this.trades.length >= this.maxTrades) {
      // drop the oldest tenth at once: one reindex per many trades, not one per trade
      this.trades.splice(0, Math.max(1, Math.ceil(this.maxTrades / 10)));
      this.reindex();
    }
    this.trades.push(t);
    if (t.tradeId !== undefined) this.byId.set(t.tradeId, this.trades.length - 1);
    this.schedule();
  }

  /**
   * Attaches a markout sample to its trade (wire MarkoutRecorder.onMarkout here). The next run
   * uses it; markouts alone do not trigger a run (the periodic refresh picks them up).
   * Returns false when the trade is unknown (pruned, or never added with a tradeId).
   */
  onMarkout(tradeId: string, horizonMs: number, bps: number): boolean {
    const i = this.byId.get(tradeId);
    if (i === undefined || !Number.isFinite(bps)) return false;
    const t = this.trades[i];
    this.trades[i] = { ...t, markoutBps: { ...t.markoutBps, [horizonKey(horizonMs)]: bps } };
    return true;
  }

  tradeCount(): number {
    return this.trades.length;
  }

  runs(): { ok: number; failed: number; lastSkippedTrades: number } {
    return { ok: this.runsCounter.get('ok'), failed: this.runsCounter.get('failed'), lastSkippedTrades: this.lastSkipped };
  }

  /**
   * Scores now, or right after the run in flight. Concurrent callers share one run; the promise
   * rejects with QE_CRM_SCORER_FAILED when the run fails (previous scores are kept).
   */
  refresh(): Promise<readonly RelationshipScore[]> {
    if (this.closed) return Promise.reject(new CrmError(ErrorCode.CRM_SCORER_FAILED, 'scorer is closed'));
    clearTimeout(this.debounceTimer);
    this.debounceTimer = undefined;
    if (this.inFlight === null) {
      const run = this.runOnce();
      this.inFlight = run;
      void run.then(
        () => this.afterRun(),
        () => this.afterRun(),
      );
      return run;
    }
    if (this.next === null) this.next = deferred();
    return this.next.promise;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounceTimer);
    clearInterval(this.intervalTimer);
    const n = this.next;
    this.next = null;
    n?.reject(new CrmError(ErrorCode.CRM_SCORER_FAILED, 'scorer is closed'));
    // a run in flight settles (or is aborted by destroy) before the pool goes
    await this.inFlight?.catch(() => undefined);
    await this.pool.destroy();
  }

  private afterRun(): void {
    this.inFlight = null;
    const n = this.next;
    this.next = null;
    if (n === null) return;
    if (this.closed) n.reject(new CrmError(ErrorCode.CRM_SCORER_FAILED, 'scorer is closed'));
    else this.refresh().then(n.resolve, n.reject);
  }

  private schedule(): void {
    if (this.closed || this.debounceTimer !== undefined) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      this.refreshQuietly();
    }, this.debounceMs);
    this.debounceTimer.unref();
  }

  private refreshQuietly(): void {
    // timer-driven: the failure is already counted and logged in runOnce
    this.refresh().catch(() => undefined);
  }

  private reindex(): void {
    this.byId = new Map();
    this.trades.forEach((t, i) => {
      if (t.tradeId !== undefined) this.byId.set(t.tradeId, i);
    });
  }

  private prune(nowMs: number): void {
    const since = nowMs - this.scoreOptions.windowMs;
    if (!this.trades.some((t) => t.tsMs <= since)) return;
    this.trades = this.trades.filter((t) => t.tsMs > since);
    this.reindex();
  }

  private async runOnce(): Promise<readonly RelationshipScore[]> {
    const nowMs = this.o.clock.nowMs();
    this.prune(nowMs);
    const task: ScoreTask = { trades: this.trades.slice(), nowMs, weights: this.weights, tierCuts: this.tierCuts, options: this.scoreOptions };
    const t0 = performance.now();
    let result: ScoreResult;
    try {
      result = (await this.pool.run(task, { signal: AbortSignal.timeout(this.timeoutMs) })) as ScoreResult;
    } catch (cause) {
      this.runsCounter.incLabel('failed');
      const name = (cause as Error)?.name;
      const why = name === 'AbortError' || name === 'TimeoutError' ? `exceeded ${this.timeoutMs} ms` : (cause as Error)?.message;
      this.o.log.error({ trades: task.trades.length, err: why }, 'relationship score run failed; previous scores kept');
      throw new CrmError(ErrorCode.CRM_SCORER_FAILED, `relationship score run failed: ${why}`, [], { cause });
    }
    this.lastSkipped = result.skipped;
    const changed = result.scores.filter((s) => !sameScore(this.o.store.score(s.clientId), s));
    try {
      await Promise.all(changed.map((s) => this.o.store.putScore(s)));
    } catch (cause) {
      this.runsCounter.incLabel('failed');
      this.o.log.error({ err: (cause as Error).message }, 'writing relationship scores failed');
      throw new CrmError(ErrorCode.CRM_SCORER_FAILED, `writing relationship scores failed: ${(cause as Error).message}`, [], { cause });
    }
    this.runsCounter.incLabel('ok');
    const ms = Math.round(performance.now() - t0);
    if (changed.length) this.o.log.info({ trades: task.trades.length, clients: result.scores.length, written: changed.length, skipped: result.skipped, ms }, 'relationship scores updated');
    return result.scores;
  }
}
