/**
 * Attaches the stress regime to an engine (engine/extensions.ts; docs/risk-controls.md § Stress regime).
 *
 *   attach   RegimeService over ctx.market → ctx.rfq.regime, ctx.services.regime (RegimeView);
 *            live booked trades feed the one-sided-flow signal; `regimes` request kind
 *   start    timer every regime.evalEveryMs → evaluate(): policy onto ctx.hot.overlay ('regime')
 *   change   NATS  <regime.subjectPrefix>.instrument.<id> | .class.<assetClass>   JSON RegimeChange
 *            WebSocket, desk sessions and clients subscribed to the instrument: {t:'regime', i, regime, reason, serverTime}
 *   stop     timer cleared
 */
import type { EngineContext, EngineExtension } from '../extensions.js';
import type { RequestRefusal, Session } from '../gateway/index.js';
import { BAD_REQUEST_ID, isRequestId } from '../gateway/messages.js';
import { ErrorCode } from '../errors.js';
import { RegimeService, type RegimeChange } from './regime-service.js';


/** The NATS record of one change (docs/protocol.md § Stress regime). */
export function regimeChangeRecord(c: RegimeChange): Record<string, unknown> {
  return { scope: c.scope, id: c.id, from: c.from, to: c.to, reason: c.reason, signals: c.signals ?? null, ts: c.ts };
}

export function regimeSubject(prefix: string, c: Pick<RegimeChange, 'scope' | 'id'>): string {
  return `${prefix}.${c.scope === 'instrument' ? 'instrument' : 'class'}.${c.id}`;
}

export async function attach(ctx: EngineContext): Promise<EngineExtension> {
  const cfg = ctx.config.regime;
  const svc = new RegimeService({
    config: cfg, instruments: ctx.config.instruments, market: ctx.market, clock: ctx.clock, overlay: ctx.hot.overlay, log: ctx.log, registry: ctx.registry,
    feedConnected: () => ctx.hot.isFeedConnected,
  });
  ctx.rfq.regime = svc;
  ctx.services.regime = svc;

  // Client flow for the one-sided-flow signal: live trades only. Replayed ones are history the
  // flow EWMA (half-life regime.detector.flowHalfLifeMs) would have forgotten anyway.
  ctx.booking.onBooked(({ trade }, replay) => {
    if (replay) return;
    const iid = ctx.universe.instrumentIndex.get(trade.instrument);
    if (iid !== undefined) svc.recordClientTrade(iid, trade.side, trade.size, ctx.clock.nowMs());
  });

  svc.onChange((c) => {
    if (!ctx.nc.isClosed()) ctx.nc.publish(regimeSubject(cfg.subjectPrefix, c), Buffer.from(JSON.stringify(regimeChangeRecord(c))));
    // Instrument regimes are what a client can act on (its streams' state follows them); a class
    // change shows up there through each member's effective regime, and on NATS.
    if (c.scope === 'instrument' && c.iid !== undefined) ctx.gateway.sendToInstrument(c.iid, { t: 'regime', i: c.id, regime: c.to, reason: c.reason, serverTime: c.ts });
  });

  ctx.gateway.addRequestHandler({
    kinds: new Set(['regimes']),
    handle(session: Session, msg: Record<string, unknown>): RequestRefusal | void {
      const id = msg.id;
      if (id !== undefined && !isRequestId(id)) {
        return { code: ErrorCode.WS_BAD_MESSAGE, message: BAD_REQUEST_ID };
      }
      for (const k of Object.keys(msg)) {
        if (k !== 't' && k !== 'id') return { code: ErrorCode.WS_BAD_MESSAGE, message: `unknown field ${JSON.stringify(k.slice(0, 32))} in regimes`, id: id as string | number | undefined };
      }
      const { instruments, classes } = svc.abnormal();
      ctx.gateway.sendTo(session, { t: 'regimes', ...(id !== undefined ? { id } : {}), instruments, classes, serverTime: ctx.clock.nowMs() });
    },
  });

  let timer: NodeJS.Timeout | undefined;
  return {
    name: 'regime',
    async start() {
      if (cfg.evalEveryMs > 0) {
        timer = setInterval(() => {
          try {
            svc.evaluate();
          } catch (e) {
            // a bug in one pass must not take the engine down; the next pass starts from the same arrays
            ctx.log.error({ err: (e as Error).message }, 'regime evaluation failed');
          }
        }, cfg.evalEveryMs);
        timer.unref();
      }
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
}
