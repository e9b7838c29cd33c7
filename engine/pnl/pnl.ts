/**
 * The P&L split (docs/pnl.md § P&L split). Every fill of the book — a client trade or a hedge
 * fill — has a desk quantity q (desk buys = +), a price p and a REFERENCE mid r₀:
 *
 *   client trade   r₀ = the composite mid at the trade (the journal's `mid`; the price when null)
 *   hedge fill     r₀ = the composite mid when the hedge was decided (`midAtDecision`; else the price)
 *   carry-in       at the start of the day every open position is carried in at the mark then (p = r₀)
 *
 * With M the instrument's mark now and k = priceScale × ccyRate (currency per notional × price
 * point), the fill's P&L to date is q·(M − p)·k, and the total P&L of the book — realized plus
 * unrealized, whatever the cost method — is the sum of that over every fill. It splits EXACTLY:
 *
 *   q(M − p) =  q(r₀ − p)           spread capture (client trade) | hedge cost (hedge fill)
 *            +  q(r_h − r₀)         markout: the mid move over the longest markout horizon h
 *                                   sampled so far (client trades only; 0 before the first sample)
 *            +  q(M − r_h)          inventory mark-to-market: the mid move since then (r_h = r₀
 *                                   until a markout sample moves the reference)
 *
 * so spread + hedge cost + markout + inventory = total, per fill and therefore per any grouping
 * of fills: per trade (its own fill and the hedge fills that name it), client, tier, instrument
 * and desk. Markout here is the same quantity as the CRM's bps markout (engine/crm/markout.ts),
 * turned into currency: size × mid × bps / 10⁴ × k, positive = good for the desk.
 *
 * The total is ALSO kept independently as an average-cost book per instrument (realized +
 * position × (M − average cost)); the property test holds the two equal.
 *
 * Aggregates are running sums, O(1) per event: per group and instrument, Q = Σ q and
 * QR = Σ q·r (the current reference), so inventory = Σᵢ (Mᵢ·Qᵢ − QRᵢ)·kᵢ at read time; spread,
 * hedge cost and markout are sums in currency.
 *
 * Day boundary: at the roll every group restarts from its carried positions (Q kept, QR = Q·M₀,
 * the other parts 0) and the average-cost book re-bases at M₀; per-trade records are dropped.
 * So after a roll every figure is "today", and `deskTotal()` is `deskPnlToday()`.
 */
export interface PnlTradeInput {
  readonly tradeId: string;
  readonly clientId: string;
  readonly tier: number;
  readonly iid: number;
  readonly deskQty: number;
  readonly price: number;
  /** composite mid at the trade; null / non-positive = none (spread capture 0) */
  readonly mid: number | null;
  readonly ts: number;
}

/** A hedge fill as the hedger reports it (engine/hedging/router.ts `onFill`). */
export interface HedgeFillInput {
  readonly fillId: string;
  readonly planId?: string;
  /** the client trade the hedge is for (null / unknown = the desk's, unattributed) */
  readonly tradeId?: string | null;
  readonly iid: number;
  readonly instrument?: string;
  readonly venue?: string;
  readonly deskQty: number;
  readonly price: number;
  readonly midAtDecision?: number | null;
  readonly ts: number;
}

export const PnlEventResult = { OK: 'ok', DUPLICATE: 'duplicate', INVALID: 'invalid', UNKNOWN_TRADE: 'unknown_trade' } as const;
export type PnlEventResult = (typeof PnlEventResult)[keyof typeof PnlEventResult];

/** The four parts and their sum, in the reporting currency. */
export interface Split {
  readonly spread: number;
  readonly hedgeCost: number;
  readonly markout: number;
  readonly inventory: number;
  readonly total: number;
  readonly trades: number;
  readonly hedgeFills: number;
}

export interface TradeSplit extends Split {
  readonly tradeId: string;
  readonly clientId: string;
  readonly tier: number;
  readonly instrument: string;
  readonly deskQty: number;
  readonly price: number;
  readonly mid: number | null;
  readonly ts: number;
  /** the longest markout horizon sampled (ms), 0 = none yet */
  readonly markoutHorizonMs: number;
}

export interface PnlBookOptions {
  /** instrument ids in universe order */
  readonly ids: readonly string[];
  /** currency per (notional × price point), per iid (priceScale × ccyRate) */
  readonly scale: readonly number[];
  /** per-trade records kept for `recent()` */
  readonly recentTrades: number;
  /** `utc_midnight` rolls at rollUtcMinute each day; `engine_start` only when `roll()` is called */
  readonly dayStart: 'utc_midnight' | 'engine_start';
  readonly rollUtcMinute: number;
  /** the live mark (composite mid) or NaN; the book falls back to the last one it saw */
  readonly liveMid: (iid: number) => number;
}

const DAY_MS = 86_400_000;

/** Running sums of one group (a client, a tier, an instrument, the desk). */
class Group {
  spread = 0;
  hedgeCost = 0;
  markout = 0;
  trades = 0;
  hedgeFills = 0;
  /**
   * Σ q and Σ q·r per instrument (price units), only for instruments the group touched: sparse, as
   * a group per instrument × a dense array per instrument would be n² (20,000 instruments allowed).
   */
  readonly legs = new Map<number, { q: number; qr: number }>();
  add(iid: number, q: number, qr: number): void {
    const l = this.legs.get(iid);
    if (l === undefined) this.legs.set(iid, { q, qr });
    else {
      l.q += q;
      l.qr += qr;
    }
  }
}

interface HedgeLeg {
  readonly iid: number;
  readonly q: number;
  readonly ref: number;
  readonly cost: number;
}

interface TradeRec {
  readonly input: PnlTradeInput;
  readonly ref0: number;
  /** current reference (r_h) */
  ref: number;
  horizonMs: number;
  spread: number;
  markout: number;
  readonly hedges: HedgeLeg[];
}

export class PnlBook {
  private readonly n: number;
  private readonly desk: Group;
  /** hedge fills naming no trade of today */
  private readonly unattributed: Group;
  private readonly byClient = new Map<string, Group>();
  private readonly byTier = new Map<number, Group>();
  private readonly byInstrument: Group[];
  private trades = new Map<string, TradeRec>();
  private readonly fills = new Set<string>();
  private recentIds: string[] = [];
  /** average-cost book per instrument (price units): independent total */
  private readonly pos: Float64Array;
  private readonly avg: Float64Array;
  private readonly realized: Float64Array;
  /** last mark seen per instrument (live mid, else the last event's reference) */
  private readonly lastMark: Float64Array;
  /** start of the current day (epoch ms); NaN before the first event or roll */
  dayStartMs = NaN;
  private nextRollMs = NaN;
  /** the carry-in marks of the last roll: an event of an earlier day arriving after it enters at them */
  private rollMarks: Float64Array | undefined;
  /** bumped on every change of the book (not on mark moves): the push compares it */
  version = 0;
  readonly counts: Record<PnlEventResult, number> = { ok: 0, duplicate: 0, invalid: 0, unknown_trade: 0 };

  constructor(private readonly o: PnlBookOptions) {
    const n = (this.n = o.ids.length);
    this.desk = new Group();
    this.unattributed = new Group();
    this.byInstrument = o.ids.map(() => new Group());
    this.pos = new Float64Array(n);
    this.avg = new Float64Array(n);
    this.realized = new Float64Array(n);
    this.lastMark = new Float64Array(n).fill(NaN);
  }

  /** The mark of `iid` now: the live mid when there is one, else the last one seen (NaN: never). */
  mark(iid: number): number {
    const m = this.o.liveMid(iid);
    if (m > 0 && Number.isFinite(m)) this.lastMark[iid] = m;
    return this.lastMark[iid];
  }

  // ── events ───────────────────────────────────────────────────────────────────────────────────

  onTrade(t: PnlTradeInput): PnlEventResult {
    if (!this.validIid(t.iid) || !Number.isFinite(t.deskQty) || t.deskQty === 0 || !(t.price > 0) || !Number.isFinite(t.price) || !Number.isFinite(t.ts)) return this.count(PnlEventResult.INVALID);
    if (this.trades.has(t.tradeId)) return this.count(PnlEventResult.DUPLICATE);
    this.rollIfDue(t.ts);
    const late = this.lateMark(t.iid, t.ts);
    if (late !== undefined) {
      // a trade of an earlier day (re-delivered after the roll): its position is carried in, today's P&L starts at the roll's mark
      this.trades.set(t.tradeId, { input: t, ref0: late, ref: late, horizonMs: Infinity, spread: 0, markout: 0, hedges: [] });
      for (const g of this.groupsOf(t.clientId, t.tier, t.iid)) {
        g.add(t.iid, t.deskQty, t.deskQty * late);
      }
      this.fill(t.iid, t.deskQty, late, late);
      return this.count(PnlEventResult.OK);
    }
    const ref0 = t.mid !== null && t.mid > 0 && Number.isFinite(t.mid) ? t.mid : t.price;
    const rec: TradeRec = { input: t, ref0, ref: ref0, horizonMs: 0, spread: t.deskQty * (ref0 - t.price), markout: 0, hedges: [] };
    this.trades.set(t.tradeId, rec);
    this.recentIds.push(t.tradeId);
    if (this.recentIds.length > 2 * Math.max(this.o.recentTrades, 16)) this.recentIds = this.recentIds.slice(this.recentIds.length - this.o.recentTrades);
    const k = this.o.scale[t.iid];
    for (const g of this.groupsOf(t.clientId, t.tier, t.iid)) {
      g.spread += rec.spread * k;
      g.trades++;
      g.add(t.iid, t.deskQty, t.deskQty * ref0);
    }
    this.fill(t.iid, t.deskQty, t.price, ref0);
    return this.count(PnlEventResult.OK);
  }

  onHedgeFill(f: HedgeFillInput): PnlEventResult {
    if (typeof f.fillId !== 'string' || !this.validIid(f.iid) || !Number.isFinite(f.deskQty) || f.deskQty === 0 || !(f.price > 0) || !Number.isFinite(f.price) || !Number.isFinite(f.ts)) return this.count(PnlEventResult.INVALID);
    if (this.fills.has(f.fillId)) return this.count(PnlEventResult.DUPLICATE);
    this.rollIfDue(f.ts);
    this.fills.add(f.fillId);
    const late = this.lateMark(f.iid, f.ts);
    const m = late ?? f.midAtDecision;
    const price = late ?? f.price;
    const ref = m != null && m > 0 && Number.isFinite(m) ? m : price;
    const cost = f.deskQty * (ref - price);
    const rec = f.tradeId == null || late !== undefined ? undefined : this.trades.get(f.tradeId);
    const k = this.o.scale[f.iid];
    const groups = rec ? this.groupsOf(rec.input.clientId, rec.input.tier, f.iid) : [this.desk, this.unattributed, this.byInstrument[f.iid]];
    for (const g of groups) {
      g.hedgeCost += cost * k;
      if (late === undefined) g.hedgeFills++;
      g.add(f.iid, f.deskQty, f.deskQty * ref);
    }
    rec?.hedges.push({ iid: f.iid, q: f.deskQty, ref, cost });
    this.fill(f.iid, f.deskQty, price, ref);
    return this.count(PnlEventResult.OK);
  }

  /**
   * A markout sample of a trade of today (engine/crm/markout.ts): moves the trade's reference to
   * the mid at the horizon. Only a longer horizon than the last one counts (the longest wins).
   */
  onMarkout(tradeId: string, horizonMs: number, midAtHorizon: number): PnlEventResult {
    const rec = this.trades.get(tradeId);
    if (rec === undefined) return this.count(PnlEventResult.UNKNOWN_TRADE);
    if (!(midAtHorizon > 0) || !Number.isFinite(midAtHorizon) || !(horizonMs > 0)) return this.count(PnlEventResult.INVALID);
    if (horizonMs <= rec.horizonMs) return this.count(PnlEventResult.DUPLICATE);
    const t = rec.input;
    const k = this.o.scale[t.iid];
    const dRef = t.deskQty * (midAtHorizon - rec.ref);
    const newMarkout = t.deskQty * (midAtHorizon - rec.ref0);
    for (const g of this.groupsOf(t.clientId, t.tier, t.iid)) {
      g.markout += (newMarkout - rec.markout) * k;
      g.add(t.iid, 0, dRef);
    }
    rec.markout = newMarkout;
    rec.ref = midAtHorizon;
    rec.horizonMs = horizonMs;
    this.version++;
    return this.count(PnlEventResult.OK);
  }

  // ── day boundary ─────────────────────────────────────────────────────────────────────────────

  /** The start of the trading day containing `ms` (utc_midnight mode). */
  dayStartOf(ms: number): number {
    const off = this.o.rollUtcMinute * 60_000;
    return Math.floor((ms - off) / DAY_MS) * DAY_MS + off;
  }

  /** Rolls when `nowMs` is past the next boundary (utc_midnight); the first call only sets the day. */
  rollIfDue(nowMs: number): void {
    if (this.o.dayStart !== 'utc_midnight') {
      if (Number.isNaN(this.dayStartMs)) this.dayStartMs = nowMs;
      return;
    }
    if (Number.isNaN(this.nextRollMs)) {
      this.dayStartMs = this.dayStartOf(nowMs);
      this.nextRollMs = this.dayStartMs + DAY_MS;
      return;
    }
    if (nowMs >= this.nextRollMs) this.roll(this.dayStartOf(nowMs));
  }

  /**
   * Starts a new day at `dayStartMs`: open positions are carried in at their marks now; every
   * part restarts at 0. A position with no mark at all carries in at its average cost.
   */
  roll(dayStartMs: number): void {
    const m0 = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) {
      const m = this.mark(i);
      m0[i] = m > 0 ? m : this.avg[i];
    }
    const rebase = (g: Group) => {
      g.spread = g.hedgeCost = g.markout = 0;
      g.trades = g.hedgeFills = 0;
      for (const [i, l] of g.legs) {
        if (l.q === 0) g.legs.delete(i);
        else l.qr = l.q * m0[i];
      }
    };
    rebase(this.desk);
    rebase(this.unattributed);
    for (const g of this.byInstrument) rebase(g);
    for (const g of this.byClient.values()) rebase(g);
    for (const g of this.byTier.values()) rebase(g);
    for (let i = 0; i < this.n; i++) {
      this.realized[i] = 0;
      this.avg[i] = this.pos[i] === 0 ? 0 : m0[i];
    }
    // fill ids are kept across days: a hedger re-delivering an old fill must not count it twice
    this.trades = new Map();
    this.recentIds = [];
    this.rollMarks = m0;
    this.dayStartMs = dayStartMs;
    this.nextRollMs = this.o.dayStart === 'utc_midnight' ? dayStartMs + DAY_MS : Infinity;
    this.version++;
  }

  // ── reads ────────────────────────────────────────────────────────────────────────────────────

  /** Realized + unrealized of the average-cost book at the marks now (today's, after a roll). */
  deskTotal(): number {
    let s = 0;
    for (let i = 0; i < this.n; i++) s += this.instrumentTotal(i);
    return s;
  }

  instrumentTotal(iid: number): number {
    const m = this.mark(iid);
    const unreal = this.pos[iid] === 0 || !(m > 0) ? 0 : this.pos[iid] * (m - this.avg[iid]);
    return (this.realized[iid] + unreal) * this.o.scale[iid];
  }

  deskSplit(): Split {
    return this.splitOf(this.desk);
  }

  /** The split of the desk, the unattributed hedges, and each tier, client and instrument with activity. */
  splits(): {
    desk: Split;
    unattributed: Split;
    byTier: Array<Split & { tier: number }>;
    byClient: Array<Split & { clientId: string }>;
    byInstrument: Array<Split & { instrument: string }>;
  } {
    const marks = this.marks();
    const byInstrument: Array<Split & { instrument: string }> = [];
    this.byInstrument.forEach((g, iid) => {
      if (g.trades + g.hedgeFills > 0 || (g.legs.get(iid)?.q ?? 0) !== 0) byInstrument.push({ instrument: this.o.ids[iid], ...this.splitOf(g, marks) });
    });
    return {
      desk: this.splitOf(this.desk, marks),
      unattributed: this.splitOf(this.unattributed, marks),
      byTier: [...this.byTier].sort((a, b) => a[0] - b[0]).map(([tier, g]) => ({ tier, ...this.splitOf(g, marks) })),
      byClient: [...this.byClient].sort((a, b) => a[0].localeCompare(b[0])).map(([clientId, g]) => ({ clientId, ...this.splitOf(g, marks) })),
      byInstrument,
    };
  }

  /** The last `n` trades of today, newest first, each with its own split (its fill and its hedges). */
  recent(n: number): TradeSplit[] {
    const out: TradeSplit[] = [];
    const limit = Math.min(n, this.o.recentTrades);
    for (let j = this.recentIds.length - 1; j >= 0 && out.length < limit; j--) {
      const s = this.tradeSplit(this.recentIds[j]);
      if (s) out.push(s);
    }
    return out;
  }

  tradeSplit(tradeId: string): TradeSplit | undefined {
    const rec = this.trades.get(tradeId);
    if (rec === undefined) return undefined;
    const t = rec.input;
    const k = this.o.scale[t.iid];
    let hedgeCost = 0;
    let inventory = t.deskQty * (this.markOr(t.iid, rec.ref) - rec.ref) * k;
    for (const h of rec.hedges) {
      const kh = this.o.scale[h.iid];
      hedgeCost += h.cost * kh;
      inventory += h.q * (this.markOr(h.iid, h.ref) - h.ref) * kh;
    }
    const spread = rec.spread * k;
    const markout = rec.markout * k;
    return {
      tradeId: t.tradeId, clientId: t.clientId, tier: t.tier, instrument: this.o.ids[t.iid], deskQty: t.deskQty, price: t.price,
      mid: t.mid, ts: t.ts, markoutHorizonMs: rec.horizonMs,
      spread, hedgeCost, markout, inventory, total: spread + hedgeCost + markout + inventory, trades: 1, hedgeFills: rec.hedges.length,
    };
  }

  // ── internals ────────────────────────────────────────────────────────────────────────────────

  private marks(): Float64Array {
    const m = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) m[i] = this.mark(i);
    return m;
  }

  /** the mark, or `fallback` (the fill's own reference: no move) when the instrument never had one */
  private markOr(iid: number, fallback: number): number {
    const m = this.mark(iid);
    return m > 0 ? m : fallback;
  }

  private splitOf(g: Group, marks: Float64Array = this.marks()): Split {
    let inventory = 0;
    for (const [i, l] of g.legs) {
      // no mark ever: nothing has moved (every reference is the only price known)
      const m = marks[i];
      inventory += (m > 0 ? m * l.q - l.qr : 0) * this.o.scale[i];
    }
    return { spread: g.spread, hedgeCost: g.hedgeCost, markout: g.markout, inventory, total: g.spread + g.hedgeCost + g.markout + inventory, trades: g.trades, hedgeFills: g.hedgeFills };
  }

  private groupsOf(clientId: string, tier: number, iid: number): Group[] {
    let c = this.byClient.get(clientId);
    if (c === undefined) this.byClient.set(clientId, (c = new Group()));
    let t = this.byTier.get(tier);
    if (t === undefined) this.byTier.set(tier, (t = new Group()));
    return [this.desk, c, t, this.byInstrument[iid]];
  }

  /** average-cost book; also keeps the last mark when there is no live one */
  private fill(iid: number, q: number, price: number, ref: number): void {
    const p0 = this.pos[iid];
    const a = this.avg[iid];
    if (p0 === 0 || Math.sign(p0) === Math.sign(q)) {
      const np = p0 + q;
      this.avg[iid] = np === 0 ? 0 : (p0 * a + q * price) / np;
      this.pos[iid] = np;
    } else {
      const closed = Math.min(Math.abs(q), Math.abs(p0));
      this.realized[iid] += closed * (price - a) * Math.sign(p0);
      const np = p0 + q;
      this.pos[iid] = np;
      if (np === 0) this.avg[iid] = 0;
      else if (Math.abs(q) > Math.abs(p0)) this.avg[iid] = price; // flipped through zero
    }
    // the newest price information: the live mid, else this fill's reference
    const live = this.o.liveMid(iid);
    this.lastMark[iid] = live > 0 && Number.isFinite(live) ? live : ref;
    this.version++;
  }

  /** The carry-in mark for an event stamped before the current day started (undefined: not late). */
  private lateMark(iid: number, ts: number): number | undefined {
    if (this.rollMarks === undefined || !(ts < this.dayStartMs)) return undefined;
    const m = this.rollMarks[iid];
    return m > 0 ? m : undefined;
  }

  private validIid(iid: number): boolean {
    return Number.isInteger(iid) && iid >= 0 && iid < this.n;
  }

  private count(r: PnlEventResult): PnlEventResult {
    this.counts[r]++;
    return r;
  }
}
