/**
 * The relationship manager's override from the trader screen (R10: by the rm or admin role only,
 * temporary, logged): `{t:'crm_override', id?, clientId, tier, reason, expiresAtMs}` sets the
 * override through the CRM store (author = the session's subject), `tier: null` clears it. The
 * store validates (expiry in the future and within crm.maxOverrideDays) and the engine re-tiers
 * the client's sockets when the change comes back from KV. Answer: `{t:'crm_override', id,
 * clientId, override, effectiveTier}`, or `{t:'rejected', code, message, id}` with the store's
 * QE_CRM_* code; a trader or client token gets QE_RFQ_NOT_ENTITLED.
 */
import type { Clock } from '../clock.js';
import { CrmError, ErrorCode } from '../errors.js';
import type { OutboundMessage, RequestHandler, RequestRefusal, Session } from '../gateway/index.js';
import { BAD_REQUEST_ID, isRequestId } from '../gateway/messages.js';
import type { CrmStore } from './store.js';

const OVERRIDE_ROLES: ReadonlySet<string> = new Set(['rm', 'admin']);
const FIELDS = new Set(['t', 'id', 'clientId', 'tier', 'reason', 'expiresAtMs']);
const MAX_REASON_CHARS = 200;

export interface CrmDeskOut {
  sendTo(s: Session, msg: OutboundMessage): boolean;
}

export function crmDesk(store: Pick<CrmStore, 'setOverride' | 'effectiveTier'>, out: CrmDeskOut, clock: Clock, log: { warn(o: object, m?: string): void }): RequestHandler {
  return {
    kinds: new Set(['crm_override']),
    handle(s: Session, m: Record<string, unknown>): RequestRefusal | void {
      const id = m.id;
      if (id !== undefined && !isRequestId(id)) return { code: ErrorCode.WS_BAD_MESSAGE, message: BAD_REQUEST_ID };
      for (const k of Object.keys(m)) if (!FIELDS.has(k)) return { code: ErrorCode.WS_BAD_MESSAGE, message: `unknown field "${k.slice(0, 32)}" in crm_override`, id };
      if (typeof m.clientId !== 'string') return { code: ErrorCode.WS_BAD_MESSAGE, message: 'clientId must be a string', id };
      if (m.tier !== null && m.tier !== 1 && m.tier !== 2 && m.tier !== 3) return { code: ErrorCode.WS_BAD_MESSAGE, message: 'tier must be 1, 2, 3 or null (clear)', id };
      if (m.tier !== null) {
        if (typeof m.reason !== 'string' || m.reason.trim() === '' || m.reason.length > MAX_REASON_CHARS) return { code: ErrorCode.WS_BAD_MESSAGE, message: `reason must be 1-${MAX_REASON_CHARS} characters`, id };
        if (typeof m.expiresAtMs !== 'number' || !Number.isSafeInteger(m.expiresAtMs)) return { code: ErrorCode.WS_BAD_MESSAGE, message: 'expiresAtMs must be an integer epoch ms', id };
      }
      const reply = (msg: { t: string } & Record<string, unknown>) => out.sendTo(s, { ...msg, id, serverTime: clock.nowMs() });
      if (!OVERRIDE_ROLES.has(s.role)) {
        reply({ t: 'rejected', code: ErrorCode.RFQ_NOT_ENTITLED, message: `role ${s.role} may not override a client's tier: rm or admin role required` });
        return;
      }
      const clientId = m.clientId;
      const input = m.tier === null ? null : { tier: m.tier as 1 | 2 | 3, reason: m.reason as string, expiresAtMs: m.expiresAtMs as number };
      store.setOverride(clientId, input, `${s.client} (${s.role})`).then(
        (rec) => {
          log.warn({ client: clientId, override: rec.override, by: s.client, role: s.role }, 'tier override set from the screen');
          reply({ t: 'crm_override', clientId, override: rec.override, effectiveTier: store.effectiveTier(clientId, clock.nowMs()) ?? null });
        },
        (e: unknown) => {
          const code = e instanceof CrmError ? e.code : ErrorCode.CRM_UNAVAILABLE;
          reply({ t: 'rejected', code, message: (e as Error).message.slice(0, 300) });
        },
      );
    },
  };
}
