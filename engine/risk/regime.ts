/**
 * Stress regime detector: normal | stressed | halted per instrument and per asset class, from the
 * market state the engine already keeps (docs/risk-controls.md § Stress regime).
 *
 * Signals per instrument, recomputed by `update(iid, nowMs)` after its market state changed:
 *
 *   volRatio     σ_fast / σ_slow        σ_fast: MarketState.volFastBps; σ_slow: the detector's own
 *                                       time-weighted EWMA of r²/Δt of the composite (volSlowHalfLifeMs),
 *                                       bias-corrected, so it needs no seed (MarketState's slow estimate
 *                                       starts from the configured annual vol and takes many minutes to
 *                                       forget it: read against it, every start-up would look stressed)
 *   jumpSigma    |ln(S/S_prev)|·10⁴ / (σ_slow·√max(Δt, jumpRefSec))  the last composite move in σ units
 *   spreadRatio  H / H_normal           H_normal: seeded (baseSpreadBps / 2), learnt while normal
 *   flow         |Σ signed size| / Σ size of recent trades            EWMA (flowHalfLifeMs), `recordTrade`
 *   venuesLost   listed venues − MarketState.liveVenues
 *   halt         liveVenues < haltBelowLiveVenues, or status stale / no data
 *
 * Hysteresis, so noise around a threshold cannot flap the state:
 *
 *            any signal ≥ enter                  halt condition
 *   NORMAL ───────────────────────► STRESSED ───────────────────► HALTED
 *     ▲   every signal ≤ exit for exitClearMs   ◄───────────────────┘
 *     └──── and minDwellMs in the state ─────┘  no halt condition for haltExitClearMs and minDwellMs
 *                                                (a halted instrument comes back as stressed, never straight to normal;
 *                                                 except at start-up: before its market was ever complete an
 *                                                 instrument is halted without dwell and goes straight to normal)
 *
 * Entering is immediate (safety first); leaving needs every signal below its *exit* threshold, which
 * is lower than the enter threshold, continuously for a while, and a minimum time in the state.
 *
 * Asset classes: a class is stressed when ≥ classStressedEnterFrac of its instruments are stressed
 * or halted (leaves at ≤ classStressedExitFrac, after minDwellMs), halted when ≥ classHaltedEnterFrac
 * are halted. An instrument's effective regime is max(own, min(class, stressed)): a sell-off across
 * the class degrades every name in it, but only an instrument's own venues can halt it.
 *
 * All state is in typed arrays sized at construction; update, recordTrade and sweep allocate nothing.
 * Time only matters through the `nowMs` passed in (the clock is injected by the caller).
 */
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import { InstrumentStatus } from '../market/state.js';

export const Regime = { NORMAL: 0, STRESSED: 1, HALTED: 2 } as const;
export type Regime = (typeof Regime)[keyof typeof Regime];
export const REGIME_NAME: readonly ['normal', 'stressed', 'halted'] = ['normal', 'stressed', 'halted'];
export type RegimeName = (typeof REGIME_NAME)[number];

export const RegimeScope = { INSTRUMENT: 0, ASSET_CLASS: 1 } as const;
export type RegimeScope = (typeof RegimeScope)[keyof typeof RegimeScope];

/** Bits of `RegimeDetector.flags`: which signals are at or above their enter threshold (or halt). */
export const RegimeSignal = {
  VOL: 1,
  JUMP: 2,
  SPREAD: 4,
  FLOW: 8,
  VENUES: 16,
  HALT_VENUES: 32,
  HALT_STALE: 64,
} as const;

// ---------------------------------------------------------------------------------------------
// Config

const pos = () => z.number().finite().positive();
const band = (enter: number, exit: number) =>
  z
    .strictObject({
      /** Stressed when the signal reaches this … */
      enter: pos().default(enter),
      /** … and normal again only once it is at or below this (must be lower: the hysteresis band). */
      exit: z.number().finite().nonnegative().default(exit),
    })
    .prefault({});

export const regimeDetectorSchema = z
  .strictObject({
    volRatio: band(3, 2),
    jumpSigma: band(8, 4),
    spreadRatio: band(2.5, 1.8),
    /** |signed / total| of recent trades; a fraction in (0, 1]. */
    flowImbalance: band(0.7, 0.4),
    /** Half-life of the detector's σ_slow (see volRatio). */
    volSlowHalfLifeMs: z.number().int().min(1_000).max(86_400_000).default(120_000),
    /** σ_slow needs this many composite moves before the vol and jump signals count. */
    volMinReturns: z.number().int().min(1).max(100_000).default(20),
    /** A move faster than this is measured against the σ of this interval (one tick is not a jump). */
    jumpRefSec: pos().max(3_600).default(1),
    /** A jump counts toward leaving only for this long after it; then it is history. */
    jumpMemoryMs: z.number().int().min(0).max(3_600_000).default(5_000),
    /**
     * H_normal is learnt: the running mean of the seed and the first spreadWarmupUpdates spreads
     * (the spread signal is off meanwhile: the seed from config cannot know the tick or the venues'
     * own widths), then, while normal and from spreads below spreadRatio.enter, an EWMA with this
     * half-life.
     */
    spreadWarmupUpdates: z.number().int().min(0).max(100_000).default(50),
    spreadBaselineHalfLifeMs: z.number().int().min(1_000).max(86_400_000).default(600_000),
    flowHalfLifeMs: z.number().int().min(100).max(3_600_000).default(30_000),
    /** Fewer recent trades than this (EWMA count) and the flow signal is 0: two prints are not a trend. */
    flowMinTrades: pos().max(10_000).default(20),
    /** Stressed when this many of the instrument's listed venues are not live for haltConfirmMs (0 = off). */
    stressVenuesLost: z.number().int().min(0).max(16).default(2),
    /** Halted when fewer venues than this are live (a stale or empty composite halts too) … */
    haltBelowLiveVenues: z.number().int().min(1).max(16).default(2),
    /**
     * … continuously for this long (and venues lost count toward stress only after this long too).
     * The pricer already pulls a stale or thin quote on the tick it happens (MarketState status); the
     * regime is the slower, sticky layer, so a venue blinking past market.staleAfterMs, or a feed
     * pausing for a moment, neither halts nor stresses an instrument for a whole dwell.
     */
    haltConfirmMs: z.number().int().min(0).max(600_000).default(1_000),
    /** Least time in stressed or halted before leaving it. */
    minDwellMs: z.number().int().min(0).max(3_600_000).default(10_000),
    /** Every stress signal at or below its exit threshold for this long before stressed → normal. */
    exitClearMs: z.number().int().min(0).max(3_600_000).default(3_000),
    /** No halt condition for this long before halted → stressed. */
    haltExitClearMs: z.number().int().min(0).max(3_600_000).default(2_000),
    classStressedEnterFrac: z.number().finite().gt(0).max(1).default(0.3),
    classStressedExitFrac: z.number().finite().min(0).max(1).default(0.1),
    classHaltedEnterFrac: z.number().finite().gt(0).max(1).default(0.5),
    classHaltedExitFrac: z.number().finite().min(0).max(1).default(0.25),
  })
  .superRefine((c, ctx) => {
    for (const k of ['volRatio', 'jumpSigma', 'spreadRatio', 'flowImbalance'] as const) {
      if (!(c[k].exit < c[k].enter)) ctx.addIssue({ code: 'custom', path: [k, 'exit'], message: `must be below ${k}.enter (${c[k].enter}): without a band the regime flaps` });
    }
    if (c.volRatio.enter <= 1) ctx.addIssue({ code: 'custom', path: ['volRatio', 'enter'], message: 'must exceed 1: σ_fast = σ_slow is a calm market' });
    if (c.spreadRatio.enter <= 1) ctx.addIssue({ code: 'custom', path: ['spreadRatio', 'enter'], message: 'must exceed 1: the normal spread is not stress' });
    if (c.flowImbalance.enter > 1) ctx.addIssue({ code: 'custom', path: ['flowImbalance', 'enter'], message: 'must be at most 1: |imbalance| never exceeds 1' });
    if (!(c.classStressedExitFrac < c.classStressedEnterFrac))
      ctx.addIssue({ code: 'custom', path: ['classStressedExitFrac'], message: 'must be below classStressedEnterFrac' });
    if (!(c.classHaltedExitFrac < c.classHaltedEnterFrac)) ctx.addIssue({ code: 'custom', path: ['classHaltedExitFrac'], message: 'must be below classHaltedEnterFrac' });
  });

/** What one tier shows in one regime. */
const tierActionSchema = (d: TierRegimeAction) =>
  z
    .strictObject({
      /** firm: streamed as usual (with the multipliers); indicative: shown, not dealable; pulled: not shown. */
      mode: z.enum(['firm', 'indicative', 'pulled']).default(d.mode),
      /** Multiplies the sizes shown (bands above the cap are dropped by the pricer); ≤ 1. */
      sizeMult: z.number().finite().gt(0).max(1).default(d.sizeMult),
      /** Multiplies the half-spread; ≥ 1. */
      spreadMult: z.number().finite().min(1).max(100).default(d.spreadMult),
      /** Every RFQ goes to a trader's queue, with the regime stated. */
      routeRfqToTrader: z.boolean().default(d.routeRfqToTrader),
    })
    .prefault({});

export interface TierRegimeAction {
  readonly mode: 'firm' | 'indicative' | 'pulled';
  readonly sizeMult: number;
  readonly spreadMult: number;
  readonly routeRfqToTrader: boolean;
}

/** What a tier does in the normal regime: nothing different. */
export const NORMAL_TIER_ACTION: TierRegimeAction = Object.freeze({ mode: 'firm', sizeMult: 1, spreadMult: 1, routeRfqToTrader: false });

const tierPolicy = (stressed: TierRegimeAction, halted: TierRegimeAction) =>
  z.strictObject({ stressed: tierActionSchema(stressed), halted: tierActionSchema(halted) }).prefault({});

/**
 * Per-tier policy. Defaults: Tier 3 (automated, small) pulled when stressed or halted; Tier 2 keeps
 * streaming at half size and 1.5× spread, pulled when halted; Tier 1 keeps its prices but every RFQ
 * goes to a trader, indicative when halted.
 */
export const regimeTierPolicySchema = z
  .strictObject({
    '1': tierPolicy(
      { mode: 'firm', sizeMult: 1, spreadMult: 1, routeRfqToTrader: true },
      { mode: 'indicative', sizeMult: 1, spreadMult: 1, routeRfqToTrader: true },
    ),
    '2': tierPolicy(
      { mode: 'firm', sizeMult: 0.5, spreadMult: 1.5, routeRfqToTrader: false },
      { mode: 'pulled', sizeMult: 0.5, spreadMult: 1.5, routeRfqToTrader: false },
    ),
    '3': tierPolicy(
      { mode: 'pulled', sizeMult: 1, spreadMult: 1, routeRfqToTrader: false },
      { mode: 'pulled', sizeMult: 1, spreadMult: 1, routeRfqToTrader: false },
    ),
  })
  .superRefine((c, ctx) => {
    for (const t of ['1', '2', '3'] as const) {
      // a halted instrument has no market to stand behind a firm price (R3: fail closed)
      if (c[t].halted.mode === 'firm') ctx.addIssue({ code: 'custom', path: [t, 'halted', 'mode'], message: 'cannot be firm: a halted instrument has no reliable market' });
    }
  });

export const regimeConfigSchema = z.strictObject({
  detector: regimeDetectorSchema.prefault({}),
  tiers: regimeTierPolicySchema.prefault({}),
  /**
   * The engine re-evaluates every instrument whose market state moved, and the dwell / clear timers,
   * this often (engine/risk/regime-service.ts). Off the tick path on purpose: a regime is a slower,
   * sticky layer, and one pass over the typed arrays per interval costs less than a call per tick.
   * 0 = no timer (tests and replays drive `RegimeService.evaluate` themselves).
   */
  evalEveryMs: z.number().int().min(0).max(10_000).default(50),
  /** Regime changes are published on `<subjectPrefix>.instrument.<id>` and `<subjectPrefix>.class.<assetClass>`. */
  subjectPrefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'NATS subject tokens without wildcards').default('regime'),
});

type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;
export type RegimeConfigInput = z.input<typeof regimeConfigSchema>;
export type RegimeConfig = DeepReadonly<z.output<typeof regimeConfigSchema>>;
export type RegimeDetectorConfig = RegimeConfig['detector'];
export type RegimeTierPolicy = RegimeConfig['tiers'];

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/** Validates `input`; throws ConfigError (QE_CONFIG_INVALID) naming each bad field as `regime.path: message`. */
export function parseRegimeConfig(input: unknown = {}): RegimeConfig {
  const r = regimeConfigSchema.safeParse(input);
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => `regime${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`));
  return deepFreeze(r.data) as RegimeConfig;
}

export const DEFAULT_REGIME_CONFIG: RegimeConfig = parseRegimeConfig({});

/** What `tier` does for an instrument in `regime`. */
export function tierRegimeAction(policy: RegimeTierPolicy, tier: 1 | 2 | 3, regime: Regime): TierRegimeAction {
  if (regime === Regime.NORMAL) return NORMAL_TIER_ACTION;
  const p = policy[String(tier) as '1' | '2' | '3'];
  return regime === Regime.HALTED ? p.halted : p.stressed;
}

// ---------------------------------------------------------------------------------------------
// Detector

/** The MarketState arrays the detector reads (MarketState satisfies this). */
export interface RegimeMarketView {
  readonly mid: Float64Array;
  readonly volFastBps: Float64Array;
  readonly volSlowBps: Float64Array;
  readonly halfSpreadBps: Float64Array;
  readonly liveVenues: Uint8Array;
  readonly status: Uint8Array;
}

/** Static description of each instrument, in MarketState's instrument order. */
export interface RegimeInstrument {
  readonly assetClass: string;
  /** Listed venues (config `venues.length`). */
  readonly venueCount: number;
  /** Seed of H_normal, bps: e.g. baseSpreadBps / 2. */
  readonly normalHalfSpreadBps: number;
}

export type RegimeChangeListener = (scope: RegimeScope, id: number, from: Regime, to: Regime) => void;

const LN2 = Math.LN2;

export class RegimeDetector {
  readonly size: number;
  /** Asset class names; a class id indexes `classRegime`. */
  readonly classNames: readonly string[];
  readonly classOf: Uint16Array;

  /** The instrument's own regime (its signals only). */
  readonly regime: Uint8Array;
  /** max(own, min(class, stressed)): what tiers apply. */
  readonly effective: Uint8Array;
  readonly classRegime: Uint8Array;
  /** RegimeSignal bits set at the last evaluation. */
  readonly flags: Uint8Array;

  // last signal values, for reasons, metrics and tests
  readonly volRatio: Float64Array;
  readonly jumpSigma: Float64Array;
  readonly spreadRatio: Float64Array;
  readonly flowImbalance: Float64Array;
  readonly normalHalfSpreadBps: Float64Array;
  /** The detector's σ_slow, bps per √s (NaN until volMinReturns moves were seen). */
  readonly volSlowBps: Float64Array;

  private readonly cfg: RegimeDetectorConfig;
  private readonly market: RegimeMarketView;
  private readonly clock: Clock | undefined;
  private readonly venueCount: Uint8Array;
  private readonly enteredAtMs: Float64Array;
  private readonly clearSinceMs: Float64Array;
  private readonly lastMid: Float64Array;
  private readonly lastMidMs: Float64Array;
  private readonly jumpAtMs: Float64Array;
  private readonly spreadAtMs: Float64Array;
  private readonly spreadObs: Float64Array;
  private readonly slowAcc: Float64Array;
  private readonly slowWeight: Float64Array;
  private readonly returns: Float64Array;
  /** 1 once the instrument's halt condition has been clear at least once (its market was complete). */
  private readonly warm: Uint8Array;
  /** Since when the halt condition has held (NaN: it does not). */
  private readonly haltSinceMs: Float64Array;
  /** Since when ≥ stressVenuesLost venues have been lost (NaN: they have not). */
  private readonly lostSinceMs: Float64Array;
  /** The regime this instrument is counted as in its class (normal until warm). */
  private readonly countedAs: Uint8Array;
  private readonly flowSigned: Float64Array;
  private readonly flowTotal: Float64Array;
  private readonly flowCount: Float64Array;
  private readonly flowAtMs: Float64Array;

  private readonly classSize: Int32Array;
  private readonly classStressed: Int32Array;
  private readonly classHalted: Int32Array;
  private readonly classEnteredAtMs: Float64Array;
  private readonly classClearSinceMs: Float64Array;

  constructor(instruments: readonly RegimeInstrument[], market: RegimeMarketView, config: RegimeDetectorConfig = DEFAULT_REGIME_CONFIG.detector, clock?: Clock) {
    const n = instruments.length;
    if (market.mid.length < n) throw new RangeError(`market view has ${market.mid.length} instruments, ${n} described`);
    this.size = n;
    this.cfg = config;
    this.market = market;
    this.clock = clock;
    const names: string[] = [];
    const classIds = new Map<string, number>();
    this.classOf = new Uint16Array(n);
    this.venueCount = new Uint8Array(n);
    this.normalHalfSpreadBps = new Float64Array(n);
    instruments.forEach((ins, i) => {
      let c = classIds.get(ins.assetClass);
      if (c === undefined) {
        c = names.length;
        classIds.set(ins.assetClass, c);
        names.push(ins.assetClass);
      }
      this.classOf[i] = c;
      this.venueCount[i] = ins.venueCount;
      this.normalHalfSpreadBps[i] = ins.normalHalfSpreadBps > 0 ? ins.normalHalfSpreadBps : Number.NaN;
    });
    this.classNames = names;
    const nc = names.length;

    this.regime = new Uint8Array(n);
    this.effective = new Uint8Array(n);
    this.flags = new Uint8Array(n);
    this.volRatio = new Float64Array(n).fill(1);
    this.jumpSigma = new Float64Array(n);
    this.spreadRatio = new Float64Array(n).fill(1);
    this.flowImbalance = new Float64Array(n);
    this.enteredAtMs = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    this.clearSinceMs = new Float64Array(n).fill(Number.NaN);
    this.lastMid = new Float64Array(n).fill(Number.NaN);
    this.lastMidMs = new Float64Array(n);
    this.jumpAtMs = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    this.spreadAtMs = new Float64Array(n).fill(Number.NaN);
    this.spreadObs = new Float64Array(n);
    this.volSlowBps = new Float64Array(n).fill(Number.NaN);
    this.slowAcc = new Float64Array(n);
    this.slowWeight = new Float64Array(n);
    this.returns = new Float64Array(n);
    this.warm = new Uint8Array(n);
    this.haltSinceMs = new Float64Array(n).fill(Number.NaN);
    this.lostSinceMs = new Float64Array(n).fill(Number.NaN);
    this.countedAs = new Uint8Array(n);
    this.flowSigned = new Float64Array(n);
    this.flowTotal = new Float64Array(n);
    this.flowCount = new Float64Array(n);
    this.flowAtMs = new Float64Array(n);

    this.classRegime = new Uint8Array(nc);
    this.classSize = new Int32Array(nc);
    this.classStressed = new Int32Array(nc);
    this.classHalted = new Int32Array(nc);
    this.classEnteredAtMs = new Float64Array(nc).fill(Number.NEGATIVE_INFINITY);
    this.classClearSinceMs = new Float64Array(nc).fill(Number.NaN);
    for (let i = 0; i < n; i++) this.classSize[this.classOf[i]]++;
  }

  /**
   * A trade print or a client trade: `signedSize` > 0 buyer-initiated. Feeds the one-sided-flow
   * signal; call `update` afterwards for it to count.
   */
  recordTrade(iid: number, signedSize: number, nowMs: number = this.now()): void {
    if (!(iid >= 0 && iid < this.size) || !Number.isFinite(signedSize) || signedSize === 0) return;
    this.decayFlow(iid, nowMs);
    this.flowSigned[iid] += signedSize;
    this.flowTotal[iid] += Math.abs(signedSize);
    this.flowCount[iid] += 1;
  }

  /**
   * Re-reads instrument iid's market state and runs its state machine. Call it after the market
   * state of iid changed (a tick, or MarketState.sweep reporting staleness). Returns whether iid's
   * effective regime changed.
   */
  update(iid: number, nowMs: number = this.now()): boolean {
    if (!(iid >= 0 && iid < this.size)) return false;
    this.measure(iid, nowMs);
    this.step(iid, nowMs);
    return this.refreshEffective(iid);
  }

  /**
   * Time-driven transitions: instruments waiting out their dwell, clear or halt-confirm time, and
   * asset classes. Calls onChange for each class whose regime changed, then for each instrument whose
   * effective regime changed (changes `update` already returned are not repeated); returns how many.
   * A normal instrument costs a few compares.
   */
  sweep(nowMs: number = this.now(), onChange?: RegimeChangeListener): number {
    let changes = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.regime[i] === Regime.NORMAL && this.haltSinceMs[i] !== this.haltSinceMs[i] && this.lostSinceMs[i] !== this.lostSinceMs[i]) continue;
      // time alone can clear a jump or decay the flow: re-measure what does not need a tick
      this.measureTimeOnly(i, nowMs);
      this.step(i, nowMs);
    }
    for (let c = 0; c < this.classRegime.length; c++) {
      const from = this.classRegime[c];
      this.stepClass(c, nowMs);
      const to = this.classRegime[c];
      if (to !== from) {
        changes++;
        if (onChange) onChange(RegimeScope.ASSET_CLASS, c, from as Regime, to as Regime);
      }
    }
    for (let i = 0; i < this.size; i++) {
      const from = this.effective[i];
      if (this.refreshEffective(i)) {
        changes++;
        if (onChange) onChange(RegimeScope.INSTRUMENT, i, from as Regime, this.effective[i] as Regime);
      }
    }
    return changes;
  }

  /** Human-readable state of iid and why, for logs, decisions and clients. Cold path: allocates. */
  reason(iid: number): string {
    if (!(iid >= 0 && iid < this.size)) return `unknown instrument ${iid}`;
    const c = this.cfg;
    const f = this.flags[iid];
    const parts: string[] = [];
    const r = (x: number) => String(Number(x.toPrecision(3)));
    if (f & RegimeSignal.HALT_STALE) parts.push('no fresh venue book');
    if (f & RegimeSignal.HALT_VENUES) parts.push(`${this.market.liveVenues[iid]} live venue(s) < ${c.haltBelowLiveVenues}`);
    if (f & RegimeSignal.VOL) parts.push(`σ fast/slow ${r(this.volRatio[iid])} ≥ ${c.volRatio.enter}`);
    if (f & RegimeSignal.JUMP) parts.push(`jump ${r(this.jumpSigma[iid])}σ ≥ ${c.jumpSigma.enter}`);
    if (f & RegimeSignal.SPREAD) parts.push(`spread ${r(this.spreadRatio[iid])}× normal ≥ ${c.spreadRatio.enter}`);
    if (f & RegimeSignal.FLOW) parts.push(`one-sided flow ${r(this.flowImbalance[iid])} ≥ ${c.flowImbalance.enter}`);
    if (f & RegimeSignal.VENUES) parts.push(`${this.venueCount[iid] - this.market.liveVenues[iid]} venue(s) lost`);
    const own = REGIME_NAME[this.regime[iid]];
    const cls = this.classOf[iid];
    const eff = REGIME_NAME[this.effective[iid]];
    let s = `${eff}`;
    if (this.effective[iid] !== this.regime[iid]) s += ` (own ${own}; ${this.classNames[cls]} ${REGIME_NAME[this.classRegime[cls]]})`;
    if (parts.length) s += `: ${parts.join(', ')}`;
    else if (this.regime[iid] === Regime.STRESSED) {
      const above: string[] = [];
      if (this.volRatio[iid] > c.volRatio.exit) above.push(`σ fast/slow ${r(this.volRatio[iid])} > ${c.volRatio.exit}`);
      if (this.jumpSigma[iid] > c.jumpSigma.exit) above.push(`jump ${r(this.jumpSigma[iid])}σ > ${c.jumpSigma.exit}`);
      if (this.spreadRatio[iid] > c.spreadRatio.exit) above.push(`spread ${r(this.spreadRatio[iid])}× > ${c.spreadRatio.exit}`);
      if (this.flowImbalance[iid] > c.flowImbalance.exit) above.push(`flow ${r(this.flowImbalance[iid])} > ${c.flowImbalance.exit}`);
      s += above.length ? `: not yet below the exit thresholds (${above.join(', ')})` : ': signals below their exit thresholds, waiting out the dwell';
    } else if (this.regime[iid] === Regime.HALTED) s += ': venues back, waiting out the dwell';
    return s;
  }

  private now(): number {
    if (!this.clock) throw new RangeError('RegimeDetector: pass nowMs or construct with a clock');
    return this.clock.nowMs();
  }

  private decayFlow(iid: number, nowMs: number): void {
    const dt = nowMs - this.flowAtMs[iid];
    if (dt > 0) {
      const k = Math.exp((-LN2 * dt) / this.cfg.flowHalfLifeMs);
      this.flowSigned[iid] *= k;
      this.flowTotal[iid] *= k;
      this.flowCount[iid] *= k;
      this.flowAtMs[iid] = nowMs;
    } else if (this.flowAtMs[iid] === 0) {
      this.flowAtMs[iid] = nowMs;
    }
  }

  private measure(iid: number, nowMs: number): void {
    const m = this.market;
    const c = this.cfg;
    const mid = m.mid[iid];
    const prev = this.lastMid[iid];
    if (mid > 0 && mid < Infinity && mid !== prev) {
      if (prev > 0) {
        const dtSec = (nowMs - this.lastMidMs[iid]) / 1000;
        const r = Math.log(mid / prev);
        // The jump is measured against σ_slow as it was before this move: a jump must not dilute itself.
        // Before σ_slow has volMinReturns moves there is no scale to call a move a jump.
        const sigma = this.returns[iid] >= c.volMinReturns ? this.volSlowBps[iid] : 0;
        const ref = dtSec > c.jumpRefSec ? dtSec : c.jumpRefSec;
        this.jumpSigma[iid] = sigma > 0 ? (Math.abs(r) * 1e4) / (sigma * Math.sqrt(ref)) : 0;
        this.jumpAtMs[iid] = nowMs;
        // Time-weighted EWMA of r²/Δt started at zero and divided by its total weight (bias
        // correction): an unbiased estimate from the first move, no seed. Δt is floored at 1 ms as
        // MarketState does, so moves in the same millisecond weigh by their r², not by 1/Δt.
        const dt = dtSec > 0.001 ? dtSec : 0.001;
        const a = 1 - Math.exp((-LN2 * dt * 1000) / c.volSlowHalfLifeMs);
        this.slowAcc[iid] = (1 - a) * this.slowAcc[iid] + a * ((r * r) / dt);
        this.slowWeight[iid] = (1 - a) * this.slowWeight[iid] + a;
        this.returns[iid]++;
        if (this.returns[iid] >= c.volMinReturns) this.volSlowBps[iid] = Math.sqrt(this.slowAcc[iid] / this.slowWeight[iid]) * 1e4;
      }
      this.lastMid[iid] = mid;
      this.lastMidMs[iid] = nowMs;
    }
    const fast = m.volFastBps[iid];
    const slow = this.volSlowBps[iid];
    this.volRatio[iid] = slow > 0 && fast >= 0 && fast < Infinity ? fast / slow : 1;

    const h = m.halfSpreadBps[iid];
    let base = this.normalHalfSpreadBps[iid];
    if (h > 0 && h < Infinity) {
      if (!(base > 0)) {
        // no seed: the first spread seen is the first estimate
        base = this.normalHalfSpreadBps[iid] = h;
        this.spreadObs[iid] = 0;
      }
      const ratio = h / base;
      const last = this.spreadAtMs[iid];
      const k = this.spreadObs[iid];
      if (k < c.spreadWarmupUpdates) {
        // warm-up: every spread teaches (the seed counts as one observation); no signal yet
        this.normalHalfSpreadBps[iid] = base + (h - base) / (k + 2);
        this.spreadObs[iid] = k + 1;
        this.spreadRatio[iid] = 1;
      } else {
        this.spreadRatio[iid] = ratio;
        // Learnt only while normal and from spreads that are not themselves a stress signal, so a
        // long stress never becomes the new normal.
        if (this.regime[iid] === Regime.NORMAL && ratio < c.spreadRatio.enter && last === last && nowMs > last) {
          const a = 1 - Math.exp((-LN2 * (nowMs - last)) / c.spreadBaselineHalfLifeMs);
          this.normalHalfSpreadBps[iid] = base + a * (h - base);
        }
      }
      this.spreadAtMs[iid] = nowMs;
    }
    this.measureTimeOnly(iid, nowMs);
  }

  /** The parts of the signals that move with time alone: flow decay and jump memory. */
  private measureTimeOnly(iid: number, nowMs: number): void {
    this.decayFlow(iid, nowMs);
    this.flowImbalance[iid] = this.flowCount[iid] >= this.cfg.flowMinTrades && this.flowTotal[iid] > 0 ? Math.abs(this.flowSigned[iid]) / this.flowTotal[iid] : 0;
    if (nowMs - this.jumpAtMs[iid] > this.cfg.jumpMemoryMs) this.jumpSigma[iid] = 0;
  }

  private step(iid: number, nowMs: number): void {
    this.transition(iid, nowMs);
    // Class counts follow the regime, but an instrument halted at start-up (never complete) is not
    // a stressed member of its class.
    const counted = this.warm[iid] === 1 ? this.regime[iid] : Regime.NORMAL;
    const was = this.countedAs[iid];
    if (counted !== was) {
      const cls = this.classOf[iid];
      if (was !== Regime.NORMAL) this.classStressed[cls]--;
      if (was === Regime.HALTED) this.classHalted[cls]--;
      if (counted !== Regime.NORMAL) this.classStressed[cls]++;
      if (counted === Regime.HALTED) this.classHalted[cls]++;
      this.countedAs[iid] = counted;
    }
  }

  private transition(iid: number, nowMs: number): void {
    const c = this.cfg;
    const m = this.market;
    const live = m.liveVenues[iid];
    const st = m.status[iid];
    let f = 0;
    if (st === InstrumentStatus.STALE || st === InstrumentStatus.NO_DATA) f |= RegimeSignal.HALT_STALE;
    if (live < c.haltBelowLiveVenues) f |= RegimeSignal.HALT_VENUES;
    const vr = this.volRatio[iid];
    const js = this.jumpSigma[iid];
    const sr = this.spreadRatio[iid];
    const fi = this.flowImbalance[iid];
    const lost = this.venueCount[iid] - live;
    if (vr >= c.volRatio.enter) f |= RegimeSignal.VOL;
    if (js >= c.jumpSigma.enter) f |= RegimeSignal.JUMP;
    if (sr >= c.spreadRatio.enter) f |= RegimeSignal.SPREAD;
    if (fi >= c.flowImbalance.enter) f |= RegimeSignal.FLOW;
    const venuesLost = c.stressVenuesLost > 0 && lost >= c.stressVenuesLost;
    if (!venuesLost) this.lostSinceMs[iid] = Number.NaN;
    else if (this.lostSinceMs[iid] !== this.lostSinceMs[iid]) this.lostSinceMs[iid] = nowMs;
    // confirmed like a halt: a venue blinking is the market state's business, not a stress episode
    if (venuesLost && nowMs - this.lostSinceMs[iid] >= c.haltConfirmMs) f |= RegimeSignal.VENUES;
    this.flags[iid] = f;
    const halt = (f & (RegimeSignal.HALT_STALE | RegimeSignal.HALT_VENUES)) !== 0;
    const stressEnter = (f & (RegimeSignal.VOL | RegimeSignal.JUMP | RegimeSignal.SPREAD | RegimeSignal.FLOW | RegimeSignal.VENUES)) !== 0;
    const stressClear =
      vr <= c.volRatio.exit &&
      js <= c.jumpSigma.exit &&
      sr <= c.spreadRatio.exit &&
      fi <= c.flowImbalance.exit &&
      !venuesLost;

    const r = this.regime[iid];
    if (halt) {
      if (this.haltSinceMs[iid] !== this.haltSinceMs[iid]) this.haltSinceMs[iid] = nowMs;
      if (r === Regime.HALTED) {
        this.clearSinceMs[iid] = Number.NaN;
        return;
      }
      // not yet warm: nothing to confirm, the instrument has no market yet
      if (this.warm[iid] === 0 || nowMs - this.haltSinceMs[iid] >= c.haltConfirmMs) {
        this.enter(iid, Regime.HALTED, nowMs);
        return;
      }
      // waiting for confirmation: stress may still begin, but not end
      this.stressStep(iid, r, stressEnter, false, nowMs);
      return;
    }
    this.haltSinceMs[iid] = Number.NaN;
    if (this.warm[iid] === 0) {
      // Start-up: the market was never complete, so being halted until now was not a stress episode.
      this.warm[iid] = 1;
      if (r === Regime.HALTED) this.enter(iid, stressEnter ? Regime.STRESSED : Regime.NORMAL, nowMs);
      else if (r === Regime.NORMAL && stressEnter) this.enter(iid, Regime.STRESSED, nowMs);
      return;
    }
    if (r === Regime.HALTED) {
      if (this.clearSinceMs[iid] !== this.clearSinceMs[iid]) this.clearSinceMs[iid] = nowMs;
      if (nowMs - this.enteredAtMs[iid] >= c.minDwellMs && nowMs - this.clearSinceMs[iid] >= c.haltExitClearMs) this.enter(iid, Regime.STRESSED, nowMs);
      return;
    }
    this.stressStep(iid, r, stressEnter, stressClear, nowMs);
  }

  /** normal ⇄ stressed (also while a halt condition waits for confirmation). */
  private stressStep(iid: number, r: number, stressEnter: boolean, stressClear: boolean, nowMs: number): void {
    const c = this.cfg;
    if (r === Regime.NORMAL) {
      if (stressEnter) this.enter(iid, Regime.STRESSED, nowMs);
      return;
    }
    const dwellOk = nowMs - this.enteredAtMs[iid] >= c.minDwellMs;
    if (!stressClear) {
      this.clearSinceMs[iid] = Number.NaN;
      return;
    }
    if (this.clearSinceMs[iid] !== this.clearSinceMs[iid]) this.clearSinceMs[iid] = nowMs;
    if (dwellOk && nowMs - this.clearSinceMs[iid] >= c.exitClearMs) this.enter(iid, Regime.NORMAL, nowMs);
  }

  private enter(iid: number, to: Regime, nowMs: number): void {
    this.regime[iid] = to;
    this.enteredAtMs[iid] = nowMs;
    this.clearSinceMs[iid] = Number.NaN;
  }

  private stepClass(c: number, nowMs: number): void {
    const cfg = this.cfg;
    const n = this.classSize[c];
    if (n === 0) return;
    const stressedFrac = this.classStressed[c] / n;
    const haltedFrac = this.classHalted[c] / n;
    const r = this.classRegime[c];
    if (haltedFrac >= cfg.classHaltedEnterFrac) {
      if (r !== Regime.HALTED) this.setClass(c, Regime.HALTED, nowMs);
      else this.classClearSinceMs[c] = Number.NaN;
      return;
    }
    if (r === Regime.NORMAL) {
      if (stressedFrac >= cfg.classStressedEnterFrac) this.setClass(c, Regime.STRESSED, nowMs);
      return;
    }
    const clear = r === Regime.HALTED ? haltedFrac <= cfg.classHaltedExitFrac : stressedFrac <= cfg.classStressedExitFrac;
    if (!clear) {
      this.classClearSinceMs[c] = Number.NaN;
      return;
    }
    if (this.classClearSinceMs[c] !== this.classClearSinceMs[c]) this.classClearSinceMs[c] = nowMs;
    const wait = r === Regime.HALTED ? cfg.haltExitClearMs : cfg.exitClearMs;
    if (nowMs - this.classEnteredAtMs[c] >= cfg.minDwellMs && nowMs - this.classClearSinceMs[c] >= wait) {
      this.setClass(c, r === Regime.HALTED ? Regime.STRESSED : Regime.NORMAL, nowMs);
    }
  }

  private setClass(c: number, to: Regime, nowMs: number): void {
    this.classRegime[c] = to;
    this.classEnteredAtMs[c] = nowMs;
    this.classClearSinceMs[c] = Number.NaN;
  }

  private refreshEffective(iid: number): boolean {
    const own = this.regime[iid];
    const cls = this.classRegime[this.classOf[iid]];
    const fromClass = cls > Regime.STRESSED ? Regime.STRESSED : cls;
    const eff = own > fromClass ? own : fromClass;
    if (eff === this.effective[iid]) return false;
    this.effective[iid] = eff;
    return true;
  }
}

/** Describes the engine config's instruments for the detector (cold path). */
export function regimeInstrumentsFromConfig(instruments: readonly { readonly assetClass: string; readonly venues: readonly string[]; readonly baseSpreadBps: number }[]): RegimeInstrument[] {
  return instruments.map((ins) => ({ assetClass: ins.assetClass, venueCount: ins.venues.length, normalHalfSpreadBps: ins.baseSpreadBps / 2 }));
}
