/**
 * The hedge router (issue 6 §3, R20): after each live booked trade, and on a timer for what is
 * left, it decides how to lay off the instrument's position (chooseHedge: immediate, paced, hold,
 * proxy), journals the decision, executes it through a VenueAdapter, journals every order intent
 * and fill, and feeds fills back into inventory (so the hot path re-skews at once).
 *
 * ── Stable surface for the P&L and screen modules (keep compatible) ──────────────────────────
 *   router.onDecision((d: HedgeDecisionRecord, replay: boolean) => void)
 *       every decision, replayed ones at start-up (replay = true) then live ones, once each.
 *       d: {planId, kind: 'trade'|'review'|'unwind', tradeId|null, clientId|null, instrument,
 *           choice: 'immediate'|'paced'|'hold'|'proxy'|'none', positionNotional, residualNotional,
 *           internalizedNotional, options: {immediate, paced, hold, proxy: HedgeOptionEstimate},
 *           reasonText, mid (composite mid at the decision), hedgeInstrument, side, qty, ts, …}
 *       (estimates of infeasible options carry NaN / Infinity live and null after a replay: JSON)
 *   router.onFill((f: HedgeFillEvent, replay: boolean) => void)
 *       every execution once: {fillId, planId, tradeId|null, iid, instrument (traded: the proxy
 *       for a proxy hedge), venue, deskQty (+ bought), price, midAtDecision, ts, option, clientOrderId}
 *   router.plans()          working plans with their children and state (snapshots)
 *   router.decisions(limit) the newest decisions, oldest first
 *   router.stats            counters; router.appliedSeq / appliedFills: what the journal gave inventory
 * ────────────────────────────────────────────────────────────────────────────────────────────
 *
 * Exactly once, across crashes (docs/hedging.md § Crash guarantees):
 *   decision   Nats-Msg-Id = planId = 'D' + the trade id's hex: one plan per trade; a trade whose
 *              decision is in the journal is never decided again.
 *   order      clientOrderId = <planId>-<n>, journaled *before* it is sent. After a crash an order
 *              with an intent and no result is re-queried at the venue by that id (cancel = query:
 *              the venue answers with its record, or "unknown order" = it never arrived), never
 *              re-sent under another id.
 *   fill       <clientOrderId>#<k>, applied to inventory when its PubAck (or the replay) shows it.
 *
 * One async chain per instrument serialises everything that touches its plans, so a decision, a
 * slice and a re-query of the same instrument never interleave. The venue adapter's fill subject
 * is only checked (unknown orders refused and counted): accounting uses the order's reply, which
 * lists every execution of an IOC.
 */
import client from 'prom-client';
import type { Config } from '../config.js';
import { EngineError, ErrorCode } from '../errors.js';
import type { EngineContext } from '../extensions.js';
import { InstrumentStatus, INSTRUMENT_STATUS_NAME, VenueState } from '../market/index.js';
import { HotCounter, readGauge } from '../metrics.js';
import type { HedgeCanceller, KillScope } from '../risk/ports.js';
import {
  chooseHedge,
  hedgeInstrumentFromConfig,
  hedgeVol,
  HedgeOption,
  pacedCost,
  proxyCorrelation,
  proxyCost,
  type HedgeChoice,
  type HedgeDecision,
  type HedgeFlow,
  type HedgeInstrument,
  type HedgeMarket,
  type HedgeOptionEstimate,
  type HedgeProxy,
} from './costs.js';
import type { HedgingConfig } from './config.js';
import type { HedgeJournal } from './journal.js';
import type { VenueAdapter, VenueFill, VenueOrderResult } from './venue.js';

type Side = 'buy' | 'sell';
export type PlanKind = 'trade' | 'review' | 'unwind';
export type PlanState = 'working' | 'done' | 'cancelled' | 'superseded';

export interface HedgeDecisionRecord {
  readonly v: 1;
  readonly k: 'decision';
  readonly planId: string;
  readonly kind: PlanKind;
  readonly tradeId: string | null;
  readonly clientId: string | null;
  readonly tier: number | null;
  readonly instrument: string;
  readonly choice: HedgeChoice;
  readonly positionNotional: number;
  readonly internalizedNotional: number;
  readonly residualNotional: number;
  readonly options: { readonly [K in HedgeOption]: HedgeOptionEstimate } | null;
  readonly reasonText: string;
  readonly regime: string;
  readonly marketStatus: string;
  readonly mid: number;
  readonly halfSpreadBps: number;
  readonly volBpsPerSqrtSec: number;
  /** what is traded: the instrument itself, or its proxy (proxy, unwind); null for hold / none */
  readonly hedgeInstrument: string | null;
  readonly side: Side | null;
  /** notional to trade in hedgeInstrument (all children together) */
  readonly qty: number;
  /** paced: the child schedule (offset from the decision, size) */
  readonly schedule: readonly { readonly offsetMs: number; readonly size: number }[];
  readonly holdUntilMs: number | null;
  /** proxy / unwind: position of the original covered per unit traded in the proxy (signed) */
  readonly coverPerUnit: number;
  readonly supersedes: string | null;
  readonly ts: number;
  /** the trade's booking time (trade decisions): latency and late decisions */
  readonly tradeTs: number | null;
}

export interface HedgeFillEvent {
  readonly fillId: string;
  readonly planId: string;
  readonly tradeId: string | null;
  readonly iid: number;
  readonly instrument: string;
  readonly venue: string;
  readonly deskQty: number;
  readonly price: number;
  readonly midAtDecision: number;
  readonly ts: number;
  readonly option: HedgeChoice;
  readonly clientOrderId: string;
}

export type ChildState = 'sent' | 'done';
export interface ChildView {
  readonly clientOrderId: string;
  readonly slice: number;
  readonly venue: string;
  readonly instrument: string;
  readonly side: Side;
  readonly size: number;
  readonly limitPrice: number | null;
  readonly state: ChildState;
  readonly filled: number;
  readonly status: string | null;
  readonly reason: string | null;
}
export interface PlanView {
  readonly planId: string;
  readonly kind: PlanKind;
  readonly tradeId: string | null;
  readonly instrument: string;
  readonly option: HedgeChoice;
  readonly hedgeInstrument: string | null;
  readonly side: Side | null;
  readonly qty: number;
  readonly filled: number;
  readonly state: PlanState;
  readonly nextSlice: number;
  readonly slices: number;
  readonly holdUntilMs: number | null;
  readonly blockedUntilMs: number;
  readonly children: readonly ChildView[];
}

interface Child {
  clientOrderId: string;
  slice: number;
  venue: string;
  instrument: string;
  side: Side;
  size: number;
  limitPrice: number | null;
  state: ChildState;
  filled: number;
  status: string | null;
  reason: string | null;
  readonly fillKeys: Set<number>;
}

interface Plan {
  readonly rec: HedgeDecisionRecord;
  readonly iid: number;
  /** index of the traded instrument (self or proxy); -1 for hold / none */
  readonly hedgeIid: number;
  state: PlanState;
  readonly children: Child[];
  nextChild: number;
  nextSlice: number;
  filled: number;
  blockedUntilMs: number;
  /** replayed as working: re-planned on the first review */
  resumed: boolean;
}

interface PendingTrade {
  readonly tradeId: string;
  readonly clientId: string;
  readonly tier: number;
  readonly iid: number;
  readonly ts: number;
  /** performance.now() when the booking reached the router (latency histogram) */
  readonly bookedAtPerf: number;
  readonly late: boolean;
}

const DECISION_LABELS = ['immediate', 'paced', 'hold', 'proxy', 'none'] as const;
const ORDER_OUTCOMES = ['filled', 'partial', 'no_fill', 'rejected', 'unknown', 'refused', 'not_sent'] as const;
const ERROR_CODES = [ErrorCode.HEDGE_JOURNAL, ErrorCode.HEDGE_UNKNOWN_ORDER, ErrorCode.HEDGE_UNKNOWN_VENUE, ErrorCode.HEDGE_BAD_FILL, ErrorCode.HEDGE_NO_VENUE] as const;
const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

const fmt = (x: number): string => (Number.isFinite(x) ? String(Number(x.toPrecision(4))) : String(x));

export interface HedgeRouterOptions {
  readonly ctx: EngineContext;
  readonly journal: HedgeJournal;
  readonly venues: VenueAdapter;
}

export class HedgeRouter implements HedgeCanceller {
  readonly stats = { decisions: 0, orders: 0, fills: 0, refused: 0, unknownFills: 0, badFills: 0, badEntries: 0, journalFailures: 0, requeries: 0 };
  /** highest journal sequence applied (replay or own PubAck), and how many fill records were applied */
  appliedSeq = 0;
  appliedFills = 0;

  private readonly ctx: EngineContext;
  private readonly config: Config;
  private readonly params: HedgingConfig;
  private readonly journal: HedgeJournal;
  private readonly venues: VenueAdapter;
  private readonly n: number;
  private readonly hedgeIns: HedgeInstrument[];
  /** coverage of each original by its proxy hedges, in the original's notional (signed like the position it hedges) */
  private readonly covered: Float64Array;
  /** proxy notional held against each original (desk qty in the proxy) */
  private readonly proxyHeld: Float64Array;
  /** proxy notional held, per proxy instrument, on behalf of others: not this instrument's own risk */
  private readonly proxyHeldBy: Float64Array;
  private readonly active: (Plan | undefined)[];
  private readonly unwinding: (Plan | undefined)[];
  private readonly plansById = new Map<string, Plan>();
  private readonly orders = new Map<string, { plan: Plan; child: Child }>();
  /** children sent and not settled (outcome unknown until the venue answers or is re-queried) */
  private readonly open = new Map<string, { plan: Plan; child: Child }>();
  private readonly decided = new Set<string>();
  private readonly pending: PendingTrade[][];
  private readonly lastDecision: { residual: number; ms: number }[];
  private readonly blockedUntilMs: Float64Array;
  /** live trades waiting in each instrument's chain: a decision followed by another is not executed (it would be superseded at once) */
  private readonly queued: Int32Array;
  private readonly reviewSeq = new Map<string, number>();
  private readonly recent: HedgeDecisionRecord[] = [];
  private readonly chains: Promise<void>[];
  private readonly decisionListeners: Array<(d: HedgeDecisionRecord, replay: boolean) => void> = [];
  private readonly fillListeners: Array<(f: HedgeFillEvent, replay: boolean) => void> = [];
  private readonly decisionsByOption: HotCounter;
  private readonly orderOutcomes: HotCounter;
  private readonly fillCounter: HotCounter;
  private readonly errors: HotCounter;
  private readonly latency: client.Histogram;
  private timer: NodeJS.Timeout | null = null;
  private offFill: (() => void) | null = null;
  private startedAtMs = 0;
  private stopped = false;

  constructor(o: HedgeRouterOptions) {
    this.ctx = o.ctx;
    this.config = o.ctx.config;
    this.params = o.ctx.config.hedging as HedgingConfig;
    this.journal = o.journal;
    this.venues = o.venues;
    const n = (this.n = this.config.instruments.length);
    this.hedgeIns = this.config.instruments.map((ins) => hedgeInstrumentFromConfig(ins, this.config.liquidity));
    this.covered = new Float64Array(n);
    this.proxyHeld = new Float64Array(n);
    this.proxyHeldBy = new Float64Array(n);
    this.active = new Array(n).fill(undefined);
    this.unwinding = new Array(n).fill(undefined);
    this.pending = Array.from({ length: n }, () => []);
    this.lastDecision = Array.from({ length: n }, () => ({ residual: Number.NaN, ms: 0 }));
    this.blockedUntilMs = new Float64Array(n);
    this.queued = new Int32Array(n);
    this.chains = Array.from({ length: n }, () => Promise.resolve());
    const reg = o.ctx.registry;
    this.decisionsByOption = new HotCounter(reg, 'qe_hedge_decisions_total', 'Hedge decisions by chosen option (live; replayed ones are not counted)', 'option', DECISION_LABELS);
    this.orderOutcomes = new HotCounter(reg, 'qe_hedge_orders_total', 'Hedge child orders by outcome (refused = by the guard or router, never sent; not_sent = re-queried after a crash, the venue never had it)', 'outcome', ORDER_OUTCOMES);
    this.fillCounter = new HotCounter(reg, 'qe_hedge_fills_total', 'Hedge fills applied to inventory (live)', 'kind', ['fill']);
    this.errors = new HotCounter(reg, 'qe_hedge_errors_total', 'Hedge router errors by code (each changes nothing)', 'code', ERROR_CODES);
    this.latency = new client.Histogram({ name: 'qe_hedge_decision_latency_seconds', help: 'Trade booked (reached the router) → its hedge decision journaled and published', buckets: LATENCY_BUCKETS_S, registers: [reg] });
    readGauge(reg, 'qe_hedge_working_plans', 'Hedge plans working (including holds)', () => this.countWorking());
  }

  // ── listeners and views ─────────────────────────────────────────────────────────────────────

  onDecision(listener: (d: HedgeDecisionRecord, replay: boolean) => void): void {
    this.decisionListeners.push(listener);
  }

  onFill(listener: (f: HedgeFillEvent, replay: boolean) => void): void {
    this.fillListeners.push(listener);
  }

  decisions(limit = 50): HedgeDecisionRecord[] {
    return this.recent.slice(Math.max(0, this.recent.length - limit));
  }

  plans(): PlanView[] {
    const out: PlanView[] = [];
    for (const p of this.plansById.values()) if (p.state === 'working') out.push(this.view(p));
    return out;
  }

  /** Proxy hedges per original: coverage (original notional) and proxy notional held (basis tracking). */
  proxyBooks(): { instrument: string; proxy: string; coveredNotional: number; proxyNotional: number }[] {
    const out = [];
    for (let i = 0; i < this.n; i++) {
      if (this.proxyHeld[i] === 0 && this.covered[i] === 0) continue;
      out.push({ instrument: this.config.instruments[i].id, proxy: this.config.instruments[i].hedgeProxy ?? '', coveredNotional: this.covered[i], proxyNotional: this.proxyHeld[i] });
    }
    return out;
  }

  /** The position the router still has to lay off in `iid` (signed notional), orders in flight counted as done. */
  residual(iid: number): number {
    return this.hedgeable(iid) + this.inFlight(iid);
  }

  private view(p: Plan): PlanView {
    return {
      planId: p.rec.planId,
      kind: p.rec.kind,
      tradeId: p.rec.tradeId,
      instrument: p.rec.instrument,
      option: p.rec.choice,
      hedgeInstrument: p.rec.hedgeInstrument,
      side: p.rec.side,
      qty: p.rec.qty,
      filled: p.filled,
      state: p.state,
      nextSlice: p.nextSlice,
      slices: p.rec.schedule.length,
      holdUntilMs: p.rec.holdUntilMs,
      blockedUntilMs: p.blockedUntilMs,
      children: p.children.map((c) => ({ clientOrderId: c.clientOrderId, slice: c.slice, venue: c.venue, instrument: c.instrument, side: c.side, size: c.size, limitPrice: c.limitPrice, state: c.state, filled: c.filled, status: c.status, reason: c.reason })),
    };
  }

  private countWorking(): number {
    let k = 0;
    for (const p of this.plansById.values()) if (p.state === 'working') k++;
    return k;
  }

  // ── wiring ──────────────────────────────────────────────────────────────────────────────────

  /** Booking listener (registered in attach, before the trade journal replay). */
  onBooked(trade: { tradeId: string; clientId: string; tier: number; instrument: string; ts: number }, replay: boolean): void {
    const iid = this.ctx.universe.instrumentIndex.get(trade.instrument);
    if (iid === undefined || this.stopped) return;
    const p: PendingTrade = { tradeId: trade.tradeId, clientId: trade.clientId, tier: trade.tier, iid, ts: trade.ts, bookedAtPerf: performance.now(), late: replay };
    if (replay) {
      // decided or not is known only once the hedge journal is replayed (start)
      this.pending[iid].push(p);
      return;
    }
    this.queued[iid]++;
    this.enqueue(iid, () => {
      this.queued[iid]--;
      return this.decideTrade(p);
    });
  }

  /** Replays the hedge journal (after the trade journal), then starts the timer and the fill check. */
  async start(): Promise<void> {
    const r = await this.journal.replay((rec, seq, subject) => this.onEntry(rec, seq, subject));
    this.ctx.log.info({ stream: this.journal.cfg.stream, ...r, plans: this.countWorking(), fills: this.appliedFills }, 'hedge journal replayed');
    this.startedAtMs = this.ctx.clock.nowMs();
    // trades the journal has no decision for: decided late (recent ones), once the market is firm
    const maxAge = this.params.router.catchUpMaxAgeMs;
    for (let iid = 0; iid < this.n; iid++) {
      this.pending[iid] = this.pending[iid].filter((p) => !this.decided.has(planIdOf(p.tradeId)) && this.startedAtMs - p.ts <= maxAge);
    }
    // orders left in flight by the previous process: ask the venue what became of them
    for (const { plan, child } of this.open.values()) this.enqueue(plan.iid, () => this.requery(plan, child));
    this.offFill = this.venues.onFill((f) => this.checkVenueFill(f));
    this.timer = setInterval(() => this.tick(), this.params.router.reviewMs);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.offFill?.();
    // let a step in flight finish its journal writes, briefly: whatever it did not write is found
    // in flight by the next start and re-queried, so a shutdown never waits on a slow venue
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.chains), new Promise((r) => (timer = setTimeout(r, 1_000)))]);
    clearTimeout(timer);
  }

  private enqueue(iid: number, fn: () => Promise<void> | void): Promise<void> {
    const next = this.chains[iid].then(() => (this.stopped ? undefined : fn())).catch((e: unknown) => {
      // a bug in one step must not wedge the instrument's chain: logged, the review picks it up again
      this.ctx.log.error({ err: (e as Error).stack ?? String(e), instrument: this.config.instruments[iid].id }, 'hedge router step failed');
    });
    this.chains[iid] = next;
    return next;
  }

  private tick(): void {
    if (this.stopped) return;
    for (let iid = 0; iid < this.n; iid++) {
      const p = this.active[iid];
      const u = this.unwinding[iid];
      if (p === undefined && u === undefined && this.pending[iid].length === 0 && this.covered[iid] === 0 && !this.hasInFlight(iid)) {
        const h = this.hedgeable(iid);
        if (Math.abs(h) < this.hedgeIns[iid].lotSize) continue;
      }
      this.enqueue(iid, () => this.review(iid));
    }
  }

  // ── positions ───────────────────────────────────────────────────────────────────────────────

  /** Position to lay off: the book's, less what the router's proxies cover or hold for others. */
  private hedgeable(iid: number): number {
    const raw = this.rawPosition(iid);
    return raw - this.kept(iid, raw);
  }

  /** The book's position less what it holds as a proxy for others. */
  private rawPosition(iid: number): number {
    const base = this.params.router.hedgeInitialPosition ? 0 : this.config.instruments[iid].initialPosition;
    return this.ctx.inventory.position[iid] - base - this.proxyHeldBy[iid];
  }

  /** The part of the proxy coverage the position still needs; the rest (the original was taken off) is for unwinding, not hedging. */
  private kept(iid: number, raw: number): number {
    const cov = this.covered[iid];
    return cov !== 0 && Math.sign(raw) === Math.sign(cov) ? Math.min(Math.abs(raw), Math.abs(cov)) * Math.sign(cov) : 0;
  }

  /** Effect on `hedgeable(iid)` of child orders sent and not settled, as if they fill in full. */
  private inFlight(iid: number): number {
    let q = 0;
    for (const { plan, child } of this.open.values()) {
      const left = child.size - child.filled;
      const dq = child.side === 'buy' ? left : -left;
      if (plan.rec.coverPerUnit === 0 && plan.hedgeIid === iid) q += dq;
      else if (plan.rec.coverPerUnit !== 0 && plan.iid === iid) q -= plan.rec.coverPerUnit * left;
    }
    return q;
  }

  private hasInFlight(iid: number): boolean {
    for (const { plan } of this.open.values()) if (plan.iid === iid || plan.hedgeIid === iid) return true;
    return false;
  }

  // ── deciding ────────────────────────────────────────────────────────────────────────────────

  private marketOf(iid: number): HedgeMarket & { status: number } {
    const m = this.ctx.market;
    const status = m.status[iid];
    return {
      mid: m.mid[iid],
      volBpsPerSqrtSec: hedgeVol(m.volFastBps[iid], m.volSlowBps[iid]),
      halfSpreadBps: m.halfSpreadBps[iid],
      // THIN (fewer live venues than market.minVenues) still has a composite to cross: tradable, with care (below)
      firm: (status === InstrumentStatus.FIRM || status === InstrumentStatus.THIN) && m.mid[iid] > 0,
      status,
    };
  }

  private flowFor(iid: number, residual: number, mkt: HedgeMarket): HedgeFlow {
    // the side that takes the position off: desk long → a desk axe to sell, clients who naturally buy
    const deskSide: Side = residual > 0 ? 'sell' : 'buy';
    const clientSide: Side = residual > 0 ? 'buy' : 'sell';
    const id = this.config.instruments[iid].id;
    let axe = 0;
    const dir = this.ctx.directory;
    if (dir) {
      for (const a of dir.axes().axes) if (a.instrument === id && a.side === deskSide) axe += a.size;
      for (const c of dir.list()) for (const ni of c.naturalInterest) if (ni.instrument === id && ni.side === clientSide) axe += this.hedgeIns[iid].clipNotional;
    }
    // the client crossing to the desk pays at least the composite half-spread
    return { expectedOffsetNotional: 0, axeOffsetNotional: axe, earnedHalfSpreadBps: Number.isFinite(mkt.halfSpreadBps) ? mkt.halfSpreadBps : 0 };
  }

  private proxyFor(iid: number): HedgeProxy | null {
    const ins = this.config.instruments[iid];
    if (ins.hedgeProxy === null) return null;
    const p = this.ctx.universe.instrumentIndex.get(ins.hedgeProxy);
    if (p === undefined) return null;
    return { instrument: this.hedgeIns[p], market: this.marketOf(p), beta: ins.hedgeBeta, correlation: proxyCorrelation(this.params, ins.id) };
  }

  /**
   * The decision for `iid` now. In a stressed (regime ≠ normal) or thin market the router prefers
   * paced or proxy: if either is feasible the choice is made between those two only (lowest score
   * within the risk limit, else the less risky), so nothing crosses a thin book at once and nothing
   * waits on flow that a stressed market will not bring. `excludeHold`: a hold that reached its horizon.
   */
  private evaluate(iid: number, excludeHold: boolean): { d: HedgeDecision; mkt: HedgeMarket & { status: number }; regime: string; proxyIid: number } {
    const ins = this.hedgeIns[iid];
    const mkt = this.marketOf(iid);
    const residual = this.residual(iid);
    const proxy = this.proxyFor(iid);
    const regime = this.regimeOf(iid);
    const d0 = chooseHedge({ instrument: ins, market: mkt, positionNotional: residual, flow: this.flowFor(iid, residual, mkt), proxy, params: this.params });
    const stressed = regime !== 'normal' || mkt.status === InstrumentStatus.THIN;
    const proxyIid = proxy ? this.ctx.universe.instrumentIndex.get(proxy.instrument.id)! : -1;
    let allowed: HedgeOption[] | null = null;
    let why = '';
    if (d0.choice !== 'none') {
      if (stressed && (d0.options.paced.feasible || d0.options.proxy.feasible) && d0.choice !== 'paced' && d0.choice !== 'proxy') {
        allowed = [HedgeOption.PACED, HedgeOption.PROXY];
        why = `${regime !== 'normal' ? `regime ${regime}` : 'thin market'}: paced or proxy preferred`;
      } else if (excludeHold && d0.choice === 'hold') {
        allowed = [HedgeOption.IMMEDIATE, HedgeOption.PACED, HedgeOption.PROXY];
        why = 'hold horizon reached';
      }
    }
    if (allowed === null) return { d: d0, mkt, regime, proxyIid };
    const o = d0.options;
    const feasible = allowed.filter((k) => o[k].feasible);
    if (feasible.length === 0) return { d: { ...d0, choice: 'none', hedgeSide: null, reasonText: `${why}, but none of ${allowed.join(', ')} is feasible; ${d0.reasonText}` }, mkt, regime, proxyIid };
    const within = feasible.filter((k) => o[k].withinRiskLimit);
    const choice = within.length > 0 ? within.reduce((a, b) => (o[b].scoreBps < o[a].scoreBps ? b : a)) : feasible.reduce((a, b) => (o[b].riskBps < o[a].riskBps ? b : a));
    const reasonText = `${why}: ${choice} ${fmt(o[choice].scoreBps)} bps (${o[choice].reason}) instead of ${d0.choice}. Model: ${d0.reasonText}`;
    const side: Side = d0.residualNotional > 0 ? 'sell' : 'buy';
    if (choice === HedgeOption.PACED) {
      const plan = pacedCost(d0.residualNotional, ins, mkt, this.params).plan;
      return { d: { ...d0, choice, hedgeSide: side, paced: plan, reasonText }, mkt, regime, proxyIid };
    }
    if (choice === HedgeOption.PROXY && proxy) {
      const pc = proxyCost(d0.residualNotional, ins, mkt, proxy, this.params);
      const pside: Side = Math.sign(d0.residualNotional) * Math.sign(proxy.beta) > 0 ? 'sell' : 'buy';
      return { d: { ...d0, choice, hedgeSide: null, proxy: { instrument: proxy.instrument.id, side: pside, notional: pc.notional }, reasonText }, mkt, regime, proxyIid };
    }
    return { d: { ...d0, choice, hedgeSide: side, reasonText }, mkt, regime, proxyIid };
  }

  private regimeOf(iid: number): string {
    const r = this.ctx.services.regime;
    try {
      return r ? r.regimeOf(iid) : 'normal';
    } catch {
      // a regime module that throws is its bug; the hedger decides as in a normal market
      return 'normal';
    }
  }

  private nextReviewId(prefix: 'R' | 'U', iid: number): string {
    const id = this.config.instruments[iid].id;
    const k = (this.reviewSeq.get(id) ?? 0) + 1;
    this.reviewSeq.set(id, k);
    return `${prefix}-${id}-${k}`;
  }

  private async decideTrade(p: PendingTrade): Promise<void> {
    const planId = planIdOf(p.tradeId);
    if (this.decided.has(planId)) return;
    await this.maybeUnwind(p.iid);
    await this.decide(p.iid, 'trade', planId, p, false);
  }

  /** Builds, journals and starts one decision. Returns false when it could not be journaled. */
  private async decide(iid: number, kind: 'trade' | 'review', planId: string, trade: PendingTrade | null, excludeHold: boolean): Promise<boolean> {
    const { d, mkt, regime } = this.evaluate(iid, excludeHold);
    const now = this.ctx.clock.nowMs();
    const ins = this.config.instruments[iid];
    const lp = this.params.liquidity[ins.liquidityClass];
    const prev = this.active[iid];
    let hedgeInstrument: string | null = null;
    let side: Side | null = null;
    let qty = 0;
    let schedule: { offsetMs: number; size: number }[] = [];
    let coverPerUnit = 0;
    if (d.choice === 'immediate' || d.choice === 'paced') {
      hedgeInstrument = ins.id;
      side = d.hedgeSide;
      qty = Math.abs(d.residualNotional);
      schedule = d.choice === 'paced' && d.paced ? d.paced.children.map((c) => ({ offsetMs: c.offsetMs, size: c.size })) : [{ offsetMs: 0, size: qty }];
    } else if (d.choice === 'proxy' && d.proxy) {
      hedgeInstrument = d.proxy.instrument;
      side = d.proxy.side;
      qty = d.proxy.notional;
      schedule = [{ offsetMs: 0, size: qty }];
      coverPerUnit = d.residualNotional / qty;
    }
    const rec: HedgeDecisionRecord = {
      v: 1,
      k: 'decision',
      planId,
      kind,
      tradeId: trade?.tradeId ?? null,
      clientId: trade?.clientId ?? null,
      tier: trade?.tier ?? null,
      instrument: ins.id,
      choice: d.choice,
      positionNotional: d.positionNotional,
      internalizedNotional: d.internalizedNotional,
      residualNotional: d.residualNotional,
      options: d.options,
      reasonText: (trade?.late ? 'decided at start-up (no decision journaled before the restart): ' : '') + d.reasonText,
      regime,
      marketStatus: INSTRUMENT_STATUS_NAME[mkt.status] ?? String(mkt.status),
      mid: mkt.mid,
      halfSpreadBps: mkt.halfSpreadBps,
      volBpsPerSqrtSec: mkt.volBpsPerSqrtSec,
      hedgeInstrument,
      side,
      qty,
      schedule,
      holdUntilMs: d.choice === 'hold' ? now + lp.holdHorizonSec * 1000 : null,
      coverPerUnit,
      supersedes: prev && prev.state === 'working' ? prev.rec.planId : null,
      ts: now,
      tradeTs: trade?.ts ?? null,
    };
    const applied = await this.journalDecision(rec);
    if (!applied) return false;
    if (trade && !trade.late) this.latency.observe((performance.now() - trade.bookedAtPerf) / 1000);
    const plan = this.plansById.get(applied.planId);
    // a burst of trades: each gets its decision at once; only the last one's plan is carried out
    if (plan && plan.state === 'working' && this.queued[iid] === 0) await this.advance(plan);
    return true;
  }

  /** Journals a decision (Nats-Msg-Id = planId) and applies what the journal holds under that id. */
  private async journalDecision(rec: HedgeDecisionRecord): Promise<HedgeDecisionRecord | null> {
    const r = await this.journal.publish(this.journal.subject('decision', rec.instrument), rec.planId, rec);
    if (r.kind === 'failed') {
      this.fail(ErrorCode.HEDGE_JOURNAL, { planId: rec.planId, reason: r.reason }, 'hedge decision not journaled: retried on the next review');
      if (rec.tradeId !== null) {
        const iid = this.ctx.universe.instrumentIndex.get(rec.instrument)!;
        if (!this.pending[iid].some((p) => p.tradeId === rec.tradeId)) this.pending[iid].push({ tradeId: rec.tradeId, clientId: rec.clientId ?? '', tier: rec.tier ?? 0, iid, ts: rec.tradeTs ?? rec.ts, bookedAtPerf: performance.now(), late: true });
      }
      return null;
    }
    let stored: HedgeDecisionRecord = rec;
    if (r.duplicate) {
      // an earlier process journaled this id: its record is the decision, not ours
      const got = (await this.journal.get(r.seq)) as HedgeDecisionRecord | null;
      if (got && got.k === 'decision' && got.planId === rec.planId) stored = got;
      if (this.decided.has(rec.planId)) return null;
    }
    this.noteSeq(r.seq);
    this.applyDecision(stored, false);
    return stored;
  }

  private applyDecision(rec: HedgeDecisionRecord, replay: boolean): void {
    if (this.decided.has(rec.planId)) return;
    this.decided.add(rec.planId);
    const iid = this.ctx.universe.instrumentIndex.get(rec.instrument);
    if (iid === undefined) return;
    const rm = /^[RU]-(.+)-(\d+)$/.exec(rec.planId);
    if (rm && Number(rm[2]) > (this.reviewSeq.get(rm[1]) ?? 0)) this.reviewSeq.set(rm[1], Number(rm[2]));
    if (rec.kind !== 'unwind') this.lastDecision[iid] = { residual: rec.residualNotional, ms: rec.ts };
    this.recent.push(rec);
    if (this.recent.length > this.params.router.keepDecisions) this.recent.splice(0, this.recent.length - this.params.router.keepDecisions);
    const slot = rec.kind === 'unwind' ? this.unwinding : this.active;
    const prev = slot[iid];
    if (prev && prev.state === 'working' && (rec.kind === 'unwind' || rec.supersedes === prev.rec.planId || !replay)) {
      prev.state = 'superseded';
      slot[iid] = undefined;
    }
    if ((rec.choice !== 'none' && rec.hedgeInstrument !== null) || rec.choice === 'hold') {
      const plan: Plan = {
        rec,
        iid,
        hedgeIid: rec.hedgeInstrument === null ? -1 : (this.ctx.universe.instrumentIndex.get(rec.hedgeInstrument) ?? -1),
        state: 'working',
        children: [],
        nextChild: 1,
        nextSlice: 0,
        filled: 0,
        blockedUntilMs: 0,
        resumed: replay,
      };
      this.plansById.set(rec.planId, plan);
      slot[iid] = plan;
    }
    if (!replay) {
      this.stats.decisions++;
      this.decisionsByOption.incLabel(rec.choice);
      this.ctx.log.info({ planId: rec.planId, instrument: rec.instrument, choice: rec.choice, kind: rec.kind, residual: rec.residualNotional }, rec.reasonText);
    }
    for (const l of this.decisionListeners) this.safe(() => l(rec, replay));
  }

  // ── the timer ───────────────────────────────────────────────────────────────────────────────

  private async review(iid: number): Promise<void> {
    const now = this.ctx.clock.nowMs();
    const r = this.params.router;
    // 1. orders whose outcome is unknown: ask the venue before anything else is decided
    // (only the plan's own chain re-queries: a proxy child is never settled from two chains)
    for (const { plan, child } of [...this.open.values()]) {
      if (plan.iid === iid && !this.inFlightNow.has(child.clientOrderId)) await this.requery(plan, child);
    }
    if (this.hasInFlight(iid)) return;
    // 2. trades still without a decision (start-up catch-up, or a journal write that failed)
    if (this.pending[iid].length > 0) {
      const firm = this.marketOf(iid).firm;
      if (!firm && now - this.startedAtMs < r.firmWaitMs) return;
      const queued = this.pending[iid].splice(0);
      for (const p of queued) await this.decideTrade(p);
      return;
    }
    // 3. proxies whose original has been taken off
    await this.maybeUnwind(iid);
    const u = this.unwinding[iid];
    if (u && u.state === 'working') await this.advance(u);
    // 4. the working plan, or what is left
    if (now < this.blockedUntilMs[iid]) return;
    const p = this.active[iid];
    if (p && p.state === 'working') {
      if (now < p.blockedUntilMs) return;
      const lot = this.hedgeIns[iid].lotSize;
      const res = this.residual(iid);
      const o = p.rec.choice;
      if (p.resumed) return void (await this.replan(iid, p, 'resumed after a restart'));
      if (o === 'hold') {
        if (Math.abs(res) < lot) return void (await this.endPlan(p, 'done', 'position taken off by client flow'));
        if (p.rec.holdUntilMs !== null && now >= p.rec.holdUntilMs) return void (await this.decide(iid, 'review', this.nextReviewId('R', iid), null, true));
        const e = this.evaluate(iid, false);
        if (e.d.choice !== 'hold' && e.d.choice !== 'none' && this.marketOf(iid).firm) await this.decide(iid, 'review', this.nextReviewId('R', iid), null, false);
        return;
      }
      if (o === 'paced') {
        const need = p.rec.side === 'sell' ? res > 0 : res < 0;
        if (Math.abs(res) < lot || !need) return void (await this.endPlan(p, 'cancelled', 'no longer needed: client flow took the position off'));
        const mid = this.ctx.market.mid[iid];
        if (mid > 0 && p.rec.mid > 0 && (Math.abs(mid - p.rec.mid) / p.rec.mid) * 1e4 > r.replanMoveBps) return void (await this.replan(iid, p, `market moved ${fmt((Math.abs(mid - p.rec.mid) / p.rec.mid) * 1e4)} bps`));
      }
      await this.advance(p);
      return;
    }
    // 5. no plan: decide again for a residual that changed, or has waited redecideMs
    const res = this.residual(iid);
    if (Math.abs(res) < this.hedgeIns[iid].lotSize) return;
    const last = this.lastDecision[iid];
    if (res === last.residual && now - last.ms < r.redecideMs) return;
    if (!this.marketOf(iid).firm && now - last.ms < r.redecideMs) return;
    await this.decide(iid, 'review', this.nextReviewId('R', iid), null, false);
  }

  private async replan(iid: number, p: Plan, why: string): Promise<void> {
    const res = this.residual(iid);
    if (Math.abs(res) < this.hedgeIns[iid].lotSize) return void (await this.endPlan(p, 'done', `nothing left after ${why}`));
    if (!this.marketOf(iid).firm && p.rec.choice !== 'hold') return;
    const ok = await this.decide(iid, 'review', this.nextReviewId('R', iid), null, false);
    if (ok) this.ctx.log.info({ planId: p.rec.planId, instrument: p.rec.instrument }, `hedge plan re-planned: ${why}`);
  }

  /** Sends whatever of the plan is due; ends it when everything was sent and settled. */
  private async advance(p: Plan): Promise<void> {
    if (p.state !== 'working' || p.rec.choice === 'hold' || p.hedgeIid < 0) return;
    const now = this.ctx.clock.nowMs();
    if (now < p.blockedUntilMs) return;
    while (p.nextSlice < p.rec.schedule.length && p.state === 'working') {
      const s = p.rec.schedule[p.nextSlice];
      if (p.rec.ts + s.offsetMs > now) return;
      // a paced slice never overshoots what is left (client flow may have taken part of it)
      let size = s.size;
      if (p.rec.choice === 'paced') {
        const left = Math.abs(this.residual(p.iid));
        const lot = this.hedgeIns[p.iid].lotSize;
        size = Math.min(size, Math.floor(left / lot + 1e-9) * lot);
        if (size <= 0) return void (await this.endPlan(p, 'done', 'nothing left to hedge'));
      }
      const sent = await this.sendSlice(p, p.nextSlice, size);
      if (!sent) return;
      p.nextSlice++;
    }
    if (p.nextSlice >= p.rec.schedule.length && p.children.every((c) => c.state === 'done')) await this.endPlan(p, 'done', 'all child orders sent');
  }

  private async endPlan(p: Plan, state: PlanState, reason: string): Promise<void> {
    if (p.state !== 'working') return;
    p.state = state;
    if (this.active[p.iid] === p) this.active[p.iid] = undefined;
    if (this.unwinding[p.iid] === p) this.unwinding[p.iid] = undefined;
    const r = await this.journal.publish(this.journal.subject('plan', p.rec.instrument), `${p.rec.planId}.end`, { v: 1, k: 'plan', planId: p.rec.planId, state, reason, filled: p.filled, ts: this.ctx.clock.nowMs() });
    if (r.kind === 'acked') this.noteSeq(r.seq);
    // a plan end that did not reach the journal only makes a restart re-plan it: harmless
  }

  // ── proxies ─────────────────────────────────────────────────────────────────────────────────

  /** When the original has been taken off (client flow), the proxy held against it is unwound in proportion. */
  private async maybeUnwind(iid: number): Promise<void> {
    const cov = this.covered[iid];
    if (cov === 0 || this.proxyHeld[iid] === 0) return;
    const u = this.unwinding[iid];
    if (u && u.state === 'working') return;
    if (this.hasInFlight(iid)) return;
    const raw = this.rawPosition(iid);
    const excess = cov - this.kept(iid, raw);
    if (excess === 0) return;
    const proxyId = this.config.instruments[iid].hedgeProxy;
    const pIid = proxyId === null ? undefined : this.ctx.universe.instrumentIndex.get(proxyId);
    if (pIid === undefined) return;
    const lot = this.hedgeIns[pIid].lotSize;
    const held = this.proxyHeld[iid];
    const qty = Math.min(Math.abs(held), Math.round((Math.abs(held) * Math.abs(excess / cov)) / lot) * lot);
    if (qty < lot) return;
    const now = this.ctx.clock.nowMs();
    const m = this.marketOf(iid);
    const rec: HedgeDecisionRecord = {
      v: 1, k: 'decision', planId: this.nextReviewId('U', iid), kind: 'unwind', tradeId: null, clientId: null, tier: null,
      instrument: this.config.instruments[iid].id, choice: 'proxy', positionNotional: raw, internalizedNotional: 0, residualNotional: -excess, options: null,
      reasonText: `unwind ${fmt(qty)} ${proxyId}: ${fmt(Math.abs(excess))} of the ${fmt(Math.abs(cov))} ${this.config.instruments[iid].id} it hedged has been taken off by client flow`,
      regime: this.regimeOf(iid), marketStatus: INSTRUMENT_STATUS_NAME[m.status] ?? String(m.status), mid: m.mid, halfSpreadBps: m.halfSpreadBps, volBpsPerSqrtSec: m.volBpsPerSqrtSec,
      hedgeInstrument: proxyId, side: held > 0 ? 'sell' : 'buy', qty, schedule: [{ offsetMs: 0, size: qty }], holdUntilMs: null,
      coverPerUnit: -cov / Math.abs(held), supersedes: null, ts: now, tradeTs: null,
    };
    const applied = await this.journalDecision(rec);
    const plan = applied && this.plansById.get(applied.planId);
    if (plan && plan.state === 'working') await this.advance(plan);
  }

  // ── orders ──────────────────────────────────────────────────────────────────────────────────

  private readonly inFlightNow = new Set<string>();

  /** Live venues of `iid` ordered best first for `side`, with the touch and its size. */
  private bestVenues(iid: number, side: Side): { venue: string; price: number; size: number }[] {
    const m = this.ctx.market;
    const V = this.config.venues.length;
    const out: { venue: string; price: number; size: number }[] = [];
    for (const v of this.config.instruments[iid].venues) {
      const vid = this.ctx.universe.venueIndex.get(v);
      if (vid === undefined) continue;
      const slot = iid * V + vid;
      if (m.venueState[slot] !== VenueState.LIVE) continue;
      const price = side === 'buy' ? m.venueAsk[slot] : m.venueBid[slot];
      const size = side === 'buy' ? m.venueAskSize[slot] : m.venueBidSize[slot];
      if (price > 0 && size > 0) out.push({ venue: v, price, size });
    }
    out.sort((a, b) => (side === 'buy' ? a.price - b.price : b.price - a.price));
    return out;
  }

  /** A child order's venue must be configured and list the instrument (QE_HEDGE_UNKNOWN_VENUE otherwise). */
  checkVenue(venue: string, iid: number): null | { code: typeof ErrorCode.HEDGE_UNKNOWN_VENUE; message: string } {
    const ins = this.config.instruments[iid];
    if (!ins || !this.config.venues.includes(venue) || !ins.venues.includes(venue)) {
      this.fail(ErrorCode.HEDGE_UNKNOWN_VENUE, { venue, instrument: ins?.id }, 'hedge order for an unknown venue refused');
      return { code: ErrorCode.HEDGE_UNKNOWN_VENUE, message: `venue "${venue}" does not list ${ins?.id ?? `instrument #${iid}`}` };
    }
    return null;
  }

  /**
   * One slice: split over the best venues by the size their touch shows (the rest on the best), each
   * an IOC limited `limitBeyondTouchBps` past that venue's touch. Returns false if nothing could be
   * sent (refused: the plan waits retryAfterMs, then is looked at again).
   */
  private async sendSlice(p: Plan, slice: number, size: number): Promise<boolean> {
    const iid = p.hedgeIid;
    const side = p.rec.side!;
    const lot = this.hedgeIns[iid].lotSize;
    const venues = this.bestVenues(iid, side);
    if (venues.length === 0) {
      this.fail(ErrorCode.HEDGE_NO_VENUE, { planId: p.rec.planId, instrument: this.config.instruments[iid].id }, 'no live venue for a hedge child order');
      await this.refuse(p, slice, this.config.instruments[iid].venues[0] ?? '', size, ErrorCode.HEDGE_NO_VENUE, `no live venue in ${this.config.instruments[iid].id}`);
      return false;
    }
    const parts: { venue: string; price: number; size: number }[] = [];
    let left = size;
    for (const v of venues) {
      if (left <= 0) break;
      const q = Math.min(left, Math.floor(v.size / lot + 1e-9) * lot);
      if (q > 0) {
        parts.push({ venue: v.venue, price: v.price, size: q });
        left -= q;
      }
    }
    if (left > 0) {
      if (parts.length > 0 && parts[0].venue === venues[0].venue) parts[0].size += left;
      else parts.unshift({ venue: venues[0].venue, price: venues[0].price, size: left });
    }
    let any = false;
    for (const part of parts) {
      if (await this.sendChild(p, slice, part.venue, part.price, part.size)) any = true;
      // refused: the plan waits retryAfterMs; asking again for the other parts now would be the hot loop
      else if (p.blockedUntilMs > this.ctx.clock.nowMs()) break;
    }
    return any;
  }

  private async refuse(p: Plan, slice: number, venue: string, size: number, code: string, message: string): Promise<void> {
    const coid = `${p.rec.planId}-${p.nextChild++}`;
    this.stats.refused++;
    this.orderOutcomes.incLabel('refused');
    this.block(p);
    this.ctx.log.warn({ planId: p.rec.planId, clientOrderId: coid, venue, code, message }, 'hedge child order refused');
    const r = await this.journal.publish(this.journal.subject('refused', p.rec.instrument), `${coid}.x`, { v: 1, k: 'refused', planId: p.rec.planId, clientOrderId: coid, slice, venue, size, code, message, ts: this.ctx.clock.nowMs() });
    if (r.kind === 'acked') this.noteSeq(r.seq);
  }

  private async sendChild(p: Plan, slice: number, venue: string, touch: number, size: number): Promise<boolean> {
    const iid = p.hedgeIid;
    const ins = this.config.instruments[iid];
    const side = p.rec.side!;
    const now = this.ctx.clock.nowMs();
    const bad = this.checkVenue(venue, iid);
    if (bad) {
      await this.refuse(p, slice, venue, size, bad.code, bad.message);
      return false;
    }
    const beyond = this.params.router.limitBeyondTouchBps * 1e-4;
    const limitPrice = side === 'buy' ? roundTick(touch * (1 + beyond), ins.tickSize, 1) : roundTick(touch * (1 - beyond), ins.tickSize, -1);
    const mid = this.ctx.market.mid[iid];
    const guard = this.ctx.services.hedgeGuard;
    let rej: { code: string; message: string } | null = null;
    try {
      rej = guard ? guard.checkOrder({ venue, iid, instrument: ins.id, side, size, limitPrice, mid, nowMs: now }) : null;
    } catch (e) {
      // a guard that throws cannot vouch for the order: refused (fail closed)
      rej = { code: ErrorCode.INTERNAL, message: `hedge guard failed: ${(e as Error).message}` };
    }
    if (rej) {
      await this.refuse(p, slice, venue, size, rej.code, rej.message);
      return false;
    }
    const coid = `${p.rec.planId}-${p.nextChild++}`;
    const intent = { v: 1, k: 'order', planId: p.rec.planId, clientOrderId: coid, slice, venue, instrument: ins.id, side, size, type: 'ioc', limitPrice, mid, ts: now };
    const j = await this.journal.publish(this.journal.subject('order', p.rec.instrument), coid, intent);
    if (j.kind === 'failed') {
      // no intent journaled, nothing sent: the slice is tried again later under a new id
      this.fail(ErrorCode.HEDGE_JOURNAL, { planId: p.rec.planId, clientOrderId: coid, reason: j.reason }, 'hedge order intent not journaled: not sent');
      p.blockedUntilMs = now + this.params.router.retryAfterMs;
      return false;
    }
    this.noteSeq(j.seq);
    const child = this.addChild(p, intent);
    this.stats.orders++;
    this.safe(() => guard?.onOrder(venue, now));
    this.inFlightNow.add(coid);
    let r: VenueOrderResult;
    try {
      r = await this.venues.place({ venue, instrument: ins.id, side, type: 'ioc', size, limitPrice, clientOrderId: coid, orderId: coid });
    } finally {
      this.inFlightNow.delete(coid);
    }
    await this.settle(p, child, r);
    return true;
  }

  private addChild(p: Plan, o: { clientOrderId: string; slice: number; venue: string; instrument: string; side: Side; size: number; limitPrice: number | null }): Child {
    const child: Child = { clientOrderId: o.clientOrderId, slice: o.slice, venue: o.venue, instrument: o.instrument, side: o.side, size: o.size, limitPrice: o.limitPrice, state: 'sent', filled: 0, status: null, reason: null, fillKeys: new Set() };
    p.children.push(child);
    this.orders.set(o.clientOrderId, { plan: p, child });
    this.open.set(o.clientOrderId, { plan: p, child });
    const m = /-(\d+)$/.exec(o.clientOrderId);
    if (m && Number(m[1]) >= p.nextChild) p.nextChild = Number(m[1]) + 1;
    if (o.slice >= p.nextSlice) p.nextSlice = o.slice + 1;
    return child;
  }

  /** Journals the executions of a venue answer and then its result; an unknown outcome stays in flight. */
  private async settle(p: Plan, child: Child, r: VenueOrderResult): Promise<void> {
    if (r.status === 'unknown') {
      this.orderOutcomes.incLabel('unknown');
      child.reason = r.reason ?? null;
      return; // re-queried by the next review
    }
    if (r.reason === ErrorCode.VENUE_UNKNOWN_ORDER && r.venueOrderId === '') {
      // a re-query: the venue never received it (the process died before the send)
      await this.finish(p, child, 'not_sent', r.reason, 'not_sent');
      return;
    }
    // one at a time: an instrument's journal records then carry increasing sequences in the order they
    // are applied, so "inventory = fills up to appliedSeq" holds exactly at any instant
    let journaled = true;
    for (let k = 0; k < r.fills.length && journaled; k++) {
      if (child.fillKeys.has(k)) continue;
      const e = r.fills[k];
      const rec = { v: 1, k: 'fill', planId: p.rec.planId, tradeId: p.rec.tradeId, clientOrderId: child.clientOrderId, n: k, venue: child.venue, instrument: child.instrument, side: child.side, price: e.price, size: e.size, midAtDecision: p.rec.mid, ts: e.ts };
      const j = await this.journal.publish(this.journal.subject('fill', p.rec.instrument), `${child.clientOrderId}#${k}`, rec);
      if (j.kind === 'failed') journaled = false;
      else {
        this.noteSeq(j.seq);
        this.applyFill(p, child, k, e.price, e.size, e.ts, false);
      }
    }
    if (!journaled) {
      // a fill not journaled: the order stays in flight and is re-queried (same fill ids) by the next review
      this.fail(ErrorCode.HEDGE_JOURNAL, { clientOrderId: child.clientOrderId }, 'hedge fill not journaled: re-queried later');
      return;
    }
    const outcome = r.status === 'filled' ? 'filled' : r.status === 'partial' ? 'partial' : r.status === 'rejected' ? 'rejected' : r.filledSize > 0 ? 'partial' : 'no_fill';
    await this.finish(p, child, r.status, r.reason ?? null, outcome);
    if (outcome === 'rejected' || outcome === 'no_fill') this.block(p);
  }

  private async finish(p: Plan, child: Child, status: string, reason: string | null, outcome: (typeof ORDER_OUTCOMES)[number]): Promise<void> {
    const j = await this.journal.publish(this.journal.subject('result', p.rec.instrument), `${child.clientOrderId}.r`, { v: 1, k: 'result', planId: p.rec.planId, clientOrderId: child.clientOrderId, venue: child.venue, status, reason, filled: child.filled, ts: this.ctx.clock.nowMs() });
    if (j.kind === 'failed') {
      this.fail(ErrorCode.HEDGE_JOURNAL, { clientOrderId: child.clientOrderId }, 'hedge order result not journaled: re-queried later');
      return;
    }
    this.noteSeq(j.seq);
    child.state = 'done';
    this.open.delete(child.clientOrderId);
    child.status = status;
    child.reason = reason;
    this.orderOutcomes.incLabel(outcome);
  }

  /** Asks the venue for an order whose outcome is unknown: cancel is the query (an IOC is finished, so it cancels nothing). */
  private async requery(p: Plan, child: Child): Promise<void> {
    if (child.state !== 'sent') return;
    this.stats.requeries++;
    const r = await this.venues.cancel(child.venue, child.clientOrderId);
    if (r.status === 'unknown' || r.reason === ErrorCode.VENUE_UNAVAILABLE) return;
    if (r.status === 'rejected' && r.reason !== ErrorCode.VENUE_UNKNOWN_ORDER && r.venueOrderId === '') return; // a bad cancel: ask again later
    await this.settle(p, child, r);
  }

  private applyFill(p: Plan, child: Child, k: number, price: number, size: number, ts: number, replay: boolean): void {
    if (child.fillKeys.has(k)) return;
    child.fillKeys.add(k);
    const dq = child.side === 'buy' ? size : -size;
    const hedgeIid = this.ctx.universe.instrumentIndex.get(child.instrument);
    if (hedgeIid === undefined) return;
    this.ctx.inventory.applyTrade(hedgeIid, dq, price, replay);
    child.filled += size;
    p.filled += size;
    if (p.rec.coverPerUnit !== 0) {
      this.covered[p.iid] += p.rec.coverPerUnit * size;
      if (Math.abs(this.covered[p.iid]) < 1e-6) this.covered[p.iid] = 0;
      this.proxyHeld[p.iid] += dq;
      this.proxyHeldBy[hedgeIid] += dq;
    }
    this.appliedFills++;
    if (!replay) {
      this.stats.fills++;
      this.fillCounter.inc(0);
      const guard = this.ctx.services.hedgeGuard;
      this.safe(() => guard?.onFill(child.venue, size, this.ctx.clock.nowMs()));
    }
    const f: HedgeFillEvent = {
      fillId: `${child.clientOrderId}#${k}`, planId: p.rec.planId, tradeId: p.rec.tradeId, iid: hedgeIid, instrument: child.instrument, venue: child.venue,
      deskQty: dq, price, midAtDecision: p.rec.mid, ts, option: p.rec.choice, clientOrderId: child.clientOrderId,
    };
    for (const l of this.fillListeners) this.safe(() => l(f, replay));
  }

  /** Fills published by the venues: ours are already accounted from the reply; anything else is refused. */
  private checkVenueFill(f: VenueFill): void {
    const o = this.orders.get(f.clientOrderId);
    if (!o) {
      // the venue subjects are shared: another sender's fill (or a forged one) must not move our book
      // the router is the only sender on the venue subjects: an unknown order is a forged or foreign fill
      this.stats.unknownFills++;
      this.fail(ErrorCode.HEDGE_UNKNOWN_ORDER, { fillId: f.fillId, venue: f.venue, clientOrderId: f.clientOrderId }, 'fill for an unknown hedge order refused');
      return;
    }
    if (o.child.instrument !== f.instrument || o.child.side !== f.side || o.child.venue !== f.venue || f.size > o.child.size) {
      this.stats.badFills++;
      this.fail(ErrorCode.HEDGE_BAD_FILL, { fillId: f.fillId, clientOrderId: f.clientOrderId }, 'fill does not match its hedge order: refused');
    }
  }

  // ── kill switch ─────────────────────────────────────────────────────────────────────────────

  /**
   * Cancels the working plans in scope (their unsent slices; an IOC in flight finishes by itself and
   * is settled as usual) and blocks new decisions for retryAfterMs (the kill switch's guard refuses
   * orders after that). Resolves to the number of child orders that will not be sent.
   */
  async cancelWorking(scope: KillScope, reason: string): Promise<number> {
    let count = 0;
    const hit: Plan[] = [];
    for (const p of this.plansById.values()) {
      if (p.state !== 'working') continue;
      const ins = p.rec.instrument;
      const inScope =
        scope.level === 'global' ||
        (scope.level === 'instrument' && (scope.target === ins || scope.target === p.rec.hedgeInstrument)) ||
        (scope.level === 'client' && p.rec.clientId !== null && scope.target === p.rec.clientId) ||
        (scope.level === 'tier' && p.rec.tier !== null && scope.target === String(p.rec.tier));
      if (!inScope) continue;
      hit.push(p);
      count += Math.max(0, p.rec.schedule.length - p.nextSlice) + p.children.filter((c) => c.state === 'sent').length;
    }
    const until = this.ctx.clock.nowMs() + this.params.router.retryAfterMs;
    await Promise.all(
      hit.map((p) =>
        this.enqueue(p.iid, async () => {
          this.blockedUntilMs[p.iid] = until;
          await this.endPlan(p, 'cancelled', `kill switch: ${reason}`);
        }),
      ),
    );
    if (scope.level === 'global') this.blockedUntilMs.fill(until);
    return count;
  }

  // ── replay ──────────────────────────────────────────────────────────────────────────────────

  private onEntry(raw: unknown, seq: number, subject: string): void {
    this.noteSeq(seq);
    const rec = raw as Record<string, unknown> | undefined;
    if (!rec || typeof rec !== 'object' || rec.v !== 1 || typeof rec.planId !== 'string') {
      this.stats.badEntries++;
      this.ctx.log.error({ seq, subject, code: ErrorCode.HEDGE_JOURNAL }, 'invalid hedge journal entry ignored');
      return;
    }
    const plan = this.plansById.get(rec.planId);
    switch (rec.k) {
      case 'decision':
        this.applyDecision(rec as unknown as HedgeDecisionRecord, true);
        return;
      case 'order':
        if (plan && typeof rec.clientOrderId === 'string' && !this.orders.has(rec.clientOrderId)) this.addChild(plan, rec as never);
        return;
      case 'refused': {
        const m = typeof rec.clientOrderId === 'string' ? /-(\d+)$/.exec(rec.clientOrderId) : null;
        if (plan && m && Number(m[1]) >= plan.nextChild) plan.nextChild = Number(m[1]) + 1;
        return;
      }
      case 'fill': {
        const o = typeof rec.clientOrderId === 'string' ? this.orders.get(rec.clientOrderId) : undefined;
        const price = rec.price as number;
        const size = rec.size as number;
        if (!o || !(price > 0) || !(size > 0) || typeof rec.n !== 'number') {
          // a fill the journal cannot place would leave inventory wrong: fail closed, as the trade journal does
          throw new EngineError(ErrorCode.HEDGE_JOURNAL, `hedge journal entry ${seq}: a fill for an order the journal does not hold, or malformed`);
        }
        this.applyFill(o.plan, o.child, rec.n, price, size, Number(rec.ts), true);
        return;
      }
      case 'result': {
        const o = typeof rec.clientOrderId === 'string' ? this.orders.get(rec.clientOrderId) : undefined;
        if (o) {
          o.child.state = 'done';
          this.open.delete(o.child.clientOrderId);
          o.child.status = String(rec.status);
          o.child.reason = rec.reason === null ? null : String(rec.reason);
        }
        return;
      }
      case 'plan':
        if (plan && plan.state === 'working') {
          plan.state = rec.state as PlanState;
          if (this.active[plan.iid] === plan) this.active[plan.iid] = undefined;
          if (this.unwinding[plan.iid] === plan) this.unwinding[plan.iid] = undefined;
        }
        return;
      default:
        this.stats.badEntries++;
    }
  }

  // ── helpers ─────────────────────────────────────────────────────────────────────────────────

  /** A refused or rejected child: the plan and its instrument wait retryAfterMs (never a hot retry loop). */
  private block(p: Plan): void {
    const until = this.ctx.clock.nowMs() + this.params.router.retryAfterMs;
    p.blockedUntilMs = until;
    if (this.blockedUntilMs[p.iid] < until) this.blockedUntilMs[p.iid] = until;
  }

  private noteSeq(seq: number): void {
    if (seq > this.appliedSeq) this.appliedSeq = seq;
  }

  private fail(code: (typeof ERROR_CODES)[number], obj: object, msg: string): void {
    this.errors.incLabel(code);
    if (code === ErrorCode.HEDGE_JOURNAL) this.stats.journalFailures++;
    this.ctx.log.warn({ ...obj, code }, msg);
  }

  private safe(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      // a listener or the guard throwing is its own bug: the router's state is already consistent
      this.ctx.log.error({ err: (e as Error).message }, 'hedge listener failed');
    }
  }

  /** Test hook: the chain of `iid` settled (decisions and orders queued so far are done). */
  async idle(): Promise<void> {
    let before: Promise<void>[];
    do {
      before = [...this.chains];
      await Promise.all(before);
    } while (before.some((c, i) => c !== this.chains[i]));
  }
}

/** The plan id of a trade's decision: 'D' + the trade id's hex (trade ids are 'T' + 32 hex). */
export function planIdOf(tradeId: string): string {
  return `D${tradeId.slice(1)}`;
}

/** To the tick, away from the touch (dir +1 up, −1 down), exact for ticks like 0.001 and 1/128. */
function roundTick(x: number, tick: number, dir: 1 | -1): number {
  const k = dir > 0 ? Math.ceil(x / tick - 1e-9) : Math.floor(x / tick + 1e-9);
  return Number((k * tick).toPrecision(12));
}
