/**
 * The hedge router as the desk sees it over WebSocket (trader and admin roles): `{t:'hedges', id?}`
 * answers the working plans with their child orders and the newest decisions (with all four
 * options' estimates and the reason); every live decision is also pushed as
 * `{t:'hedge_decision', decision}`. A client or rm token is refused (QE_RFQ_NOT_ENTITLED), like the
 * other desk views (pnl, positions).
 */
import type { Clock } from '../clock.js';
import { ErrorCode } from '../errors.js';
import type { OutboundMessage, RequestHandler, RequestRefusal, Session } from '../gateway/index.js';
import { BAD_REQUEST_ID, isRequestId } from '../gateway/messages.js';
import type { HedgeDecisionRecord, HedgeRouter } from './router.js';

const DESK_ROLES: ReadonlySet<string> = new Set(['trader', 'admin']);
/** decisions sent with a `hedges` answer */
export const HEDGES_DECISIONS = 20;

export interface HedgeDeskOut {
  sendTo(s: Session, msg: OutboundMessage): boolean;
  sendToRole(role: 'trader' | 'admin', msg: OutboundMessage): number;
}

export function hedgeDesk(router: Pick<HedgeRouter, 'plans' | 'decisions' | 'onDecision'>, out: HedgeDeskOut, clock: Clock): RequestHandler {
  router.onDecision((d: HedgeDecisionRecord, replay: boolean) => {
    if (replay) return;
    const msg = { t: 'hedge_decision', decision: d, serverTime: clock.nowMs() };
    for (const r of DESK_ROLES) out.sendToRole(r as 'trader' | 'admin', msg);
  });
  return {
    kinds: new Set(['hedges']),
    handle(s: Session, msg: Record<string, unknown>): RequestRefusal | void {
      const id = msg.id;
      if (id !== undefined && !isRequestId(id)) return { code: ErrorCode.WS_BAD_MESSAGE, message: BAD_REQUEST_ID };
      for (const k of Object.keys(msg)) if (k !== 't' && k !== 'id') return { code: ErrorCode.WS_BAD_MESSAGE, message: `unknown field "${k.slice(0, 32)}" in hedges`, id };
      if (!DESK_ROLES.has(s.role)) {
        out.sendTo(s, { t: 'rejected', code: ErrorCode.RFQ_NOT_ENTITLED, message: `role ${s.role} may not read hedges: trader or admin role required`, id, serverTime: clock.nowMs() });
        return;
      }
      out.sendTo(s, { t: 'hedges', id, plans: router.plans(), decisions: router.decisions(HEDGES_DECISIONS), serverTime: clock.nowMs() });
    },
  };
}
