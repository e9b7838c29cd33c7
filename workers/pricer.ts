/**
 * Piscina task: price one batch. Pure compute on shared memory; imports only the pricing kernel.
 *
 * Memory (both SharedArrayBuffers are allocated once by the orchestrator, passed in workerData):
 *   input   rows × IN_STRIDE  Float64  (written by the main thread before run(), read here)
 *   output  rows × OUT_STRIDE Float64  (written here, read by the main thread after the promise)
 * At most one batch is in flight, so there is no concurrent access: the task message carries
 * only the row count, and the result is the same count (nothing is copied or transferred).
 *
 * `faultMode` exists so tests can prove the main thread survives a pricer that throws, hangs or
 * returns garbage (R13/R14); it is set only from workerData, never from the wire.
 */
import { workerData } from 'piscina';
import { priceBatch, IN_STRIDE, OUT_STRIDE, O_LEVELS, O_TIER_STRIDE, N_TIERS, O_NLEV, type PricingParams } from '../engine/pricing/ladder.js';

export interface PricerWorkerData {
  readonly params: PricingParams;
  readonly input: SharedArrayBuffer;
  readonly output: SharedArrayBuffer;
  readonly faultMode?: 'none' | 'throw' | 'hang' | 'garbage';
}

const wd = workerData as PricerWorkerData;
const input = new Float64Array(wd.input);
const output = new Float64Array(wd.output);
const fault = wd.faultMode ?? 'none';

export default function price(task: { count: number }): number {
  const count = task.count | 0;
  if (count < 0 || count * IN_STRIDE > input.length || count * OUT_STRIDE > output.length) {
    throw new RangeError(`batch of ${count} rows exceeds the shared buffers`);
  }
  if (count === 0) return 0; // warm-up: proves the worker is up, whatever its fault mode
  if (fault === 'throw') throw new Error('injected pricer fault');
  if (fault === 'hang') for (;;);
  priceBatch(wd.params, input, count, output);
  if (fault === 'garbage') {
    // a mutant pricer: every ask 10× the mid, every bid 0.1× (the gate must block all of it)
    for (let r = 0; r < count; r++) {
      for (let t = 0; t < N_TIERS; t++) {
        const to = r * OUT_STRIDE + t * O_TIER_STRIDE;
        for (let k = 0; k < output[to + O_NLEV]; k++) {
          output[to + O_LEVELS + 3 * k + 1] *= 0.1;
          output[to + O_LEVELS + 3 * k + 2] *= 10;
        }
      }
    }
  }
  return count;
}
