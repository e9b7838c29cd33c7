/**
 * Hedging parameters: one zod schema, to be merged into engine/config.ts as `hedging` by the config
 * owner (until then `parseHedgingConfig` validates it on its own, with the same conventions: strict
 * objects, every bad field named by path, defaults filled, the result frozen).
 *
 * Units are in the names. Two units recur:
 *  - bps: of the price (mid) of the instrument being hedged;
 *  - clip: the instrument's first size band (`sizeBands[0]`), the standard trade size. Risk aversion
 *    and the risk limit are per clip so one number fits a 1 mm bond clip and a 5 mm CDS clip.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';

const ID = /^[A-Za-z0-9_-]{1,32}$/;
const pos = () => z.number().finite().positive();
const nonneg = () => z.number().finite().nonnegative();
const corr = () => z.number().finite().min(-1).max(1);

export const HEDGE_IMPACT_MODELS = ['sqrt', 'linear'] as const;

interface ClassDefaults {
  etaBpsPerClipPerSec: number;
  pacedHorizonSec: number;
  pacedSlices: number;
  holdHorizonSec: number;
}

/** Per liquidity class: the Almgren–Chriss impact and the horizons of the slow options. */
const perClass = (d: ClassDefaults) =>
  z
    .strictObject({
      /** η, Almgren–Chriss linear temporary impact: trading at v clips/s costs η·v bps on what is traded. */
      etaBpsPerClipPerSec: pos().default(d.etaBpsPerClipPerSec),
      /** Paced: the horizon T over which the position is worked … */
      pacedHorizonSec: pos().max(86_400).default(d.pacedHorizonSec),
      /** … in N child orders, one every T/N. */
      pacedSlices: z.number().int().min(2).max(500).default(d.pacedSlices),
      /** Hold: how long the position may wait for offsetting client flow before the rest is hedged. */
      holdHorizonSec: pos().max(86_400).default(d.holdHorizonSec),
    })
    .prefault({});

export const hedgingConfigSchema = z
  .strictObject({
    /**
     * λ, risk aversion per bps per clip: an option leaving P&L variance V (bps² × clips²) costs λ·V
     * (bps × clips). The same λ sets the Almgren–Chriss urgency κ and prices the hold and proxy risk.
     */
    riskAversionPerBpClip: pos().default(0.02),
    /**
     * Largest risk an option may leave: riskBps × |q| / clip, the standard deviation of the P&L of
     * what is left unhedged over the option's horizon, in bps of one clip's notional. Options above it
     * are chosen only when no option is within it (then the least risky one).
     */
    maxRiskClipBps: pos().default(150),
    immediate: z
      .strictObject({
        /** `sqrt`: H·(1 + impactCoef·(√(q/clip) − 1)⁺), the pricer's hedge-cost law; `linear`: H + η·q/T_exec (Almgren–Chriss). */
        impactModel: z.enum(HEDGE_IMPACT_MODELS).default('sqrt'),
        /** T_exec of the linear model: the time an immediate hedge takes to execute. */
        linearExecutionSec: pos().max(3_600).default(5),
      })
      .prefault({}),
    liquidity: z
      .strictObject({
        high: perClass({ etaBpsPerClipPerSec: 6, pacedHorizonSec: 60, pacedSlices: 6, holdHorizonSec: 300 }),
        medium: perClass({ etaBpsPerClipPerSec: 90, pacedHorizonSec: 600, pacedSlices: 10, holdHorizonSec: 900 }),
        low: perClass({ etaBpsPerClipPerSec: 360, pacedHorizonSec: 1_800, pacedSlices: 12, holdHorizonSec: 1_800 }),
      })
      .prefault({}),
    hold: z
      .strictObject({
        /** Probability that an axe or a client's natural interest pointing the other way trades within the hold horizon. */
        axeFillProbability: z.number().finite().min(0).max(1).default(0.5),
      })
      .prefault({}),
    proxy: z
      .strictObject({
        /** How long the basis (original vs proxy) is expected to be carried: until the original is taken off. */
        horizonSec: pos().max(30 * 86_400).default(3_600),
        /** ρ, correlation of an instrument's returns with its proxy's, unless overridden per instrument. */
        correlation: corr().default(0.8),
        correlationByInstrument: z.record(z.string().regex(ID, 'must be an instrument id'), corr()).default({}),
        /** Below this |ρ| the proxy is not a hedge: the option is infeasible. */
        minAbsCorrelation: z.number().finite().min(0).max(1).default(0.5),
        /** Share of the proxy's entry cost paid again to unwind it when the original trades (1 = a full round trip). */
        unwindCostFrac: nonneg().max(1).default(1),
      })
      .prefault({}),
    /** The hedge router (engine/hedging/router.ts): when it decides, how it executes, where it journals. */
    router: z
      .strictObject({
        /** false: no router (decisions are neither made nor journaled); the cost model stays usable. */
        enabled: z.boolean().default(true),
        /** The timer: holds, paced slices, residuals and in-flight orders are looked at this often. */
        reviewMs: z.number().int().min(10).max(60_000).default(500),
        /** A residual that has not changed is decided again at most this often (a `none` is not re-journaled every review). */
        redecideMs: z.number().int().min(100).max(3_600_000).default(30_000),
        /** A paced plan is re-planned when the mid moved this far from the mid at its decision. */
        replanMoveBps: pos().default(25),
        /** IOC limit: this far beyond the touch of the venue it is sent to (walks at most that deep). */
        limitBeyondTouchBps: nonneg().max(1_000).default(10),
        /** After a refused child order (hedge guard, venue) the plan waits this long before it is re-evaluated. */
        retryAfterMs: z.number().int().min(10).max(600_000).default(5_000),
        /** A trade found without a decision at start-up (a crash between booking and deciding) is decided late only if younger than this; older ones are covered by the residual review. */
        catchUpMaxAgeMs: z.number().int().min(0).default(600_000),
        /** A late decision waits this long for a firm market, then decides on what it has (hold, or none). */
        firmWaitMs: z.number().int().min(0).max(600_000).default(5_000),
        /** false: the configured initialPosition is the desk's own book and is not hedged; only what the engine adds is. */
        hedgeInitialPosition: z.boolean().default(false),
        /** Recent decisions kept in memory for `decisions(limit)` (the journal keeps them all). */
        keepDecisions: z.number().int().min(1).max(100_000).default(1_000),
        /** Venue adapter: subject root of the venues and reply timeout (feeds/venue-sim.ts, engine/hedging/venue.ts). */
        venuePrefix: z.string().regex(ID, 'must be 1-32 of A-Z a-z 0-9 _ -').default('venue'),
        venueTimeoutMs: z.number().int().min(10).max(60_000).default(2_000),
        journal: z
          .strictObject({
            /** JetStream stream holding decisions, order intents, fills, results and plan ends. */
            stream: z.string().regex(ID, 'must be 1-32 of A-Z a-z 0-9 _ -').default('HEDGES'),
            /** Subjects `<prefix>.decision|order|fill|result|refused|plan.<instrument>`; the stream takes `<prefix>.>`. */
            subjectPrefix: z.string().regex(ID, 'must be 1-32 of A-Z a-z 0-9 _ -').default('hedge'),
            /** Nats-Msg-Id de-duplication window: a re-publish after a crash within it is answered "duplicate". */
            duplicateWindowMs: z.number().int().min(1_000).max(86_400_000).default(120_000),
            ackTimeoutMs: z.number().int().min(10).max(60_000).default(2_000),
          })
          .prefault({}),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    // A correlation override below the floor would silently disable the proxy for that name.
    for (const [id, rho] of Object.entries(c.proxy.correlationByInstrument)) {
      if (Math.abs(rho) < c.proxy.minAbsCorrelation)
        ctx.addIssue({ code: 'custom', path: ['proxy', 'correlationByInstrument', id], message: `|ρ| ${Math.abs(rho)} is below proxy.minAbsCorrelation ${c.proxy.minAbsCorrelation}: the proxy could never be used` });
    }
    for (const k of ['high', 'medium', 'low'] as const) {
      const l = c.liquidity[k];
      if (l.pacedHorizonSec / l.pacedSlices < 0.05)
        ctx.addIssue({ code: 'custom', path: ['liquidity', k, 'pacedSlices'], message: 'slices closer than 50 ms apart: pacedHorizonSec / pacedSlices must be ≥ 0.05' });
    }
  });

export type HedgingConfigInput = z.input<typeof hedgingConfigSchema>;
type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;
export type HedgingConfig = DeepReadonly<z.output<typeof hedgingConfigSchema>>;
export type HedgeLiquidityParams = HedgingConfig['liquidity']['high'];

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/** Validates `input`; throws ConfigError (QE_CONFIG_INVALID) naming each bad field as `hedging.path: message`. */
export function parseHedgingConfig(input: unknown = {}): HedgingConfig {
  const r = hedgingConfigSchema.safeParse(input);
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => `hedging${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`));
  return deepFreeze(r.data) as HedgingConfig;
}

export const DEFAULT_HEDGING_CONFIG: HedgingConfig = parseHedgingConfig({});
