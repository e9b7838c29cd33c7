/** Starts a real engine (worker pricer, uWS gateway on a free port) against a real broker. */
import { randomBytes } from 'node:crypto';
import { encode } from '@msgpack/msgpack';
import { connect, type NatsConnection } from 'nats';
import type { Test } from 'tap';
import { loadDefaultConfig, parseConfig, type Config, type ConfigInput } from '../../engine/config.js';
import { startEngine, type Engine, type EngineOptions } from '../../engine/engine.js';
import type { Logger } from '../../engine/hotpath.js';
import { InstrumentStatus } from '../../engine/market/index.js';
import { bookSubject } from '../../engine/wire/market-data.js';
import { startBroker, type TestBroker } from './nats.js';

export const quietLog: Logger & { lines: string[] } = {
  lines: [],
  info(o, m) { quietLog.lines.push(`info ${m} ${JSON.stringify(o)}`); },
  warn(o, m) { quietLog.lines.push(`warn ${m} ${JSON.stringify(o)}`); },
  error(o, m) { quietLog.lines.push(`error ${m} ${JSON.stringify(o)}`); },
};

/** A small universe (3 instruments, 3 venues each) with fast staleness for tests. */
export function testConfig(patch: (c: ConfigInput & Record<string, any>) => void = () => {}): Config {
  const raw = JSON.parse(JSON.stringify(loadDefaultConfig())) as any;
  raw.instruments = raw.instruments.filter((i: any) => ['EURUSD', 'UST-10Y', 'ACME-27', 'CDX-IG'].includes(i.id));
  for (const i of raw.instruments) i.initialPosition = 0;
  raw.market = { ...raw.market, staleAfterMs: 300, staleSweepMs: 20, recoveryTicks: 2 };
  raw.pricing = { ...raw.pricing, workers: { threads: 1, maxQueue: 4, batchTimeoutMs: 300 } };
  raw.gateway = { ...raw.gateway, port: 0, sweepMs: 20 };
  patch(raw);
  return parseConfig(raw);
}

export interface TestEngine {
  engine: Engine;
  broker: TestBroker;
  /** publisher connection for market data */
  pub: NatsConnection;
  secret: Buffer;
  config: Config;
  url: string;
  book(instrument: string, venue: string, seq: number, bid: number, ask: number, sizes?: [number, number]): void;
  /** one in-sequence, uncrossed book on every venue of `instrument` around `mid` */
  tickAll(instrument: string, mid: number, halfSpreadBps?: number): void;
}

export async function startTestEngine(t: Test, opts: { config?: Config; engine?: Partial<EngineOptions>; broker?: TestBroker } = {}): Promise<TestEngine> {
  const broker = opts.broker ?? (await startBroker(t));
  const config = opts.config ?? testConfig();
  const secret = randomBytes(32);
  const engine = await startEngine({ config, natsUrl: broker.url, secret, log: quietLog, port: 0, ...opts.engine });
  const pub = await connect({ servers: broker.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  t.teardown(async () => {
    await pub.close().catch(() => undefined);
    await engine.stop();
  });
  const seqs = new Map<string, number>();
  const te: TestEngine = {
    engine, broker, pub, secret, config,
    url: `ws://127.0.0.1:${engine.port}`,
    book(instrument, venue, seq, bid, ask, sizes = [5e6, 5e6]) {
      seqs.set(`${instrument}.${venue}`, seq);
      pub.publish(bookSubject(config.nats.mdPrefix, instrument, venue), encode({ i: instrument, v: venue, s: seq, ts: Date.now(), b: bid, a: ask, bs: sizes[0], as: sizes[1] }));
    },
    tickAll(instrument, mid, halfSpreadBps = 1) {
      const ins = config.instruments.find((i) => i.id === instrument)!;
      for (const v of ins.venues) {
        const k = `${instrument}.${v}`;
        const s = (seqs.get(k) ?? 0) + 1;
        te.book(instrument, v, s, mid * (1 - halfSpreadBps / 1e4), mid * (1 + halfSpreadBps / 1e4));
      }
    },
  };
  return te;
}

/** Ticks `instrument` around `mid` every 60 ms for the rest of the test; resolves once its market is firm. */
export async function keepTicking(t: Test, te: TestEngine, instrument: string, mid: number): Promise<void> {
  const ticker = setInterval(() => te.tickAll(instrument, mid), 60);
  t.teardown(() => clearInterval(ticker));
  const iid = te.config.instruments.findIndex((i) => i.id === instrument);
  const end = Date.now() + 5000;
  while (te.engine.market.status[iid] !== InstrumentStatus.FIRM) {
    if (Date.now() > end) throw new Error(`${instrument}: market not firm within 5 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
