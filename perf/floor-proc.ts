/**
 * The bare relay: the latency and fan-out floor the engine is judged against. Same stack as the
 * engine (nats.js callback subscription, the engine's md decoder, the engine's reused quote frame
 * writer and msgpack encoder, uWS pub/sub with the engine's topic names and socket limits), with
 * nothing in between: no market state, no pricing, no gate, no batching, no worker hop.
 *
 *   md.> message ──decodeMd──► for tier 1..3: fill frame (tick's bid/ask as a ladder of the
 *                               tier's depth, sq +1, tk, tpt = tick's pt) ──encode──► app.publish
 *
 *   node dist/perf/floor-proc.js --nats <url> --config <file>     prints {"port","pid"}; IPC: stats
 */
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect } from 'nats';
import uWS from 'uWebSockets.js';
import type { us_socket } from 'uWebSockets.js';
import { buildUniverse, loadConfigFile } from '../engine/config.js';
import { MdResult } from '../engine/errors.js';
import { encodeShared, makeDecoder, MD_LIMITS, CLIENT_LIMITS } from '../engine/wire/codec.js';
import { decodeMd, newMdRecord } from '../engine/wire/market-data.js';
import { QuoteFrameWriter, QuoteReason, QuoteState } from '../engine/wire/quote.js';
import { serve, type FloorRequest, type FloorStats } from './lib/ipc.js';

const { values } = parseArgs({ options: { nats: { type: 'string' }, config: { type: 'string' } } });
if (!values.nats || !values.config) throw new Error('usage: floor-proc --nats <url> --config <file>');
const config = loadConfigFile(values.config);
const u = buildUniverse(config);
const n = config.instruments.length;
const ids = config.instruments.map((i) => i.id);
const topics: string[] = [];
for (let tier = 1; tier <= 3; tier++) for (let iid = 0; iid < n; iid++) topics.push(`q/${tier}/${iid}/b`);
/** ladder depth per (tier, instrument), as the engine would show it */
const depth = new Uint8Array(3 * n);
const sizes: number[][] = config.instruments.map((i) => [...i.sizeBands]);
for (let t = 0; t < 3; t++) {
  const tc = config.tiers[String(t + 1) as '1' | '2' | '3'];
  for (let iid = 0; iid < n; iid++) depth[t * n + iid] = Math.min(tc.maxBands, sizes[iid].length);
}
const sq = new Float64Array(3 * n);

const s = { ticks: 0, frames: 0, opened: 0, closedAbruptly: 0 };
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

interface Sock {
  tier: number;
}
const clientDecoder = makeDecoder(CLIENT_LIMITS);
const g = config.gateway;
const app = uWS.App();
app.ws<Sock>('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 2 * g.maxPayloadBytes,
  maxBackpressure: g.maxBackpressureBytes,
  closeOnBackpressureLimit: 1,
  idleTimeout: g.idleTimeoutSec,
  sendPingsAutomatically: true,
  upgrade: (res, req, ctx) => {
    const tier = Number(req.getQuery('tier') ?? '1');
    res.upgrade<Sock>({ tier: tier >= 1 && tier <= 3 ? tier : 1 }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), ctx);
  },
  open: (ws) => {
    s.opened++;
    ws.send(encodeShared({ t: 'hello', v: 1, tier: ws.getUserData().tier }), true, false);
  },
  message: (ws, message) => {
    try {
      const m = clientDecoder.decode(new Uint8Array(message)) as { t?: string; i?: string[]; id?: unknown };
      if (m.t !== 'sub' || !Array.isArray(m.i)) return;
      const tier = ws.getUserData().tier;
      ws.cork(() => {
        for (const id of m.i!) {
          const iid = u.instrumentIndex.get(id);
          if (iid !== undefined) ws.subscribe(topics[(tier - 1) * n + iid]);
        }
        ws.send(encodeShared({ t: 'subscribed', id: m.id, i: m.i }), true, false);
      });
    } catch {
      // a malformed request from a harness client is a harness bug; the relay itself must stay up
      ws.send(encodeShared({ t: 'error', code: 'bad request' }), true, false);
    }
  },
  close: (_ws, code) => {
    // 1006 without our asking: uWS closed it (backpressure cap) or the client vanished mid-run
    if (code === 1006) s.closedAbruptly++;
  },
});
const port = await new Promise<number>((resolve, reject) =>
  app.listen('127.0.0.1', 0, (ls) => (ls === false ? reject(new Error('floor cannot listen')) : resolve(uWS.us_socket_local_port(ls as unknown as us_socket)))),
);

const writer = new QuoteFrameWriter();
const f = writer.frame;
f.st = QuoteState.FIRM;
f.rs = QuoteReason.NONE;
const rec = newMdRecord();
const mdDecoder = makeDecoder(MD_LIMITS);
const nc = await connect({ servers: values.nats, name: 'perf-floor', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
nc.subscribe(`${config.nats.mdPrefix}.>`, {
  callback: (err, msg) => {
    if (err) return;
    if (decodeMd(mdDecoder, msg.data, u.instrumentIndex, u.venueIndex, rec) !== MdResult.OK) return;
    const tk = ++s.ticks;
    const iid = rec.iid;
    f.i = ids[iid];
    f.ts = rec.srcTsMs;
    f.mid = (rec.bid + rec.ask) / 2;
    f.tk = tk;
    f.tts = rec.srcTsMs;
    f.tpt = rec.pubMonoUs;
    const bands = sizes[iid];
    for (let t = 0; t < 3; t++) {
      const k = t * n + iid;
      f.tr = t + 1;
      f.sq = ++sq[k];
      const lv = writer.setLevels(depth[k]);
      for (let b = 0; b < lv.length; b++) {
        lv[b][0] = bands[b];
        lv[b][1] = rec.bid * (1 - b * 1e-4);
        lv[b][2] = rec.ask * (1 + b * 1e-4);
      }
      app.publish(topics[k], writer.encodeBinary(), true, false);
      s.frames++;
    }
  },
});

process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`);

serve<FloorRequest>((req) => {
  if (req.cmd !== 'stats') throw new Error(`unknown command ${String(req.cmd)}`);
  const out: FloorStats = {
    ...s,
    loopLagP50Ms: lag.percentile(50) / 1e6,
    loopLagP99Ms: lag.percentile(99) / 1e6,
    loopLagMaxMs: lag.max / 1e6,
  };
  lag.reset();
  return out;
});

const stop = async () => {
  // present in this uWS build, absent from its typings (see engine/gateway/gateway.ts close())
  (app as unknown as { close(): void }).close();
  await nc.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
