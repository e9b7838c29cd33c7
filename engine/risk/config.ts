/**
 * Pre-trade risk controls and the kill switch: config section `risk` (docs/risk-controls.md).
 * Owned by engine/risk; merged into engine/config.ts as `risk`.
 *
 * Every field has a default, so `risk: {}` is valid. A limit that is `null` is off; a limit that is
 * set must be a finite positive number (zero, negative, NaN, Infinity are refused with
 * QE_CONFIG_INVALID naming the field): a zero throttle would silently stop all trading, which is
 * the kill switch's job, not a config typo's. Units are in the names: sizes are notionals (as
 * everywhere in the engine), values are in currency (see `valuation`), rates per second.
 */
import { z } from 'zod';

const ID = /^[A-Za-z0-9_-]{1,32}$/;
const pos = () => z.number().finite().positive();
const nonneg = () => z.number().finite().nonnegative();
/** a limit: off (null) or a finite positive number */
const limit = () => pos().nullable().default(null);

/** Token bucket: `ratePerSec` sustained, up to `burst` at once. */
const bucket = (ratePerSec: number, burst: number) =>
  z
    .strictObject({
      ratePerSec: pos().default(ratePerSec),
      /** at least 1: a bucket that can never hold one token refuses everything */
      burst: z.number().finite().min(1).default(burst),
    })
    .prefault({});

/** Hard caps on one order (RFQ, quote, accept). */
const orderLimits = () =>
  z
    .strictObject({
      /** notional */
      maxOrderSize: limit(),
      /** currency (size × unit value at the price, `valuation`) */
      maxOrderValue: limit(),
    })
    .prefault({});

const instrumentLimits = z.strictObject({
  maxOrderSize: limit(),
  maxOrderValue: limit(),
  /** |desk position| this instrument may reach (notional); default: position.maxPositionMultiple × instrument maxSize */
  maxPosition: limit(),
});

/** How a size becomes a value at a price: FX base notional × rate; bonds quoted in % of par; CDS quoted in spread (value = notional). */
export const VALUATION_MODES = ['price', 'percentOfPar', 'notional'] as const;
export type ValuationMode = (typeof VALUATION_MODES)[number];
/** engine/config.ts ASSET_CLASSES, spelled out: importing it here would be a cycle (config.ts imports this file). */
const DEFAULT_VALUATION = {
  fx: 'price',
  govt_bond: 'percentOfPar',
  corporate_bond: 'percentOfPar',
  rates_future: 'percentOfPar',
  cds_index: 'notional',
} as const satisfies Record<string, ValuationMode>;
const valuationMode = (d: ValuationMode) => z.enum(VALUATION_MODES).default(d);

export const riskConfigSchema = z
  .strictObject({
    collar: z
      .strictObject({
        /** RFQ / trader quotes and accepts: max distance from the composite mid, bps. Default: the instrument's collarBps, else pricing.collarBps (the hot path's final gate). */
        bps: pos().optional(),
      })
      .prefault({}),
    orders: z
      .strictObject({
        /** per client id (overrides what the CRM record implies) */
        clients: z.record(z.string().regex(ID), orderLimits()).default({}),
        tiers: z.strictObject({ '1': orderLimits(), '2': orderLimits(), '3': orderLimits() }).prefault({}),
        instruments: z.record(z.string().regex(ID), instrumentLimits.prefault({})).default({}),
        /**
         * A CRM record's maxOrderSize / instrumentMaxSize is the *automatic* limit (above it an RFQ goes
         * to a trader). The hard limit a human cannot quote past either is this multiple of it.
         */
        crmHardMultiple: z.number().finite().min(1).default(4),
      })
      .prefault({}),
    position: z
      .strictObject({
        /** per-instrument |position| cap when orders.instruments[id].maxPosition is not set, × the instrument's maxSize */
        maxPositionMultiple: pos().default(5),
        /** Σ |position| × unit value at the mid over all instruments (currency); null = off */
        deskMaxValue: limit(),
      })
      .prefault({}),
    throttle: z
      .strictObject({
        /** RFQs per client */
        perClient: bucket(50, 100),
        /** RFQs from everyone together */
        overall: bucket(1000, 2000),
      })
      .prefault({}),
    balanceSheet: z
      .strictObject({
        /** capacity per tier: Σ |inventory attributed to that tier's trades| (notional); null = unlimited */
        capacity: z.strictObject({ '1': limit(), '2': limit(), '3': limit() }).prefault({}),
        /** annual funding rate of carrying inventory, bps (fundingCostBps) */
        fundingRateBpsAnnual: nonneg().default(50),
        /** expected holding period of new inventory, days */
        holdDays: pos().default(2),
        /** the funding rate grows with utilisation u of the tier's capacity: × (1 + slope · u²) */
        utilizationSlope: nonneg().default(3),
      })
      .prefault({}),
    lossLimit: z
      .strictObject({
        /** the desk's loss today (currency, positive) that pulls every stream; null = off */
        maxDailyLoss: limit(),
        checkMs: z.number().int().min(10).max(60_000).default(1000),
      })
      .prefault({}),
    hedge: z
      .strictObject({
        /** hedge limit prices: max distance from the mid, bps; default as `collar.bps` */
        collarBps: pos().optional(),
        /** default: the instrument's maxSize */
        maxOrderSize: limit(),
        maxOrderValue: limit(),
        /** hedge child orders, all venues */
        orders: bucket(20, 40),
        /** order-to-trade ratio per venue over a sliding window (MiFID II RTS 9 style) */
        otr: z
          .strictObject({
            windowMs: z.number().int().min(1000).default(60_000),
            maxRatio: pos().default(20),
            /** the ratio is not enforced below this many orders in the window */
            minOrders: z.number().int().min(1).default(20),
          })
          .prefault({}),
        /** R6: more than maxFills hedge fills within windowMs disables the hedger until a human re-enables it */
        repeated: z
          .strictObject({
            maxFills: z.number().int().min(1).default(200),
            windowMs: z.number().int().min(1000).default(60_000),
          })
          .prefault({}),
      })
      .prefault({}),
    killSwitch: z
      .strictObject({
        /** cancel working hedge child orders in scope when a switch is engaged (and refuse new ones) */
        cancelHedges: z.boolean().default(true),
        /** traders may engage (never release) a switch; admins do both */
        traderMayEngage: z.boolean().default(true),
      })
      .prefault({}),
    valuation: z
      .strictObject({
        fx: valuationMode(DEFAULT_VALUATION.fx),
        govt_bond: valuationMode(DEFAULT_VALUATION.govt_bond),
        corporate_bond: valuationMode(DEFAULT_VALUATION.corporate_bond),
        rates_future: valuationMode(DEFAULT_VALUATION.rates_future),
        cds_index: valuationMode(DEFAULT_VALUATION.cds_index),
      })
      .prefault({}),
    nats: z
      .strictObject({
        /** <prefix>.kill / .release / .status / .enable_hedging / .reset_loss (request/reply), <prefix>.state, <prefix>.alert */
        subjectPrefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/).default('risk'),
        /** JetStream stream of the audit trail; the kill-switch state is rebuilt from it at start-up */
        auditStream: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).default('RISK_AUDIT'),
      })
      .prefault({}),
    /** at most one alert event per code per this interval (the rest are counted in the next one) */
    alertMinIntervalMs: z.number().int().min(0).default(1000),
  })
  .prefault({});
export type RiskConfig = z.output<typeof riskConfigSchema>;
