/**
 * Axe distribution (docs/copilot.md § Axes): after trades leave the desk with a position, who is
 * likely to take it off, and the shaded price a trader can show those clients only.
 *
 *   desk long  → the desk wants to sell → likely BUYERS;  desk short → likely SELLERS
 *
 * Ranking of a client for (instrument, the client side that takes the position off), highest first:
 *   +3    natural interest on that instrument and side (CRM naturalInterest)
 *   +1    per recent trade of theirs on that instrument and side (within axes.flowWindowMs), at most +3
 *   +0.5  per recent trade on that side in the same asset class, at most +1
 *   +score/100  relationship score, a tie-break (never enough alone to be listed)
 * Only clients with natural interest or recent flow are listed; the trade's own client is too (a
 * seller in a sell-off rarely buys back at once, but it is not excluded: its flow says what it does).
 *
 * A shown axe: the client gets `{t:'axe', i, side, size, price, validUntil}` (side = the client's
 * side: 'buy' = you can buy from us at `price`); the price is its tier's half-spread less the shade,
 * never inside the engine's floor, on the tick grid, inside the collar. It stays good for
 * axes.ttlMs and is used once: the client's next RFQ on that instrument and side is priced at it
 * when that is better for the client (the co-pilot's recommendation for a queued RFQ; for automatic
 * RFQs through the RFQ service's price hook). Single writer: the main thread.
 */
import type { Config, Tier } from '../config.js';
import type { ClientDirectory } from '../crm/types.js';
import { priceAt, distanceBps, type Side } from './model.js';

export interface AxeCandidate {
  readonly clientId: string;
  readonly name: string;
  readonly score: number;
  readonly reasons: readonly string[];
}

export interface AxePosition {
  readonly i: string;
  /** signed desk position, notional */
  readonly positionNotional: number;
  /** the side the desk wants to trade */
  readonly deskSide: Side;
  /** the side a client takes to take it off */
  readonly clientSide: Side;
  /** what there is to work, notional (whole lots) */
  readonly size: number;
  readonly source: 'inventory' | 'crm_axe';
  readonly note: string;
  readonly candidates: readonly AxeCandidate[];
}

export interface ShownAxe {
  readonly clientId: string;
  readonly iid: number;
  readonly i: string;
  readonly side: Side;
  readonly size: number;
  readonly price: number;
  readonly validUntil: number;
  readonly by: string;
  readonly shownMs: number;
}

interface FlowTrade {
  readonly instrument: string;
  readonly assetClass: string;
  readonly side: Side;
  readonly size: number;
  readonly ts: number;
}

export interface AxeParams {
  readonly shadeBps: number;
  readonly ttlMs: number;
  readonly maxClients: number;
  readonly flowWindowMs: number;
}

const MAX_FLOW_PER_CLIENT = 500;

export class AxeBook {
  private readonly flow = new Map<string, FlowTrade[]>();
  /** key client|iid|side */
  private readonly shown = new Map<string, ShownAxe>();

  constructor(
    private readonly config: Config,
    private readonly dir: () => ClientDirectory | undefined,
    private readonly p: AxeParams,
  ) {}

  /** A booked trade (replayed or live): the client's recent flow. */
  onTrade(t: { clientId: string; instrument: string; side: Side; size: number; ts: number }): void {
    const ins = this.config.instruments.find((x) => x.id === t.instrument);
    if (ins === undefined) return;
    let l = this.flow.get(t.clientId);
    if (l === undefined) this.flow.set(t.clientId, (l = []));
    l.push({ instrument: t.instrument, assetClass: ins.assetClass, side: t.side, size: t.size, ts: t.ts });
    if (l.length > MAX_FLOW_PER_CLIENT) l.splice(0, l.length - MAX_FLOW_PER_CLIENT);
  }

  /** Clients likely to take `clientSide` on `instrument`, ranked, with reasons. */
  candidates(instrument: string, clientSide: Side, nowMs: number): AxeCandidate[] {
    const ins = this.config.instruments.find((x) => x.id === instrument);
    const d = this.dir();
    if (ins === undefined || d === undefined) return [];
    const out: AxeCandidate[] = [];
    for (const rec of d.list()) {
      if (!this.isClientAccount(rec.id)) continue;
      const reasons: string[] = [];
      let score = 0;
      for (const n of rec.naturalInterest) {
        if (n.instrument === instrument && n.side === clientSide) {
          score += 3;
          reasons.push(`natural ${clientSide === 'buy' ? 'buyer' : 'seller'} of ${instrument}${n.note ? ` (${n.note})` : ''}`);
        }
      }
      let same = 0, sameNotional = 0, cls = 0;
      for (const f of this.flow.get(rec.id) ?? []) {
        if (nowMs - f.ts > this.p.flowWindowMs || f.side !== clientSide) continue;
        if (f.instrument === instrument) {
          same++;
          sameNotional += f.size;
        } else if (f.assetClass === ins.assetClass) cls++;
      }
      if (same > 0) {
        score += Math.min(3, same);
        reasons.push(`${clientSide === 'buy' ? 'bought' : 'sold'} ${instrument} ${same}× (${sameNotional} notional) recently`);
      }
      if (cls > 0) {
        score += Math.min(1, 0.5 * cls);
        reasons.push(`${clientSide === 'buy' ? 'bought' : 'sold'} other ${ins.assetClass} ${cls}× recently`);
      }
      if (score === 0) continue;
      const rs = d.score(rec.id);
      if (rs !== undefined) {
        score += rs.score / 100;
        reasons.push(`relationship score ${Math.round(rs.score)}`);
      }
      out.push({ clientId: rec.id, name: rec.name, score: Number(score.toFixed(3)), reasons });
    }
    out.sort((a, b) => b.score - a.score || (a.clientId < b.clientId ? -1 : 1));
    return out.slice(0, this.p.maxClients);
  }

  /** Positions to work: inventory of at least one lot, and the CRM desk axes; each with its likely counterparties. */
  positions(position: ArrayLike<number>, nowMs: number, only?: string): AxePosition[] {
    const out: AxePosition[] = [];
    const seen = new Set<string>();
    this.config.instruments.forEach((ins, iid) => {
      if (only !== undefined && ins.id !== only) return;
      const q = position[iid];
      const lots = Math.floor(Math.abs(q) / ins.lotSize + 1e-9);
      if (lots < 1) return;
      const deskSide: Side = q > 0 ? 'sell' : 'buy';
      const clientSide: Side = q > 0 ? 'buy' : 'sell';
      seen.add(`${ins.id}|${deskSide}`);
      out.push({ i: ins.id, positionNotional: q, deskSide, clientSide, size: lots * ins.lotSize, source: 'inventory', note: q > 0 ? 'desk long' : 'desk short', candidates: this.candidates(ins.id, clientSide, nowMs) });
    });
    for (const a of this.dir()?.axes().axes ?? []) {
      if (only !== undefined && a.instrument !== only) continue;
      if (seen.has(`${a.instrument}|${a.side}`)) continue;
      const iid = this.config.instruments.findIndex((x) => x.id === a.instrument);
      if (iid < 0) continue;
      const clientSide: Side = a.side === 'sell' ? 'buy' : 'sell';
      out.push({ i: a.instrument, positionNotional: position[iid], deskSide: a.side, clientSide, size: a.size, source: 'crm_axe', note: a.note, candidates: this.candidates(a.instrument, clientSide, nowMs) });
    }
    return out;
  }

  /** The size a trader may show on (instrument, client side): the position or the CRM axe that side; 0 = nothing to work. */
  workable(iid: number, clientSide: Side, position: number): number {
    const ins = this.config.instruments[iid];
    const deskSide: Side = clientSide === 'buy' ? 'sell' : 'buy';
    const inv = (deskSide === 'sell' && position > 0) || (deskSide === 'buy' && position < 0) ? Math.floor(Math.abs(position) / ins.lotSize + 1e-9) * ins.lotSize : 0;
    let crm = 0;
    for (const a of this.dir()?.axes().axes ?? []) if (a.instrument === ins.id && a.side === deskSide) crm = Math.max(crm, a.size);
    return Math.max(inv, crm);
  }

  /** The shaded price for a client of `tier`: its tier half-spread less `shadeBps`, floored, on the grid; null outside the collar or without a mid. */
  axePrice(iid: number, side: Side, tier: Tier, mid: number, shadeBps: number): number | null {
    const c = this.config;
    const ins = c.instruments[iid];
    if (!(mid > 0) || !Number.isFinite(mid)) return null;
    const tierHalf = (ins.baseSpreadBps / 2) * c.tiers[String(tier) as '1' | '2' | '3'].spreadMult;
    const half = Math.max(c.pricing.minSpreadBps / 2, tierHalf - shadeBps);
    const price = priceAt(side, half, mid, ins.tickSize);
    const collar = ins.collarBps ?? c.pricing.collarBps;
    return Math.abs(distanceBps(side, price, mid)) <= collar ? price : null;
  }

  show(a: ShownAxe): void {
    this.shown.set(`${a.clientId}|${a.iid}|${a.side}`, a);
  }

  /** The axe shown to `clientId` on (iid, side), still valid at `nowMs`, or null. */
  shownFor(clientId: string, iid: number, side: Side, nowMs: number): ShownAxe | null {
    const k = `${clientId}|${iid}|${side}`;
    const a = this.shown.get(k);
    if (a === undefined) return null;
    if (a.validUntil < nowMs) {
      this.shown.delete(k);
      return null;
    }
    return a;
  }

  /** Used once: the client's next RFQ on (iid, side) took it. */
  consume(clientId: string, iid: number, side: Side): void {
    this.shown.delete(`${clientId}|${iid}|${side}`);
  }

  /**
   * The RFQ service's price hook: the automatic price, improved to the shown axe when that is better
   * for the client (the axe is used up); otherwise the price unchanged.
   */
  adjust(clientId: string, iid: number, side: Side, autoPrice: number, nowMs: number): number {
    const a = this.shownFor(clientId, iid, side, nowMs);
    if (a === null) return autoPrice;
    this.consume(clientId, iid, side);
    const better = side === 'buy' ? a.price < autoPrice : a.price > autoPrice;
    return better ? a.price : autoPrice;
  }

  isClientAccount(clientId: string): boolean {
    const c = this.config.clients.find((x) => x.id === clientId);
    return c === undefined || (c.role ?? 'client') === 'client';
  }
}
