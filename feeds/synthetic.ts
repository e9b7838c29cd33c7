/**
 * Synthetic multi-venue market data: pure, seeded, deterministic, no I/O.
 *
 * The same seed, options and sequence of `generate(nowMs, count)` calls give the same messages
 * byte for byte; nothing reads a clock or Math.random. State lives in typed arrays indexed by a
 * dense stream id (one stream per (instrument, venue)) and every message is written into one of
 * two reused records, so a publisher can drive tens of thousands of messages per second without
 * per-message garbage beyond what it chooses to allocate itself.
 *
 * Model, per instrument (true mid, shared by its venues):
 *   log m(t+dt) = log m(t) − ½σ²dt + σ√dt·Z  (+ N(0, jump²) with prob. 1 − e^{−λdt})
 *   σ = initialVolBpsAnnual·1e-4 / √(ms per year) · √timeScale · regimeVol · scenarioVol
 *   regime ∈ {calm, normal, volatile}: continuous-time Markov chain (mean stays below)
 *   published mid = m(t) · e^{shock·f(t)}  — the stressed scenario's deterministic overlay
 * Per venue (stream):
 *   venue mid = mid · (1 + ε), ε an Ornstein-Uhlenbeck noise in bps (venue-specific σ and τ)
 *   spread   = baseSpreadBps · venueFactor · regimeSpread · scenarioSpread · U(0.85, 1.15)
 *   bid/ask  = venue mid ∓ spread/2, bid rounded down and ask up to the tick: never crossed
 *   sizes    = a size band (smaller bands likelier) · lognormal(0, 0.3), rounded to the lot
 *   ts       = message time − venue latency (floor + exponential), monotone per stream
 *   trades   = a fraction of messages, at the venue's last bid/ask, aggressor side biased by flow
 *
 * The path is evolved lazily: an instrument advances only when one of its streams is picked, by
 * the exact GBM step over the elapsed time. Universe size therefore costs memory, not CPU.
 */
import type { Config, InstrumentConfig } from '../engine/config.js';
import { ConfigError } from '../engine/errors.js';

export const SCENARIOS = ['normal', 'stressed'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Where the scenario clock is. `normal` scenario: always NORMAL. */
export const MarketPhase = {
  NORMAL: 'normal',
  PRE: 'pre',
  SELLOFF: 'selloff',
  DISLOCATED: 'dislocated',
  RECOVERY: 'recovery',
  AFTER: 'after',
} as const;
export type MarketPhase = (typeof MarketPhase)[keyof typeof MarketPhase];

/** The stressed scenario. Times are wall ms from the generator's start (first `generate` call or `startMs`). */
export interface StressOptions {
  /** Sell-off begins this long after start. */
  readonly startAfterMs: number;
  /** Whole episode: sell-off (first 20%), dislocation (to 60%), recovery (to 100%). */
  readonly durationMs: number;
  /** Diffusion vol multiplier during sell-off and dislocation. */
  readonly volMult: number;
  /** Venue spread multiplier during sell-off and dislocation. */
  readonly spreadMult: number;
  /** Scales every asset class's drop (1 = corporates ≈ −4%·beta, CDS −3%, govts/futures −1.5%, FX risk-off ≈ 1%/unit). */
  readonly depthScale: number;
  /** Share of the drop recovered by the end of the episode; it then stays there. */
  readonly recoveryFrac: number;
  /** After the episode, vol and spreads stay this much above normal. */
  readonly residualVolMult: number;
  readonly residualSpreadMult: number;
  /** Share of instruments where all venues but one go quiet for a while. */
  readonly quietInstrumentFrac: number;
  readonly quietMinMs: number;
  readonly quietMaxMs: number;
}

/**
 * Faults for engine tests, each a probability per book message (trades are never faulted).
 * Faults draw from their own PRNG stream, so the market path (stream picks, mids, spreads, sizes)
 * is identical with faults on and off: a faulted run differs from a clean one only where faulted.
 */
export interface FaultOptions {
  /** Bid and ask swapped: bid > ask. */
  readonly crossedProb: number;
  /** 1..maxGap sequence numbers skipped before this message. */
  readonly gapProb: number;
  readonly maxGap: number;
  /** The stream's previous book sent again unchanged (same seq). */
  readonly duplicateProb: number;
  /** The venue's whole book shifted by ±outlierBps. */
  readonly outlierProb: number;
  readonly outlierBps: number;
}

export interface SyntheticOptions {
  readonly seed: number;
  readonly scenario: ScenarioName;
  /** Subset of instrument ids, in this order; default every instrument in the config. */
  readonly instruments?: readonly string[];
  /** Multiplies the time the diffusion sees (variance ∝ timeScale·dt): 1 = real time; ~1e4 for a lively demo. */
  readonly timeScale?: number;
  /** Scenario clock origin (epoch ms); default the first `nowMs` passed to `generate`. */
  readonly startMs?: number;
  readonly stress?: Partial<StressOptions>;
  readonly faults?: Partial<FaultOptions>;
}

export const DEFAULT_STRESS: StressOptions = Object.freeze({
  startAfterMs: 5_000,
  durationMs: 30_000,
  volMult: 5,
  spreadMult: 4,
  depthScale: 1,
  recoveryFrac: 0.5,
  residualVolMult: 1.5,
  residualSpreadMult: 1.5,
  quietInstrumentFrac: 0.5,
  quietMinMs: 2_000,
  quietMaxMs: 6_000,
});

export const DEFAULT_FAULTS: FaultOptions = Object.freeze({
  crossedProb: 0,
  gapProb: 0,
  maxGap: 3,
  duplicateProb: 0,
  outlierProb: 0,
  outlierBps: 250,
});

/** Mutable record a book message is written into; reused for every message: copy what you keep. */
export interface BookMsg {
  i: string;
  v: string;
  s: number;
  ts: number;
  b: number;
  a: number;
  bs: number;
  as: number;
  /** Never set by the generator (it has no clock); a publisher stamps it. Present so the record's shape never changes. */
  pt: number | undefined;
}
export interface TradeMsg {
  i: string;
  v: string;
  s: number;
  ts: number;
  p: number;
  q: number;
  sd: 'b' | 's';
  pt: number | undefined;
}
/** Receives each message; `stream` is the dense id into `SyntheticMarket.streams`. */
export interface MdSink {
  book(msg: BookMsg, stream: number): void;
  trade(msg: TradeMsg, stream: number): void;
}

/** A venue's current book for one instrument, as the venue itself holds it (see `SyntheticMarket.venueBook`). */
export interface VenueBook {
  bid: number;
  ask: number;
  bidSize: number;
  askSize: number;
}

export interface StreamInfo {
  readonly instrument: string;
  readonly venue: string;
  /** Index of the instrument in `SyntheticMarket.instruments`. */
  readonly instrumentIndex: number;
}

export interface SyntheticCounters {
  books: number;
  trades: number;
  crossed: number;
  gaps: number;
  duplicates: number;
  outliers: number;
  /** Picks that landed on a quiet stream too many times in a row; nothing was emitted for them. */
  quietSkips: number;
}

// ---------------------------------------------------------------------------------------------
// PRNG: xoshiro128** (Blackman & Vigna), 32-bit ops only so V8 keeps everything in SMIs/int32.

function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}

export class Xoshiro128 {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = 0;
  private hasSpare = false;

  /** `stream` separates independent generators derived from one seed. */
  constructor(seed: number, stream = 0) {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) | 0;
    // splitmix32 spreads a small seed over 128 bits; an all-zero state would never leave zero.
    let x = lo ^ Math.imul(hi, 0x27d4eb2d) ^ Math.imul(stream + 1, 0x632be5ab);
    this.a = x = splitmix32(x);
    this.b = x = splitmix32(x);
    this.c = x = splitmix32(x);
    this.d = splitmix32(x);
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1;
  }

  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Standard normal, Box-Muller; the second value of each pair is kept for the next call. */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    const u = 1 - this.float(); // (0, 1]: log(0) would be −∞
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * this.float();
    this.spare = r * Math.sin(th);
    this.hasSpare = true;
    return r * Math.cos(th);
  }

  /** Exponential with mean 1. */
  exp(): number {
    return -Math.log(1 - this.float());
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// ---------------------------------------------------------------------------------------------
// Model constants. Wall-clock times (regimes, jumps, noise) are not scaled by timeScale: they
// describe how the feed behaves, while timeScale only speeds the price path up.

const BP = 1e-4;
const MS_PER_YEAR = 365.25 * 86_400_000;

const CALM = 0;
const NORMAL = 1;
const VOLATILE = 2;
const REGIME_VOL_MULT = [0.6, 1, 2.5];
const REGIME_SPREAD_MULT = [0.85, 1, 1.5];
const REGIME_MEAN_STAY_MS = [90_000, 120_000, 30_000];
const P_NORMAL_TO_VOLATILE = 0.3;

const JUMPS_PER_MS = 6 / 3_600_000;
const VOLATILE_JUMP_MULT = 4;
/** Jump σ as a share of the annual vol: 600 bps/yr → 12 bps jumps. */
const JUMP_SIZE_VOL_FRAC = 0.02;

/** Venue mid noise σ as a share of the instrument's base spread, and its mean-reversion time. */
const NOISE_SPREAD_FRAC = 0.15;
const NOISE_TAU_MIN_MS = 500;
const NOISE_TAU_MAX_MS = 3_000;
const VENUE_SPREAD_MIN = 0.8;
const VENUE_SPREAD_MAX = 1.5;
/** Venue latency: floor + exponential, per venue name. */
const LATENCY_FLOOR_MIN_MS = 0.1;
const LATENCY_FLOOR_MAX_MS = 1;
const LATENCY_MEAN_MIN_MS = 0.3;
const LATENCY_MEAN_MAX_MS = 3;

/** Message share per instrument by liquidity, and per venue by its position in `venues` (primary first). */
const LIQUIDITY_WEIGHT = { high: 4, medium: 2, low: 1 } as const;
const VENUE_SLOT_WEIGHT = [1, 0.8, 0.6, 0.5];
const TRADE_PROB = { high: 0.06, medium: 0.04, low: 0.03 } as const;
/** Relative odds of drawing each size band (smaller bands are likelier); more bands repeat the last. */
const BAND_ODDS = [0.5, 0.25, 0.15, 0.1];
const SIZE_LOG_SD = 0.3;
/** A quiet stream is re-picked this many times before the message slot is given up. */
const MAX_PICKS = 8;

/** Episode shape as fractions of durationMs. */
const SELLOFF_END = 0.2;
const RECOVERY_START = 0.6;
/** Quiet windows start in [QUIET_FROM, QUIET_TO] of the episode, i.e. during the dislocation. */
const QUIET_FROM = 0.1;
const QUIET_TO = 0.5;

/** Safe-haven score per currency for the FX risk-off move: pair BASEQUOTE moves by (score(BASE) − score(QUOTE))·1%. */
const SAFE_HAVEN: Readonly<Record<string, number>> = {
  USD: 1, JPY: 1.5, CHF: 1.2, EUR: 0, GBP: -0.5, CAD: -0.5, AUD: -1.5, NZD: -1.5, SEK: -0.8, NOK: -1, MXN: -2, ZAR: -2,
};

const PHASE_PRE = 0;
const PHASE_SELLOFF = 1;
const PHASE_DISLOCATED = 2;
const PHASE_RECOVERY = 3;
const PHASE_AFTER = 4;
const PHASE_NAMES: readonly MarketPhase[] = [
  MarketPhase.PRE, MarketPhase.SELLOFF, MarketPhase.DISLOCATED, MarketPhase.RECOVERY, MarketPhase.AFTER,
];

const FAULT_NONE = 0;
const FAULT_CROSSED = 1;
const FAULT_GAP = 2;
const FAULT_DUP = 3;
const FAULT_OUTLIER = 4;

/** Log-return of the stressed scenario's full drop for one instrument, before depthScale. */
function stressShockLog(ins: InstrumentConfig): number {
  const beta = Math.min(2, Math.max(0.5, Math.abs(ins.hedgeBeta)));
  switch (ins.assetClass) {
    case 'corporate_bond':
      return Math.log(1 - 0.04 * beta);
    case 'cds_index':
      return Math.log(1 - 0.03 * beta);
    case 'govt_bond':
    case 'rates_future':
      return Math.log(1 - 0.015);
    case 'fx': {
      const base = SAFE_HAVEN[ins.id.slice(0, 3).toUpperCase()];
      const quote = SAFE_HAVEN[ins.id.slice(3, 6).toUpperCase()];
      if (base === undefined || quote === undefined) return Math.log(1 - 0.01);
      return Math.log(1 + 0.01 * (base - quote));
    }
  }
}

function checkOptions(opts: SyntheticOptions, stress: StressOptions, faults: FaultOptions): void {
  const issues: string[] = [];
  if (!Number.isSafeInteger(opts.seed)) issues.push('seed: must be a safe integer');
  if (!(SCENARIOS as readonly string[]).includes(opts.scenario)) issues.push(`scenario: must be one of ${SCENARIOS.join(', ')}`);
  const ts = opts.timeScale ?? 1;
  if (!(Number.isFinite(ts) && ts > 0)) issues.push('timeScale: must be a positive number');
  if (opts.startMs !== undefined && !Number.isFinite(opts.startMs)) issues.push('startMs: must be finite');
  const positive = ['durationMs', 'volMult', 'spreadMult', 'residualVolMult', 'residualSpreadMult', 'quietMinMs'] as const;
  for (const k of positive) if (!(Number.isFinite(stress[k]) && stress[k] > 0)) issues.push(`stress.${k}: must be positive`);
  for (const k of ['startAfterMs', 'depthScale'] as const) if (!(Number.isFinite(stress[k]) && stress[k] >= 0)) issues.push(`stress.${k}: must be ≥ 0`);
  for (const k of ['recoveryFrac', 'quietInstrumentFrac'] as const) if (!(stress[k] >= 0 && stress[k] <= 1)) issues.push(`stress.${k}: must be in [0, 1]`);
  if (!(stress.quietMaxMs >= stress.quietMinMs)) issues.push('stress.quietMaxMs: must be ≥ quietMinMs');
  const probs = ['crossedProb', 'gapProb', 'duplicateProb', 'outlierProb'] as const;
  let sum = 0;
  for (const k of probs) {
    if (!(faults[k] >= 0 && faults[k] <= 1)) issues.push(`faults.${k}: must be in [0, 1]`);
    else sum += faults[k];
  }
  if (sum > 1) issues.push('faults: probabilities add up to more than 1');
  if (!(Number.isSafeInteger(faults.maxGap) && faults.maxGap >= 1)) issues.push('faults.maxGap: must be an integer ≥ 1');
  if (!(Number.isFinite(faults.outlierBps) && faults.outlierBps > 0 && faults.outlierBps < 5000)) issues.push('faults.outlierBps: must be in (0, 5000)');
  if (issues.length) throw new ConfigError(issues);
}

export class SyntheticMarket {
  readonly instruments: readonly InstrumentConfig[];
  readonly streams: readonly StreamInfo[];
  readonly counters: SyntheticCounters = { books: 0, trades: 0, crossed: 0, gaps: 0, duplicates: 0, outliers: 0, quietSkips: 0 };
  readonly scenario: ScenarioName;
  readonly stress: StressOptions;
  readonly faults: FaultOptions;

  private readonly rng: Xoshiro128;
  private readonly frng: Xoshiro128;
  private readonly faultsOn: boolean;
  private readonly stressed: boolean;
  private startMs = Number.NaN;
  private started = false;
  private lastNowMs = 0;

  // per instrument
  private readonly insId: string[];
  private readonly logMid: Float64Array;
  private readonly lastMs: Float64Array;
  private readonly regime: Uint8Array;
  private readonly sigma: Float64Array; // per √ms, timeScale included
  private readonly jumpSd: Float64Array;
  private readonly shockLog: Float64Array;
  private readonly baseSpreadBps: Float64Array;
  private readonly tick: Float64Array;
  /** 1/tick when it is an integer (0.001 → 1000, 1/128 → 128), so k/ticksPerUnit is the correctly rounded price; else 0. */
  private readonly ticksPerUnit: Float64Array;
  private readonly tradeProb: Float64Array;
  private readonly lastStep: Float64Array;

  // per stream
  private readonly sIns: Int32Array;
  private readonly sVenue: string[];
  private readonly sVenueIdx: Int32Array;
  private readonly cumWeight: Float64Array;
  private readonly totalWeight: number;
  private readonly seq: Float64Array;
  private readonly tseq: Float64Array;
  private readonly lastTs: Float64Array;
  private readonly noise: Float64Array;
  private readonly noiseMs: Float64Array;
  private readonly noiseSdBps: Float64Array;
  private readonly noiseTauMs: Float64Array;
  private readonly spreadFactor: Float64Array;
  private readonly quietFrom: Float64Array; // relative to startMs
  private readonly quietTo: Float64Array;
  private readonly hasBook: Uint8Array;
  private readonly cBid: Float64Array; // venue's clean book, which trades print against
  private readonly cAsk: Float64Array;
  private readonly cBs: Float64Array;
  private readonly cAs: Float64Array;
  private readonly sentBid: Float64Array; // last book as sent, for duplicates
  private readonly sentAsk: Float64Array;
  private readonly sentBs: Float64Array;
  private readonly sentAs: Float64Array;
  private readonly sentTs: Float64Array;
  /** Permanent impact of orders filled on this venue (log units), added to its mid: see applyVenueImpact. */
  private readonly impactLog: Float64Array;
  private readonly streamByKey: Map<string, number>;

  // per venue name (config.venues index)
  private readonly latFloorMs: Float64Array;
  private readonly latMeanMs: Float64Array;

  // scenario state of the message being generated
  private phase = PHASE_PRE;
  private shockFrac = 0;
  private volMult = 1;
  private spreadMult = 1;
  private noiseMult = 1;
  private latencyMult = 1;
  private sizeMult = 1;
  private tradeMult = 1;
  private pBuyStress = 0.5;

  private readonly book: BookMsg = { i: '', v: '', s: 0, ts: 0, b: 0, a: 0, bs: 0, as: 0, pt: undefined };
  private readonly trade: TradeMsg = { i: '', v: '', s: 0, ts: 0, p: 0, q: 0, sd: 'b', pt: undefined };

  constructor(config: Config, opts: SyntheticOptions) {
    const stress: StressOptions = { ...DEFAULT_STRESS, ...opts.stress };
    const faults: FaultOptions = { ...DEFAULT_FAULTS, ...opts.faults };
    checkOptions(opts, stress, faults);
    this.stress = Object.freeze(stress);
    this.faults = Object.freeze(faults);
    this.scenario = opts.scenario;
    this.stressed = opts.scenario === 'stressed';
    this.faultsOn = faults.crossedProb + faults.gapProb + faults.duplicateProb + faults.outlierProb > 0;
    if (opts.startMs !== undefined) this.startMs = opts.startMs;

    let instruments: readonly InstrumentConfig[] = config.instruments;
    if (opts.instruments) {
      const byId = new Map(config.instruments.map((ins) => [ins.id, ins]));
      const issues: string[] = [];
      const seen = new Set<string>();
      const picked: InstrumentConfig[] = [];
      opts.instruments.forEach((id, k) => {
        const ins = byId.get(id);
        if (!ins) issues.push(`instruments.${k}: unknown instrument "${id}"`);
        else if (seen.has(id)) issues.push(`instruments.${k}: duplicate instrument "${id}"`);
        else picked.push(ins);
        seen.add(id);
      });
      if (picked.length === 0 && issues.length === 0) issues.push('instruments: must name at least one instrument');
      if (issues.length) throw new ConfigError(issues);
      instruments = picked;
    }
    this.instruments = instruments;

    // Three independent PRNG streams: static setup, the market path, and faults (see FaultOptions).
    const setup = new Xoshiro128(opts.seed, 0);
    this.rng = new Xoshiro128(opts.seed, 1);
    this.frng = new Xoshiro128(opts.seed, 2);

    const n = instruments.length;
    const timeScale = opts.timeScale ?? 1;
    this.insId = instruments.map((ins) => ins.id);
    this.logMid = new Float64Array(n);
    this.lastMs = new Float64Array(n);
    this.regime = new Uint8Array(n).fill(NORMAL);
    this.sigma = new Float64Array(n);
    this.jumpSd = new Float64Array(n);
    this.shockLog = new Float64Array(n);
    this.baseSpreadBps = new Float64Array(n);
    this.tick = new Float64Array(n);
    this.ticksPerUnit = new Float64Array(n);
    this.tradeProb = new Float64Array(n);
    this.lastStep = new Float64Array(n);
    instruments.forEach((ins, i) => {
      this.logMid[i] = Math.log(ins.refPrice);
      this.sigma[i] = ((ins.initialVolBpsAnnual * BP) / Math.sqrt(MS_PER_YEAR)) * Math.sqrt(timeScale);
      this.jumpSd[i] = ins.initialVolBpsAnnual * JUMP_SIZE_VOL_FRAC * BP;
      // ±20% per instrument so a sell-off is not one number across a whole asset class
      this.shockLog[i] = stressShockLog(ins) * stress.depthScale * (0.8 + 0.4 * setup.float());
      this.baseSpreadBps[i] = ins.baseSpreadBps;
      this.tick[i] = ins.tickSize;
      const inv = 1 / ins.tickSize;
      this.ticksPerUnit[i] = Math.abs(inv - Math.round(inv)) < 1e-9 * inv ? Math.round(inv) : 0;
      this.tradeProb[i] = TRADE_PROB[ins.liquidityClass];
    });

    const venueIndex = new Map(config.venues.map((v, k) => [v, k]));
    const nv = config.venues.length;
    this.latFloorMs = new Float64Array(nv);
    this.latMeanMs = new Float64Array(nv);
    for (let k = 0; k < nv; k++) {
      this.latFloorMs[k] = LATENCY_FLOOR_MIN_MS + (LATENCY_FLOOR_MAX_MS - LATENCY_FLOOR_MIN_MS) * setup.float();
      this.latMeanMs[k] = LATENCY_MEAN_MIN_MS + (LATENCY_MEAN_MAX_MS - LATENCY_MEAN_MIN_MS) * setup.float();
    }

    const streams: StreamInfo[] = [];
    instruments.forEach((ins, i) => ins.venues.forEach((venue) => streams.push({ instrument: ins.id, venue, instrumentIndex: i })));
    this.streams = streams;
    const ns = streams.length;
    this.sIns = new Int32Array(ns);
    this.sVenue = streams.map((s) => s.venue);
    this.sVenueIdx = new Int32Array(ns);
    this.cumWeight = new Float64Array(ns);
    this.seq = new Float64Array(ns);
    this.tseq = new Float64Array(ns);
    this.lastTs = new Float64Array(ns);
    this.noise = new Float64Array(ns);
    this.noiseMs = new Float64Array(ns).fill(Number.NEGATIVE_INFINITY);
    this.noiseSdBps = new Float64Array(ns);
    this.noiseTauMs = new Float64Array(ns);
    this.spreadFactor = new Float64Array(ns);
    this.quietFrom = new Float64Array(ns).fill(Number.POSITIVE_INFINITY);
    this.quietTo = new Float64Array(ns).fill(Number.POSITIVE_INFINITY);
    this.hasBook = new Uint8Array(ns);
    this.cBid = new Float64Array(ns);
    this.cAsk = new Float64Array(ns);
    this.cBs = new Float64Array(ns);
    this.cAs = new Float64Array(ns);
    this.sentBid = new Float64Array(ns);
    this.sentAsk = new Float64Array(ns);
    this.sentBs = new Float64Array(ns);
    this.sentAs = new Float64Array(ns);
    this.sentTs = new Float64Array(ns);
    this.impactLog = new Float64Array(ns);
    this.streamByKey = new Map(streams.map((st, k) => [`${st.instrument}\u0000${st.venue}`, k]));

    let cum = 0;
    let s = 0;
    instruments.forEach((ins, i) => {
      const first = s;
      ins.venues.forEach((venue, slot) => {
        this.sIns[s] = i;
        this.sVenueIdx[s] = venueIndex.get(venue) ?? 0;
        cum += LIQUIDITY_WEIGHT[ins.liquidityClass] * VENUE_SLOT_WEIGHT[Math.min(slot, VENUE_SLOT_WEIGHT.length - 1)];
        this.cumWeight[s] = cum;
        this.spreadFactor[s] = VENUE_SPREAD_MIN + (VENUE_SPREAD_MAX - VENUE_SPREAD_MIN) * setup.float();
        this.noiseSdBps[s] = NOISE_SPREAD_FRAC * ins.baseSpreadBps * (0.5 + setup.float());
        this.noiseTauMs[s] = NOISE_TAU_MIN_MS + (NOISE_TAU_MAX_MS - NOISE_TAU_MIN_MS) * setup.float();
        s++;
      });
      // Quiet venues: all but one (or the only one) stop together, so the instrument is left
      // with fewer than two live venues for at least quietMinMs.
      if (this.stressed && setup.float() < stress.quietInstrumentFrac) {
        const nven = ins.venues.length;
        const keep = nven > 1 ? Math.floor(setup.float() * nven) : -1;
        const from = stress.startAfterMs + stress.durationMs * (QUIET_FROM + (QUIET_TO - QUIET_FROM) * setup.float());
        for (let k = 0; k < nven; k++) {
          if (k === keep) continue;
          const dur = stress.quietMinMs + (stress.quietMaxMs - stress.quietMinMs) * setup.float();
          this.quietFrom[first + k] = from;
          this.quietTo[first + k] = from + dur;
        }
      }
    });
    this.totalWeight = cum;
  }

  get streamCount(): number {
    return this.streams.length;
  }

  /** Scenario phase at `nowMs` (PRE before the generator has started). */
  phaseAt(nowMs: number): MarketPhase {
    if (!this.stressed) return MarketPhase.NORMAL;
    if (Number.isNaN(this.startMs)) return MarketPhase.PRE;
    this.setScenario(nowMs - this.startMs);
    return PHASE_NAMES[this.phase];
  }

  /** The scenario clock origin (epoch ms), NaN until the first `generate` call. */
  get startedAtMs(): number {
    return this.startMs;
  }

  /** True mid of instrument `i` (index into `instruments`) as of its last update, scenario overlay included. */
  trueMid(i: number): number {
    if (this.stressed && !Number.isNaN(this.startMs)) this.setScenario(this.lastMs[i] - this.startMs);
    else this.shockFrac = 0;
    return Math.exp(this.logMid[i] + this.shockLog[i] * this.shockFrac);
  }

  /** Dense stream id of (instrument, venue), or −1 when this market does not have that venue for it. */
  streamOf(instrument: string, venue: string): number {
    return this.streamByKey.get(`${instrument}\u0000${venue}`) ?? -1;
  }

  /**
   * Copies stream `s`'s current book into `out` and returns true, or false before its first book.
   * This is the venue's own clean book, the one its trades print against: the fault injection
   * (crossed, outlier, duplicate) damages only what is published, as a broken feed handler would.
   */
  venueBook(s: number, out: VenueBook): boolean {
    if (!(s >= 0 && s < this.streams.length) || this.hasBook[s] === 0) return false;
    out.bid = this.cBid[s];
    out.ask = this.cAsk[s];
    out.bidSize = this.cBs[s];
    out.askSize = this.cAs[s];
    return true;
  }

  /**
   * Permanent market impact on one venue (the venue simulator calls this after a fill): every later
   * book of stream `s` is centred `bps` higher (negative: lower), and its current book moves at
   * once, so the next order there already sees it. Shifts accumulate. Consumes no randomness: the
   * path of every other stream is unchanged.
   */
  applyVenueImpact(s: number, bps: number): void {
    if (!(s >= 0 && s < this.streams.length) || !Number.isFinite(bps) || bps === 0) return;
    const x = bps * BP;
    this.impactLog[s] += x;
    if (this.hasBook[s] === 0) return;
    const i = this.sIns[s];
    const f = Math.exp(x);
    let bid = this.floorTick(i, this.cBid[s] * f);
    let ask = this.ceilTick(i, this.cAsk[s] * f);
    if (bid <= 0) bid = this.tick[i];
    if (!(ask > bid)) ask = this.ceilTick(i, bid + this.tick[i] * 1.5);
    this.cBid[s] = bid;
    this.cAsk[s] = ask;
  }

  /** Whether stream `s` is silenced by the scenario at `nowMs`. */
  isQuiet(s: number, nowMs: number): boolean {
    const rel = nowMs - this.startMs;
    return rel >= this.quietFrom[s] && rel < this.quietTo[s];
  }

  /**
   * Emits up to `count` messages with message times spread evenly over (previous nowMs, nowMs].
   * Returns how many were emitted (fewer only when quiet streams swallowed picks).
   */
  generate(nowMs: number, count: number, sink: MdSink): number {
    if (Number.isNaN(this.startMs)) this.startMs = nowMs;
    if (!this.started) {
      this.started = true;
      this.lastNowMs = nowMs;
      this.lastMs.fill(nowMs);
    }
    const from = this.lastNowMs;
    const to = nowMs > from ? nowMs : from; // a clock stepping back must not reverse the path
    this.lastNowMs = to;
    const span = to - from;
    let emitted = 0;
    for (let j = 0; j < count; j++) {
      const tm = from + (span * (j + 1)) / count;
      if (this.emitOne(tm, sink)) emitted++;
    }
    return emitted;
  }

  next(nowMs: number, sink: MdSink): boolean {
    return this.generate(nowMs, 1, sink) === 1;
  }

  private pick(): number {
    const x = this.rng.float() * this.totalWeight;
    const cw = this.cumWeight;
    let lo = 0;
    let hi = cw.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cw[mid] > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /**
   * Sets the scenario multipliers for `rel` ms after start. They are scratch state: every message
   * recomputes them first, so the accessors above may overwrite them between messages.
   */
  private setScenario(rel: number): void {
    if (!this.stressed) return;
    const st = this.stress;
    const x = (rel - st.startAfterMs) / st.durationMs;
    if (x < 0) {
      this.phase = PHASE_PRE;
      this.shockFrac = 0;
      this.volMult = this.spreadMult = this.noiseMult = this.latencyMult = this.sizeMult = this.tradeMult = 1;
      this.pBuyStress = 0.5;
      return;
    }
    if (x < RECOVERY_START) {
      if (x < SELLOFF_END) {
        this.phase = PHASE_SELLOFF;
        const u = x / SELLOFF_END;
        this.shockFrac = u * u * (3 - 2 * u); // smoothstep: sharp in the middle, no kink at the ends
      } else {
        this.phase = PHASE_DISLOCATED;
        this.shockFrac = 1;
      }
      this.volMult = st.volMult;
      this.spreadMult = st.spreadMult;
      this.latencyMult = 2;
      this.sizeMult = 0.4;
      this.tradeMult = 2;
      this.pBuyStress = 0.25;
    } else {
      const u = x < 1 ? (x - RECOVERY_START) / (1 - RECOVERY_START) : 1;
      this.phase = x < 1 ? PHASE_RECOVERY : PHASE_AFTER;
      this.shockFrac = 1 - st.recoveryFrac * u;
      this.volMult = st.volMult + (st.residualVolMult - st.volMult) * u;
      this.spreadMult = st.spreadMult + (st.residualSpreadMult - st.spreadMult) * u;
      this.latencyMult = 2 - u;
      this.sizeMult = 0.4 + 0.6 * u;
      this.tradeMult = 2 - u;
      this.pBuyStress = x < 1 ? 0.6 : 0.5;
    }
    this.noiseMult = Math.sqrt(this.spreadMult);
  }

  private emitOne(tm: number, sink: MdSink): boolean {
    const rel = tm - this.startMs;
    this.setScenario(rel);
    let s = this.pick();
    if (this.stressed) {
      let tries = 1;
      while (rel >= this.quietFrom[s] && rel < this.quietTo[s]) {
        if (tries++ >= MAX_PICKS) {
          this.counters.quietSkips++;
          return false;
        }
        s = this.pick();
      }
    }
    const i = this.sIns[s];
    this.evolve(i, tm);
    if (this.hasBook[s] === 1 && this.rng.float() < this.tradeProb[i] * this.tradeMult) this.emitTrade(s, i, tm, sink);
    else this.emitBook(s, i, tm, sink);
    return true;
  }

  private evolve(i: number, tm: number): void {
    const dt = tm - this.lastMs[i];
    if (dt <= 0) return;
    this.lastMs[i] = tm;
    const rng = this.rng;
    let r = this.regime[i];
    if (rng.float() < 1 - Math.exp(-dt / REGIME_MEAN_STAY_MS[r])) {
      r = r === NORMAL ? (rng.float() < P_NORMAL_TO_VOLATILE ? VOLATILE : CALM) : NORMAL;
      this.regime[i] = r;
    }
    let step = 0;
    const lambda = JUMPS_PER_MS * (r === VOLATILE ? VOLATILE_JUMP_MULT : 1);
    if (rng.float() < 1 - Math.exp(-lambda * dt)) step += this.jumpSd[i] * rng.normal();
    const sig = this.sigma[i] * REGIME_VOL_MULT[r] * this.volMult;
    const v = sig * sig * dt;
    step += -0.5 * v + Math.sqrt(v) * rng.normal();
    this.logMid[i] += step;
    this.lastStep[i] = step;
  }

  private floorTick(i: number, x: number): number {
    const k = this.ticksPerUnit[i];
    return k > 0 ? Math.floor(x * k) / k : Math.floor(x / this.tick[i]) * this.tick[i];
  }

  private ceilTick(i: number, x: number): number {
    const k = this.ticksPerUnit[i];
    return k > 0 ? Math.ceil(x * k) / k : Math.ceil(x / this.tick[i]) * this.tick[i];
  }

  private drawSize(i: number): number {
    const ins = this.instruments[i];
    const bands = ins.sizeBands;
    const nb = bands.length;
    let total = 0;
    for (let k = 0; k < nb; k++) total += BAND_ODDS[k < BAND_ODDS.length ? k : BAND_ODDS.length - 1];
    let u = this.rng.float() * total;
    let band = 0;
    while (band < nb - 1) {
      u -= BAND_ODDS[band < BAND_ODDS.length ? band : BAND_ODDS.length - 1];
      if (u < 0) break;
      band++;
    }
    const raw = bands[band] * this.sizeMult * Math.exp(SIZE_LOG_SD * this.rng.normal());
    const q = Math.round(raw / ins.lotSize) * ins.lotSize;
    return q < ins.minSize ? ins.minSize : q > ins.maxSize ? ins.maxSize : q;
  }

  private sourceTs(s: number, tm: number): number {
    const v = this.sVenueIdx[s];
    const lat = (this.latFloorMs[v] + this.latMeanMs[v] * this.rng.exp()) * this.latencyMult;
    // µs resolution, like a venue stamp; monotone per stream as a venue's own clock would be
    let ts = Math.round((tm - lat) * 1000) / 1000;
    if (ts < this.lastTs[s]) ts = this.lastTs[s];
    this.lastTs[s] = ts;
    return ts;
  }

  private emitBook(s: number, i: number, tm: number, sink: MdSink): void {
    let fault = FAULT_NONE;
    if (this.faultsOn) {
      const f = this.faults;
      const u = this.frng.float();
      if (u < f.crossedProb) fault = FAULT_CROSSED;
      else if (u < f.crossedProb + f.gapProb) fault = FAULT_GAP;
      else if (u < f.crossedProb + f.gapProb + f.duplicateProb) fault = FAULT_DUP;
      else if (u < f.crossedProb + f.gapProb + f.duplicateProb + f.outlierProb) fault = FAULT_OUTLIER;
    }

    // The clean book is always computed, faulted or not, so the main PRNG stays aligned.
    const rng = this.rng;
    const dtN = tm - this.noiseMs[s];
    if (dtN > 0) {
      const decay = Math.exp(-dtN / this.noiseTauMs[s]);
      this.noise[s] = this.noise[s] * decay + this.noiseSdBps[s] * Math.sqrt(1 - decay * decay) * rng.normal();
      this.noiseMs[s] = tm;
    }
    // impactLog is 0 unless a venue simulator filled orders here: x + 0 === x, so a market nobody
    // trades against publishes exactly what it did before the simulator existed.
    const mid = Math.exp(this.logMid[i] + this.shockLog[i] * this.shockFrac + this.impactLog[s]) * (1 + this.noise[s] * this.noiseMult * BP);
    const fullBps =
      this.baseSpreadBps[i] * this.spreadFactor[s] * REGIME_SPREAD_MULT[this.regime[i]] * this.spreadMult * (0.85 + 0.3 * rng.float());
    const half = mid * fullBps * 0.5 * BP;
    let bid = this.floorTick(i, mid - half);
    let ask = this.ceilTick(i, mid + half);
    const tick = this.tick[i];
    if (bid <= 0) bid = tick;
    if (!(ask > bid)) ask = this.ceilTick(i, bid + tick * 1.5);
    const bs = this.drawSize(i);
    const as = this.drawSize(i);
    const ts = this.sourceTs(s, tm);
    this.cBid[s] = bid;
    this.cAsk[s] = ask;
    this.cBs[s] = bs;
    this.cAs[s] = as;

    const m = this.book;
    m.i = this.insId[i];
    m.v = this.sVenue[s];
    if (fault === FAULT_DUP && this.hasBook[s] === 1) {
      this.counters.duplicates++;
      this.counters.books++;
      m.s = this.seq[s];
      m.ts = this.sentTs[s];
      m.b = this.sentBid[s];
      m.a = this.sentAsk[s];
      m.bs = this.sentBs[s];
      m.as = this.sentAs[s];
      sink.book(m, s);
      return;
    }
    if (fault === FAULT_CROSSED) {
      const t = bid;
      bid = ask;
      ask = t;
      this.counters.crossed++;
    } else if (fault === FAULT_OUTLIER) {
      const shift = (this.frng.float() < 0.5 ? -1 : 1) * this.faults.outlierBps * BP;
      bid = this.floorTick(i, bid * (1 + shift));
      ask = this.ceilTick(i, ask * (1 + shift));
      if (bid <= 0) bid = tick;
      if (!(ask > bid)) ask = this.ceilTick(i, bid + tick * 1.5);
      this.counters.outliers++;
    } else if (fault === FAULT_GAP) {
      this.seq[s] += Math.floor(this.frng.float() * this.faults.maxGap) + 1;
      this.counters.gaps++;
    }
    const seq = ++this.seq[s];
    this.hasBook[s] = 1;
    this.sentBid[s] = bid;
    this.sentAsk[s] = ask;
    this.sentBs[s] = bs;
    this.sentAs[s] = as;
    this.sentTs[s] = ts;
    this.counters.books++;
    m.s = seq;
    m.ts = ts;
    m.b = bid;
    m.a = ask;
    m.bs = bs;
    m.as = as;
    sink.book(m, s);
  }

  private emitTrade(s: number, i: number, tm: number, sink: MdSink): void {
    // Outside the episode, flow leans with the last move (momentum); in the sell-off, sellers dominate.
    let pBuy = this.pBuyStress;
    if (this.phase === PHASE_PRE || this.phase === PHASE_AFTER || !this.stressed) {
      const d = this.lastStep[i];
      pBuy = d > 0 ? 0.6 : d < 0 ? 0.4 : 0.5;
    } else if (this.shockLog[i] > 0) {
      pBuy = 1 - pBuy; // FX pairs that rally in a risk-off see buyers instead
    }
    const buy = this.rng.float() < pBuy;
    const shown = buy ? this.cAs[s] : this.cBs[s];
    const drawn = this.drawSize(i);
    const m = this.trade;
    m.i = this.insId[i];
    m.v = this.sVenue[s];
    m.s = ++this.tseq[s];
    m.ts = this.sourceTs(s, tm);
    m.p = buy ? this.cAsk[s] : this.cBid[s];
    m.q = drawn < shown ? drawn : shown;
    m.sd = buy ? 'b' : 's';
    this.counters.trades++;
    sink.trade(m, s);
  }
}
