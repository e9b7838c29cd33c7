/**
 * Attaches the pnl module to an engine (see engine/extensions.ts). Owned by the pnl module.
 *
 *   booking.onBooked (replayed, then live) ──► book.onTrade
 *   services.hedger.onFill (when it has one) ─► book.onHedgeFill
 *   markout.onMarkout (live trades)         ──► book.onMarkout (moves the trade's reference mid)
 *   gateway kinds pnl / positions            ◄── trader and admin sessions; a push every pushIntervalMs
 *
 * The mark of an instrument is its composite mid while the market is firm; otherwise the last
 * one the book saw (a stale market freezes the mark rather than zeroing the inventory P&L).
 */
import { ConfigError } from '../errors.js';
import type { EngineContext, EngineExtension } from '../extensions.js';
import { InstrumentStatus } from '../market/index.js';
import { HotCounter, readGauge } from '../metrics.js';
import { pnlConfigIssues } from './config.js';
import { RiskLedger, referenceData } from './ledger.js';
import { PnlBook, PnlEventResult, type HedgeFillInput } from './pnl.js';
import { PNL_KINDS, PnlService, type HedgeFillSource } from './service.js';

const RESULTS = Object.values(PnlEventResult);

export async function attach(ctx: EngineContext): Promise<EngineExtension> {
  const cfg = ctx.config.pnl;
  const issues = pnlConfigIssues(cfg, ctx.config.instruments.map((i) => i.id));
  if (issues.length > 0) throw new ConfigError(issues);
  const refs = referenceData(ctx.config, ctx.clock.nowMs());
  const liveMid = (iid: number) => (ctx.market.status[iid] === InstrumentStatus.FIRM ? ctx.market.mid[iid] : NaN);
  const book = new PnlBook({
    ids: refs.map((r) => r.id), scale: refs.map((r) => r.priceScale * r.ccyRate),
    recentTrades: cfg.recentTrades, dayStart: cfg.dayStart, rollUtcMinute: cfg.rollUtcMinute, liveMid,
  });
  const ledger = new RiskLedger(refs, ctx.inventory.position, (iid) => book.mark(iid));
  const service = new PnlService(book, ledger, cfg, ctx.clock);
  const events = new HotCounter(ctx.registry, 'qe_pnl_events_total', 'Trades, hedge fills and markout samples applied to the P&L book, by result', 'result', RESULTS);
  readGauge(ctx.registry, 'qe_pnl_desk_today', 'Desk P&L since the start of the trading day (reporting currency)', () => service.deskPnlToday());
  const counted = (kind: string, id: string, r: PnlEventResult) => {
    events.incLabel(r);
    if (r === PnlEventResult.INVALID) ctx.log.warn({ kind, id }, 'P&L event refused (invalid)');
  };

  ctx.booking.onBooked(({ trade }) => {
    const iid = ctx.universe.instrumentIndex.get(trade.instrument);
    if (iid === undefined) return; // not in the universe: booking warned already, inventory untouched
    const deskQty = trade.side === 'buy' ? -trade.size : trade.size;
    counted('trade', trade.tradeId, service.onTrade({ tradeId: trade.tradeId, clientId: trade.clientId, tier: trade.tier, iid, deskQty, price: trade.price, mid: trade.mid, ts: trade.ts }));
  });

  const hedger = ctx.services.hedger as Partial<HedgeFillSource> | undefined;
  if (typeof hedger?.onFill === 'function') {
    hedger.onFill((f: HedgeFillInput) => counted('hedge_fill', f.fillId, service.onHedgeFill(f)));
  } else {
    ctx.log.info({}, 'no hedger with onFill: the P&L counts client trades only');
  }

  ctx.markout?.onMarkout((tradeId, horizonMs, _bps, detail) => {
    // a trade of an earlier day (or before a restart) is not in today's book: not an error
    const r = book.onMarkout(tradeId, horizonMs, detail.midAtHorizon);
    if (r !== PnlEventResult.UNKNOWN_TRADE) events.incLabel(r);
  });

  ctx.gateway.addRequestHandler({ kinds: PNL_KINDS, handle: (s, msg) => service.handle(s, msg, ctx.gateway) });
  ctx.services.pnl = service;

  let timer: NodeJS.Timeout | undefined;
  return {
    name: 'pnl',
    async start() {
      // after the replay: engine_start opens the day now; utc_midnight sets (or rolls to) today
      if (cfg.dayStart === 'engine_start') book.roll(ctx.clock.nowMs());
      else book.rollIfDue(ctx.clock.nowMs());
      ctx.log.info({ dayStart: cfg.dayStart, dayStartMs: book.dayStartMs, deskPnlToday: book.deskTotal(), trades: book.counts.ok }, 'P&L book ready');
      timer = setInterval(() => {
        try {
          service.pushIfChanged(ctx.gateway);
        } catch (e) {
          // a push is a convenience; a bug here must not take the timer (or the engine) down
          ctx.log.error({ err: (e as Error).message }, 'P&L push failed');
        }
      }, cfg.pushIntervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
    },
  };
}
