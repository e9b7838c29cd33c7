/**
 * Everything the screen knows, outside Preact: the socket handler writes here at whatever rate
 * frames arrive (10k ticks/s included) and only marks the store dirty; the view reads it at most
 * ~10 times a second (main.tsx). A quote frame replaces the whole ladder (docs/protocol.md), so
 * holding the newest frame per instrument *is* the conflation: nothing queues per tick.
 */

export interface QuoteFrame {
  readonly t: 'q';
  readonly i: string;
  readonly tr: number;
  readonly st: 'firm' | 'indicative' | 'pulled';
  readonly rs: string;
  readonly sq: number;
  readonly sn: number;
  readonly ts: number;
  readonly mid: number;
  readonly l: ReadonlyArray<readonly [number, number, number]>;
  readonly bd: readonly number[];
}

export interface RfqView {
  readonly rfqId: string;
  readonly client: string;
  readonly tier: number;
  readonly i: string;
  readonly side: 'buy' | 'sell';
  readonly size: number;
  readonly limit: number | null;
  readonly state: string;
  readonly reason: string | null;
  readonly createdMs: number;
  readonly deadlineMs: number | null;
  readonly quoteId: string | null;
  readonly price: number | null;
  readonly validUntil: number | null;
  /** size of the firm quote once there is one (absent from older engines) */
  readonly quoteSize?: number | null;
  readonly by?: string | null;
  /** the regime and its tripped signals when queued with reason `stressed` */
  readonly regime?: string | null;
}

export interface Hello {
  readonly client: string;
  readonly tier: number;
  readonly role: 'client' | 'trader' | 'rm' | 'admin';
  /** tiers whose ladders a `sub` streams: [tier] for a client, [1,2,3] for desk roles (absent from older engines: [tier]) */
  readonly tiers?: readonly number[];
  readonly instruments: readonly string[];
  readonly serverTime: number;
  readonly exp: number;
}

export type Msg = { readonly t: string; readonly [k: string]: unknown };

export type ConnState = 'connecting' | 'open' | 'closed' | 'expired' | 'stalled';

export interface LogLine {
  readonly at: number;
  readonly level: 'info' | 'error';
  readonly text: string;
  readonly code?: string;
  readonly rfqId?: string;
}

/** RFQ states after which nothing more happens to the RFQ. */
export const FINAL_STATES: ReadonlySet<string> = new Set(['booked', 'rejected', 'expired']);
/** RFQ states a trader can act on (quote, re-quote, reject, take over). */
export const ACTIONABLE_STATES: ReadonlySet<string> = new Set(['queued', 'quoted']);
/** RFQ states with a trade: accepted and being booked, or booked. */
export const TRADED_STATES: ReadonlySet<string> = new Set(['accepted_pending', 'booking_unknown', 'booked']);

export class Store {
  hello: Hello | null = null;
  conn = { state: 'connecting' as ConnState, code: 0, reason: '', since: Date.now(), attempts: 0, rttMs: -1, lastMsgAt: 0 };
  /** server clock − local clock, from hello and every pong */
  offsetMs = 0;
  /** newest frame per instrument and tier: quotes.get(i)[tr - 1] */
  readonly quotes = new Map<string, Array<QuoteFrame | undefined>>();
  /** local receive time of the newest frame per instrument (any tier) */
  readonly quoteRx = new Map<string, number>();
  quotesAt = 0;
  /** frames received since start (the ticks/s figure is derived from it) */
  frames = 0;
  readonly rfqs = new Map<string, RfqView>();
  rfqsAt = 0;
  readonly copilot = new Map<string, Msg>();
  /** instruments not in the normal regime (regimes answer + regime pushes): id → regime, why, since */
  readonly regimes = new Map<string, { regime: string; reason: string; since: number }>();
  /** hedge decisions pushed since connect (hedge_decision), newest first */
  readonly hedgeDecisions: Array<Record<string, any>> = [];
  /** RFQs a trader took over (rfq_taken): rfqId → who */
  readonly taken = new Map<string, string>();
  copilotAt = 0;
  /** the newest message of every other kind (scores, positions, pnl, axes, hedges, risk_status, regime…) with its receive time */
  readonly kinds = new Map<string, { msg: Msg; at: number }>();
  /** request kinds the engine refused (error code): their panels say so instead of waiting forever */
  readonly unsupported = new Map<string, string>();
  readonly log: LogLine[] = [];
  status: Record<string, unknown> = {};
  /** per instrument: the tick size inferred from ladder prices (see noteTick) */
  private readonly tickUnits = new Map<string, number>();
  dirty = true;

  /** The tiers this socket streams, in order. */
  tiers(): readonly number[] {
    const h = this.hello;
    if (h === null) return [];
    return h.tiers !== undefined && h.tiers.length > 0 ? h.tiers : [h.tier];
  }

  /** The newest frame of (instrument, tier). */
  frame(i: string, tier: number): QuoteFrame | undefined {
    return this.quotes.get(i)?.[tier - 1];
  }

  serverNow(): number {
    return Date.now() + this.offsetMs;
  }

  addLog(l: Omit<LogLine, 'at'>): void {
    this.log.unshift({ at: Date.now(), ...l });
    if (this.log.length > 50) this.log.length = 50;
    this.dirty = true;
  }

  onQuote(f: QuoteFrame, now: number): void {
    let byTier = this.quotes.get(f.i);
    if (byTier === undefined) this.quotes.set(f.i, (byTier = [undefined, undefined, undefined]));
    byTier[f.tr - 1] = f;
    this.quoteRx.set(f.i, now);
    this.quotesAt = now;
    this.frames++;
    this.dirty = true;
    // cheap: one gcd step per price on a fraction of frames is enough to converge
    if ((f.sq & 15) === 0 || f.sn === 1) this.noteTick(f);
  }

  /**
   * hello carries no tick sizes, so the screen infers each instrument's from its ladders: prices
   * on the grid make the gcd of their differences (in 1e-8 units, exact for 1/128 and decimal
   * ticks) converge to the tick. Kept per tier: a stream whose prices are off the grid (a stress
   * overlay widening the ladder without re-rounding) must not pollute the others, and a gcd that
   * has not converged yet (a quiet market) is a multiple of the tick, still on the grid. Used
   * only for the ↑/↓ nudge and the number of decimals shown; the server checks the grid.
   */
  private noteTick(f: QuoteFrame): void {
    if (f.l.length === 0 || !(f.tr >= 1 && f.tr <= 3)) return;
    const key = `${f.i}|${f.tr}`;
    const base = Math.round(f.l[0][1] * 1e8);
    let g = this.tickUnits.get(key) ?? 0;
    for (const [, b, a] of f.l) {
      g = gcd(g, Math.abs(Math.round(b * 1e8) - base));
      g = gcd(g, Math.abs(Math.round(a * 1e8) - base));
    }
    if (g > 0) this.tickUnits.set(key, g);
  }

  /** The inferred tick of `i` in `tier`'s stream; without a tier (or no data for it), the finest any tier shows. */
  tickOf(i: string, tier?: number): number {
    const own = tier === undefined ? undefined : this.tickUnits.get(`${i}|${tier}`);
    if (own !== undefined) return own / 1e8;
    let g = Infinity;
    for (let tr = 1; tr <= 3; tr++) g = Math.min(g, this.tickUnits.get(`${i}|${tr}`) ?? Infinity);
    return Number.isFinite(g) ? g / 1e8 : 0;
  }

  onRfq(v: RfqView, now: number): void {
    this.rfqs.set(v.rfqId, v);
    this.rfqsAt = now;
    this.dirty = true;
    // keep the finished ones that matter for the blotter, drop the oldest beyond 200
    if (this.rfqs.size > 200) {
      for (const [id, r] of this.rfqs) {
        if (FINAL_STATES.has(r.state)) {
          this.rfqs.delete(id);
          if (this.rfqs.size <= 200) break;
        }
      }
    }
  }

  /** Every connection starts empty (protocol: fresh snapshots after a reconnect). */
  resetLive(): void {
    this.quotes.clear();
    this.quoteRx.clear();
    this.quotesAt = 0;
    this.dirty = true;
  }
}

function gcd(a: number, b: number): number {
  while (b > 0) [a, b] = [b, a % b];
  return a;
}
