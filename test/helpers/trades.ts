/** Trade records for booking tests, and a reader of the whole journal. */
import { AckPolicy, DeliverPolicy, type NatsConnection } from 'nats';
import { decodeTrade, type TradeRecord } from '../../engine/booking/trade.js';
import { tradeIdFor } from '../../engine/rfq/ids.js';

let n = 0;
export function trade(over: Partial<TradeRecord> = {}): TradeRecord {
  const acceptId = over.acceptId ?? `acc-${++n}`;
  const clientId = over.clientId ?? 'meridian';
  return {
    v: 1, tradeId: tradeIdFor(clientId, acceptId), acceptId, clientId, instrument: 'EURUSD', side: 'buy', size: 1e6, price: 1.08,
    ts: Date.now(), quoteId: 'Q-test-1', rfqId: 'R-test-1', origin: 'rfq', tier: 2, mid: 1.08, by: 'auto', ...over,
  };
}

export interface JournalEntry {
  seq: number;
  msgId: string | undefined;
  trade: TradeRecord | string;
}

/** One stored message of a stream: its sequence, subject, Nats-Msg-Id and data. */
export interface StreamMessage {
  seq: number;
  subject: string;
  msgId: string | undefined;
  data: Uint8Array;
}

/** Every message of `stream`, read with a throw-away pull consumer (independent of the engine's readers). */
export async function readStream(nc: NatsConnection, stream: string): Promise<StreamMessage[]> {
  const jsm = await nc.jetstreamManager();
  const last = (await jsm.streams.info(stream)).state.last_seq;
  const out: StreamMessage[] = [];
  if (last === 0) return out;
  const ci = await jsm.consumers.add(stream, { ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, inactive_threshold: 10e9 });
  const c = await nc.jetstream().consumers.get(stream, ci.name);
  while (out.length === 0 || out[out.length - 1].seq < last) {
    const it = await c.fetch({ max_messages: Math.min(1000, last - (out.length ? out[out.length - 1].seq : 0)), expires: 2000 });
    let got = 0;
    for await (const m of it) {
      got++;
      out.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), data: m.data });
    }
    if (got === 0) break;
  }
  await jsm.consumers.delete(stream, ci.name).catch(() => undefined);
  return out;
}

/** Every entry of the trade journal `stream`, decoded (or the decoder's complaint). */
export async function readJournal(nc: NatsConnection, stream = 'TRADES'): Promise<JournalEntry[]> {
  return (await readStream(nc, stream)).map((m) => ({ seq: m.seq, msgId: m.msgId, trade: decodeTrade(m.data) }));
}
