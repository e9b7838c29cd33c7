/**
 * Engine configuration: one zod schema, validated once at the edge.
 *
 * `parseConfig()` names every bad field by its path, rejects unknown keys (strict objects) and
 * conflicting combinations (cross-field rules in `superRefine`), fills defaults and deep-freezes
 * the result. Nothing downstream re-validates: a `Config` value is known good.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, EngineError, ErrorCode } from './errors.js';
import { crmConfigSchema } from './crm/options.js';
import { copilotConfigSchema } from './copilot/config.js';
import { hedgingConfigSchema } from './hedging/config.js';
import { pnlConfigIssues, pnlConfigSchema } from './pnl/config.js';
import { riskConfigSchema } from './risk/config.js';
import { regimeConfigSchema } from './risk/regime.js';

const ID = /^[A-Za-z0-9_-]{1,32}$/;
const id = () => z.string().regex(ID, 'must be 1-32 characters of A-Z a-z 0-9 _ -');
const pos = () => z.number().finite().positive();
const nonneg = () => z.number().finite().nonnegative();
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Browsers send `Origin: scheme://host[:port]` with the default port dropped; the gateway compares
 * case-insensitively, so any other spelling (path, trailing slash, `:443` on https) never matches.
 */
const origin = () =>
  z.string().refine((s) => {
    try {
      return new URL(s).origin === s.toLowerCase();
    } catch {
      // not a URL at all: that is the refinement failing, reported with the message below
      return false;
    }
  }, 'must be a browser Origin as sent: scheme://host[:port], no default port, path or trailing slash');
/** Sizes are notionals; a float remainder below 1e-9 lots is representation noise, not an odd lot. */
const offLot = (size: number, lot: number) => {
  const r = size / lot;
  return Math.abs(r - Math.round(r)) > 1e-9 * Math.max(1, Math.abs(r));
};

export const ASSET_CLASSES = ['corporate_bond', 'govt_bond', 'cds_index', 'fx', 'rates_future'] as const;
export const LIQUIDITY_CLASSES = ['high', 'medium', 'low'] as const;
export const TIERS = [1, 2, 3] as const;
export type Tier = (typeof TIERS)[number];
/** What a tier shows when the instrument's inputs are not firm (stale, thin, quarantined, disconnected). */
export const DEGRADED_MODES = ['indicative', 'pulled'] as const;

const instrumentSchema = z.strictObject({
  id: id(),
  assetClass: z.enum(ASSET_CLASSES),
  description: z.string().max(120).default(''),
  /** Minimum price increment. Bids round down to it, asks round up. */
  tickSize: pos(),
  /** Smallest and largest size the desk quotes, and the increment sizes must be a multiple of. */
  minSize: pos(),
  maxSize: pos(),
  lotSize: pos(),
  liquidityClass: z.enum(LIQUIDITY_CLASSES),
  /** Liquid instrument used as a proxy hedge, and the beta of this one to it. */
  hedgeProxy: id().nullable().default(null),
  hedgeBeta: z.number().finite().default(1),
  /** Reference price the synthetic feed starts from; never used to price. */
  refPrice: pos(),
  /** Full bid-ask spread of the desk's base quote for the first size band, in bps of mid. */
  baseSpreadBps: pos(),
  /** Expected cost of laying off one standard clip, in bps (half-spread paid on the hedge venue). */
  hedgeCostBps: nonneg(),
  /** Annualised volatility the estimators start from before enough ticks arrive, in bps. */
  initialVolBpsAnnual: pos(),
  /** Ascending notional sizes of the ladder's bands; the first one is the standard clip (GLFT Δ). */
  sizeBands: z.array(pos()).min(1).max(8),
  /** Starting inventory (trades arrive with the RFQ issue). Positive = long. */
  initialPosition: z.number().finite().default(0),
  /** Venues that quote this instrument (names from `venues`). */
  venues: z.array(id()).min(1),
  /** Per-instrument collar override, bps around the composite mid. */
  collarBps: pos().optional(),
});

const tierSchema = z.strictObject({
  /** Multiplies the base half-spread. Tier 1 ≤ Tier 2 ≤ Tier 3 is enforced. */
  spreadMult: pos(),
  /** Largest size shown on the ladder to this tier (notional). Tier 1 ≥ Tier 2 ≥ Tier 3 is enforced. */
  maxSize: pos(),
  /** How many of the instrument's size bands this tier sees. */
  maxBands: z.number().int().min(1).max(8),
  /** Weight of the short-term order-book-imbalance signal (0 = off). Tier 2 only: must be 0 on tiers 1 and 3. */
  signalWeight: z.number().finite().min(0).max(1),
  onStale: z.enum(DEGRADED_MODES),
  onQuarantine: z.enum(DEGRADED_MODES),
  onThin: z.enum(DEGRADED_MODES),
  onDisconnect: z.enum(DEGRADED_MODES),
});

const liquiditySchema = z.strictObject({
  /** GLFT order-arrival intensity λ(δ) = A·exp(−κ·δ), δ in bps: A in 1/s, κ in 1/bps. */
  arrivalA: pos(),
  kappaPerBp: pos(),
  /** Extra hedge cost per unit of size / first band, square-root law: hedgeCostBps·(1 + impact·√(size/clip − 1)). */
  impactCoef: nonneg(),
});

const clientSchema = z.strictObject({
  id: id(),
  name: z.string().min(1).max(80),
  tier: z.union([z.literal(1), z.literal(2), z.literal(3)]),
  role: z.enum(['client', 'trader', 'rm', 'admin']).default('client'),
});

export const configSchema = z
  .strictObject({
    venues: z.array(id()).min(1).max(16),
    instruments: z.array(instrumentSchema).min(1).max(20000),
    liquidity: z.strictObject({ high: liquiditySchema, medium: liquiditySchema, low: liquiditySchema }),
    market: z
      .strictObject({
        /** A venue book older than this (engine receive time) leaves the composite. */
        staleAfterMs: z.number().int().min(10).max(600_000).default(500),
        /** Composite needs at least this many live, sane venues; fewer = thin. */
        minVenues: z.number().int().min(1).max(16).default(2),
        /** A venue mid further than this from the median of venue mids is an outlier. */
        outlierBps: pos().default(50),
        volFastHalfLifeMs: z.number().int().positive().default(5_000),
        volSlowHalfLifeMs: z.number().int().positive().default(300_000),
        /** After a gap/duplicate, in-sequence messages needed from that venue to lift quarantine. */
        recoveryTicks: z.number().int().min(1).max(1000).default(3),
        /** How often staleness is swept (ms). Staleness is detected within staleAfterMs + this. */
        staleSweepMs: z.number().int().min(5).max(10_000).default(50),
      })
      .prefault({}),
    pricing: z
      .strictObject({
        /** GLFT risk aversion γ, per bps of price per clip of inventory. */
        gamma: pos().default(0.05),
        /** Horizon for the volatility term, seconds. */
        volHorizonSec: pos().default(60),
        /** Weight of σ·√horizon (bps) in the half-spread. */
        volCoef: nonneg().default(1),
        /** Skew never exceeds this many bps either way. */
        maxSkewBps: pos().default(50),
        /** Half-spread multipliers per band index: band 0 must be 1, never decreasing. Missing entries repeat the last. */
        bandSpreadMults: z.array(pos()).min(1).max(8).default([1, 1.4, 2, 3]),
        /** Final gate: minimum full spread (bps) and maximum distance of any price from mid (bps). */
        minSpreadBps: pos().default(0.5),
        collarBps: pos().default(300),
        /** Worker pool (piscina). One batch in flight at most; maxQueue bounds anything else. */
        workers: z
          .strictObject({
            threads: z.number().int().min(1).max(16).default(1),
            maxQueue: z.number().int().min(1).max(1024).default(4),
            batchTimeoutMs: z.number().int().min(1).max(60_000).default(250),
            /**
             * Batches of at most this many rows are priced on the main thread: measured here the
             * piscina hop costs the main thread ~70-140 µs per batch (postTask) against < 1 µs per row
             * of pricing, so a small batch is cheaper inline. 0 = every batch goes to a worker.
             */
            inlineMaxRows: z.number().int().min(0).max(20000).default(64),
          })
          .prefault({}),
        /** Largest number of instruments priced in one batch; a larger dirty set spans batches. */
        maxBatch: z.number().int().min(1).max(20000).default(4096),
        /**
         * Inside one NATS read, once this many instruments are dirty and no batch is in flight, they
         * are priced and published at once (inline kernel) instead of waiting for the end of the read:
         * the first ticks of a read stop waiting for the last. 0 = off (one batch per event-loop turn).
         */
        miniBatchRows: z.number().int().min(0).max(4096).default(8),
        /** At most this many such early batches per event-loop turn; the rest of a long read coalesces as before. */
        miniBatchesPerTurn: z.number().int().min(0).max(1024).default(4),
      })
      .prefault({}),
    tiers: z.strictObject({ '1': tierSchema, '2': tierSchema, '3': tierSchema }),
    clients: z.array(clientSchema).min(1),
    gateway: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Inbound frames larger than this close the socket with 1009. */
        maxPayloadBytes: z.number().int().min(256).max(1 << 20).default(4096),
        /** Above this buffered amount a socket is conflated: unsubscribed, then re-snapshotted when drained. */
        softBackpressureBytes: z.number().int().min(1024).default(256 * 1024),
        /** Hard cap: uWS closes a socket whose buffer would exceed it. Must exceed the soft limit. */
        maxBackpressureBytes: z.number().int().min(2048).default(4 * 1024 * 1024),
        /** A socket still conflated after this long is closed (4008). */
        slowClientCloseMs: z.number().int().min(100).default(10_000),
        sweepMs: z.number().int().min(5).max(10_000).default(50),
        idleTimeoutSec: z.number().int().min(8).max(960).default(60),
        maxSubscriptions: z.number().int().min(1).default(20000),
        /** Inbound messages per second per connection (token bucket, burst = rate). */
        inboundRatePerSec: z.number().int().min(1).default(200),
        /** Browser Origins allowed to open a socket; a request without Origin (non-browser) is allowed. */
        allowedOrigins: z.array(origin()).default([]),
      })
      .prefault({}),
    auth: z
      .strictObject({
        /** Environment variable holding the HMAC-SHA256 secret (at least 32 bytes). */
        secretEnv: z.string().regex(ENV_NAME, 'must be an environment variable name: A-Z a-z 0-9 _, not starting with a digit').default('QE_AUTH_SECRET'),
        /** Accepted clock skew when checking exp/nbf, seconds. */
        clockSkewSec: z.number().int().min(0).max(300).default(5),
        /** Lifetime of tokens minted by `npm run token` and the demo. */
        tokenTtlSec: z.number().int().min(10).max(30 * 86400).default(8 * 3600),
      })
      .prefault({}),
    nats: z
      .strictObject({
        /** Market-data subject root: `<mdPrefix>.book.<instrument>.<venue>`. */
        mdPrefix: id().default('md'),
        /** Quote subject root: `<quotePrefix>.t<tier>.<instrument>`. */
        quotePrefix: id().default('quote'),
        /**
         * Also publish every quote frame on `<quotePrefix>.t<tier>.<instrument>`. Off by default: any
         * NATS user could read every tier's prices there (WebSocket clients see only their own), and
         * it costs the hot path ~10 µs of main-thread time per tick (perf/README.md finding 7).
         */
        publishQuotes: z.boolean().default(false),
        /** Embedded nats-server (used when NATS_URL is unset). */
        embedded: z
          .strictObject({
            dataDir: z.string().min(1).default('.data/nats'),
            port: z.number().int().min(0).max(65535).default(0),
          })
          .prefault({}),
      })
      .prefault({}),
    /** Client directory in NATS KV, relationship score and markout (engine/crm, docs/crm.md). */
    crm: crmConfigSchema.prefault({}),
    /** Request for quote, accept and last look (engine/rfq). */
    rfq: z
      .strictObject({
        /** A firm quote is dealable until validUntil = quote time + this (server clock, inclusive). */
        ttlMs: z.number().int().min(10).max(600_000).default(2_000),
        /** An RFQ waiting in the trader queue this long is expired and rejected (R17 review timeout). */
        queueTtlMs: z.number().int().min(100).max(3_600_000).default(30_000),
        /** Last look: an accept is rejected when the composite mid moved more than this either way since the quote. */
        lastLookToleranceBps: nonneg().max(1_000).default(2),
        /** Last look: fixed, disclosed hold between receiving an accept and deciding it (0 = decide at once). */
        lastLookHoldMs: z.number().int().min(0).max(1_000).default(0),
        /** A streamed quote is dealable (`trade`) this long after it was priced. */
        streamTtlMs: z.number().int().min(10).max(600_000).default(1_000),
        /** Streamed frames kept per (tier, instrument) so a `trade` may name the `sq` it saw. */
        streamHistory: z.number().int().min(1).max(64).default(8),
        /** Open (not terminal) RFQs allowed per client; more are refused. */
        maxOpenPerClient: z.number().int().min(1).max(10_000).default(50),
        /** Expiry sweep period. Expiry is decided on the server clock at accept time; the sweep only tells. */
        sweepMs: z.number().int().min(5).max(10_000).default(50),
        /** Finished RFQs are kept this long to answer repeated requests about them. */
        retainMs: z.number().int().min(1_000).max(86_400_000).default(300_000),
      })
      .prefault({}),
    /** Durable trade booking in a JetStream stream (engine/booking). */
    booking: z
      .strictObject({
        /** Stream name of the trade journal. */
        stream: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 characters of A-Z a-z 0-9 _ -').default('TRADES'),
        /** Trades are published to `<subjectPrefix>.<client>.<instrument>`; the stream captures `<subjectPrefix>.>`. */
        subjectPrefix: id().default('trade'),
        /** JetStream de-duplication window for Nats-Msg-Id (= trade id); a retry is safe only inside it. */
        duplicateWindowMs: z.number().int().min(1_000).max(7 * 86_400_000).default(86_400_000),
        /** Wait this long for the PubAck; no ack in time = outcome unknown. */
        ackTimeoutMs: z.number().int().min(50).max(60_000).default(2_000),
        /** Publish attempts (same trade id) before a trade is reported as outcome unknown. */
        maxAttempts: z.number().int().min(1).max(20).default(3),
        /** A trade whose outcome is unknown is re-published (same id) this often while inside the window. */
        retryIntervalMs: z.number().int().min(100).max(600_000).default(5_000),
      })
      .prefault({}),
    /** Hedge router: cost model, options and pacing (engine/hedging, docs/hedging.md). */
    hedging: hedgingConfigSchema.prefault({}),
    /** Stress regime detector and the per-tier policy (engine/risk/regime.ts, docs/risk-controls.md). */
    regime: regimeConfigSchema.prefault({}),
    /** Risk ledger reference data and the P&L split (engine/pnl, docs/pnl.md). */
    pnl: pnlConfigSchema,
    /** Pre-trade risk controls and the kill switch (engine/risk, docs/risk-controls.md). */
    risk: riskConfigSchema,
    /** Tier-1 co-pilot, axes and decision audit (engine/copilot, docs/copilot.md). */
    copilot: copilotConfigSchema,
  })
  .superRefine((c, ctx) => {
    // Runs even when some fields failed a bound (zod only skips it on a wrong type), so every
    // rule here must tolerate out-of-range numbers; issues from both passes are reported together.
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const venues = new Set<string>();
    c.venues.forEach((v, i) => {
      if (venues.has(v)) issue(['venues', i], `duplicate venue "${v}"`);
      venues.add(v);
    });
    const ids = new Set<string>();
    const byId = new Map<string, (typeof c.instruments)[number]>();
    c.instruments.forEach((ins, i) => {
      const p = ['instruments', i];
      if (ids.has(ins.id)) issue([...p, 'id'], `duplicate instrument "${ins.id}"`);
      ids.add(ins.id);
      byId.set(ins.id, ins);
      if (ins.minSize > ins.maxSize) issue([...p, 'minSize'], 'minSize exceeds maxSize');
      if (ins.lotSize > ins.minSize) issue([...p, 'lotSize'], 'lotSize exceeds minSize');
      if (ins.lotSize > 0) {
        if (offLot(ins.minSize, ins.lotSize)) issue([...p, 'minSize'], `must be a multiple of lotSize ${ins.lotSize}`);
        if (offLot(ins.maxSize, ins.lotSize)) issue([...p, 'maxSize'], `must be a multiple of lotSize ${ins.lotSize}`);
      }
      ins.sizeBands.forEach((s, j) => {
        if (j > 0 && s <= ins.sizeBands[j - 1]) issue([...p, 'sizeBands', j], 'sizeBands must be strictly ascending');
        if (s < ins.minSize || s > ins.maxSize) issue([...p, 'sizeBands', j], `band ${s} outside [minSize, maxSize]`);
        if (ins.lotSize > 0 && offLot(s, ins.lotSize)) issue([...p, 'sizeBands', j], `band ${s} is not a multiple of lotSize ${ins.lotSize}`);
      });
      if (ins.tickSize >= ins.refPrice) issue([...p, 'tickSize'], 'tickSize must be below refPrice');
      ins.venues.forEach((v, j) => {
        if (!venues.has(v)) issue([...p, 'venues', j], `unknown venue "${v}"`);
      });
      const distinct = new Set(ins.venues).size;
      if (distinct !== ins.venues.length) issue([...p, 'venues'], 'duplicate venue');
      // fewer venues than the composite needs = thin forever: the instrument could never be firm
      if (distinct < c.market.minVenues) issue([...p, 'venues'], `${distinct} venue(s) but market.minVenues is ${c.market.minVenues}: never firm`);
    });
    c.instruments.forEach((ins, i) => {
      if (ins.hedgeProxy === null) return;
      const proxy = byId.get(ins.hedgeProxy);
      if (ins.hedgeProxy === ins.id) issue(['instruments', i, 'hedgeProxy'], 'an instrument cannot be its own hedge proxy');
      else if (!proxy) issue(['instruments', i, 'hedgeProxy'], `unknown instrument "${ins.hedgeProxy}"`);
      // a proxy that is itself proxied makes chains and cycles (A→B→A); hedge into the liquid leg
      // directly. A proxy that names itself is already reported on its own line.
      else if (proxy.hedgeProxy !== null && proxy.hedgeProxy !== proxy.id)
        issue(['instruments', i, 'hedgeProxy'], `"${proxy.id}" is itself hedged via "${proxy.hedgeProxy}": a proxy must have hedgeProxy null`);
    });
    // Tier 1 is the best client tier: tightest spread, largest size. The signal is a Tier 2 feature.
    const t = c.tiers;
    for (const [better, worse] of [['1', '2'], ['2', '3']] as const) {
      if (t[better].spreadMult > t[worse].spreadMult)
        issue(['tiers', worse, 'spreadMult'], `spreadMult must satisfy tier 1 ≤ tier 2 ≤ tier 3 (tier ${better} has ${t[better].spreadMult})`);
      if (t[better].maxSize < t[worse].maxSize)
        issue(['tiers', worse, 'maxSize'], `maxSize must satisfy tier 1 ≥ tier 2 ≥ tier 3 (tier ${better} has ${t[better].maxSize})`);
    }
    for (const k of ['1', '3'] as const) {
      if (t[k].signalWeight !== 0) issue(['tiers', k, 'signalWeight'], 'the order-book-imbalance signal is Tier 2 only: must be 0');
    }
    if (c.market.volFastHalfLifeMs >= c.market.volSlowHalfLifeMs) issue(['market', 'volFastHalfLifeMs'], 'must be shorter than volSlowHalfLifeMs');
    if (c.gateway.maxBackpressureBytes <= c.gateway.softBackpressureBytes) issue(['gateway', 'maxBackpressureBytes'], 'must exceed softBackpressureBytes');
    const bm = c.pricing.bandSpreadMults;
    if (bm[0] !== 1) issue(['pricing', 'bandSpreadMults', 0], 'must be 1: band 0 is the base quote (baseSpreadBps)');
    bm.forEach((m, j) => {
      if (j > 0 && m < bm[j - 1]) issue(['pricing', 'bandSpreadMults', j], 'must not decrease: a larger size never gets a tighter spread');
    });
    if (c.pricing.minSpreadBps / 2 >= c.pricing.collarBps) issue(['pricing', 'collarBps'], 'collar narrower than the minimum half-spread');
    // The narrowest quote an instrument can get (band 0, best tier, no vol, flat book) must fit in
    // its collar, or the final gate rejects every quote for it.
    const bestMult = Math.min(t['1'].spreadMult, t['2'].spreadMult, t['3'].spreadMult);
    c.instruments.forEach((ins, i) => {
      const baseHalfBps = (ins.baseSpreadBps / 2) * bestMult;
      if (ins.collarBps !== undefined) {
        const floorBps = Math.max(c.pricing.minSpreadBps / 2, baseHalfBps);
        if (ins.collarBps <= floorBps)
          issue(['instruments', i, 'collarBps'], `collar narrower than the narrowest half-spread ${floorBps} bps (max of pricing.minSpreadBps / 2 and baseSpreadBps / 2 × lowest tier spreadMult)`);
      } else if (c.pricing.collarBps <= baseHalfBps) {
        issue(['instruments', i, 'baseSpreadBps'], `half-spread ${baseHalfBps} bps (baseSpreadBps / 2 × lowest tier spreadMult) reaches pricing.collarBps ${c.pricing.collarBps}: every quote would fail the collar`);
      }
    });
    if (c.rfq.lastLookHoldMs >= c.rfq.ttlMs) issue(['rfq', 'lastLookHoldMs'], 'must be shorter than rfq.ttlMs');
    for (const m of pnlConfigIssues(c.pnl, c.instruments.map((i) => i.id))) issue(['pnl', 'instruments'], m);
    // every retry of an unknown outcome must fall inside the de-duplication window, or it could book twice
    if (c.booking.ackTimeoutMs * c.booking.maxAttempts >= c.booking.duplicateWindowMs)
      issue(['booking', 'duplicateWindowMs'], 'must exceed booking.ackTimeoutMs × booking.maxAttempts: retries must stay inside the window');
    if (c.booking.subjectPrefix === c.nats.mdPrefix || c.booking.subjectPrefix === c.nats.quotePrefix)
      issue(['booking', 'subjectPrefix'], 'must differ from nats.mdPrefix and nats.quotePrefix');
    const cids = new Set<string>();
    c.clients.forEach((cl, i) => {
      if (cids.has(cl.id)) issue(['clients', i, 'id'], `duplicate client "${cl.id}"`);
      cids.add(cl.id);
    });
  });

export type ConfigInput = z.input<typeof configSchema>;
type Parsed = z.output<typeof configSchema>;
type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;
export type Config = DeepReadonly<Parsed>;
export type InstrumentConfig = Config['instruments'][number];
export type TierConfig = Config['tiers']['1'];
export type ClientConfig = Config['clients'][number];
export type LiquidityConfig = Config['liquidity']['high'];

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/** Validates `input`; throws ConfigError naming each bad field as `path: message`. */
export function parseConfig(input: unknown): Config {
  const r = configSchema.safeParse(input);
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`));
  }
  return deepFreeze(r.data) as Config;
}

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new EngineError(ErrorCode.CONFIG_UNREADABLE, `cannot read config file ${path}`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError([`(file ${path}): not valid JSON: ${(cause as Error).message}`], { cause });
  }
  return parseConfig(json);
}

/** Path of the default universe shipped with the engine (dist/ and source layouts both resolve). */
export const DEFAULT_CONFIG_URL = new URL('../../engine/default-config.json', import.meta.url);

export function loadDefaultConfig(): Config {
  return loadConfigFile(DEFAULT_CONFIG_URL.pathname);
}

/** Dense integer ids fixed at startup: instruments and venues by name. */
export interface Universe {
  readonly config: Config;
  readonly instrumentIndex: ReadonlyMap<string, number>;
  readonly venueIndex: ReadonlyMap<string, number>;
  readonly clientById: ReadonlyMap<string, ClientConfig>;
}

export function buildUniverse(config: Config): Universe {
  return {
    config,
    instrumentIndex: new Map(config.instruments.map((ins, i) => [ins.id, i])),
    venueIndex: new Map(config.venues.map((v, i) => [v, i])),
    clientById: new Map(config.clients.map((c) => [c.id, c])),
  };
}
