/**
 * The RFQ client process: one `ws` socket per RFQ client (token at the upgrade, msgpack), sending
 * `rfq` at a fixed total rate, open loop (a slow answer does not delay the next request), and
 * accepting every `quote_firm` as soon as it is read. Times, for requests sent inside the window:
 *   RFQ → quote       monoUs() at send of `rfq` → `quote_firm` read
 *   accept → confirm  monoUs() at send of `accept` → `trade_confirm` read (the engine sends it after
 *                     the trade journal's JetStream PubAck)
 * Any other answer is counted by kind and code (lib/rfq.ts countOutcome).
 *
 * Driven over IPC by perf/run.ts: open → start → measure → collect → close.
 */
import { Decoder, encode } from '@msgpack/msgpack';
import WebSocket from 'ws';
import { monoUs } from '../engine/wire/market-data.js';
import { serve, type RfqProcCollect, type RfqProcRequest } from './lib/ipc.js';
import { countOutcome, newRfqCounts, rfqRequest, type RfqInstrument } from './lib/rfq.js';
import { encodeHistogram, newLatencyHistogram } from './lib/stats.js';

const decoder = new Decoder();
const hRfq = newLatencyHistogram();
const hAccept = newLatencyHistogram();
let counts = newRfqCounts();

let sockets: WebSocket[] = [];
let instruments: RfqInstrument[] = [];
let prefix = 'perf';
let n = 0;
let sendTimer: NodeJS.Timeout | null = null;
let measuring = false;
let t0Us = 0;
let endUs = 0;
let measuredUs = 0;
/** in-window requests awaiting an answer: rfq id → send µs; acceptId → send µs */
const pendingRfq = new Map<string, number>();
const pendingAccept = new Map<string, number>();

interface Frame {
  t: string;
  id?: string | number;
  quoteId?: string;
  acceptId?: string;
  code?: string;
  reason?: string;
  state?: string;
}

function onFrame(ws: WebSocket, data: Buffer): void {
  const now = monoUs();
  let f: Frame;
  try {
    f = decoder.decode(data) as Frame;
  } catch {
    return;
  }
  switch (f.t) {
    case 'quote_firm': {
      const id = String(f.id);
      const sent = pendingRfq.get(id);
      // accept every firm quote (in or out of the window): the engine's load stays the same throughout
      const acceptId = `${prefix}-${id}`;
      const at = monoUs();
      ws.send(encode({ t: 'accept', quoteId: f.quoteId, acceptId }));
      if (sent === undefined) return;
      pendingRfq.delete(id);
      counts.quoteFirm++;
      hRfq.recordValue(Math.max(1, now - sent));
      counts.acceptSent++;
      pendingAccept.set(acceptId, at);
      return;
    }
    case 'trade_confirm': {
      const sent = f.acceptId === undefined ? undefined : pendingAccept.get(f.acceptId);
      if (sent === undefined) return;
      pendingAccept.delete(f.acceptId!);
      counts.confirmed++;
      hAccept.recordValue(Math.max(1, now - sent));
      return;
    }
    case 'trade_unknown':
      // not final: the confirm follows when the journal answers (still timed from the accept)
      if (f.acceptId !== undefined && pendingAccept.has(f.acceptId)) countOutcome(counts, 'accept', f);
      return;
    case 'rfq':
    case 'rejected':
    case 'error': {
      if (f.acceptId !== undefined) {
        if (pendingAccept.delete(f.acceptId)) countOutcome(counts, 'accept', f);
        return;
      }
      const id = f.id === undefined ? undefined : String(f.id);
      // an `rfq` state push about a quote we accepted (expired …) has our id too but is no longer pending
      if (id !== undefined && pendingRfq.delete(id)) countOutcome(counts, 'rfq', f);
      return;
    }
    default:
      return;
  }
}

function openSocket(url: string, token: string): Promise<WebSocket> {
  const ws = new WebSocket(`${url}/?token=${encodeURIComponent(token)}`, { perMessageDeflate: false });
  return new Promise<WebSocket>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'hello' within 20 s from ${url}`)), 20_000);
    let ready = false;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      if (!ready) {
        const f = decoder.decode(data) as Frame;
        if (f.t === 'hello') {
          ready = true;
          clearTimeout(timer);
          resolve(ws);
        }
        return;
      }
      onFrame(ws, data);
    });
    ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.on('close', (code) => {
      if (!ready) reject(new Error(`closed before hello (${code})`));
      else if (measuring) {
        const k = `socket closed ${code}`;
        counts.outcomes[k] = (counts.outcomes[k] ?? 0) + 1;
      }
    });
    ws.on('error', () => undefined);
  });
}

/**
 * `dueUs`: when this request was scheduled. It decides whether the request belongs to the window, so
 * a send delayed past the window's end by a busy client core still counts; its latency is timed from
 * the actual send (what the engine saw), and the delay itself is reported as `sendLagMaxUs`.
 */
function sendOne(dueUs: number): void {
  const r = rfqRequest(n, sockets.length, instruments);
  const id = String(n++);
  const ws = sockets[r.socket];
  if (ws.readyState !== WebSocket.OPEN) return;
  const at = monoUs();
  ws.send(encode({ t: 'rfq', id, i: r.i, side: r.side, size: r.size }));
  if (dueUs >= t0Us && dueUs < endUs) {
    counts.rfqSent++;
    counts.sendLagMaxUs = Math.max(counts.sendLagMaxUs, at - dueUs);
    pendingRfq.set(id, at);
  }
}

function start(ratePerSec: number): void {
  stop();
  const begin = monoUs();
  let sent = 0;
  // a 5 ms timer sends what is due: a fixed rate, independent of the answers (open loop)
  sendTimer = setInterval(() => {
    const due = Math.floor(((monoUs() - begin) / 1e6) * ratePerSec);
    while (sent < due) {
      sent++;
      sendOne(begin + (sent / ratePerSec) * 1e6);
    }
  }, 5);
}

function stop(): void {
  if (sendTimer) clearInterval(sendTimer);
  sendTimer = null;
}

serve<RfqProcRequest>(async (req) => {
  switch (req.cmd) {
    case 'open':
      instruments = req.instruments.map((i) => ({ id: i.id, minSize: i.minSize }));
      prefix = req.acceptPrefix;
      n = 0;
      sockets = await Promise.all(req.tokens.map((t) => openSocket(req.url, t)));
      return { sockets: sockets.length };
    case 'start':
      start(req.ratePerSec);
      return {};
    case 'measure':
      hRfq.reset();
      hAccept.reset();
      counts = newRfqCounts();
      pendingRfq.clear();
      pendingAccept.clear();
      t0Us = monoUs();
      endUs = t0Us + req.durationMs * 1000;
      measuredUs = 0;
      measuring = true;
      return {};
    case 'collect': {
      stop();
      if (measuring) {
        measuring = false;
        measuredUs = Math.min(monoUs(), endUs) - t0Us;
      }
      const until = Date.now() + req.drainMs;
      while ((pendingRfq.size > 0 || pendingAccept.size > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      counts.rfqUnanswered = pendingRfq.size;
      counts.acceptUnanswered = pendingAccept.size;
      const out: RfqProcCollect = { rfqToQuote: encodeHistogram(hRfq), acceptToConfirm: encodeHistogram(hAccept), counts, elapsedUs: measuredUs };
      return out;
    }
    case 'close':
      stop();
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((r) => {
              if (ws.readyState === WebSocket.CLOSED) return r();
              ws.once('close', () => r());
              ws.terminate();
            }),
        ),
      );
      sockets = [];
      measuring = false;
      t0Us = 0;
      endUs = 0;
      pendingRfq.clear();
      pendingAccept.clear();
      return {};
  }
});
