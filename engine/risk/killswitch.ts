/**
 * The kill switch (RELIABILITY R7; issue 6 §6) at four levels: global, tier, instrument, client.
 *
 * State is a set of engaged scopes, folded from audit events (`apply`), so the same code rebuilds it
 * from the RISK_AUDIT stream at start-up and changes it on a live command. `sync()` then makes the
 * streams agree with it:
 *
 *   global / tier / instrument ──► QuoteOverlay source 'kill' (mode pulled, reason killed) per (instrument, tier)
 *   client                     ──► gateway.pullClient(client, 'killed') / resumeClient(client)
 *
 * so every affected subscriber receives an explicit pulled frame (`st: "pulled", rs: "killed"`), never
 * silence. Only cells whose state changes are written, so releasing one scope leaves the others'
 * frames alone. `engaged(clientId, iid)` is what the RFQ service asks before an RFQ quote or accept:
 * a few array reads, no allocation.
 */
import type { Tier, Universe } from '../config.js';
import type { ClientStreams, KillScope, OverlaySetting, QuoteOverlay } from './ports.js';
import type { AuditEvent } from './audit.js';

export const KILL_LEVELS = ['global', 'tier', 'instrument', 'client'] as const;
export type KillLevel = KillScope['level'];
const CLIENT_ID = /^[A-Za-z0-9_-]{1,32}$/;
const KILLED: OverlaySetting = { mode: 'pulled', reason: 'killed' };

export interface EngagedSwitch {
  readonly scope: KillScope;
  readonly who: string;
  readonly role: string;
  readonly why: string;
  readonly via: string;
  /** epoch ms */
  readonly since: number;
}

/** Validates a scope from a command (untrusted): a value, never a throw. Tier targets are "1".."3", instruments by id. */
export function parseScope(raw: unknown, universe: Universe): { ok: true; scope: KillScope } | { ok: false; message: string } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, message: 'scope must be an object {level, target?}' };
  const { level, target, ...rest } = raw as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return { ok: false, message: `unknown scope field ${Object.keys(rest)[0].slice(0, 32)}` };
  if (!(KILL_LEVELS as readonly unknown[]).includes(level)) return { ok: false, message: `scope.level must be one of ${KILL_LEVELS.join(', ')}` };
  const t = typeof target === 'number' && level === 'tier' ? String(target) : target;
  switch (level as KillLevel) {
    case 'global':
      return t === undefined || t === null ? { ok: true, scope: { level: 'global' } } : { ok: false, message: 'a global scope has no target' };
    case 'tier':
      return t === '1' || t === '2' || t === '3' ? { ok: true, scope: { level: 'tier', target: t } } : { ok: false, message: 'scope.target must be a tier: 1, 2 or 3' };
    case 'instrument':
      return typeof t === 'string' && universe.instrumentIndex.has(t) ? { ok: true, scope: { level: 'instrument', target: t } } : { ok: false, message: `scope.target must be an instrument of the universe` };
    case 'client':
      return typeof t === 'string' && CLIENT_ID.test(t) ? { ok: true, scope: { level: 'client', target: t } } : { ok: false, message: 'scope.target must be a client id' };
  }
}

export const scopeKey = (s: KillScope): string => (s.level === 'global' ? 'global' : `${s.level}:${s.target}`);

export interface KillSwitchDeps {
  readonly universe: Universe;
  readonly overlay: QuoteOverlay;
  readonly clients: ClientStreams;
  /** the client's current tier (the gateway's, which follows re-tiering; else the CRM's) */
  readonly tierOf: (clientId: string) => Tier | undefined;
}

export class KillSwitchBoard {
  private readonly switches = new Map<string, EngagedSwitch>();
  private global = false;
  private readonly tiers = new Uint8Array(4);
  private readonly instruments: Uint8Array;
  private readonly clients = new Set<string>();
  /** what sync() last wrote: per (instrument, tier) cell, and the pulled clients */
  private readonly applied: Uint8Array;
  private readonly appliedClients = new Set<string>();

  constructor(private readonly d: KillSwitchDeps) {
    const n = d.universe.config.instruments.length;
    this.instruments = new Uint8Array(n);
    this.applied = new Uint8Array(n * 3);
  }

  /** R7 hook for the RFQ service: true = no RFQ quote, no accept, no streamed trade. */
  engaged(clientId: string, iid: number): boolean {
    if (this.global || (iid >= 0 && iid < this.instruments.length && this.instruments[iid] === 1)) return true;
    if (this.clients.size > 0 && this.clients.has(clientId)) return true;
    if (this.tiers[1] | this.tiers[2] | this.tiers[3]) {
      const t = this.d.tierOf(clientId);
      return t !== undefined && this.tiers[t] === 1;
    }
    return false;
  }

  /** for hedging: the instrument is halted for everyone (global or instrument scope) */
  instrumentHalted(iid: number): boolean {
    return this.global || (iid >= 0 && iid < this.instruments.length && this.instruments[iid] === 1);
  }

  isEngaged(scope: KillScope): boolean {
    return this.switches.has(scopeKey(scope));
  }

  list(): EngagedSwitch[] {
    return [...this.switches.values()];
  }

  /** Folds one audit event into the state (no effects: call sync()). Returns whether anything changed. */
  apply(e: AuditEvent): boolean {
    if ((e.action !== 'kill' && e.action !== 'release') || e.scope === undefined) return false;
    const key = scopeKey(e.scope);
    if (e.action === 'kill') {
      if (this.switches.has(key)) return false;
      this.switches.set(key, { scope: e.scope, who: e.who, role: e.role, why: e.why, via: e.via, since: e.ts });
    } else if (!this.switches.delete(key)) return false;
    const on = e.action === 'kill';
    const s = e.scope;
    switch (s.level) {
      case 'global':
        this.global = on;
        break;
      case 'tier':
        this.tiers[Number(s.target)] = on ? 1 : 0;
        break;
      case 'instrument': {
        const iid = this.d.universe.instrumentIndex.get(s.target!);
        if (iid !== undefined) this.instruments[iid] = on ? 1 : 0;
        break;
      }
      case 'client':
        if (on) this.clients.add(s.target!);
        else this.clients.delete(s.target!);
        break;
    }
    return true;
  }

  /**
   * Brings the quote overlay and the client pulls in line with the state: writes only what changed.
   * Returns the number of (instrument, tier) streams and clients whose state changed.
   */
  sync(): { streams: number; clients: number } {
    const n = this.instruments.length;
    let streams = 0;
    for (let i = 0; i < n; i++) {
      for (let t = 1 as Tier; t <= 3; t = (t + 1) as Tier) {
        const want = this.global || this.instruments[i] === 1 || this.tiers[t] === 1 ? 1 : 0;
        const cell = i * 3 + t - 1;
        if (this.applied[cell] === want) continue;
        this.applied[cell] = want;
        if (want) this.d.overlay.set('kill', KILLED, i, t);
        else this.d.overlay.clear('kill', i, t);
        streams++;
      }
    }
    let clients = 0;
    for (const c of this.clients) {
      if (this.appliedClients.has(c)) continue;
      this.appliedClients.add(c);
      this.d.clients.pullClient(c, 'killed');
      clients++;
    }
    for (const c of [...this.appliedClients]) {
      if (this.clients.has(c)) continue;
      this.appliedClients.delete(c);
      this.d.clients.resumeClient(c);
      clients++;
    }
    return { streams, clients };
  }
}
