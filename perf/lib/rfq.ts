/**
 * The RFQ phase's pure pieces: which clients ask, what each request is, the CRM records that let the
 * engine automate them, how answers are counted, and how the result reads in latest.md. No I/O here.
 *
 * The phase (perf/run.ts → perf/rfq-proc.ts): the engine under the quick scenario's background ticks,
 * one WebSocket per RFQ client; each sends `rfq` at a fixed rate, accepts every `quote_firm` at once,
 * and times RFQ → quote_firm and accept → trade_confirm (the confirm follows the JetStream PubAck).
 */
import type { HedgeDecisionResult, KillResult } from './kill.js';
import type { ClientRecordInput } from '../../engine/crm/types.js';
import type { LatencySummary } from './stats.js';
import { perfClientId } from './scenarios.js';

/** Tier 2 and Tier 3 are automated (Tier 1 RFQs always go to a trader). */
export const RFQ_TIERS = [2, 3] as const;
export const RFQ_RATE_PER_SEC = 50;
/** instruments the RFQs cycle over (the first of the universe), each bought then sold back */
export const RFQ_INSTRUMENTS = 10;
/** far beyond what a run can trade: no RFQ of the phase queues for `limit` or `oversize` */
export const RFQ_CREDIT_LIMIT = 1e15;
export const RFQ_MAX_ORDER = 1e12;

export function rfqClients(): Array<{ client: string; tier: 2 | 3 }> {
  return RFQ_TIERS.map((tier) => ({ client: perfClientId(tier, 0), tier }));
}

/** A CRM record for a perf RFQ client: its generated tier (any override cleared), no agreements, limits that never bind. */
export function perfCrmRecord(client: string, tier: 1 | 2 | 3): ClientRecordInput {
  return { id: client, name: `perf rfq ${client}`, tier, override: null, creditLimit: RFQ_CREDIT_LIMIT, maxOrderSize: RFQ_MAX_ORDER };
}

export interface RfqInstrument {
  readonly id: string;
  readonly minSize: number;
}

/**
 * The n-th RFQ (n from 0): socket n mod sockets; instrument and side so each socket buys an
 * instrument then sells it back (its position and exposure stay bounded however long the run);
 * size the instrument's minimum (the first band of every tier's ladder covers it).
 */
export function rfqRequest(n: number, sockets: number, instruments: readonly RfqInstrument[]): { socket: number; i: string; side: 'buy' | 'sell'; size: number } {
  const socket = n % sockets;
  const m = Math.floor(n / sockets); // this socket's m-th request
  const ins = instruments[Math.floor(m / 2) % instruments.length];
  return { socket, i: ins.id, side: m % 2 === 0 ? 'buy' : 'sell', size: ins.minSize };
}

/** What came back, per request. `rejected:<code>` / `error:<code>` / `queued:<reason>` / `unknown:<code>` keys count refusals. */
export interface RfqCounts {
  rfqSent: number;
  quoteFirm: number;
  acceptSent: number;
  confirmed: number;
  /** requests sent in the window with no answer by the end of the drain */
  rfqUnanswered: number;
  acceptUnanswered: number;
  /** longest delay between an RFQ's scheduled and actual send (the client process's own lateness), µs */
  sendLagMaxUs: number;
  /** by outcome: `rfq rejected QE_…`, `rfq queued <reason>`, `accept rejected QE_…`, `accept trade_unknown`, `error QE_…` */
  outcomes: Record<string, number>;
}

export function newRfqCounts(): RfqCounts {
  return { rfqSent: 0, quoteFirm: 0, acceptSent: 0, confirmed: 0, rfqUnanswered: 0, acceptUnanswered: 0, sendLagMaxUs: 0, outcomes: {} };
}

/** Counts an answer that was not the happy path under a readable key. */
export function countOutcome(c: RfqCounts, on: 'rfq' | 'accept', f: { t?: unknown; code?: unknown; reason?: unknown; state?: unknown }): void {
  const key = f.t === 'rfq' ? `${on} ${String(f.state)} ${String(f.reason ?? f.code ?? '')}`.trim() : `${on} ${String(f.t)} ${String(f.code ?? '')}`.trim();
  c.outcomes[key] = (c.outcomes[key] ?? 0) + 1;
}

export function mergeRfqCounts(all: readonly RfqCounts[]): RfqCounts {
  const out = newRfqCounts();
  for (const c of all) {
    out.rfqSent += c.rfqSent;
    out.quoteFirm += c.quoteFirm;
    out.acceptSent += c.acceptSent;
    out.confirmed += c.confirmed;
    out.rfqUnanswered += c.rfqUnanswered;
    out.acceptUnanswered += c.acceptUnanswered;
    out.sendLagMaxUs = Math.max(out.sendLagMaxUs, c.sendLagMaxUs);
    for (const [k, v] of Object.entries(c.outcomes)) out.outcomes[k] = (out.outcomes[k] ?? 0) + v;
  }
  return out;
}

/** One RFQ phase in latest.json (`rfq: RfqResult[]`). */
export interface RfqResult {
  readonly id: string;
  readonly ratePerSec: number;
  readonly instruments: number;
  readonly subscribers: number;
  readonly rfqRatePerSec: number;
  readonly clients: ReadonlyArray<{ client: string; tier: number }>;
  /** RFQ sent → quote_firm read by the client, µs */
  readonly rfqToQuote: LatencySummary;
  /** accept sent → trade_confirm read (the engine confirms after the journal's PubAck), µs */
  readonly acceptToConfirm: LatencySummary;
  readonly counts: RfqCounts;
  /** the background stream during the window: ticks the engine took in, quote latency at the subscriber */
  readonly background: { readonly ticksInPerSec: number; readonly streamP50Us: number; readonly streamP99Us: number; readonly tradesJournaled: number | null };
  readonly cpu: { readonly engine: number; readonly natsServer: number | null; readonly other: number | null };
  readonly windowSec: number;
  /** kill switch → last affected quote pulled, after the RFQ window, same background ticks (lib/kill.ts) */
  readonly kill?: KillResult;
  /** trade booked → hedge decision from the engine's histogram; null = no decision in the phase */
  readonly hedgeDecision?: HedgeDecisionResult | null;
  readonly error?: string;
}

const us = (v: number | null | undefined) => (v == null || !Number.isFinite(v) ? '–' : v >= 10_000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v)));

/** `rfq accept rejected QE_RFQ_PRICE_MOVED: 3, …` or `none`. */
export function outcomesText(o: Record<string, number>): string {
  const e = Object.entries(o).sort((a, b) => b[1] - a[1]);
  return e.length === 0 ? 'none' : e.map(([k, v]) => `${k}: ${v}`).join(', ');
}

/** The RFQ section of latest.md, and the console's. */
export function rfqMarkdown(rs: readonly RfqResult[]): string[] {
  if (rs.length === 0) return [];
  const L: string[] = [];
  L.push('## RFQ under background ticks');
  L.push('');
  L.push('RFQ → quote_firm: `rfq` sent → `quote_firm` read by the client. Accept → confirm: `accept` sent → `trade_confirm` read (after the trade journal\'s JetStream PubAck). Every quote_firm is accepted at once.');
  L.push('');
  L.push('| phase | leg | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | samples |');
  L.push('|---|---|---|---|---|---|---|---|');
  for (const r of rs) {
    if (r.error) {
      L.push(`| ${r.id} | failed: ${r.error.split('\n')[0].slice(0, 120)} |||||||`);
      continue;
    }
    for (const [leg, s] of [['RFQ → quote_firm', r.rfqToQuote], ['accept → trade_confirm', r.acceptToConfirm]] as const) {
      L.push(`| ${r.id} | ${leg} | ${us(s.p50Us)} | ${us(s.p90Us)} | ${us(s.p99Us)} | ${us(s.p999Us)} | ${us(s.maxUs)} | ${s.samples} |`);
    }
  }
  L.push('');
  for (const r of rs) {
    if (r.error) continue;
    const c = r.counts;
    L.push(
      `- ${r.id}: ${r.rfqRatePerSec} RFQs/s from ${r.clients.map((c) => `${c.client} (tier ${c.tier})`).join(', ')} under ${r.ratePerSec.toLocaleString('en-US')} ticks/s ` +
        `(${r.instruments} instruments, ${r.subscribers} stream subscriber(s)); window ${r.windowSec} s: RFQs ${c.rfqSent}, quote_firm ${c.quoteFirm}, accepts ${c.acceptSent}, ` +
        `trade_confirm ${c.confirmed}, unanswered ${c.rfqUnanswered} RFQ / ${c.acceptUnanswered} accept; client send lag max ${us(c.sendLagMaxUs)} µs; other answers: ${outcomesText(c.outcomes)}. ` +
        `Background: ${r.background.ticksInPerSec.toLocaleString('en-US')} ticks/s into the engine, stream p50 ${us(r.background.streamP50Us)} µs / p99 ${us(r.background.streamP99Us)} µs; ` +
        `CPU engine ${r.cpu.engine}%, nats-server ${r.cpu.natsServer ?? '–'}%, others' ${r.cpu.other ?? '–'}%.`,
    );
  }
  L.push('');
  return L;
}
