/**
 * The `crm` section of the engine configuration, ready to be slotted into engine/config.ts as
 * `crm: crmConfigSchema.prefault({})`; `parseCrmConfig` validates it on its own meanwhile. Same
 * rules as the rest of the config: strict objects (unknown keys refused), every bad field named by
 * path, defaults filled, result frozen.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { DEFAULT_HORIZONS_MS } from './markout.js';
import { DEFAULT_TIER_CUTS, DEFAULT_WEIGHTS, validateScoreParams } from './score.js';

const weight = () => z.number().finite().min(0).max(1);
const cut = () => z.number().finite().min(0).max(100);

export const crmConfigSchema = z
  .strictObject({
    /** the relationship score's proposed tier applies when no override is active (off: it is advisory) */
    autoTier: z.boolean().default(false),
    /** write engine/default-crm.json into an empty bucket at start-up */
    seedDefaultBook: z.boolean().default(true),
    /** longest tier override a relationship manager may set */
    maxOverrideDays: z.number().int().min(1).max(365).default(90),
    score: z
      .strictObject({
        weights: z
          .strictObject({ volume: weight(), profitability: weight(), flowQuality: weight(), diversification: weight() })
          .default({ ...DEFAULT_WEIGHTS }),
        tierCuts: z.strictObject({ tier1: cut(), tier2: cut() }).default({ ...DEFAULT_TIER_CUTS }),
        windowDays: z.number().int().min(1).max(3650).default(365),
        markoutClipBps: z.number().finite().positive().default(100),
        refreshMs: z.number().int().min(1_000).max(86_400_000).default(60_000),
        debounceMs: z.number().int().min(0).max(60_000).default(500),
        timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
      })
      .prefault({}),
    markout: z
      .strictObject({
        horizonsMs: z.array(z.number().int().positive().max(3_600_000)).min(1).max(8).default([...DEFAULT_HORIZONS_MS]),
        sweepMs: z.number().int().min(5).max(10_000).default(100),
        maxLateMs: z.number().int().min(0).max(600_000).default(1_000),
        maxPending: z.number().int().min(1).max(10_000_000).default(100_000),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    for (const issue of validateScoreParams(c.score.weights, c.score.tierCuts)) {
      const [path, message] = issue.split(/: (.*)/s);
      ctx.addIssue({ code: 'custom', path: ['score', ...path.split('.')], message });
    }
    if (new Set(c.markout.horizonsMs).size !== c.markout.horizonsMs.length) ctx.addIssue({ code: 'custom', path: ['markout', 'horizonsMs'], message: 'horizons must be distinct' });
  });

export type CrmConfig = Readonly<z.output<typeof crmConfigSchema>>;

export function parseCrmConfig(input: unknown = {}): CrmConfig {
  const r = crmConfigSchema.safeParse(input);
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => `${['crm', ...i.path.map(String)].join('.')}: ${i.message}`));
  return deepFreeze(r.data);
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

const DAY_MS = 86_400_000;

/** The parts of CrmStore.open's options that come from the config. */
export function storeOptionsFrom(c: CrmConfig): { autoTier: boolean; maxOverrideMs: number } {
  return { autoTier: c.autoTier, maxOverrideMs: c.maxOverrideDays * DAY_MS };
}

/** The parts of the Scorer's options that come from the config. */
export function scorerOptionsFrom(c: CrmConfig) {
  const s = c.score;
  return {
    weights: s.weights,
    tierCuts: s.tierCuts,
    score: { windowMs: s.windowDays * DAY_MS, markoutClipBps: s.markoutClipBps },
    refreshMs: s.refreshMs,
    debounceMs: s.debounceMs,
    timeoutMs: s.timeoutMs,
  } as const;
}

/** The MarkoutRecorder's options from the config. */
export function markoutOptionsFrom(c: CrmConfig) {
  const m = c.markout;
  return { horizonsMs: m.horizonsMs, sweepMs: m.sweepMs, maxLateMs: m.maxLateMs, maxPending: m.maxPending } as const;
}
