/**
 * Wires one engine instance: NATS connection, market state, inventory, pricer, hot path,
 * gateway, and the RFQ / booking path. Used by main.ts and, unchanged, by the integration tests
 * and the perf harness.
 *
 * Start-up order matters for recovery (R19/R20): the trade journal is replayed into inventory,
 * P&L, credit and the accept ids *before* market data is subscribed, the quote bus is attached or
 * the gateway listens, so the first quote anyone sees is skewed by the recovered inventory.
 */
import { connect, type NatsConnection, type Subscription } from 'nats';
import type { Registry } from 'prom-client';
import { systemClock, type Clock } from './clock.js';
import { buildUniverse, parseConfig, type Config } from './config.js';
import { Booking } from './booking/index.js';
import { crmUniverse, loadDefaultBook } from './crm/book.js';
import { CrmStore } from './crm/store.js';
import { MarkoutRecorder } from './crm/markout.js';
import { markoutOptionsFrom, parseCrmConfig, scorerOptionsFrom } from './crm/options.js';
import type { ScoreTrade } from './crm/score.js';
import { Scorer } from './crm/scorer.js';
import { InstrumentStatus } from './market/index.js';
import type { ClientDirectory } from './crm/types.js';
import { Gateway } from './gateway/index.js';
import { HotPath, type Logger } from './hotpath.js';
import { Inventory } from './inventory/index.js';
import { MarketState } from './market/index.js';
import { makeRegistry } from './metrics.js';
import { createInlinePricer, createWorkerPricer, type BatchPricer, type WorkerPricerOptions } from './pricing/pool.js';
import { RfqService, type KillSwitch } from './rfq/index.js';
import type { EngineContext, EngineExtension, EngineServices } from './extensions.js';
import { attach as attachHedging } from './hedging/attach.js';
import { attach as attachPnl } from './pnl/attach.js';
import { attach as attachRisk } from './risk/attach.js';
import { attach as attachRegime } from './risk/attach-regime.js';
import { attach as attachCopilot } from './copilot/attach.js';
import { fileURLToPath } from 'node:url';
import { serveScreen } from './screen/serve.js';
import { crmDesk } from './crm/desk.js';

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
  /**
   * CRM read side for RFQ limits, credit, agreements and client tiers. Default: the CRM store in
   * NATS KV (engine/crm), seeded from engine/default-crm.json when empty and config.crm.seedDefaultBook.
   */
  readonly directory?: ClientDirectory;
  /** false: no CRM at all (every RFQ then queues with reason `limit`); ignored when `directory` is given */
  readonly crm?: boolean;
  /** R7 kill switch for an engine run without the risk module (`extensions` without it); the risk module replaces it */
  readonly killSwitch?: KillSwitch;
  /** modules to attach, in order (default: hedging, pnl, risk, regime, copilot; engine/extensions.ts) */
  readonly extensions?: ReadonlyArray<(ctx: EngineContext) => Promise<EngineExtension>>;
  /** the built trader screen served at /screen/ (default: dist/screen next to this build; false: none) */
  readonly screenDir?: string | false;
}

export const DEFAULT_EXTENSIONS = [attachHedging, attachPnl, attachRisk, attachRegime, attachCopilot] as const;

export interface Engine {
  readonly config: Config;
  readonly port: number;
  readonly nc: NatsConnection;
  readonly hot: HotPath;
  readonly gateway: Gateway;
  readonly market: MarketState;
  readonly inventory: Inventory;
  readonly registry: Registry;
  readonly booking: Booking;
  readonly rfq: RfqService;
  /** the directory in use: `o.directory`, the CRM store, or undefined */
  readonly directory: ClientDirectory | undefined;
  readonly crm: CrmStore | undefined;
  /** relationship scores from the journal (with the CRM store) */
  readonly scorer: Scorer | undefined;
  readonly markout: MarkoutRecorder | undefined;
  /** what the attached modules offer (engine/extensions.ts) */
  readonly services: EngineServices;
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
      return { ok: h.ok, detail: { ...h, journal: booking ? { lastSeq: booking.lastSeq, trades: booking.size, recovery: booking.recovery } : null } };
    },
  });
  hot.sink = gateway;
  if (o.screenDir !== false) {
    const dir = o.screenDir ?? fileURLToPath(new URL('../screen/', import.meta.url));
    serveScreen(gateway, dir, o.log);
  }
  let booking: Booking | undefined;
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

  let rfq: RfqService;
  let crm: CrmStore | undefined;
  let scorer: Scorer | undefined;
  let markout: MarkoutRecorder | undefined;
  const replayedForScore: ScoreTrade[] = [];
  const services: EngineServices = {};
  const extensions: EngineExtension[] = [];
  let directory = o.directory;
  try {
    if (directory === undefined && o.crm !== false) {
      crm = await CrmStore.open(nc, { autoTier: config.crm.autoTier, maxOverrideMs: config.crm.maxOverrideDays * 86_400_000, log: o.log, clock, registry, universe: crmUniverse(config) });
      if (config.crm.seedDefaultBook) {
        try {
          await crm.seedIfEmpty(loadDefaultBook(crmUniverse(config)));
        } catch (e) {
          // a book that does not fit this universe (another config) is not written; the desk imports its own
          o.log.warn({ err: (e as Error).message }, 'default client book not seeded');
        }
      }
      directory = crm;
    }
    // the CRM decides each client's tier: apply it now and whenever a record, override or score changes
    if (directory !== undefined) {
      const dir = directory;
      const applyTier = (clientId: string) => {
        const current = gateway.tierOfClient(clientId);
        const tier = dir.effectiveTier(clientId, clock.nowMs());
        if (current !== undefined && tier !== undefined && tier !== current) gateway.retier(clientId, tier);
      };
      for (const c of config.clients) applyTier(c.id);
      dir.onChange((k) => {
        if (k.clientId !== undefined) applyTier(k.clientId);
      });
    }
    booking = await Booking.open(nc, universe, inventory, registry, o.log);
    // Relationship score and markout hang off the journal: every trade reaches them once, replayed
    // ones at start-up (score only: their markout horizons are long past) and live ones after the
    // PubAck. Markout reads the composite mid only while it is firm.
    if (crm !== undefined) {
      const store = crm;
      const crmCfg = parseCrmConfig(config.crm); // already valid; re-parsed for its mutable option types
      const sc = (scorer = new Scorer({ store, clock, log: o.log, registry, ...scorerOptionsFrom(crmCfg) }));
      const mk = (markout = new MarkoutRecorder((iid) => (market.status[iid] === InstrumentStatus.FIRM ? market.mid[iid] : NaN), clock, { ...markoutOptionsFrom(crmCfg), registry, log: o.log }));
      mk.onMarkout((tradeId, horizonMs, bps) => sc.onMarkout(tradeId, horizonMs, bps));
      booking.onBooked(({ trade }, replay) => {
        const iid = universe.instrumentIndex.get(trade.instrument);
        if (iid === undefined) return;
        const st: ScoreTrade = {
          tradeId: trade.tradeId, clientId: trade.clientId, instrument: trade.instrument,
          assetClass: config.instruments[iid].assetClass, side: trade.side, size: trade.size, price: trade.price,
          midAtTrade: trade.mid ?? trade.price, notional: trade.size, tsMs: trade.ts,
        };
        if (replay) replayedForScore.push(st);
        else {
          sc.addTrade(st);
          if (trade.mid !== null) mk.record(trade.tradeId, trade.clientId, iid, trade.side, trade.price, trade.mid, trade.ts);
        }
      });
    }
    // constructed before the replay: it counts replayed trades into each client's credit
    rfq = new RfqService({
      universe, clock, market, stream: hot, inventory, booking, out: gateway, registry, log: o.log,
      tierOf: (c) => gateway.tierOfClient(c), directory, killSwitch: o.killSwitch,
    });
    const ctx: EngineContext = {
      config, universe, clock, log: o.log, registry, nc, market, inventory, pricer, hot, gateway, booking, rfq,
      directory, crm, scorer, markout, secret: o.secret, services,
    };
    for (const attach of o.extensions ?? DEFAULT_EXTENSIONS) extensions.push(await attach(ctx));
    await booking.recover();
    for (const x of extensions) await x.start?.();
    if (scorer !== undefined) {
      scorer.setTrades(replayedForScore);
      replayedForScore.length = 0;
      markout!.start();
    }
  } catch (e) {
    for (const x of extensions.reverse()) await x.stop().catch(() => undefined);
    markout?.stop();
    await scorer?.close().catch(() => undefined);
    await booking?.close().catch(() => undefined);
    await crm?.close().catch(() => undefined);
    await nc.close().catch(() => undefined);
    await pricer.close();
    throw e;
  }
  gateway.requests = rfq;
  if (crm !== undefined) gateway.addRequestHandler(crmDesk(crm, gateway, clock, o.log));
  rfq.start();

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
    booking,
    rfq,
    directory,
    crm,
    scorer,
    markout,
    services,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(sweepTimer);
      for (const x of [...extensions].reverse()) {
        await x.stop().catch((e: Error) => o.log.error({ ext: x.name, err: e.message }, 'extension stop failed'));
      }
      rfq.close();
      markout?.stop();
      await scorer?.close().catch(() => undefined);
      hot.close();
      sub.unsubscribe();
      await booking!.close().catch(() => undefined);
      await crm?.close().catch(() => undefined);
      await gateway.close();
      await Promise.race([nc.drain().catch(() => undefined), new Promise((r) => setTimeout(r, 2_000))]);
      if (!nc.isClosed()) await nc.close();
      await pricer.close();
    },
  };
}
