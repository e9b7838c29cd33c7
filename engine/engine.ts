/**
 * Wires one engine instance: NATS connection, market state, inventory, pricer, hot path and
 * gateway. Used by main.ts and, unchanged, by the integration tests and the perf harness.
 */
import { connect, type NatsConnection, type Subscription } from 'nats';
import type { Registry } from 'prom-client';
import { systemClock, type Clock } from './clock.js';
import { buildUniverse, parseConfig, type Config } from './config.js';
import { Gateway } from './gateway/index.js';
import { HotPath, type Logger } from './hotpath.js';
import { Inventory } from './inventory/index.js';
import { MarketState } from './market/index.js';
import { makeRegistry } from './metrics.js';
import { createInlinePricer, createWorkerPricer, type BatchPricer, type WorkerPricerOptions } from './pricing/pool.js';

export interface EngineOptions {
  readonly config: Config;
  readonly natsUrl: string;
  readonly secret: Buffer;
  readonly log: Logger;
  /** overrides config.gateway.port (0 = free port) */
  readonly port?: number;
  readonly pricer?: 'worker' | 'inline';
  readonly pricerFaultMode?: WorkerPricerOptions['faultMode'];
  readonly clock?: Clock;
}

export interface Engine {
  readonly config: Config;
  readonly port: number;
  readonly nc: NatsConnection;
  readonly hot: HotPath;
  readonly gateway: Gateway;
  readonly market: MarketState;
  readonly inventory: Inventory;
  readonly registry: Registry;
  stop(): Promise<void>;
}

export async function startEngine(o: EngineOptions): Promise<Engine> {
  const config = o.port === undefined ? o.config : parseConfig({ ...o.config, gateway: { ...o.config.gateway, port: o.port } });
  const universe = buildUniverse(config);
  const clock = o.clock ?? systemClock;
  const registry = makeRegistry();
  const market = new MarketState(universe, clock);
  const inventory = new Inventory(config);
  const pricer: BatchPricer = o.pricer === 'inline' ? createInlinePricer(config) : createWorkerPricer(config, { faultMode: o.pricerFaultMode });
  const hot = new HotPath({ universe, clock, market, inventory, pricer, registry, log: o.log });
  const gateway = new Gateway({
    universe,
    secret: o.secret,
    clock,
    registry,
    snapshots: hot,
    log: o.log,
    healthCheck: () => {
      const h = hot.health();
      return { ok: h.ok, detail: h };
    },
  });
  hot.sink = gateway;
  await pricer.warm();

  const nc = await connect({
    servers: o.natsUrl,
    name: 'quoting-engine',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    pingInterval: 5_000,
    maxPingOut: 2,
  });

  // Quotes for venues and other gateways. While disconnected the client would buffer and then
  // drop core publishes anyway; skipping them keeps the reconnect buffer for what matters.
  const quoteSubjects: string[][] = [1, 2, 3].map((t) => config.instruments.map((ins) => `${config.nats.quotePrefix}.t${t}.${ins.id}`));
  if (config.nats.publishQuotes) {
    hot.bus = {
      publish(tier, iid, frame) {
        if (hot.isFeedConnected) nc.publish(quoteSubjects[tier - 1][iid], frame);
      },
    };
  }

  const sub: Subscription = nc.subscribe(`${config.nats.mdPrefix}.>`, {
    callback: (err, msg) => {
      if (err) {
        o.log.error({ err: err.message }, 'market-data subscription error');
        return;
      }
      hot.onMarketData(msg.data);
    },
  });

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') hot.setFeedConnected(false);
      else if (s.type === 'reconnect') hot.setFeedConnected(true);
      else if (s.type === 'error') o.log.error({ data: String(s.data) }, 'nats error');
    }
  })();

  const sweepTimer = setInterval(() => hot.sweep(), config.market.staleSweepMs);
  const port = await gateway.listen();
  // every instrument starts explicitly pulled (no data) so the first subscriber sees a state
  hot.markAllDirty();

  let stopped = false;
  return {
    config,
    port,
    nc,
    hot,
    gateway,
    market,
    inventory,
    registry,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(sweepTimer);
      hot.close();
      sub.unsubscribe();
      await gateway.close();
      await Promise.race([nc.drain().catch(() => undefined), new Promise((r) => setTimeout(r, 2_000))]);
      if (!nc.isClosed()) await nc.close();
      await pricer.close();
    },
  };
}
