/**
 * Risk ledger reference data and P&L: config section `pnl` (docs/pnl.md).
 * Owned by engine/pnl; merged into engine/config.ts as `pnl`. Every field has a default, so an
 * empty section (or none) is valid: the reference data is then derived from `instruments`
 * (engine/pnl/ledger.ts `referenceData`).
 */
import { z } from 'zod';

const ID = /^[A-Za-z0-9_-]{1,32}$/;

/** Per-instrument overrides of the derived reference data (all optional). */
export const instrumentRefSchema = z.strictObject({
  /** risk bucket under the asset class: the issuer of a bond, or the index / pair itself */
  issuer: z.string().regex(ID, 'must be 1-32 characters of A-Z a-z 0-9 _ -').optional(),
  /** modified duration used for the default sensitivity (rates and credit); years */
  durationYears: z.number().finite().nonnegative().max(100).optional(),
  /** currency value of a 1 bp move per unit of notional (DV01 / CS01 / FX01 per 1 notional); overrides the derived one */
  sensitivity: z.number().finite().nonnegative().optional(),
  /** beta to the hedge proxy; overrides the instrument's `hedgeBeta` */
  beta: z.number().finite().optional(),
  /** currency per (notional × price point): 0.01 for a price in % of par, 1 for a plain price */
  priceScale: z.number().finite().positive().optional(),
  /** reporting currency per unit of the instrument's price currency (a fixed rate, not live) */
  ccyRate: z.number().finite().positive().optional(),
});
export type InstrumentRefOverride = z.output<typeof instrumentRefSchema>;

export const DAY_STARTS = ['utc_midnight', 'engine_start'] as const;

export const pnlConfigSchema = z
  .strictObject({
    /** reporting currency (labels only: amounts are converted with each instrument's fixed `ccyRate`) */
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be a 3-letter currency code').default('USD'),
    /**
     * When the trading day starts, for `deskPnlToday()` (daily loss limit) and the split:
     * `utc_midnight` = every day at `rollUtcMinute` past 00:00 UTC (also during the journal replay,
     * by trade time); `engine_start` = once, when the engine starts (after the replay), never again.
     */
    dayStart: z.enum(DAY_STARTS).default('utc_midnight'),
    /** minute of the UTC day the trading day starts at (utc_midnight only), e.g. 1320 = 22:00 UTC */
    rollUtcMinute: z.number().int().min(0).max(1439).default(0),
    /** how many recent trades keep a per-trade split for the `pnl` answer */
    recentTrades: z.number().int().min(0).max(10_000).default(200),
    /** trader/admin sessions get a `pnl` push at most this often, and only when something changed */
    pushIntervalMs: z.number().int().min(100).max(60_000).default(1_000),
    /** per-trade splits included in each push (0 = none) */
    pushTrades: z.number().int().min(0).max(100).default(10),
    /** reference data overrides by instrument id (unknown ids are refused at attach) */
    instruments: z.record(z.string().regex(ID), instrumentRefSchema).default({}),
  })
  .prefault({});
export type PnlConfig = z.output<typeof pnlConfigSchema>;

/** Cross-field rules engine/config.ts cannot know: the override keys must be configured instruments. */
export function pnlConfigIssues(pnl: PnlConfig, instrumentIds: readonly string[]): string[] {
  const known = new Set(instrumentIds);
  return Object.keys(pnl.instruments)
    .filter((id) => !known.has(id))
    .map((id) => `pnl.instruments.${id}: unknown instrument "${id}"`);
}
