/**
 * The co-pilot's worker pool: piscina with a bounded queue (STYLE 11), `execArgv: []` like the
 * pricer's pool (no test-runner loaders in the worker), a timeout per task (piscina replaces an
 * aborted worker), and the latency of every recommendation in a histogram against the stated
 * budget (config.copilot.latencyBudgetMs, default 20 ms p99; measured, not enforced: a slow
 * recommendation still arrives, it is counted over budget).
 *
 * Outcomes are values: a refused or failed task resolves to a code, never throws.
 */
import { Piscina } from 'piscina';
import client, { type Registry } from 'prom-client';
import { ErrorCode } from '../errors.js';
import { HotCounter } from '../metrics.js';
import type { CopilotConfig } from './config.js';
import { recommend, type CopilotInput, type Recommendation } from './model.js';

export const COPILOT_WORKER_URL = new URL('../../workers/copilot.js', import.meta.url);

export type CopilotRun = { readonly ok: true; readonly rec: Recommendation; readonly ms: number } | { readonly ok: false; readonly code: typeof ErrorCode.COPILOT_UNAVAILABLE; readonly message: string };

export interface CopilotRunner {
  run(input: CopilotInput): Promise<CopilotRun>;
  /** Resolves once a worker is up (call before the first RFQ: a cold boot would eat the task timeout). */
  warm(): Promise<void>;
  close(): Promise<void>;
}

const BUCKETS_S = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1];

class Metrics {
  readonly latency: client.Histogram;
  readonly outcomes: HotCounter;
  constructor(registry: Registry | undefined, private readonly budgetMs: number) {
    const registers = registry ? [registry] : [];
    this.latency = new client.Histogram({ name: 'qe_copilot_latency_seconds', help: `Time from an RFQ queued to its recommendation computed (budget ${budgetMs} ms p99)`, buckets: BUCKETS_S, registers });
    this.outcomes = new HotCounter(registry ?? new client.Registry(), 'qe_copilot_runs_total', 'Co-pilot recommendations by outcome: ok, over_budget (ok but slower than the budget), busy (queue full), failed (threw or timed out)', 'outcome', ['ok', 'over_budget', 'busy', 'failed']);
  }
  done(ms: number): void {
    this.latency.observe(ms / 1e3);
    this.outcomes.incLabel(ms > this.budgetMs ? 'over_budget' : 'ok');
  }
}

/** Recommendations on a piscina worker. */
export function createCopilotPool(cfg: CopilotConfig, registry?: Registry): CopilotRunner {
  const w = cfg.workers;
  const m = new Metrics(registry, cfg.latencyBudgetMs);
  const pool = new Piscina({
    filename: COPILOT_WORKER_URL.href,
    minThreads: w.threads,
    maxThreads: w.threads,
    maxQueue: w.maxQueue,
    idleTimeout: 2 ** 31 - 1,
    execArgv: [],
    // the model allocates a few KB per task; a worker that balloons is a bug, cut it off
    resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
  });
  // piscina 5's default balancer posts every task to a worker at once (several per thread), so its
  // own maxQueue never fills: the bound is counted here — at most threads + maxQueue in flight
  const cap = w.threads + w.maxQueue;
  let inFlight = 0;
  return {
    async run(input) {
      const t0 = performance.now();
      if (inFlight >= cap) {
        m.outcomes.incLabel('busy');
        return { ok: false, code: ErrorCode.COPILOT_UNAVAILABLE, message: `co-pilot busy: ${inFlight} recommendations in flight (queue full)` };
      }
      inFlight++;
      try {
        const rec = (await pool.run(input, { signal: AbortSignal.timeout(w.timeoutMs) })) as Recommendation;
        const ms = performance.now() - t0;
        m.done(ms);
        return { ok: true, rec, ms };
      } catch (e) {
        // piscina 5: 'Task queue is at limit' (older versions said 'queue is full')
        const busy = /queue is at limit|no task queue available|queue is full/i.test((e as Error)?.message ?? '');
        m.outcomes.incLabel(busy ? 'busy' : 'failed');
        return { ok: false, code: ErrorCode.COPILOT_UNAVAILABLE, message: busy ? 'co-pilot busy: queue full' : `co-pilot failed: ${String((e as Error)?.message ?? e).slice(0, 120)}` };
      } finally {
        inFlight--;
      }
    },
    async warm() {
      await pool.run(null, { signal: AbortSignal.timeout(30_000) });
    },
    close: () => pool.destroy(),
  };
}

/** Same contract on the calling thread (unit tests). */
export function createInlineCopilot(cfg: CopilotConfig, registry?: Registry): CopilotRunner {
  const m = new Metrics(registry, cfg.latencyBudgetMs);
  return {
    run(input) {
      const t0 = performance.now();
      try {
        const rec = recommend(input);
        const ms = performance.now() - t0;
        m.done(ms);
        return Promise.resolve({ ok: true, rec, ms });
      } catch (e) {
        m.outcomes.incLabel('failed');
        return Promise.resolve({ ok: false, code: ErrorCode.COPILOT_UNAVAILABLE, message: `co-pilot failed: ${String((e as Error)?.message ?? e).slice(0, 120)}` });
      }
    },
    warm: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}
