/**
 * The stress regime as a running engine service: the detector (regime.ts) driven off the tick path,
 * the per-tier policy applied to the quote overlay, and every change handed to a listener (attach-regime.ts
 * publishes it on NATS and over WebSocket). Implements RegimeView for the RFQ service and the hedger.
 *
 *   timer (regime.evalEveryMs) ──► evaluate(now)
 *       for each instrument whose MarketState moved (tick sequence, status or live venues) → detector.update
 *       detector.sweep (dwell / clear timers, asset classes)
 *       each class or instrument whose regime differs from what was last applied:
 *           overlay.set('regime', tier action, iid, tier) / overlay.clear('regime', iid) → the hot path reprices
 *           onChange({scope, id, from, to, reason, signals})
 *
 * Why a timer and not the tick: the detector's signals are EWMAs and dwell times of seconds, so
 * sampling every 50 ms loses nothing (σ_slow is r²/Δt, time-consistent), while a call per tick would
 * put a detector pass on the hot path for every book update. One pass over n instruments is a few
 * typed-array compares each when nothing moved.
 *
 * Disconnected from market data: nothing is evaluated (staleness is ours, not the market's).
 *
 * Start-up: an instrument whose market has never been firm is halted by the detector (no market
 * yet). That is not a stress episode and the market's own `no_data` state already pulls it, so the
 * service applies and announces nothing for it until its market is firm once: from then on it starts
 * from normal and every change is real.
 */
import client, { type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { Tier } from '../config.js';
import type { Logger } from '../hotpath.js';
import { HotCounter } from '../metrics.js';
import { InstrumentStatus } from '../market/state.js';
import type { QuoteOverlay, RegimeView } from './ports.js';
import {
  Regime,
  REGIME_NAME,
  RegimeDetector,
  regimeInstrumentsFromConfig,
  tierRegimeAction,
  type RegimeConfig,
  type RegimeMarketView,
  type RegimeName,
  type TierRegimeAction,
} from './regime.js';

/** What the service reads of MarketState (MarketState satisfies it). */
export interface RegimeServiceMarket extends RegimeMarketView {
  readonly lastTickSeq: Float64Array;
}

export interface RegimeServiceInstrument {
  readonly id: string;
  readonly assetClass: string;
  readonly venues: readonly string[];
  readonly baseSpreadBps: number;
}

/** The signal values behind a regime, for the trader and the NATS record. */
export interface RegimeSignals {
  readonly volRatio: number;
  readonly jumpSigma: number;
  readonly spreadRatio: number;
  readonly flowImbalance: number;
  readonly liveVenues: number;
  readonly venues: number;
}

export interface RegimeChange {
  readonly scope: 'instrument' | 'asset_class';
  /** instrument id or asset class name */
  readonly id: string;
  /** instrument index (instrument scope only) */
  readonly iid?: number;
  readonly from: RegimeName;
  readonly to: RegimeName;
  /** words: which signals tripped (RegimeService.reason), or the class's share of stressed names */
  readonly reason: string;
  /** instrument scope only */
  readonly signals?: RegimeSignals;
  readonly ts: number;
}

export interface RegimeState {
  readonly i: string;
  readonly regime: RegimeName;
  readonly reason: string;
  /** when this regime was entered (engine clock, ms) */
  readonly since: number;
}
export interface ClassRegimeState {
  readonly c: string;
  readonly regime: RegimeName;
  readonly since: number;
}

export interface RegimeServiceDeps {
  readonly config: RegimeConfig;
  readonly instruments: readonly RegimeServiceInstrument[];
  readonly market: RegimeServiceMarket;
  readonly clock: Clock;
  readonly overlay: QuoteOverlay;
  readonly log: Logger;
  readonly registry?: Registry;
  /**
   * False while the engine's own market-data connection is down (HotPath.isFeedConnected): venues
   * then look stale because of us, not the market, so the regime holds still (the hot path already
   * degrades every quote as `disconnected`). Default: always connected.
   */
  readonly feedConnected?: () => boolean;
}

/** `applied` before an instrument's market was ever firm: nothing applied, nothing announced. */
const NOT_STARTED = 255;
const TIERS: readonly Tier[] = [1, 2, 3];

export class RegimeService implements RegimeView {
  readonly detector: RegimeDetector;
  private readonly d: RegimeServiceDeps;
  private readonly n: number;
  /** what the market looked like at the last update, per instrument: update again only when it moved */
  private readonly seenSeq: Float64Array;
  private readonly seenStatus: Uint8Array;
  private readonly seenLive: Uint8Array;
  /** the effective regime whose policy is applied (NOT_STARTED: none yet) */
  private readonly applied: Uint8Array;
  private readonly appliedSinceMs: Float64Array;
  private readonly appliedClass: Uint8Array;
  private readonly appliedClassSinceMs: Float64Array;
  /** tier actions by [regime][tier-1], resolved from config once */
  private readonly actions: readonly (readonly TierRegimeAction[])[];
  private readonly listeners: Array<(c: RegimeChange) => void> = [];
  private readonly transitions: HotCounter | undefined;
  private readonly classTransitions: HotCounter | undefined;

  constructor(d: RegimeServiceDeps) {
    this.d = d;
    const n = (this.n = d.instruments.length);
    this.detector = new RegimeDetector(regimeInstrumentsFromConfig(d.instruments), d.market, d.config.detector, d.clock);
    this.seenSeq = new Float64Array(n).fill(Number.NaN);
    this.seenStatus = new Uint8Array(n).fill(255);
    this.seenLive = new Uint8Array(n).fill(255);
    this.applied = new Uint8Array(n).fill(NOT_STARTED);
    this.appliedSinceMs = new Float64Array(n);
    const nc = this.detector.classNames.length;
    this.appliedClass = new Uint8Array(nc);
    this.appliedClassSinceMs = new Float64Array(nc);
    this.actions = [Regime.NORMAL, Regime.STRESSED, Regime.HALTED].map((r) => TIERS.map((t) => tierRegimeAction(d.config.tiers, t, r as Regime)));
    const reg = d.registry;
    if (reg !== undefined) {
      this.transitions = new HotCounter(reg, 'qe_regime_transitions_total', 'Instrument regime changes, by the regime entered', 'to', REGIME_NAME);
      this.classTransitions = new HotCounter(reg, 'qe_regime_class_transitions_total', 'Asset-class regime changes, by the regime entered', 'to', REGIME_NAME);
      const applied = this.applied;
      const appliedClass = this.appliedClass;
      new client.Gauge({
        name: 'qe_regime_instruments',
        help: 'Instruments in each stress regime (effective: own or asset class); instruments not yet quoted count as none',
        labelNames: ['regime'],
        registers: [reg],
        collect() {
          const c = [0, 0, 0];
          for (let i = 0; i < applied.length; i++) if (applied[i] !== NOT_STARTED) c[applied[i]]++;
          for (let r = 0; r < 3; r++) this.set({ regime: REGIME_NAME[r] }, c[r]);
        },
      });
      new client.Gauge({
        name: 'qe_regime_classes',
        help: 'Asset classes in each stress regime',
        labelNames: ['regime'],
        registers: [reg],
        collect() {
          const c = [0, 0, 0];
          for (let i = 0; i < appliedClass.length; i++) c[appliedClass[i]]++;
          for (let r = 0; r < 3; r++) this.set({ regime: REGIME_NAME[r] }, c[r]);
        },
      });
    }
  }

  /** Called with every class and instrument change, classes first, in evaluation order. */
  onChange(listener: (c: RegimeChange) => void): void {
    this.listeners.push(listener);
  }

  /**
   * A booked client trade: `clientSide` buy = buyer-initiated flow. Feeds the one-sided-flow signal;
   * counted at the next evaluation.
   */
  recordClientTrade(iid: number, clientSide: 'buy' | 'sell', size: number, nowMs: number = this.d.clock.nowMs()): void {
    if (!(iid >= 0 && iid < this.n) || !(size > 0 && size < Infinity)) return;
    this.detector.recordTrade(iid, clientSide === 'buy' ? size : -size, nowMs);
    this.seenSeq[iid] = Number.NaN; // re-run the instrument's state machine at the next evaluation
  }

  /**
   * One evaluation (the timer body; tests call it directly with a manual clock). Returns how many
   * changes it announced.
   */
  evaluate(nowMs: number = this.d.clock.nowMs()): number {
    if (this.d.feedConnected !== undefined && !this.d.feedConnected()) {
      // forget what was seen: after the reconnect every instrument is re-read from fresh state
      this.seenSeq.fill(Number.NaN);
      return 0;
    }
    const m = this.d.market;
    const det = this.detector;
    for (let i = 0; i < this.n; i++) {
      const seq = m.lastTickSeq[i];
      const st = m.status[i];
      const live = m.liveVenues[i];
      if (seq === this.seenSeq[i] && st === this.seenStatus[i] && live === this.seenLive[i]) continue;
      this.seenSeq[i] = seq;
      this.seenStatus[i] = st;
      this.seenLive[i] = live;
      det.update(i, nowMs);
    }
    det.sweep(nowMs);
    let changes = 0;
    for (let c = 0; c < this.appliedClass.length; c++) {
      const to = det.classRegime[c];
      const from = this.appliedClass[c];
      if (to === from) continue;
      this.appliedClass[c] = to;
      this.appliedClassSinceMs[c] = nowMs;
      this.classTransitions?.inc(to);
      changes++;
      this.emit({ scope: 'asset_class', id: det.classNames[c], from: REGIME_NAME[from], to: REGIME_NAME[to], reason: this.classReason(c), ts: nowMs });
    }
    for (let i = 0; i < this.n; i++) {
      let from = this.applied[i];
      if (from === NOT_STARTED) {
        if (m.status[i] !== InstrumentStatus.FIRM) continue;
        // first firm market: start from normal (the start-up halt was no stress episode)
        from = this.applied[i] = Regime.NORMAL;
        this.appliedSinceMs[i] = nowMs;
      }
      const to = det.effective[i];
      if (to === from) continue;
      this.applied[i] = to;
      this.appliedSinceMs[i] = nowMs;
      this.applyPolicy(i, to as Regime);
      this.transitions?.inc(to);
      changes++;
      this.emit({
        scope: 'instrument', id: this.d.instruments[i].id, iid: i, from: REGIME_NAME[from], to: REGIME_NAME[to],
        reason: this.reason(i), signals: this.signals(i), ts: nowMs,
      });
    }
    return changes;
  }

  // ── RegimeView (engine/risk/ports.ts) ───────────────────────────────────────────────────────
  regimeOf(iid: number): RegimeName {
    const r = this.applied[iid];
    return r === undefined || r === NOT_STARTED ? 'normal' : REGIME_NAME[r];
  }

  action(iid: number, tier: Tier): TierRegimeAction {
    const r = this.applied[iid];
    const row = this.actions[r === undefined || r === NOT_STARTED ? Regime.NORMAL : r];
    return row[tier - 1] ?? row[2];
  }

  /** The signals behind iid's regime, without the regime's name (callers state it: "stressed: " + reason). */
  reason(iid: number): string {
    if (!(iid >= 0 && iid < this.n)) return `unknown instrument ${iid}`;
    const s = this.detector.reason(iid);
    const eff = this.detector.effective[iid];
    const name = REGIME_NAME[eff];
    let rest = s.startsWith(name) ? s.slice(name.length).replace(/^:? /, '') : s;
    // "(own normal; fx stressed): …" → "fx stressed (own regime normal): …"
    const cls = /^\(own (\w+); (\S+) (\w+)\)(.*)$/.exec(rest);
    if (cls !== null) rest = `${cls[2]} ${cls[3]} (own regime ${cls[1]})${cls[4]}`;
    if (rest !== '') return rest;
    return eff === Regime.NORMAL ? 'no stress signal' : 'no signal at its threshold';
  }

  // ── cold reads ──────────────────────────────────────────────────────────────────────────────
  /** Every instrument and asset class not normal now (the `regimes` request). */
  abnormal(): { instruments: RegimeState[]; classes: ClassRegimeState[] } {
    const instruments: RegimeState[] = [];
    for (let i = 0; i < this.n; i++) {
      const r = this.applied[i];
      if (r === NOT_STARTED || r === Regime.NORMAL) continue;
      instruments.push({ i: this.d.instruments[i].id, regime: REGIME_NAME[r], reason: this.reason(i), since: this.appliedSinceMs[i] });
    }
    const classes: ClassRegimeState[] = [];
    for (let c = 0; c < this.appliedClass.length; c++) {
      const r = this.appliedClass[c];
      if (r !== Regime.NORMAL) classes.push({ c: this.detector.classNames[c], regime: REGIME_NAME[r], since: this.appliedClassSinceMs[c] });
    }
    return { instruments, classes };
  }

  /** Removes every regime overlay and forgets what was applied (at stop: the hot path may outlive the module). */
  clearAll(): void {
    this.d.overlay.clear('regime');
    for (let i = 0; i < this.n; i++) if (this.applied[i] !== NOT_STARTED) this.applied[i] = Regime.NORMAL;
  }

  private applyPolicy(iid: number, r: Regime): void {
    const ov = this.d.overlay;
    if (r === Regime.NORMAL) {
      ov.clear('regime', iid);
      return;
    }
    const row = this.actions[r];
    for (const t of TIERS) {
      const a = row[t - 1];
      // firm = the market decides the state; the multipliers still apply
      ov.set('regime', { mode: a.mode === 'firm' ? null : a.mode, reason: 'regime', sizeMult: a.sizeMult, spreadMult: a.spreadMult }, iid, t);
    }
  }

  private signals(iid: number): RegimeSignals {
    const det = this.detector;
    const r = (x: number) => Number(x.toPrecision(4));
    return {
      volRatio: r(det.volRatio[iid]), jumpSigma: r(det.jumpSigma[iid]), spreadRatio: r(det.spreadRatio[iid]), flowImbalance: r(det.flowImbalance[iid]),
      liveVenues: this.d.market.liveVenues[iid], venues: this.d.instruments[iid].venues.length,
    };
  }

  private classReason(c: number): string {
    let stressed = 0;
    let halted = 0;
    let size = 0;
    for (let i = 0; i < this.n; i++) {
      if (this.detector.classOf[i] !== c) continue;
      size++;
      const r = this.detector.regime[i];
      if (r !== Regime.NORMAL) stressed++;
      if (r === Regime.HALTED) halted++;
    }
    return `${stressed} of ${size} ${this.detector.classNames[c]} instruments stressed or halted (${halted} halted)`;
  }

  private emit(c: RegimeChange): void {
    this.d.log.info({ scope: c.scope, id: c.id, from: c.from, to: c.to, reason: c.reason }, 'stress regime change');
    for (const l of this.listeners) {
      try {
        l(c);
      } catch (e) {
        // a failing listener (a closed socket, a broken publisher) must not stop the policy being applied to the rest
        this.d.log.error({ err: (e as Error).message, id: c.id }, 'regime change listener failed');
      }
    }
  }
}
