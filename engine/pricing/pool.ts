/**
 * Batch pricers. The hot path owns one; at most one batch is in flight (the hot path enforces
 * it), so input/output live in two SharedArrayBuffers allocated once: the main thread writes
 * rows, `run(count)` prices them, the main thread reads the output when the promise settles.
 *
 *   WorkerPricer  piscina, 1+ threads, bounded maxQueue, per-batch timeout → abort (piscina
 *                 terminates a worker whose task is aborted, so a hung pricer is replaced).
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
  close(): Promise<void>;
}

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
    // the kernel allocates nothing per batch; a worker that balloons is a bug, cut it off
    resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
  });
  const timeoutMs = w.batchTimeoutMs;
  return {
    input: new Float64Array(inSab),
    output: new Float64Array(outSab),
    capacity,
    kind: 'worker',
    async run(count: number): Promise<number> {
      try {
        return (await pool.run({ count }, { signal: AbortSignal.timeout(timeoutMs) })) as number;
      } catch (cause) {
        const name = (cause as Error)?.name;
        if (name === 'AbortError' || name === 'TimeoutError') {
          throw new EngineError(ErrorCode.PRICER_TIMEOUT, `pricing batch of ${count} exceeded ${timeoutMs} ms`, { cause });
        }
        if (/queue is full/i.test((cause as Error)?.message ?? '')) {
          throw new EngineError(ErrorCode.PRICER_BUSY, 'pricer queue full', { cause });
        }
        throw new EngineError(ErrorCode.PRICER_FAILED, `pricer failed: ${(cause as Error)?.message}`, { cause });
      }
    },
    close: () => pool.destroy(),
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
    run(count: number): Promise<number> {
      priceBatch(params, input, count, output);
      return Promise.resolve(count);
    },
    close: () => Promise.resolve(),
  };
}
