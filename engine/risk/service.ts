/**
 * Risk commands: the one place a kill-switch, hedging or loss-limit state changes, whatever the
 * channel (WebSocket, NATS, the CLI over NATS). Each command is authorized by role, validated, applied
 * and audited, then the new state is broadcast.
 *
 *   action          admin   trader                      client / rm
 *   status          yes     yes                         QE_KILL_NOT_AUTHORIZED
 *   kill            yes     yes (risk.killSwitch.traderMayEngage)   QE_KILL_NOT_AUTHORIZED
 *   release         yes     QE_KILL_NOT_AUTHORIZED      QE_KILL_NOT_AUTHORIZED
 *   enable_hedging  yes     QE_KILL_NOT_AUTHORIZED      QE_KILL_NOT_AUTHORIZED
 *   reset_loss      yes     QE_KILL_NOT_AUTHORIZED      QE_KILL_NOT_AUTHORIZED
 *
 * Engaging is always safe, so whoever sits at the desk may do it at once; undoing a control is an
 * override (R10) and belongs to the risk role.
 *
 * Ordering, chosen so a failure leaves the safe state:
 *   kill     apply (streams pulled at once) → broadcast → audit. If the audit write fails the switch
 *            stays on and the caller gets QE_RISK_AUDIT_FAILED (it would not survive a restart).
 *   release  audit → apply → broadcast. If the audit write fails nothing is released.
 */
import client, { type Registry } from 'prom-client';
import type { Role } from '../auth/token.js';
import type { Clock } from '../clock.js';
import type { Universe } from '../config.js';
import { ErrorCode } from '../errors.js';
import type { Logger } from '../hotpath.js';
import { readGauge } from '../metrics.js';
import type { AuditEvent, RiskAudit } from './audit.js';
import type { Controls } from './controls.js';
import type { HedgeOrderGuard } from './hedge-guard.js';
import { parseScope, type KillSwitchBoard } from './killswitch.js';
import type { LossLimit } from './loss.js';
import type { HedgeCanceller, KillScope } from './ports.js';

export const RISK_ACTIONS = ['status', 'kill', 'release', 'enable_hedging', 'reset_loss'] as const;
export type RiskAction = (typeof RISK_ACTIONS)[number];

export interface Actor {
  readonly who: string;
  readonly role: Role;
  readonly via: 'ws' | 'nats';
}

export interface RiskState {
  readonly switches: ReadonlyArray<{ level: KillScope['level']; target: string | null; by: string; role: string; why: string; via: string; since: number }>;
  readonly hedging: { readonly enabled: boolean; readonly disabledSince: number | null; readonly why: string | null };
  readonly lossLimit: { readonly limit: number | null; readonly breached: boolean; readonly since: number | null; readonly pnl: number | null };
  readonly serverTime: number;
}

export type CommandResult =
  | { readonly ok: true; readonly action: RiskAction; readonly changed: boolean; readonly state: RiskState }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

const MAX_REASON_CHARS = 200;

export function mayDo(action: RiskAction, role: Role, traderMayEngage: boolean): boolean {
  if (role === 'admin') return true;
  if (role !== 'trader') return false;
  return action === 'status' || (action === 'kill' && traderMayEngage);
}

export interface RiskServiceDeps {
  readonly universe: Universe;
  readonly clock: Clock;
  readonly log: Logger;
  readonly registry: Registry;
  readonly board: KillSwitchBoard;
  readonly controls: Controls;
  readonly guard: HedgeOrderGuard;
  readonly loss: LossLimit;
  readonly audit: RiskAudit;
  readonly hedger: () => HedgeCanceller | undefined;
  /** the new state to trader / admin sessions and NATS */
  readonly broadcast: (s: RiskState) => void;
}

export class RiskService {
  private readonly applySeconds: client.Histogram<'action'>;
  private readonly commandsTotal: client.Counter<'action' | 'result'>;
  private readonly r: Universe['config']['risk'];

  constructor(private readonly d: RiskServiceDeps) {
    this.r = d.universe.config.risk;
    this.applySeconds = new client.Histogram({
      name: 'qe_kill_switch_apply_seconds',
      help: 'Kill switch: command received → quote overlay and client pulls applied (the pulled frames are published within it)',
      labelNames: ['action'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [d.registry],
    });
    this.commandsTotal = new client.Counter({ name: 'qe_risk_commands_total', help: 'Risk commands by action and result (ok or the refusal code)', labelNames: ['action', 'result'], registers: [d.registry] });
    readGauge(d.registry, 'qe_kill_switches_engaged', 'Kill switches engaged (all levels)', () => d.board.list().length);
    readGauge(d.registry, 'qe_risk_hedging_disabled', '1 while the repeated-execution throttle has disabled hedging', () => (d.guard.disabled ? 1 : 0));
    readGauge(d.registry, 'qe_risk_loss_limit_breached', '1 while the daily loss limit is tripped', () => (d.loss.breached ? 1 : 0));
  }

  /** Folds the audit stream into the state and applies it (start-up, before any quote is published). */
  async restore(): Promise<number> {
    const events = await this.d.audit.readAll((seq) => this.d.log.error({ stream: this.d.audit.stream, seq }, 'risk audit: entry is not an audit event; skipped'));
    let loss: { sinceMs: number; pnl: number } | null = null;
    for (const e of events) {
      switch (e.action) {
        case 'kill':
        case 'release':
          this.d.board.apply(e);
          break;
        case 'hedge_disabled':
          this.d.guard.setDisabled({ sinceMs: e.ts, why: e.why });
          break;
        case 'hedge_enabled':
          this.d.guard.setDisabled(null);
          break;
        case 'loss_breach':
          loss = { sinceMs: e.ts, pnl: NaN };
          break;
        case 'loss_reset':
          loss = null;
          break;
      }
    }
    this.d.board.sync();
    if (loss !== null) this.d.loss.set(loss);
    const s = this.state();
    this.d.log.info({ events: events.length, switches: s.switches.length, hedging: s.hedging.enabled, lossBreached: s.lossLimit.breached }, 'risk state restored from the audit stream');
    return events.length;
  }

  state(): RiskState {
    const g = this.d.guard.disabled;
    const l = this.d.loss.breached;
    return {
      switches: this.d.board.list().map((s) => ({ level: s.scope.level, target: s.scope.target ?? null, by: s.who, role: s.role, why: s.why, via: s.via, since: s.since })),
      hedging: { enabled: g === null, disabledSince: g?.sinceMs ?? null, why: g?.why ?? null },
      lossLimit: { limit: this.r.lossLimit.maxDailyLoss, breached: l !== null, since: l?.sinceMs ?? null, pnl: l !== null && Number.isFinite(l.pnl) ? l.pnl : null },
      serverTime: this.d.clock.nowMs(),
    };
  }

  /**
   * Runs one command. `receivedAt` is performance.now() when the command arrived (the kill-switch
   * latency histogram starts there). Never throws for bad input.
   */
  async command(actor: Actor, action: string, body: Record<string, unknown>, receivedAt: number): Promise<CommandResult> {
    const res = await this.run(actor, action, body, receivedAt).catch((e: Error): CommandResult => {
      this.d.log.error({ err: e.message, action }, 'risk command failed');
      return { ok: false, code: ErrorCode.INTERNAL, message: 'internal error' };
    });
    this.commandsTotal.inc({ action: (RISK_ACTIONS as readonly string[]).includes(action) ? action : 'unknown', result: res.ok ? 'ok' : res.code });
    if (res.ok && res.changed) this.d.log.warn({ action, who: actor.who, role: actor.role, via: actor.via, scope: body.scope, reason: body.reason }, 'risk command applied');
    else if (!res.ok) this.d.log.warn({ action, who: actor.who, role: actor.role, via: actor.via, code: res.code, message: res.message }, 'risk command refused');
    return res;
  }

  private async run(actor: Actor, action: string, body: Record<string, unknown>, t0: number): Promise<CommandResult> {
    if (!(RISK_ACTIONS as readonly string[]).includes(action)) return bad(`unknown action ${String(action).slice(0, 32)}`);
    const a = action as RiskAction;
    if (!mayDo(a, actor.role, this.r.killSwitch.traderMayEngage)) {
      return { ok: false, code: ErrorCode.KILL_NOT_AUTHORIZED, message: `role ${actor.role} may not ${a.replace('_', ' ')}` };
    }
    if (a === 'status') return this.ok(a, false);
    const why = body.reason;
    if (typeof why !== 'string' || why.trim().length === 0 || why.length > MAX_REASON_CHARS) return bad(`reason must be 1-${MAX_REASON_CHARS} characters (it is audited)`);
    const ev = (action: AuditEvent['action'], scope?: KillScope): AuditEvent => ({ v: 1, action, ...(scope ? { scope } : {}), who: actor.who, role: actor.role, why, via: actor.via, ts: this.d.clock.nowMs() });

    switch (a) {
      case 'kill':
      case 'release': {
        const p = parseScope(body.scope, this.d.universe);
        if (!p.ok) return bad(p.message);
        const engaged = this.d.board.isEngaged(p.scope);
        if (engaged === (a === 'kill')) return this.ok(a, false);
        const e = ev(a, p.scope);
        if (a === 'release') {
          const stored = await this.append(e);
          if (stored !== null) return stored;
        }
        this.d.board.apply(e);
        this.d.board.sync();
        this.applySeconds.observe({ action: a }, (performance.now() - t0) / 1000);
        this.d.broadcast(this.state());
        if (a === 'kill') {
          if (this.r.killSwitch.cancelHedges) this.cancelHedges(p.scope, why);
          const stored = await this.append(e);
          if (stored !== null) return { ok: false, code: stored.code, message: `engaged, but ${stored.message}: it will not survive a restart (release and engage it again once the stream is back)` };
        }
        return this.ok(a, true);
      }
      case 'enable_hedging': {
        if (this.d.guard.disabled === null) return this.ok(a, false);
        const stored = await this.append(ev('hedge_enabled'));
        if (stored !== null) return stored;
        this.d.guard.setDisabled(null);
        this.d.broadcast(this.state());
        return this.ok(a, true);
      }
      case 'reset_loss': {
        if (this.d.loss.breached === null) return this.ok(a, false);
        const stored = await this.append(ev('loss_reset'));
        if (stored !== null) return stored;
        this.d.loss.set(null);
        this.d.broadcast(this.state());
        return this.ok(a, true);
      }
    }
  }

  /** The engine's own trips (R6, loss limit): audited as `engine`, broadcast. A failed write is logged: the trip holds in memory. */
  recordTrip(action: 'hedge_disabled' | 'loss_breach', why: string): void {
    const e: AuditEvent = { v: 1, action, who: 'engine', role: 'engine', why, via: 'engine', ts: this.d.clock.nowMs() };
    this.d.broadcast(this.state());
    void this.append(e).then((r) => {
      if (r !== null) this.d.log.error({ action, err: r.message }, 'risk trip not recorded in the audit stream: it will not survive a restart');
    });
  }

  private async append(e: AuditEvent): Promise<{ ok: false; code: ErrorCode; message: string } | null> {
    try {
      await this.d.audit.append(e);
      return null;
    } catch (err) {
      this.d.log.error({ err: (err as Error).message, action: e.action }, 'risk audit write failed');
      return { ok: false, code: ErrorCode.RISK_AUDIT_FAILED, message: `not recorded in ${this.d.audit.stream}: ${(err as Error).message}` };
    }
  }

  private cancelHedges(scope: KillScope, why: string): void {
    const h = this.d.hedger();
    if (h === undefined) return;
    h.cancelWorking(scope, `kill switch: ${why}`).then(
      (n) => this.d.log.warn({ scope, cancelled: n }, 'kill switch: working hedge orders cancelled'),
      (e: Error) => this.d.log.error({ scope, err: e.message }, 'kill switch: cancelling hedge orders failed'),
    );
  }

  private ok(action: RiskAction, changed: boolean): CommandResult {
    return { ok: true, action, changed, state: this.state() };
  }
}

const bad = (message: string): CommandResult => ({ ok: false, code: ErrorCode.KILL_BAD_COMMAND, message });
