/**
 * A scripted Tier-1 client for the demo (`npm start -- --demo`): connects over the WebSocket
 * protocol like any client, sends an RFQ every `everyMs` (round robin over `instruments`,
 * alternating buy and sell, 1 mm by default: a size every instrument of the default universe takes)
 * and accepts every firm quote it gets, so a trader always has something in the queue to work with
 * the co-pilot. Reconnects with backoff until stopped. Not used by the engine itself.
 */
import { decode, encode } from '@msgpack/msgpack';
import WebSocket from 'ws';

export interface DemoTier1Options {
  /** ws://host:port */
  readonly url: string;
  /** a client token (role client) of a Tier-1 client, or a function minting a fresh one (used on every reconnect: tokens expire) */
  readonly token: string | (() => string);
  readonly instruments: readonly string[];
  readonly everyMs: number;
  /** size per instrument (default 1e6) */
  readonly sizes?: Readonly<Record<string, number>>;
  /** accept a firm quote this long after it arrives (default 250 ms: a human-ish pause, well inside any TTL) */
  readonly acceptAfterMs?: number;
  readonly log?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

export interface DemoTier1Stats {
  rfqs: number;
  queued: number;
  quotes: number;
  accepts: number;
  booked: number;
  rejected: number;
}

export interface DemoTier1Client {
  readonly stats: Readonly<DemoTier1Stats>;
  stop(): Promise<void>;
}

export function startDemoTier1Client(o: DemoTier1Options): DemoTier1Client {
  const stats: DemoTier1Stats = { rfqs: 0, queued: 0, quotes: 0, accepts: 0, booked: 0, rejected: 0 };
  const acceptAfterMs = o.acceptAfterMs ?? 250;
  let ws: WebSocket | null = null;
  let timer: NodeJS.Timeout | null = null;
  let reconnect: NodeJS.Timeout | null = null;
  const pending = new Set<NodeJS.Timeout>();
  let stopped = false;
  let n = 0;
  let backoffMs = 250;

  const send = (m: object) => {
    if (ws !== null && ws.readyState === WebSocket.OPEN) ws.send(encode(m));
  };

  const tick = () => {
    if (o.instruments.length === 0) return;
    const i = o.instruments[n % o.instruments.length];
    const side = Math.floor(n / o.instruments.length) % 2 === 0 ? 'sell' : 'buy';
    n++;
    stats.rfqs++;
    send({ t: 'rfq', id: `demo-${n}`, i, side, size: o.sizes?.[i] ?? 1e6 });
  };

  const connect = () => {
    if (stopped) return;
    const token = typeof o.token === 'function' ? o.token() : o.token;
    const sock = (ws = new WebSocket(`${o.url.replace(/\/?$/, '/')}?token=${encodeURIComponent(token)}`, { perMessageDeflate: false }));
    sock.on('open', () => {
      backoffMs = 250;
      if (timer === null) timer = setInterval(tick, o.everyMs);
    });
    sock.on('message', (data) => {
      let f: Record<string, any>;
      try {
        f = decode(data as Buffer) as Record<string, any>;
      } catch {
        // a JSON frame or garbage: the demo only speaks msgpack; ignoring it is harmless
        return;
      }
      if (f.t === 'rfq' && f.state === 'queued') stats.queued++;
      else if (f.t === 'quote_firm') {
        stats.quotes++;
        const t = setTimeout(() => {
          pending.delete(t);
          stats.accepts++;
          send({ t: 'accept', quoteId: f.quoteId, acceptId: `demo-${f.quoteId}` });
        }, acceptAfterMs);
        pending.add(t);
      } else if (f.t === 'trade_confirm') {
        stats.booked++;
        o.log?.info({ tradeId: f.tradeId, i: f.i, side: f.side, size: f.size, price: f.price }, 'demo tier-1 client: trade confirmed');
      } else if (f.t === 'rejected') stats.rejected++;
    });
    sock.on('close', () => {
      if (ws === sock) ws = null;
      if (stopped) return;
      reconnect = setTimeout(connect, backoffMs);
      backoffMs = Math.min(backoffMs * 2, 5_000);
    });
    // surfaced through 'close'; an unhandled 'error' would take the process down
    sock.on('error', (e) => o.log?.warn({ err: e.message }, 'demo tier-1 client: socket error'));
  };
  connect();

  return {
    stats,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      if (reconnect) clearTimeout(reconnect);
      for (const t of pending) clearTimeout(t);
      pending.clear();
      const s = ws;
      ws = null;
      if (s !== null && s.readyState !== WebSocket.CLOSED) {
        await new Promise<void>((r) => {
          s.once('close', () => r());
          s.close();
          setTimeout(r, 1_000).unref();
        });
      }
    },
  };
}
