/**
 * CRM contract shared by the CRM store (engine/crm/store.ts, NATS KV backed) and its readers
 * (RFQ checks, pricing shading, gateway tiering, co-pilot). Records are validated with zod at the
 * edge (KV values are untrusted bytes); readers get frozen values.
 *
 * KV bucket `crm` (JetStream KV), keys:
 *   client.<clientId>   ClientRecord (JSON)
 *   desk.axes           DeskAxes (JSON)
 *   score.<clientId>    RelationshipScore (JSON, written by the engine's scorer)
 */
import { z } from 'zod';

const id = () => z.string().regex(/^[A-Za-z0-9_-]{1,32}$/);
const tier = () => z.union([z.literal(1), z.literal(2), z.literal(3)]);
const nonneg = () => z.number().finite().nonnegative();

export const tierOverrideSchema = z.strictObject({
  tier: tier(),
  reason: z.string().min(1).max(500),
  author: z.string().min(1).max(80),
  /** epoch ms; an override past its expiry no longer applies */
  expiresAtMs: z.number().int().positive(),
  setAtMs: z.number().int().positive(),
});

export const agreementSchema = z.strictObject({
  /** the instrument or the asset class it applies to (one of the two) */
  instrument: id().optional(),
  assetClass: z.string().max(32).optional(),
  /** price improvement given to this client, bps off its tier's half-spread (≥ 0) */
  shadingBps: nonneg().max(100),
  note: z.string().max(200).default(''),
});

export const interestSchema = z.strictObject({
  instrument: id(),
  /** the client's natural side: 'buy' = natural buyer */
  side: z.enum(['buy', 'sell']),
  note: z.string().max(200).default(''),
});

export const clientRecordSchema = z.strictObject({
  id: id(),
  name: z.string().min(1).max(80),
  /** the tier the relationship manager set (or imported) */
  tier: tier(),
  override: tierOverrideSchema.nullable().default(null),
  /** total open exposure allowed (notional, all instruments), counting pending accepts */
  creditLimit: nonneg(),
  /** largest single RFQ / accept the client may do automatically (notional) */
  maxOrderSize: nonneg(),
  /** per-instrument caps on single order size, overriding maxOrderSize downwards */
  instrumentMaxSize: z.record(id(), nonneg()).default({}),
  agreements: z.array(agreementSchema).max(100).default([]),
  naturalInterest: z.array(interestSchema).max(100).default([]),
  updatedAtMs: z.number().int().nonnegative().default(0),
  updatedBy: z.string().max(80).default('import'),
});
export type ClientRecord = Readonly<z.output<typeof clientRecordSchema>>;
export type ClientRecordInput = z.input<typeof clientRecordSchema>;

export const deskAxesSchema = z.strictObject({
  axes: z
    .array(
      z.strictObject({
        instrument: id(),
        /** the side the desk wants to trade: 'sell' = the desk is axed to sell (long, wants out) */
        side: z.enum(['buy', 'sell']),
        size: nonneg(),
        note: z.string().max(200).default(''),
      }),
    )
    .max(1000),
  updatedAtMs: z.number().int().nonnegative().default(0),
});
export type DeskAxes = Readonly<z.output<typeof deskAxesSchema>>;

export const relationshipScoreSchema = z.strictObject({
  clientId: id(),
  /** 0..100 */
  score: z.number().finite().min(0).max(100),
  /** each factor normalized to 0..1 across clients, before weighting */
  components: z.strictObject({
    volume: z.number().finite(),
    profitability: z.number().finite(),
    flowQuality: z.number().finite(),
    diversification: z.number().finite(),
  }),
  proposedTier: tier(),
  computedAtMs: z.number().int().nonnegative(),
  trades: z.number().int().nonnegative(),
  /**
   * The raw factors behind `components`, for explanation (CLI, co-pilot). Optional: scores written
   * before it existed still parse. notional and pnl in the journal's reporting currency.
   */
  raw: z
    .strictObject({
      notional: z.number().finite().nonnegative(),
      pnl: z.number().finite(),
      /** notional-weighted mean markout over the horizons present; null = no markout yet */
      markoutBps: z.number().finite().nullable(),
      assetClasses: z.number().int().nonnegative(),
    })
    .optional(),
});
export type RelationshipScore = Readonly<z.output<typeof relationshipScoreSchema>>;

/** Read side of the CRM, as the rest of the engine sees it. Synchronous: served from memory. */
export interface ClientDirectory {
  get(clientId: string): ClientRecord | undefined;
  /** unexpired override, else (crm.autoTier and a score) the proposed tier, else record.tier */
  effectiveTier(clientId: string, nowMs: number): 1 | 2 | 3 | undefined;
  score(clientId: string): RelationshipScore | undefined;
  axes(): DeskAxes;
  list(): readonly ClientRecord[];
  /** called after any record, score or axes change has been applied in memory */
  onChange(listener: (key: { kind: 'client' | 'score' | 'axes'; clientId?: string }) => void): void;
}
