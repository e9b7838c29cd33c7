/**
 * One subscriber process hosting many WebSocket clients of one system at a time:
 *   engine  `ws` to the engine's uWS gateway (token at the upgrade, msgpack {t:'sub'})
 *   floor   `ws` to the bare relay (same subscribe message, tier in the query)
 *   natsws  `nats.ws` (with `ws` as the global WebSocket) to nats-server's WebSocket listener,
 *           one NATS subscription per quote subject `<quotePrefix>.t<tier>.<instrument>`
 *
 * Quote frames (engine/wire/quote.ts) carry `tpt`, the publisher's monotonic µs of the tick they
 * came from; latency = monoUs() at receipt − tpt (CLOCK_MONOTONIC is one clock for every process
 * on the host). lib/frame-reader.ts reads just the fields needed. Snapshots (sn=1) and frames whose tick did not advance are
 * counted, not timed. Gaps in the per-(tier, instrument) `sq` count frames this client never got.
 *
 * Driven over IPC by perf/run.ts: open → measure → collect → close.
 */
import { Decoder, encode } from '@msgpack/msgpack';
import WebSocket from 'ws';
import type { NatsConnection } from 'nats.ws';
import { monoUs } from '../engine/wire/market-data.js';
import { serve, SLICE_US, type SocketSpec, type SubscriberCollect, type SubscriberRequest, type SystemKind } from './lib/ipc.js';
import { encodeHistogram, newLatencyHistogram } from './lib/stats.js';
import { newFrameFields, readFrame } from './lib/frame-reader.js';

// nats.ws expects a browser WebSocket; Node 20 has none, `ws` is API-compatible for what it uses
(globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
const { connect: natsWsConnect } = await import('nats.ws');

const decoder = new Decoder();
const hist = newLatencyHistogram();
let measuring = false;
let t0Us = 0;
let endUs = 0;
let measuredUs = 0;
/** worst latency per SLICE_US of the window: when in the window the tail happened (stall or steady) */
let sliceMax: number[] = [];
const c = { frames: 0, gaps: 0, snapshots: 0, repeats: 0, slowNotices: 0, closes: 0, errors: 0 };
const resetCounters = () => {
  for (const k of Object.keys(c) as Array<keyof typeof c>) c[k] = 0;
};

/** A control message (hello, subscribed, slow, error): decoded in full, they are rare. */
interface Control {
  t: string;
}

const ff = newFrameFields();

/** Per-socket last seen (sq, tk) by instrument: the sequence checks for one connection. */
class Tracker {
  private readonly lastSq = new Map<string, number>();
  private readonly lastTk = new Map<string, number>();

  /** Returns the control message, or null for a quote frame (handled here) or an undecodable frame. */
  onFrame(data: Uint8Array): Control | null {
    const now = monoUs();
    if (measuring && now >= endUs) {
      measuring = false;
      measuredUs = endUs - t0Us;
    }
    let t: string;
    try {
      t = readFrame(data, ff);
    } catch {
      // a frame this client cannot read is an error to report, not a reason to stop measuring
      c.errors++;
      return null;
    }
    if (t !== 'q') return decoder.decode(data) as Control;
    const i = ff.i;
    const sq = ff.sq;
    const last = this.lastSq.get(i);
    this.lastSq.set(i, sq);
    if (ff.sn === 1) {
      if (measuring) c.snapshots++;
      return null;
    }
    if (measuring && last !== undefined && sq > last + 1) c.gaps += sq - last - 1;
    const tk = ff.tk;
    const lastTk = this.lastTk.get(i);
    if (lastTk !== undefined && tk <= lastTk) {
      if (measuring) c.repeats++;
      return null;
    }
    this.lastTk.set(i, tk);
    if (!measuring) return null;
    c.frames++;
    if (ff.tpt > 0) {
      const lat = Math.max(1, now - ff.tpt);
      hist.recordValue(lat);
      const k = Math.floor((now - t0Us) / SLICE_US);
      if (k >= 0 && k < sliceMax.length && lat > sliceMax[k]) sliceMax[k] = lat;
    }
    return null;
  }
}

const SUB_CHUNK = 200;

interface Client {
  close(): Promise<void>;
}

function openWs(system: SystemKind, base: string, spec: SocketSpec): Promise<Client> {
  const q = system === 'engine' ? `?token=${encodeURIComponent(spec.token ?? '')}` : `?tier=${spec.tier}`;
  const ws = new WebSocket(`${base}/${q}`, { perMessageDeflate: false, skipUTF8Validation: true });
  const tr = new Tracker();
  return new Promise<Client>((resolve, reject) => {
    let subscribed = false;
    // the gateway caps inbound frames (gateway.maxPayloadBytes, 4 KiB by default): ≤ 200 names a request
    const chunks: string[][] = [];
    for (let k = 0; k < spec.instruments.length; k += SUB_CHUNK) chunks.push(spec.instruments.slice(k, k + SUB_CHUNK));
    let acks = 0;
    const timer = setTimeout(() => reject(new Error(`no 'subscribed' within 20 s from ${base}`)), 20_000);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      const f = tr.onFrame(data) as (Control & Record<string, unknown>) | null;
      if (f === null) return;
      if (f.t === 'hello') chunks.forEach((i, k) => ws.send(encode({ t: 'sub', i, id: k + 1 })));
      else if (f.t === 'subscribed' && !subscribed && ++acks === chunks.length) {
        subscribed = true;
        clearTimeout(timer);
        resolve({
          close: () =>
            new Promise<void>((r) => {
              if (ws.readyState === WebSocket.CLOSED) return r();
              ws.once('close', () => r());
              ws.terminate();
            }),
        });
      } else if (f.t === 'slow') c.slowNotices++;
      else if (f.t === 'error') {
        c.errors++;
        if (!subscribed) reject(new Error(`subscribe refused: ${JSON.stringify(f)}`));
      }
    });
    ws.on('close', () => {
      if (measuring) c.closes++;
      if (!subscribed) reject(new Error('closed before subscribing'));
    });
    ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    // every ws socket needs an error listener (RELIABILITY R28); the close event follows
    ws.on('error', () => {
      c.errors++;
    });
  });
}

async function openNatsWs(url: string, spec: SocketSpec, prefix: string): Promise<Client> {
  const nc: NatsConnection = await natsWsConnect({ servers: url, reconnect: false, noEcho: true, pingInterval: 60_000 });
  const tr = new Tracker();
  for (const id of spec.instruments) {
    nc.subscribe(`${prefix}.t${spec.tier}.${id}`, {
      callback: (err, msg) => {
        if (err) {
          c.errors++;
          return;
        }
        tr.onFrame(msg.data);
      },
    });
  }
  await nc.flush();
  void nc.closed().then(() => {
    if (measuring) c.closes++;
  });
  return { close: () => nc.close().catch(() => undefined) };
}

let clients: Client[] = [];

/** Opens in batches: a thousand simultaneous upgrades would only measure the accept queue. */
async function openAll(system: SystemKind, url: string, sockets: readonly SocketSpec[], prefix: string): Promise<number> {
  const BATCH = 50;
  for (let k = 0; k < sockets.length; k += BATCH) {
    const batch = sockets.slice(k, k + BATCH);
    const opened = await Promise.all(batch.map((s) => (system === 'natsws' ? openNatsWs(url, s, prefix) : openWs(system, url, s))));
    clients.push(...opened);
  }
  return clients.length;
}

serve<SubscriberRequest>(async (req) => {
  switch (req.cmd) {
    case 'open':
      return { sockets: await openAll(req.system, req.url, req.sockets, req.quotePrefix) };
    case 'measure':
      hist.reset();
      resetCounters();
      t0Us = monoUs();
      endUs = t0Us + req.durationMs * 1000;
      measuredUs = 0;
      sliceMax = new Array<number>(Math.ceil((req.durationMs * 1000) / SLICE_US)).fill(0);
      measuring = true;
      return {};
    case 'collect': {
      // normally the window has closed by itself (onFrame); if frames stopped first, close it here
      if (measuring) {
        measuring = false;
        measuredUs = Math.min(monoUs(), endUs) - t0Us;
      }
      const out: SubscriberCollect = { histogram: encodeHistogram(hist), ...c, elapsedUs: measuredUs, sliceMaxUs: sliceMax };
      return out;
    }
    case 'close':
      await Promise.all(clients.map((x) => x.close()));
      clients = [];
      return {};
  }
});
