/**
 * Decision audit: what the co-pilot recommended, what a trader sent, and how it ended, per RFQ, in a
 * JetStream stream (docs/copilot.md § Decision audit).
 *
 *   stream  copilot.audit.stream (DECISIONS)   subjects  <subjectPrefix>.<rfqId>
 *   storage file, limits retention, duplicate window 2 min (Nats-Msg-Id = <rfqId>.<kind>.<n>)
 *
 *   recommended  price, size, CI, hedge option, with/against the axe, win probability (copilot)
 *   taken        a trader took the RFQ over (by)
 *   sent         price, size, by, asRecommended (a trader's firm quote)
 *   rejected     by, reason (a trader's rejection)
 *   outcome      booked (tradeId) | rejected (code) | expired — the end of the RFQ
 *   markout      per horizon of a booked trade: mid move and total, bps (+ good for the desk)
 *
 * Publishing is off the RFQ path: the RFQ does not wait for the audit. A publish that fails is
 * logged and counted (qe_copilot_audit_total{result="failed"}); the RFQ is not affected. JSON, like
 * the trade journal: people read it (`nats stream view DECISIONS`) and the report joins it.
 */
import { DiscardPolicy, RetentionPolicy, StorageType, nanos, headers, type JetStreamClient, type JetStreamManager, type NatsConnection, type NatsError } from 'nats';
import { Registry } from 'prom-client';
import { z } from 'zod';
import { EngineError, ErrorCode } from '../errors.js';
import { HotCounter } from '../metrics.js';

const num = () => z.number().finite();
export const decisionSchema = z.strictObject({
  v: z.literal(1),
  kind: z.enum(['recommended', 'taken', 'sent', 'rejected', 'outcome', 'markout']),
  rfqId: z.string().min(1).max(64),
  ts: num(),
  clientId: z.string().max(64),
  i: z.string().max(64),
  side: z.enum(['buy', 'sell']),
  requestedSize: num(),
  tier: z.number().int().optional(),
  /** queue reason */
  reason: z.string().max(200).nullable().optional(),
  price: num().optional(),
  size: num().optional(),
  ciLow: num().optional(),
  ciHigh: num().optional(),
  mid: num().optional(),
  hedge: z.string().max(32).optional(),
  withAxe: z.boolean().optional(),
  winP: num().optional(),
  by: z.string().max(64).optional(),
  asRecommended: z.boolean().optional(),
  quoteId: z.string().max(64).optional(),
  text: z.string().max(200).optional(),
  outcome: z.enum(['booked', 'rejected', 'expired']).optional(),
  tradeId: z.string().max(64).optional(),
  code: z.string().max(64).optional(),
  /** markout: horizon, mid move (bps, + good for the desk) and with the spread captured */
  horizonMs: num().optional(),
  markoutBps: num().optional(),
  totalBps: num().optional(),
});
export type Decision = z.output<typeof decisionSchema>;

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface AuditLog {
  error(obj: object, msg?: string): void;
}

export class DecisionJournal {
  private readonly js: JetStreamClient;
  private readonly counts = new Map<string, number>();
  private readonly total: HotCounter;
  private pending = new Set<Promise<void>>();

  private constructor(nc: NatsConnection, private readonly stream: string, private readonly prefix: string, private readonly log: AuditLog, registry: Registry | undefined) {
    this.js = nc.jetstream();
    this.total = new HotCounter(registry ?? new Registry(), 'qe_copilot_audit_total', 'Decision audit records by result', 'result', ['ok', 'failed']);
  }

  /** Creates the stream if missing (QE_AUDIT_STREAM when JetStream is unavailable). */
  static async open(nc: NatsConnection, o: { stream: string; subjectPrefix: string; log: AuditLog; registry?: Registry }): Promise<DecisionJournal> {
    await ensureStream(nc, o.stream, o.subjectPrefix);
    return new DecisionJournal(nc, o.stream, o.subjectPrefix, o.log, o.registry);
  }

  /** Publishes one record; resolves when acknowledged or failed (never rejects). */
  record(d: Omit<Decision, 'v'>): Promise<void> {
    const rec: Decision = { v: 1, ...d };
    const k = `${d.rfqId}.${d.kind}`;
    const n = (this.counts.get(k) ?? 0) + 1;
    this.counts.set(k, n);
    const h = headers();
    h.set('Nats-Msg-Id', `${k}.${n}`);
    const p = this.js
      .publish(`${this.prefix}.${d.rfqId}`, enc.encode(JSON.stringify(rec)), { headers: h, timeout: 5_000 })
      .then(
        () => this.total.incLabel('ok'),
        (e: Error) => {
          this.total.incLabel('failed');
          this.log.error({ code: ErrorCode.AUDIT_STREAM, rfqId: d.rfqId, kind: d.kind, err: e.message }, 'decision audit record not stored');
        },
      )
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
    return p;
  }

  /** Waits for every publish in flight (shutdown, tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** Forgets the per-RFQ counters of a finished RFQ (they only de-duplicate within one process). */
  forget(rfqId: string): void {
    for (const k of ['recommended', 'taken', 'sent', 'rejected', 'outcome', 'markout']) this.counts.delete(`${rfqId}.${k}`);
  }

  get streamName(): string {
    return this.stream;
  }
}

async function ensureStream(nc: NatsConnection, stream: string, prefix: string): Promise<JetStreamManager> {
  let jsm: JetStreamManager;
  try {
    jsm = await nc.jetstreamManager({ timeout: 5_000 });
    const info = await jsm.streams.info(stream).catch((e: NatsError) => {
      if (e.api_error?.err_code === 10059 || /not found/i.test(e.message)) return null;
      throw e;
    });
    if (info === null) {
      await jsm.streams.add({
        name: stream, subjects: [`${prefix}.>`], storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old,
        max_msgs: -1, max_bytes: -1, max_age: 0, num_replicas: 1, duplicate_window: nanos(120_000),
      });
    }
    return jsm;
  } catch (cause) {
    if (cause instanceof EngineError) throw cause;
    throw new EngineError(ErrorCode.AUDIT_STREAM, `decision audit stream ${stream}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Every record in the stream, in order (report, tests). Reads by sequence with direct gets from
 * the stream's first to last sequence: simple, and the audit is small next to the trade journal.
 */
export async function readDecisions(nc: NatsConnection, stream: string): Promise<{ decisions: Decision[]; invalid: number }> {
  let jsm: JetStreamManager;
  try {
    jsm = await nc.jetstreamManager({ timeout: 5_000 });
  } catch (cause) {
    throw new EngineError(ErrorCode.AUDIT_STREAM, `JetStream unavailable: ${(cause as Error).message}`, { cause });
  }
  const info = await jsm.streams.info(stream).catch((cause: Error) => {
    throw new EngineError(ErrorCode.AUDIT_STREAM, `decision audit stream ${stream}: ${cause.message}`, { cause });
  });
  const out: Decision[] = [];
  let invalid = 0;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m === null) continue;
    try {
      const r = decisionSchema.safeParse(JSON.parse(dec.decode(m.data)));
      if (r.success) out.push(r.data);
      else invalid++;
    } catch {
      // not JSON: counted, never fatal to a report
      invalid++;
    }
  }
  return { decisions: out, invalid };
}

/** One RFQ's decisions, joined: what the report prints a row of. */
export interface DecisionRow {
  readonly rfqId: string;
  readonly clientId: string;
  readonly i: string;
  readonly side: 'buy' | 'sell';
  readonly requestedSize: number;
  readonly recommended: Decision | null;
  readonly sent: Decision | null;
  readonly decidedBy: string | null;
  readonly outcome: Decision | null;
  /** markout by horizon (ms → bps, + good for the desk) */
  readonly markout: Readonly<Record<string, { readonly bps: number; readonly totalBps: number }>>;
}

export function joinDecisions(ds: readonly Decision[]): DecisionRow[] {
  const rows = new Map<string, { -readonly [K in keyof DecisionRow]: DecisionRow[K] }>();
  for (const d of ds) {
    let r = rows.get(d.rfqId);
    if (r === undefined) {
      r = { rfqId: d.rfqId, clientId: d.clientId, i: d.i, side: d.side, requestedSize: d.requestedSize, recommended: null, sent: null, decidedBy: null, outcome: null, markout: {} };
      rows.set(d.rfqId, r);
    }
    if (d.kind === 'recommended') r.recommended = d;
    else if (d.kind === 'sent') {
      r.sent = d;
      r.decidedBy = d.by ?? r.decidedBy;
    } else if (d.kind === 'rejected') r.decidedBy = d.by ?? r.decidedBy;
    else if (d.kind === 'taken') r.decidedBy ??= d.by ?? null;
    else if (d.kind === 'outcome') r.outcome = d;
    else if (d.kind === 'markout' && d.horizonMs !== undefined) r.markout = { ...r.markout, [String(d.horizonMs)]: { bps: d.markoutBps ?? NaN, totalBps: d.totalBps ?? NaN } };
  }
  return [...rows.values()];
}
