/**
 * Credit (R4): a client's open exposure counts every pending accept at once, in its worst
 * direction, so no interleaving of accepts can take exposure past the limit:
 *
 *   exposure = Σ_i max( |net_i + pendingBuy_i| , |net_i − pendingSell_i| )      (notional)
 *
 * net_i is the client's booked position in instrument i (client buys = +). Resolving a pending
 * accept (booked or not) never raises this bound: |net + b + (B − b)| = |net + B|, and
 * |net + b − S| lies between the two terms. So checking `exposureWith(...) ≤ limit` and reserving
 * in the same synchronous turn keeps exposure ≤ limit at every step.
 */
import type { Side } from './types.js';

class Line {
  net = 0;
  buy = 0;
  sell = 0;
}

function worst(l: Line): number {
  return Math.max(Math.abs(l.net + l.buy), Math.abs(l.net - l.sell));
}

export class ClientCredit {
  private readonly lines = new Map<number, Line>();

  private line(iid: number): Line {
    let l = this.lines.get(iid);
    if (l === undefined) this.lines.set(iid, (l = new Line()));
    return l;
  }

  /** Current exposure (summed afresh: a client trades few instruments, and no drift accumulates). */
  exposure(): number {
    let s = 0;
    for (const l of this.lines.values()) s += worst(l);
    return s;
  }

  /** Exposure if an accept of `size` on `side` were added as pending. */
  exposureWith(iid: number, side: Side, size: number): number {
    const l = this.lines.get(iid);
    const before = l === undefined ? 0 : worst(l);
    const net = l?.net ?? 0;
    const buy = (l?.buy ?? 0) + (side === 'buy' ? size : 0);
    const sell = (l?.sell ?? 0) + (side === 'sell' ? size : 0);
    return this.exposure() - before + Math.max(Math.abs(net + buy), Math.abs(net - sell));
  }

  reserve(iid: number, side: Side, size: number): void {
    const l = this.line(iid);
    if (side === 'buy') l.buy += size;
    else l.sell += size;
  }

  /** A pending accept resolved without a trade (rejected by the journal). */
  release(iid: number, side: Side, size: number): void {
    const l = this.line(iid);
    if (side === 'buy') l.buy = Math.max(0, l.buy - size);
    else l.sell = Math.max(0, l.sell - size);
  }

  /** A journaled trade: into the net position (from the journal, the PubAck path or replay). */
  booked(iid: number, side: Side, size: number): void {
    this.line(iid).net += side === 'buy' ? size : -size;
  }

  net(iid: number): number {
    return this.lines.get(iid)?.net ?? 0;
  }

  pending(iid: number): { buy: number; sell: number } {
    const l = this.lines.get(iid);
    return { buy: l?.buy ?? 0, sell: l?.sell ?? 0 };
  }
}

export class CreditBook {
  private readonly clients = new Map<string, ClientCredit>();
  of(clientId: string): ClientCredit {
    let c = this.clients.get(clientId);
    if (c === undefined) this.clients.set(clientId, (c = new ClientCredit()));
    return c;
  }
}
