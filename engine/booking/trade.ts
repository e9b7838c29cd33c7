/**
 * The journal entry: one JSON object per JetStream message on `<booking.subjectPrefix>.<client>.<instrument>`
 * in stream `booking.stream` (default TRADES), with header Nats-Msg-Id = tradeId. JSON rather than
 * msgpack: the journal is read by people (`nats stream view`) and by other services (relationship
 * score, markout) far more often than it is written. Readers validate with `decodeTrade`.
 */
import { z } from 'zod';

const token = () => z.string().min(1).max(64);

export const tradeRecordSchema = z.strictObject({
  /** schema version */
  v: z.literal(1),
  /** 'T' + 32 hex: derived from (clientId, acceptId), so a retried accept is the same trade */
  tradeId: z.string().regex(/^T[0-9a-f]{32}$/),
  acceptId: token(),
  clientId: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
  instrument: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
  /** the client's side: 'buy' = the client bought, the desk sold */
  side: z.enum(['buy', 'sell']),
  size: z.number().finite().positive(),
  price: z.number().finite().positive(),
  /** server epoch ms of the accept decision */
  ts: z.number().finite().nonnegative(),
  quoteId: token(),
  rfqId: token(),
  /** 'rfq' = accepted firm RFQ quote; 'stream' = traded on a streamed quote */
  origin: z.enum(['rfq', 'stream']),
  tier: z.union([z.literal(1), z.literal(2), z.literal(3)]),
  /** composite mid at the decision (markout base); null when there was none (trader quote on a stale market) */
  mid: z.number().finite().positive().nullable(),
  /** who priced it */
  by: z.enum(['auto', 'trader', 'stream']),
});
export type TradeRecord = Readonly<z.output<typeof tradeRecordSchema>>;

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeTrade(t: TradeRecord): Uint8Array {
  return enc.encode(JSON.stringify(t));
}

/** The record, or a string saying what is wrong with it. */
export function decodeTrade(data: Uint8Array): TradeRecord | string {
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(data));
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  const r = tradeRecordSchema.safeParse(raw);
  if (!r.success) return r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  return r.data;
}

/** Desk quantity of a trade: the desk takes the other side of the client. */
export function deskQty(t: Pick<TradeRecord, 'side' | 'size'>): number {
  return t.side === 'buy' ? -t.size : t.size;
}
