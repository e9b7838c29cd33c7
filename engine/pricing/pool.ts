/**
 * Batch pricers. The hot path owns one; at most one batch is in flight (the hot path enforces
 * it), so input/output live in two SharedArrayBuffers allocated once: the main thread writes
 * rows, `run(count)` prices them, the main thread reads the output when the promise settles.
 *
 *   WorkerPricer  piscina, 1+ threads, bounded maxQueue, per-batch timeout → abort (piscina
 *                 terminates a worker whose task is aborted, so a hung pricer is replaced).
 *                 Batches of ≤ workers.inlineMaxRows rows are priced on the calling thread with
 *                 the same kernel: the hop would cost the main thread more than the pricing.
 *   InlinePricer  same contract on the calling thread (tests, perf comparison).
 */
import { Piscina } from 'piscina';
import type { Config } from '../config.js';
import { EngineError, ErrorCode } from '../errors.js';
import { buildPricingParams, priceBatch, IN_STRIDE, OUT_STRIDE, type PricingParams } from './ladder.js';
import type { PricerWorkerData } from '../../workers/pricer.js';

export interface BatchPricer {
  readonly input: Float64Array;
  readonly output: Float64Array;
  /** rows per batch */
  readonly capacity: number;
  readonly kind: 'worker' | 'inline';
  run(count: number): Promise<number>;
  /** the most rows runSync() takes: capacity (inline), workers.inlineMaxRows (worker; 0 with fault injection) */
  readonly syncMaxRows: number;
  /** Prices `count` ≤ syncMaxRows rows on the calling thread now, with the same kernel as run(). */
  runSync(count: number): void;
  /** Resolves once a worker is up and has priced an empty batch (call before taking ticks). */
  warm(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A worker that was terminated (timeout) is replaced by a fresh thread that must boot before it
 * can price: the first batch after a failure gets this much extra time, so a slow boot on a
 * loaded machine is not mistaken for another hang.
 */
export const WORKER_BOOT_GRACE_MS = 2_000;

export const PRICER_WORKER_URL = new URL('../../workers/pricer.js', import.meta.url);

function sharedRows(rows: number): { inSab: SharedArrayBuffer; outSab: SharedArrayBuffer } {
  return {
    inSab: new SharedArrayBuffer(rows * IN_STRIDE * 8),
    outSab: new SharedArrayBuffer(rows * OUT_STRIDE * 8),
  };
}

export interface WorkerPricerOptions {
  readonly faultMode?: PricerWorkerData['faultMode'];
}

export function createWorkerPricer(config: Config, opts: WorkerPricerOptions = {}): BatchPricer {
  const capacity = Math.min(config.pricing.maxBatch, config.instruments.length);
  const { inSab, outSab } = sharedRows(capacity);
  const params = buildPricingParams(config);
  const w = config.pricing.workers;
  const workerData: PricerWorkerData = { params, input: inSab, output: outSab, faultMode: opts.faultMode ?? 'none' };
  const pool = new Piscina({
    filename: PRICER_WORKER_URL.href,
    minThreads: w.threads,
    maxThreads: w.threads,
    maxQueue: w.maxQueue,
    idleTimeout: 2 ** 31 - 1,
    workerData,
    // Workers must not inherit the parent's --import/--loader hooks (test runners, profilers):
    // the kernel is plain JS and a loader in every worker costs startup time or breaks it.
    execArgv: [],
    // the kernel allocates nothing per batch; a worker that balloons is a bug, cut it off
    resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
  });
  const timeoutMs = w.batchTimeoutMs;
  // Fault injection exists to exercise the worker path: never short-cut it inline.
  const inlineMaxRows = (opts.faultMode ?? 'none') === 'none' ? w.inlineMaxRows : 0;
  let afterFailure = false;
  // One watchdog timer for the pool instead of an AbortSignal.timeout() per batch (each of those
  // arms a timer that still fires, and builds a DOMException, long after the batch is done).
  let current: { ac: AbortController; startedMs: number; budgetMs: number; timedOut: boolean } | null = null;
  const watchdog = setInterval(() => {
    if (current && performance.now() - current.startedMs > current.budgetMs) {
      current.timedOut = true;
      current.ac.abort();
    }
  }, Math.max(5, Math.floor(timeoutMs / 5)));
  watchdog.unref();
  const input = new Float64Array(inSab);
  const output = new Float64Array(outSab);
  return {
    input,
    output,
    capacity,
    kind: 'worker',
    syncMaxRows: inlineMaxRows,
    runSync(count: number): void {
      if (count > inlineMaxRows) throw new EngineError(ErrorCode.PRICER_FAILED, `runSync: ${count} rows > ${inlineMaxRows}`);
      priceBatch(params, input, count, output);
    },
    async run(count: number): Promise<number> {
      if (count <= inlineMaxRows) {
        priceBatch(params, input, count, output);
        return count;
      }
      const budget = afterFailure ? timeoutMs + WORKER_BOOT_GRACE_MS : timeoutMs;
      const job = (current = { ac: new AbortController(), startedMs: performance.now(), budgetMs: budget, timedOut: false });
      try {
        const done = (await pool.run({ count }, { signal: job.ac.signal })) as number;
        afterFailure = false;
        return done;
      } catch (cause) {
        afterFailure = true;
        if (job.timedOut) {
          throw new EngineError(ErrorCode.PRICER_TIMEOUT, `pricing batch of ${count} exceeded ${budget} ms`, { cause });
        }
        if (/queue is (full|at limit)/i.test((cause as Error)?.message ?? '')) {
          throw new EngineError(ErrorCode.PRICER_BUSY, 'pricer queue full', { cause });
        }
        throw new EngineError(ErrorCode.PRICER_FAILED, `pricer failed: ${(cause as Error)?.message}`, { cause });
      } finally {
        if (current === job) current = null;
      }
    },
    async warm() {
      await pool.run({ count: 0 }, { signal: AbortSignal.timeout(30_000) });
    },
    close: () => {
      clearInterval(watchdog);
      return pool.destroy();
    },
  };
}

export function createInlinePricer(config: Config, params: PricingParams = buildPricingParams(config)): BatchPricer {
  const capacity = Math.min(config.pricing.maxBatch, config.instruments.length);
  const input = new Float64Array(capacity * IN_STRIDE);
  const output = new Float64Array(capacity * OUT_STRIDE);
  return {
    input,
    output,
    capacity,
    kind: 'inline',
    syncMaxRows: capacity,
    runSync(count: number): void {
      priceBatch(params, input, count, output);
    },
    run(count: number): Promise<number> {
      priceBatch(params, input, count, output);
      return Promise.resolve(count);
    },
    warm: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}
