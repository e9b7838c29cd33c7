/**
 * Attaches the hedging module to an engine (see engine/extensions.ts). Owned by the hedging module.
 *
 * The engine reaches the venues over its own NATS connection (NatsVenueAdapter: request/reply on
 * `<venuePrefix>.<venue>.order|cancel`, fills on `<venuePrefix>.*.fill`). For the synthetic market,
 * the feed process runs the venue simulator on the same broker: `npm run feed -- --venue-sim`.
 * With no venue listening, child orders come back `QE_VENUE_UNAVAILABLE` (recorded, nothing sent)
 * and the plans are looked at again after `hedging.router.retryAfterMs`.
 *
 *   attach   open the hedge journal (stream HEDGES), build the router, listen to booked trades
 *            (the trade journal replay that follows reaches the router with replay = true)
 *   start    replay the hedge journal (fills into inventory, silently), re-query orders left in
 *            flight, start the review timer
 *   stop     timer, fill subscription, adapter
 */
import type { EngineContext, EngineExtension } from '../extensions.js';
import type { HedgingConfig } from './config.js';
import { hedgeDesk } from './desk.js';
import { HedgeJournal } from './journal.js';
import { HedgeRouter } from './router.js';
import { NatsVenueAdapter } from './venue.js';

export async function attach(ctx: EngineContext): Promise<EngineExtension> {
  const cfg = (ctx.config.hedging as HedgingConfig).router;
  if (!cfg.enabled) return { name: 'hedging', stop: async () => undefined };
  const journal = await HedgeJournal.open(ctx.nc, cfg.journal);
  const venues = new NatsVenueAdapter({ nc: ctx.nc, prefix: cfg.venuePrefix, timeoutMs: cfg.venueTimeoutMs, clock: ctx.clock });
  const router = new HedgeRouter({ ctx, journal, venues });
  ctx.booking.onBooked((b, replay) => router.onBooked(b.trade, replay));
  ctx.services.hedger = router;
  ctx.services.hedgeRouter = router;
  ctx.gateway.addRequestHandler(hedgeDesk(router, ctx.gateway, ctx.clock));
  return {
    name: 'hedging',
    start: () => router.start(),
    async stop() {
      await router.stop();
      await venues.close();
    },
  };
}
