/**
 * The co-pilot service: listens to RFQ state changes, computes a recommendation on the worker for
 * every RFQ routed to a trader, pushes it to trader/admin sockets, keeps the decision audit, and
 * answers the trader kinds `copilot`, `rfq_take`, `axes` and `axe_show` (docs/protocol.md § Co-pilot
 * and axes). Cold path: nothing here runs per tick.
 *
 *   rfq.onEvent ─ queued ──► gather inputs (market, inventory, CRM, history) ──► worker ──► {t:'copilot'} + audit 'recommended'
 *               ├ quoted by a trader ─────────────────────────────────────────────────────► audit 'sent'
 *               ├ rejected by a trader ───────────────────────────────────────────────────► audit 'rejected'
 *               └ booked / rejected / expired ────────────────────────────────────────────► audit 'outcome'
 *
 * Entitlements: every kind here is trader/admin only; a client token gets QE_RFQ_NOT_ENTITLED and
 * nothing changes. A client only ever receives `{t:'axe'}` frames addressed to it (sendToClient).
 */
import { z } from 'zod';
import type { Config, Tier, Universe } from '../config.js';
import type { ClientDirectory } from '../crm/types.js';
import type { MarkoutRecorder } from '../crm/markout.js';
import { ErrorCode } from '../errors.js';
import type { OutboundMessage, RequestHandler, RequestRefusal, Session } from '../gateway/gateway.js';
import { hedgeInstrumentFromConfig, proxyCorrelation } from '../hedging/costs.js';
import type { Logger } from '../hotpath.js';
import type { Inventory } from '../inventory/index.js';
import { InstrumentStatus, VenueState, type MarketState } from '../market/index.js';
import type { RfqView } from '../rfq/messages.js';
import { shadingBps, sizeLimit } from '../rfq/pricing.js';
import type { Clock } from '../clock.js';
import type { DecisionJournal } from './audit.js';
import { AxeBook } from './axes.js';
import type { CopilotConfig } from './config.js';
import { distanceBps, type ClientContext, type CopilotInput, type ModelParams, type PastQuote, type Recommendation, type Side } from './model.js';
import type { CopilotRunner } from './pool.js';

/** One RFQ state change (engine/rfq/service.ts `onEvent`). */
export interface RfqChange {
  readonly rfqId: string;
  readonly view: RfqView;
  readonly prev: string | null;
  readonly actor?: { readonly client: string; readonly role: string };
}

/** What the service reads of the RFQ service. */
export interface RfqSource {
  onEvent(listener: (e: RfqChange) => void): void;
  view(rfqId: string): RfqView | null;
  state(rfqId: string): { readonly kind: string; readonly tradeId?: string; readonly code?: string; readonly reason?: unknown } | undefined;
}

export interface Outbox {
  sendTo(session: Session, msg: OutboundMessage): boolean;
  sendToClient(clientId: string, msg: OutboundMessage): number;
  sendToRole(role: 'trader' | 'admin', msg: OutboundMessage): number;
}

export interface CopilotDeps {
  readonly config: Config;
  readonly universe: Universe;
  readonly cfg: CopilotConfig;
  readonly clock: Clock;
  readonly log: Logger;
  readonly market: MarketState;
  readonly inventory: Inventory;
  readonly feedConnected: () => boolean;
  readonly out: Outbox;
  readonly rfq: RfqSource;
  readonly runner: CopilotRunner;
  readonly directory: () => ClientDirectory | undefined;
  readonly markout?: MarkoutRecorder;
  readonly audit?: DecisionJournal;
}

export const COPILOT_KINDS: ReadonlySet<string> = new Set(['copilot', 'rfq_take', 'axes', 'axe_show']);
const TRADER_ROLES: ReadonlySet<string> = new Set(['trader', 'admin']);
const id = z.union([z.string().max(64), z.number().int().safe()]);
const rfqId = z.string().min(1).max(64);
const token = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/);
/** Sizes and prices are only typed here: whether they are sane is a coded rejection (QE_RFQ_BAD_SIZE …). */
const schemas = {
  copilot: z.strictObject({ t: z.literal('copilot'), id: id.optional(), rfqId }),
  rfq_take: z.strictObject({ t: z.literal('rfq_take'), id: id.optional(), rfqId }),
  axes: z.strictObject({ t: z.literal('axes'), id: id.optional(), i: token.optional() }),
  axe_show: z.strictObject({
    t: z.literal('axe_show'), id: id.optional(), i: token, side: z.enum(['buy', 'sell']), clients: z.array(token).min(1).max(50),
    size: z.number().optional(), shadeBps: z.number().optional(),
  }),
};
type Msg = { [K in keyof typeof schemas]: z.output<(typeof schemas)[K]> }[keyof typeof schemas];

interface Tracked {
  rec: Recommendation | null;
  /** the computation in flight */
  pending: Promise<void> | null;
  failure: string | null;
  takenBy: string | null;
  mid: number;
  /** the view when it was queued (audit rows carry it) */
  view: RfqView;
}

export class CopilotService implements RequestHandler {
  readonly kinds = COPILOT_KINDS;
  readonly axes: AxeBook;
  private readonly tracked = new Map<string, Tracked>();
  /** per client: outcomes of its quoted RFQs (win model) */
  private readonly history = new Map<string, PastQuote[]>();
  /** per client: RFQs quoted and not yet ended: distance at the quote */
  private readonly openQuotes = new Map<string, { clientId: string; distanceBps: number }>();
  private readonly recent = new Map<string, ClientContext['recentTrades'][number][]>();
  private readonly params: ModelParams;
  /** booked RFQs the audit follows to their markout: tradeId → view (dropped after the longest horizon) */
  private readonly awaitingMarkout = new Map<string, { view: RfqView; untilMs: number }>();
  private closed = false;

  constructor(private readonly d: CopilotDeps) {
    const c = d.cfg;
    this.params = { ciZ: c.ciZ, volParamUncertainty: c.volParamUncertainty, hedgeCostUncertainty: c.hedgeCostUncertainty, axeImproveBps: c.axeImproveBps, maxClips: c.maxClips, stressVolMult: c.stressVolMult, winModel: c.winModel };
    this.axes = new AxeBook(d.config, d.directory, c.axes);
    d.rfq.onEvent((e) => this.onRfq(e));
    d.markout?.onMarkout((tradeId, horizonMs, bps, detail) => this.onMarkout(tradeId, horizonMs, bps, detail.totalBps));
  }

  private onMarkout(tradeId: string, horizonMs: number, bps: number, totalBps: number): void {
    const w = this.awaitingMarkout.get(tradeId);
    if (w === undefined) return;
    void this.d.audit?.record({ ...this.auditBase(w.view, this.d.clock.nowMs()), kind: 'markout', tradeId, horizonMs, markoutBps: bps, totalBps });
  }

  /** Every booked trade (replayed and live): recent trades and flow. */
  onBooked(t: { tradeId: string; clientId: string; instrument: string; side: Side; size: number; price: number; ts: number }): void {
    let l = this.recent.get(t.clientId);
    if (l === undefined) this.recent.set(t.clientId, (l = []));
    l.push({ tradeId: t.tradeId, i: t.instrument, side: t.side, size: t.size, price: t.price, ts: t.ts });
    if (l.length > this.d.cfg.recentTrades) l.splice(0, l.length - this.d.cfg.recentTrades);
    this.axes.onTrade(t);
  }

  /** The current recommendation of an RFQ (tests, screen). */
  recommendation(rfqId: string): Recommendation | null {
    return this.tracked.get(rfqId)?.rec ?? null;
  }

  takenBy(rfqId: string): string | null {
    return this.tracked.get(rfqId)?.takenBy ?? null;
  }

  /** Waits for every recommendation in flight (tests, shutdown). */
  async settle(): Promise<void> {
    await Promise.all([...this.tracked.values()].map((t) => t.pending).filter((p) => p !== null));
    await this.d.audit?.flush();
  }

  close(): void {
    this.closed = true;
  }

  // ── RFQ events ───────────────────────────────────────────────────────────────────────────────

  private onRfq(e: RfqChange): void {
    if (this.closed) return;
    const v = e.view;
    const now = this.d.clock.nowMs();
    const iid = this.d.universe.instrumentIndex.get(v.i);
    // win-model history: every quoted RFQ of a client, whoever priced it
    if (v.state === 'quoted' && v.price !== null && iid !== undefined) {
      const mid = this.d.market.mid[iid];
      if (mid > 0) this.openQuotes.set(e.rfqId, { clientId: v.client, distanceBps: distanceBps(v.side, v.price, mid) });
    } else if (v.state === 'booked' || v.state === 'expired' || v.state === 'rejected') {
      const q = this.openQuotes.get(e.rfqId);
      this.openQuotes.delete(e.rfqId);
      // a last-look rejection still means the client said yes; a trader's rejection says nothing of the client
      const won = v.state === 'booked' || (v.state === 'rejected' && e.prev === 'quoted' && e.actor === undefined && this.acceptedThenRejected(e.rfqId));
      if (q !== undefined && !(v.state === 'rejected' && e.actor !== undefined)) this.pushHistory(q.clientId, { distanceBps: q.distanceBps, won });
    }

    if (v.state === 'queued' && e.prev === null) {
      if (!this.d.cfg.enabled || iid === undefined) return;
      const tr: Tracked = { rec: null, pending: null, failure: null, takenBy: null, mid: this.d.market.mid[iid], view: v };
      this.tracked.set(e.rfqId, tr);
      tr.pending = this.compute(e.rfqId, v, iid, now, tr).finally(() => (tr.pending = null));
      return;
    }
    const tr = this.tracked.get(e.rfqId);
    if (tr === undefined) return;
    const base = this.auditBase(tr.view, now);
    if (v.state === 'quoted' && e.actor !== undefined) {
      const rec = tr.rec;
      const asRecommended = rec !== null && rec.ok && rec.price!.value === v.price && rec.size!.value === v.quoteSize;
      void this.d.audit?.record({ ...base, kind: 'sent', price: v.price ?? undefined, size: v.quoteSize ?? undefined, by: e.actor.client, asRecommended, quoteId: v.quoteId ?? undefined });
    }
    if (v.state === 'rejected' && e.actor !== undefined) {
      const st = this.d.rfq.state(e.rfqId);
      void this.d.audit?.record({ ...base, kind: 'rejected', by: e.actor.client, text: typeof st?.reason === 'string' ? st.reason.slice(0, 200) : undefined });
    }
    if (v.state === 'booked' || v.state === 'rejected' || v.state === 'expired') {
      const st = this.d.rfq.state(e.rfqId);
      void this.d.audit?.record({
        ...base, kind: 'outcome', outcome: v.state, price: v.price ?? undefined, size: v.quoteSize ?? undefined,
        tradeId: typeof st?.tradeId === 'string' ? st.tradeId : undefined, code: typeof st?.code === 'string' ? st.code : undefined,
      });
      this.tracked.delete(e.rfqId);
      if (v.state === 'booked' && typeof st?.tradeId === 'string') {
        // the longest markout horizon plus slack; older entries are swept here, on the next outcome
        this.awaitingMarkout.set(st.tradeId, { view: tr.view, untilMs: now + 10 * 60_000 });
        for (const [k, w] of this.awaitingMarkout) {
          if (w.untilMs >= now) continue;
          this.awaitingMarkout.delete(k);
          this.d.audit?.forget(w.view.rfqId);
        }
      } else this.d.audit?.forget(e.rfqId);
      this.d.out.sendToRole('trader', { t: 'copilot_closed', rfqId: e.rfqId, state: v.state, serverTime: now });
      this.d.out.sendToRole('admin', { t: 'copilot_closed', rfqId: e.rfqId, state: v.state, serverTime: now });
    }
  }

  private acceptedThenRejected(rfqId: string): boolean {
    const st = this.d.rfq.state(rfqId) as { acceptId?: string } | undefined;
    return st !== undefined && typeof st.acceptId === 'string';
  }

  private pushHistory(clientId: string, q: PastQuote): void {
    let h = this.history.get(clientId);
    if (h === undefined) this.history.set(clientId, (h = []));
    h.push(q);
    if (h.length > this.d.cfg.winModel.maxHistory) h.splice(0, h.length - this.d.cfg.winModel.maxHistory);
  }

  private async compute(rfqId: string, v: RfqView, iid: number, now: number, tr: Tracked): Promise<void> {
    const input = this.inputFor(v, iid, now);
    const shown = input.shownAxe;
    if (shown !== null) this.axes.consume(v.client, iid, v.side);
    const r = await this.d.runner.run(input);
    if (this.closed) return;
    if (!r.ok) {
      tr.failure = `${r.code}: ${r.message}`;
      this.d.log.warn({ rfqId, code: r.code, err: r.message }, 'no co-pilot recommendation');
      return;
    }
    tr.rec = r.rec;
    const st = this.d.rfq.view(rfqId);
    // the RFQ may have moved on while the worker ran: the recommendation is kept for the audit, not pushed
    if (st !== null && st.state === 'queued') {
      const msg = this.copilotMsg(rfqId, tr, undefined);
      this.d.out.sendToRole('trader', msg);
      this.d.out.sendToRole('admin', msg);
    }
    const rec = r.rec;
    if (rec.ok) {
      void this.d.audit?.record({
        ...this.auditBase(v, this.d.clock.nowMs()), kind: 'recommended', price: rec.price!.value, size: rec.size!.value, ciLow: rec.ci!.low, ciHigh: rec.ci!.high,
        mid: rec.price!.inputs.mid as number, hedge: rec.hedge!.option, withAxe: rec.axe!.withAxe, winP: rec.win!.atRecommended,
      });
    }
  }

  private auditBase(v: RfqView, ts: number) {
    return { rfqId: v.rfqId, ts, clientId: v.client, i: v.i, side: v.side, requestedSize: v.size, tier: v.tier, reason: v.reason };
  }

  private copilotMsg(rfqId: string, tr: Tracked, reqId: string | number | undefined): OutboundMessage {
    const m: Record<string, unknown> = { t: 'copilot', rfqId, rec: tr.rec, takenBy: tr.takenBy, serverTime: this.d.clock.nowMs() };
    if (reqId !== undefined) m.id = reqId;
    return m as OutboundMessage;
  }

  /** Everything the model needs, gathered on the main thread (a copy: the worker gets a snapshot). */
  inputFor(v: RfqView, iid: number, now: number): CopilotInput {
    const c = this.d.config;
    const ins = c.instruments[iid];
    const mk = this.d.market;
    const dir = this.d.directory();
    const rec = dir?.get(v.client);
    const tier = v.tier as Tier;
    const hedgeIns = hedgeInstrumentFromConfig(ins, c.liquidity);
    const firm = this.d.feedConnected() && mk.status[iid] === InstrumentStatus.FIRM && mk.mid[iid] > 0;
    // venue dispersion: stdev of the live venues' mids around the composite
    let n = 0, s2 = 0;
    const mid = mk.mid[iid];
    for (const name of ins.venues) {
      const vid = this.d.universe.venueIndex.get(name);
      if (vid === undefined) continue;
      const slot = iid * mk.venueCount + vid;
      if (mk.venueState[slot] !== VenueState.LIVE) continue;
      const vm = (mk.venueBid[slot] + mk.venueAsk[slot]) / 2;
      if (!(vm > 0) || !(mid > 0)) continue;
      const dv = ((vm - mid) / mid) * 1e4;
      s2 += dv * dv;
      n++;
    }
    let proxy: CopilotInput['proxy'] = null;
    if (ins.hedgeProxy !== null) {
      const pid = this.d.universe.instrumentIndex.get(ins.hedgeProxy);
      if (pid !== undefined) {
        const p = c.instruments[pid];
        proxy = {
          instrument: hedgeInstrumentFromConfig(p, c.liquidity),
          market: { mid: mk.mid[pid], volBpsPerSqrtSec: Math.max(mk.volFastBps[pid], mk.volSlowBps[pid]), halfSpreadBps: mk.halfSpreadBps[pid], firm: this.d.feedConnected() && mk.status[pid] === InstrumentStatus.FIRM },
          beta: ins.hedgeBeta,
          correlation: proxyCorrelation(c.hedging, ins.id),
        };
      }
    }
    // offsetting flow for the hold option: clients whose natural interest takes the resulting position off
    const after = this.d.inventory.position[iid] + (v.side === 'buy' ? -v.size : v.size);
    const takeOffSide: Side = after > 0 ? 'buy' : 'sell';
    let axeOffset = 0;
    for (const r of dir?.list() ?? []) for (const ni of r.naturalInterest) if (ni.instrument === ins.id && ni.side === takeOffSide) axeOffset += hedgeIns.clipNotional;
    const deskAxe = dir?.axes().axes.find((a) => a.instrument === ins.id) ?? null;
    const score = dir?.score(v.client);
    const hist = this.history.get(v.client) ?? [];
    const won = hist.filter((h) => h.won).length;
    let markoutBps: number | null = score?.raw?.markoutBps ?? null;
    if (markoutBps === null && this.d.markout !== undefined) {
      const av = Object.values(this.d.markout.averages(v.client)).filter((x) => Number.isFinite(x));
      if (av.length > 0) markoutBps = av.reduce((a, b) => a + b, 0) / av.length;
    }
    const client: ClientContext = {
      clientId: v.client,
      name: rec?.name ?? null,
      tier: rec?.tier ?? v.tier,
      effectiveTier: dir?.effectiveTier(v.client, now) ?? null,
      override: rec?.override ? { tier: rec.override.tier, reason: rec.override.reason, author: rec.override.author, expiresAtMs: rec.override.expiresAtMs } : null,
      score: score ? { score: score.score, components: { ...score.components }, proposedTier: score.proposedTier } : null,
      recentTrades: [...(this.recent.get(v.client) ?? [])].reverse(),
      hitRatio: hist.length > 0 ? won / hist.length : null,
      quotedRfqs: hist.length,
      markoutBps,
      naturalInterest: (rec?.naturalInterest ?? []).map((x) => ({ instrument: x.instrument, side: x.side, note: x.note })),
      agreements: (rec?.agreements ?? []).map((a) => ({ ...a })),
      shadingBps: shadingBps(rec, ins),
      maxSize: rec ? sizeLimit(rec, ins, Number.POSITIVE_INFINITY) : null,
    };
    const shown = this.axes.shownFor(v.client, iid, v.side, now);
    return {
      rfq: { rfqId: v.rfqId, clientId: v.client, tier: v.tier, instrument: v.i, side: v.side, size: v.size, limit: v.limit, reason: v.reason, regime: v.regime ?? null },
      instrument: {
        ...hedgeIns, tickSize: ins.tickSize, minSize: ins.minSize, maxSize: ins.maxSize, baseSpreadBps: ins.baseSpreadBps,
        tierSpreadMult: c.tiers[String(tier) as '1' | '2' | '3'].spreadMult, minHalfSpreadBps: c.pricing.minSpreadBps / 2, collarBps: ins.collarBps ?? c.pricing.collarBps,
      },
      market: { mid, volFastBps: mk.volFastBps[iid], volSlowBps: mk.volSlowBps[iid], halfSpreadBps: mk.halfSpreadBps[iid], firm, venueMidStdBps: n >= 2 ? Math.sqrt(s2 / n) : NaN, liveVenues: mk.liveVenues[iid] },
      positionNotional: this.d.inventory.position[iid],
      deskAxe: deskAxe ? { side: deskAxe.side, size: deskAxe.size } : null,
      client,
      history: hist.slice(),
      shownAxe: shown ? { price: shown.price, size: shown.size, validUntil: shown.validUntil } : null,
      flow: { expectedOffsetNotional: 0, axeOffsetNotional: axeOffset, earnedHalfSpreadBps: (ins.baseSpreadBps / 2) * c.tiers['2'].spreadMult },
      proxy,
      hedging: c.hedging,
      params: this.params,
      nowMs: now,
    };
  }

  // ── trader requests ──────────────────────────────────────────────────────────────────────────

  handle(s: Session, raw: Record<string, unknown>): RequestRefusal | void {
    const reqId = typeof raw.id === 'string' || typeof raw.id === 'number' ? raw.id : undefined;
    const schema = schemas[raw.t as keyof typeof schemas];
    if (schema === undefined) return { code: ErrorCode.WS_BAD_MESSAGE, message: 'unknown message type' };
    // entitlement first: a client learns nothing about the shape trader messages take
    if (!TRADER_ROLES.has(s.role)) {
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_NOT_ENTITLED, `${String(raw.t)}: trader role required`, reqId, typeof raw.rfqId === 'string' ? raw.rfqId.slice(0, 64) : undefined));
      return;
    }
    const p = schema.safeParse(raw);
    if (!p.success) {
      const i = p.error.issues[0];
      const r: RequestRefusal = { code: ErrorCode.WS_BAD_MESSAGE, message: `${String(raw.t)}: ${i.path.join('.') || 'message'}: ${i.message}`.slice(0, 200) };
      return reqId === undefined ? r : { ...r, id: reqId };
    }
    const m = p.data as Msg;
    switch (m.t) {
      case 'copilot': return this.ask(s, m);
      case 'rfq_take': return this.take(s, m);
      case 'axes': return this.listAxes(s, m);
      case 'axe_show': return this.showAxe(s, m);
    }
  }

  /** The RFQ a request names, if it is queued; else tells the sender why not. */
  private queued(s: Session, rfqId: string, reqId: string | number | undefined): RfqView | null {
    const v = this.d.rfq.view(rfqId);
    if (v === null) {
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_UNKNOWN_RFQ, 'no such RFQ', reqId, rfqId));
      return null;
    }
    if (v.state !== 'queued') {
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_NOT_QUOTED, `RFQ is ${v.state}: nothing to decide`, reqId, rfqId));
      return null;
    }
    return v;
  }

  private ask(s: Session, m: Extract<Msg, { t: 'copilot' }>): void {
    if (this.queued(s, m.rfqId, m.id) === null) return;
    const tr = this.tracked.get(m.rfqId);
    const answer = () => {
      const t = this.tracked.get(m.rfqId);
      if (t?.rec) this.d.out.sendTo(s, this.copilotMsg(m.rfqId, t, m.id));
      else this.d.out.sendTo(s, this.rejected(ErrorCode.COPILOT_UNAVAILABLE, t?.failure ?? (this.d.cfg.enabled ? 'no recommendation for this RFQ' : 'the co-pilot is disabled'), m.id, m.rfqId));
    };
    if (tr?.pending) void tr.pending.then(answer);
    else answer();
  }

  /**
   * Take it over and hold: the RFQ is this trader's; every trader/admin screen is told
   * ({t:'rfq_taken'}). A second trader's take is refused (QE_COPILOT_TAKEN); the same trader's is
   * answered again. The RFQ still expires at its queue deadline.
   */
  private take(s: Session, m: Extract<Msg, { t: 'rfq_take' }>): void {
    const v = this.queued(s, m.rfqId, m.id);
    if (v === null) return;
    let tr = this.tracked.get(m.rfqId);
    if (tr === undefined) {
      tr = { rec: null, pending: null, failure: null, takenBy: null, mid: NaN, view: v };
      this.tracked.set(m.rfqId, tr);
    }
    if (tr.takenBy !== null && tr.takenBy !== s.client) {
      this.d.out.sendTo(s, this.rejected(ErrorCode.COPILOT_TAKEN, `taken over by ${tr.takenBy}`, m.id, m.rfqId));
      return;
    }
    const first = tr.takenBy === null;
    tr.takenBy = s.client;
    const now = this.d.clock.nowMs();
    const msg = { t: 'rfq_taken', rfqId: m.rfqId, by: s.client, serverTime: now };
    if (first) {
      this.d.out.sendToRole('trader', msg);
      this.d.out.sendToRole('admin', msg);
      void this.d.audit?.record({ ...this.auditBase(v, now), kind: 'taken', by: s.client });
    } else this.d.out.sendTo(s, msg);
  }

  /** For the RFQ service's trader-action guard: who may quote or reject an RFQ taken over. */
  actionRefusal(s: Session, rfqId: string): { code: string; message: string } | null {
    const by = this.tracked.get(rfqId)?.takenBy ?? null;
    return by !== null && by !== s.client ? { code: ErrorCode.COPILOT_TAKEN, message: `taken over by ${by}` } : null;
  }

  private listAxes(s: Session, m: Extract<Msg, { t: 'axes' }>): void {
    const now = this.d.clock.nowMs();
    if (m.i !== undefined && !this.d.universe.instrumentIndex.has(m.i)) {
      this.d.out.sendTo(s, this.rejected(ErrorCode.WS_UNKNOWN_INSTRUMENT, `unknown instrument ${m.i}`, m.id));
      return;
    }
    const positions = this.axes.positions(this.d.inventory.position, now, m.i);
    const out: Record<string, unknown> = { t: 'axes', positions, serverTime: now };
    if (m.id !== undefined) out.id = m.id;
    this.d.out.sendTo(s, out as OutboundMessage);
  }

  private showAxe(s: Session, m: Extract<Msg, { t: 'axe_show' }>): void {
    const now = this.d.clock.nowMs();
    const iid = this.d.universe.instrumentIndex.get(m.i);
    if (iid === undefined) {
      this.d.out.sendTo(s, this.rejected(ErrorCode.WS_UNKNOWN_INSTRUMENT, `unknown instrument ${m.i}`, m.id));
      return;
    }
    const ins = this.d.config.instruments[iid];
    const workable = this.axes.workable(iid, m.side, this.d.inventory.position[iid]);
    if (!(workable > 0)) {
      this.d.out.sendTo(s, this.rejected(ErrorCode.AXE_NO_POSITION, `no position to work with clients who ${m.side} ${m.i}`, m.id));
      return;
    }
    const size = m.size ?? workable;
    const lots = size / ins.lotSize;
    if (!(Number.isFinite(size) && size > 0 && size >= ins.minSize && size <= workable && Math.abs(lots - Math.round(lots)) < 1e-9)) {
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_BAD_SIZE, `size must be whole lots of ${ins.lotSize}, at least ${ins.minSize} and at most the ${workable} to work`, m.id));
      return;
    }
    const shade = m.shadeBps ?? this.d.cfg.axes.shadeBps;
    if (!(Number.isFinite(shade) && shade >= 0 && shade <= 100)) {
      this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_BAD_PRICE, 'shadeBps must be a number in [0, 100]', m.id));
      return;
    }
    const dir = this.d.directory();
    const uniq = new Set(m.clients);
    for (const c of m.clients) {
      if (uniq.size !== m.clients.length || dir?.get(c) === undefined || !this.axes.isClientAccount(c)) {
        this.d.out.sendTo(s, this.rejected(ErrorCode.AXE_UNKNOWN_CLIENT, uniq.size !== m.clients.length ? 'a client is named twice' : `unknown client ${c}`, m.id));
        return;
      }
    }
    const mid = this.d.market.mid[iid];
    const firm = this.d.feedConnected() && this.d.market.status[iid] === InstrumentStatus.FIRM;
    // every price first: all clients get theirs, or none does
    const prices: Array<[string, number]> = [];
    for (const c of m.clients) {
      const tier = (dir!.effectiveTier(c, now) ?? dir!.get(c)!.tier) as Tier;
      const price = firm ? this.axes.axePrice(iid, m.side, tier, mid, shade) : null;
      if (price === null) {
        this.d.out.sendTo(s, this.rejected(ErrorCode.RFQ_BAD_PRICE, firm ? 'the shaded price would be outside the collar' : 'the market is not firm: no axe price', m.id));
        return;
      }
      prices.push([c, price]);
    }
    const validUntil = now + this.d.cfg.axes.ttlMs;
    const shown: Array<{ clientId: string; price: number; delivered: number }> = [];
    for (const [c, price] of prices) {
      this.axes.show({ clientId: c, iid, i: m.i, side: m.side, size, price, validUntil, by: s.client, shownMs: now });
      const delivered = this.d.out.sendToClient(c, { t: 'axe', i: m.i, side: m.side, size, price, validUntil, serverTime: now });
      shown.push({ clientId: c, price, delivered });
    }
    this.d.log.info({ by: s.client, i: m.i, side: m.side, size, shadeBps: shade, clients: m.clients }, 'axe shown');
    const ack: Record<string, unknown> = { t: 'axe_shown', i: m.i, side: m.side, size, validUntil, shown, serverTime: now };
    if (m.id !== undefined) ack.id = m.id;
    this.d.out.sendTo(s, ack as OutboundMessage);
  }

  private rejected(code: string, message: string, reqId?: string | number, rfqId?: string): OutboundMessage {
    const m: Record<string, unknown> = { t: 'rejected', code, message, serverTime: this.d.clock.nowMs() };
    if (reqId !== undefined) m.id = reqId;
    if (rfqId !== undefined) m.rfqId = rfqId;
    return m as OutboundMessage;
  }
}
