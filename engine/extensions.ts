/**
 * How the risk, hedging and co-pilot modules plug into one engine instance without engine.ts
 * knowing their insides. Each module exports one `attach(ctx)`; startEngine calls them in this
 * order, after the RFQ service exists and *before* the trade journal is replayed:
 *
 *   hedging (hedger) → pnl (risk ledger, P&L split) → risk (controls, kill switch) → regime → copilot (+ axes)
 *
 * so an `ctx.booking.onBooked` listener registered in attach sees every replayed trade
 * (replay = true) and then every live one. `start()` runs after the replay, before market data
 * is subscribed and the gateway listens; `stop()` in reverse order at shutdown.
 *
 * Modules find each other through `ctx.services` (set in attach, read lazily when used: a later
 * module's service is absent while an earlier one attaches).
 */
import type { NatsConnection } from 'nats';
import type { Registry } from 'prom-client';
import type { Booking } from './booking/index.js';
import type { Clock } from './clock.js';
import type { Config, Universe } from './config.js';
import type { CrmStore } from './crm/store.js';
import type { MarkoutRecorder } from './crm/markout.js';
import type { Scorer } from './crm/scorer.js';
import type { ClientDirectory } from './crm/types.js';
import type { Gateway } from './gateway/index.js';
import type { HotPath, Logger } from './hotpath.js';
import type { Inventory } from './inventory/index.js';
import type { MarketState } from './market/index.js';
import type { BatchPricer } from './pricing/pool.js';
import type { RfqService } from './rfq/index.js';
import type { HedgeCanceller, HedgeGuard, PnlSource, PreTradeControls, RegimeView } from './risk/ports.js';

export interface EngineContext {
  readonly config: Config;
  readonly universe: Universe;
  readonly clock: Clock;
  readonly log: Logger;
  readonly registry: Registry;
  readonly nc: NatsConnection;
  readonly market: MarketState;
  readonly inventory: Inventory;
  readonly pricer: BatchPricer;
  readonly hot: HotPath;
  readonly gateway: Gateway;
  readonly booking: Booking;
  readonly rfq: RfqService;
  readonly directory: ClientDirectory | undefined;
  readonly crm: CrmStore | undefined;
  readonly scorer: Scorer | undefined;
  readonly markout: MarkoutRecorder | undefined;
  /** Shared HMAC secret (tokens on NATS admin subjects are checked with it). */
  readonly secret: Buffer;
  readonly services: EngineServices;
}

/**
 * What modules offer each other. Each module adds its own fields here (one line each, with the
 * port interface or its own class type).
 */
export interface EngineServices {
  hedger?: HedgeCanceller & object;
  hedgeRouter?: import('./hedging/router.js').HedgeRouter;
  pnl?: PnlSource & object;
  hedgeGuard?: HedgeGuard;
  controls?: PreTradeControls;
  regime?: RegimeView;
  risk?: import('./risk/attach.js').RiskModule;
  copilot?: import('./copilot/service.js').CopilotService;
  [extra: string]: unknown;
}

export interface EngineExtension {
  readonly name: string;
  /** after the journal replay; before market data and the gateway */
  start?(): Promise<void>;
  stop(): Promise<void>;
}

export type AttachFn = (ctx: EngineContext) => Promise<EngineExtension>;
