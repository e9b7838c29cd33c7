/**
 * Attaches the co-pilot module to an engine (see engine/extensions.ts). Owned by the copilot module.
 *
 * attach (before the journal replay): opens the decision audit stream, starts the worker pool,
 * listens to RFQ events and booked trades (replayed ones seed recent trades and flow), registers
 * the trader kinds with the gateway, and offers the RFQ service two hooks it consults when present:
 * `priceAdjust` (a shown axe improves the client's next automatic price) and `traderGuard` (an RFQ
 * taken over is quoted or rejected only by the trader who took it).
 */
import type { EngineContext, EngineExtension } from '../extensions.js';
import { DecisionJournal } from './audit.js';
import { createCopilotPool } from './pool.js';
import { CopilotService, type RfqSource } from './service.js';
import type { Session } from '../gateway/gateway.js';

/** Hooks the RFQ service may consult (engine/rfq/service.ts; see docs/copilot.md § Integration). */
export interface RfqCopilotHooks {
  priceAdjust?: (clientId: string, iid: number, side: 'buy' | 'sell', autoPrice: number, nowMs: number) => number;
  traderGuard?: (session: Session, rfqId: string) => { code: string; message: string } | null;
}

export async function attach(ctx: EngineContext): Promise<EngineExtension> {
  const cfg = ctx.config.copilot;
  if (!cfg.enabled) return { name: 'copilot', stop: async () => undefined };
  const audit = await DecisionJournal.open(ctx.nc, { stream: cfg.audit.stream, subjectPrefix: cfg.audit.subjectPrefix, log: ctx.log, registry: ctx.registry });
  const runner = createCopilotPool(cfg, ctx.registry);
  await runner.warm();
  const svc = new CopilotService({
    config: ctx.config,
    universe: ctx.universe,
    cfg,
    clock: ctx.clock,
    log: ctx.log,
    market: ctx.market,
    inventory: ctx.inventory,
    feedConnected: () => ctx.hot.isFeedConnected,
    out: ctx.gateway,
    rfq: ctx.rfq as unknown as RfqSource,
    runner,
    directory: () => ctx.directory,
    markout: ctx.markout,
    audit,
  });
  ctx.booking.onBooked(({ trade }) => svc.onBooked(trade));
  ctx.gateway.addRequestHandler(svc);
  const hooks = ctx.rfq as unknown as RfqCopilotHooks;
  hooks.priceAdjust = (clientId, iid, side, autoPrice, nowMs) => {
    const p = svc.axes.adjust(clientId, iid, side, autoPrice, nowMs);
    // the axe was inside the collar when shown; the mid may have moved since
    const mid = ctx.market.mid[iid];
    const ins = ctx.config.instruments[iid];
    const collar = ins.collarBps ?? ctx.config.pricing.collarBps;
    return p !== autoPrice && mid > 0 && (Math.abs(p - mid) / mid) * 1e4 <= collar ? p : autoPrice;
  };
  hooks.traderGuard = (session, rfqId) => svc.actionRefusal(session, rfqId);
  ctx.services.copilot = svc;
  return {
    name: 'copilot',
    async stop() {
      svc.close();
      await svc.settle().catch(() => undefined);
      await runner.close();
    },
  };
}
