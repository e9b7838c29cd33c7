/**
 * Tier-1 co-pilot, axe distribution and decision audit: config section `copilot` (docs/copilot.md).
 * Owned by engine/copilot; merged into engine/config.ts as `copilot`. Every field has a default, so
 * an empty section is valid.
 */
import { z } from 'zod';

const pos = () => z.number().finite().positive();
const nonneg = () => z.number().finite().nonnegative();

export const copilotConfigSchema = z
  .strictObject({
    /** false: no recommendations, no axes, no audit (the RFQ queue works as before) */
    enabled: z.boolean().default(true),
    workers: z
      .strictObject({
        /** piscina threads for the model (cold path: one is plenty) */
        threads: z.number().int().min(1).max(4).default(1),
        /** queued recommendations beyond this are refused (QE_COPILOT_UNAVAILABLE) instead of piling up */
        maxQueue: z.number().int().min(1).max(1_000).default(32),
        /** a task slower than this is aborted (the worker is replaced) and the RFQ gets no recommendation */
        timeoutMs: pos().max(10_000).default(500),
      })
      .prefault({}),
    /** stated latency budget of one recommendation (queued → computed), measured in qe_copilot_latency_seconds; not enforced */
    latencyBudgetMs: pos().default(20),
    /** z of the price confidence interval (1.96 = 95 %) */
    ciZ: pos().max(5).default(1.96),
    /** relative uncertainty of the vol estimate when fast and slow agree (parameter uncertainty floor) */
    volParamUncertainty: nonneg().max(1).default(0.25),
    /** relative uncertainty of the hedge cost estimate (parameter uncertainty) */
    hedgeCostUncertainty: nonneg().max(2).default(0.5),
    /** bps taken off the half-spread when the trade goes the way the desk's CRM axe wants (on top of the hedge cost it saves) */
    axeImproveBps: nonneg().max(50).default(1),
    /** a recommendation never offers more than this many clips at once (partial fill above it) */
    maxClips: pos().max(1_000).default(20),
    /** stressed scenario: σ multiplied by this, then a 3σ adverse move */
    stressVolMult: pos().max(20).default(3),
    winModel: z
      .strictObject({
        /**
         * logistic prior, P(win | d) = 1 / (1 + exp(−(a + b·d))), d = distance from mid in bps (worse for the
         * client > 0), set per instrument and tier from its half-spread h: P(h) = priorWinAtHalf, and the log-odds
         * fall by priorSlopePerHalf for every further h (b₀ = −slope / h, a₀ = logit(priorWinAtHalf) + slope)
         */
        priorWinAtHalf: z.number().finite().gt(0).lt(1).default(0.5),
        priorSlopePerHalf: pos().max(50).default(3),
        /** fewer past quoted RFQs than this: the prior alone */
        minHistory: z.number().int().min(1).max(1_000).default(8),
        /** ridge strength pulling the fit towards the prior (pseudo-observations) */
        priorWeight: nonneg().max(1_000).default(4),
        /** past outcomes kept per client */
        maxHistory: z.number().int().min(1).max(10_000).default(200),
      })
      .prefault({}),
    /** recent trades kept per client for the client context */
    recentTrades: z.number().int().min(1).max(1_000).default(20),
    axes: z
      .strictObject({
        /** default shade off the client's tier half-spread when a trader shows an axe */
        shadeBps: nonneg().max(100).default(1),
        /** how long a shown axe is good for */
        ttlMs: z.number().int().positive().max(86_400_000).default(60_000),
        /** likely counterparties listed per position */
        maxClients: z.number().int().min(1).max(100).default(8),
        /** trades looked at for a client's recent flow */
        flowWindowMs: z.number().int().positive().default(7 * 86_400_000),
      })
      .prefault({}),
    audit: z
      .strictObject({
        /** JetStream stream of the decision audit */
        stream: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).default('DECISIONS'),
        subjectPrefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).default('decision'),
      })
      .prefault({}),
  })
  .prefault({});
export type CopilotConfig = z.output<typeof copilotConfigSchema>;
