/**
 * Attaches the risk module to an engine (see engine/extensions.ts): pre-trade controls, the hedge
 * order guard, the daily loss limit and the kill switch, with their command channels.
 *
 *   ctx.rfq.controls, ctx.services.controls   Controls            (controls.ts)
 *   ctx.rfq.killSwitch                        KillSwitchBoard     (killswitch.ts)
 *   ctx.services.hedgeGuard                   HedgeOrderGuard     (hedge-guard.ts)
 *   ctx.services.risk                         RiskModule          (below: commands, state, fundingCostBps)
 *
 * Commands (service.ts) arrive over NATS request/reply on `<prefix>.<action>` with a signed token in
 * the body, and over WebSocket as kinds kill / release / risk_status / enable_hedging / reset_loss
 * (docs/protocol.md § Risk controls and kill switch). The state is broadcast as `risk_state` to
 * trader and admin sessions and published on `<prefix>.state`.
 *
 * Restart (R6, R7): attach reads the audit stream back and applies the switches, the hedging
 * disable and the loss trip before it returns, i.e. before the journal replay, market data and the
 * gateway's listen, so no quote is ever published from a state that forgot a switch.
 */
import type { Msg, Subscription } from 'nats';
import { verifyToken } from '../auth/token.js';
import type { Tier } from '../config.js';
import { ConfigError, ErrorCode } from '../errors.js';
import type { EngineContext, EngineExtension } from '../extensions.js';
import type { Session } from '../gateway/gateway.js';
import { BreachReporter } from './alerts.js';
import { RiskAudit } from './audit.js';
import { Controls } from './controls.js';
import { HedgeOrderGuard } from './hedge-guard.js';
import { KillSwitchBoard } from './killswitch.js';
import { LossLimit } from './loss.js';
import { RISK_ACTIONS, RiskService, type CommandResult, type RiskAction, type RiskState } from './service.js';

/** What the risk module offers other modules and tests through `ctx.services.risk`. */
export interface RiskModule {
  readonly service: RiskService;
  readonly controls: Controls;
  readonly board: KillSwitchBoard;
  readonly guard: HedgeOrderGuard;
  readonly loss: LossLimit;
  /** funding cost of carrying the inventory a trade adds, bps of price (controls.ts; for the RFQ price) */
  fundingCostBps(iid: number, tier: Tier, deskQty: number): number;
}

/** WebSocket kinds → actions */
const WS_KINDS: Readonly<Record<string, RiskAction>> = { kill: 'kill', release: 'release', risk_status: 'status', enable_hedging: 'enable_hedging', reset_loss: 'reset_loss' };

export async function attach(ctx: EngineContext): Promise<EngineExtension> {
  const cfg = ctx.config.risk;
  const issues = Object.keys(cfg.orders.instruments)
    .filter((id) => !ctx.universe.instrumentIndex.has(id))
    .map((id) => `risk.orders.instruments.${id}: unknown instrument`);
  if (issues.length > 0) throw new ConfigError(issues);
  const prefix = cfg.nats.subjectPrefix;

  const reporter = new BreachReporter(ctx.registry, ctx.log, cfg.alertMinIntervalMs, (e) => ctx.nc.publish(`${prefix}.alert`, JSON.stringify(e)));
  const controls = new Controls({ config: ctx.config, universe: ctx.universe, position: ctx.inventory.position, mid: ctx.market.mid, directory: ctx.directory, reporter });
  const board = new KillSwitchBoard({
    universe: ctx.universe,
    overlay: ctx.hot.overlay,
    clients: ctx.gateway,
    tierOf: (c) => ctx.gateway.tierOfClient(c) ?? ctx.directory?.effectiveTier(c, ctx.clock.nowMs()),
  });
  let service: RiskService | undefined;
  const guard = new HedgeOrderGuard({
    config: ctx.config, universe: ctx.universe, reporter,
    halted: (iid) => board.instrumentHalted(iid),
    onDisabled: (why) => service?.recordTrip('hedge_disabled', why),
  });
  const loss = new LossLimit({
    maxDailyLoss: cfg.lossLimit.maxDailyLoss, checkMs: cfg.lossLimit.checkMs,
    pnl: () => ctx.services.pnl, overlay: ctx.hot.overlay, log: ctx.log, nowMs: () => ctx.clock.nowMs(),
    setBlocked: (on) => (controls.lossBreached = on),
    onTrip: (pnl, now) => {
      const why = `desk P&L today ${pnl.toFixed(0)} below −${cfg.lossLimit.maxDailyLoss}`;
      reporter.breach(ErrorCode.RISK_LOSS_LIMIT, `daily loss limit: ${why}; every stream pulled`, { pnl, limit: cfg.lossLimit.maxDailyLoss }, now);
      service?.recordTrip('loss_breach', why);
    },
  });
  const audit = await RiskAudit.open(ctx.nc, cfg.nats.auditStream, prefix);

  const toTraders = (s: RiskState) => {
    const m = { t: 'risk_state', ...s };
    ctx.gateway.sendToRole('trader', m);
    ctx.gateway.sendToRole('admin', m);
    try {
      if (!ctx.nc.isClosed()) ctx.nc.publish(`${prefix}.state`, JSON.stringify(s));
    } catch (e) {
      // draining at shutdown: the sessions and the audit stream already have the change
      ctx.log.warn({ err: (e as Error).message }, 'risk state not published on NATS');
    }
  };
  service = new RiskService({
    universe: ctx.universe, clock: ctx.clock, log: ctx.log, registry: ctx.registry, board, controls, guard, loss, audit,
    hedger: () => ctx.services.hedger, broadcast: toTraders,
  });
  const svc = service;
  await svc.restore();

  ctx.rfq.controls = controls;
  ctx.rfq.killSwitch = board;
  ctx.services.controls = controls;
  ctx.services.hedgeGuard = guard;
  const mod: RiskModule = { service: svc, controls, board, guard, loss, fundingCostBps: (iid, tier, dq) => controls.fundingCostBps(iid, tier, dq) };
  ctx.services.risk = mod;

  // ── NATS: <prefix>.<action>, request/reply, JSON {token, scope?, reason?} ───────────────────
  const subs: Subscription[] = [];
  for (const action of RISK_ACTIONS) {
    subs.push(
      ctx.nc.subscribe(`${prefix}.${action}`, {
        callback: (err, msg) => {
          if (err) return ctx.log.error({ err: err.message }, 'risk command subscription error');
          onNats(action, msg, performance.now());
        },
      }),
    );
  }
  const reply = (msg: Msg, r: CommandResult) => {
    if (msg.reply) msg.respond(JSON.stringify(r));
  };
  const onNats = (action: RiskAction, msg: Msg, t0: number) => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(msg.data).toString('utf8'));
    } catch {
      // answered below as a bad command: the payload is untrusted
      body = null;
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return reply(msg, { ok: false, code: ErrorCode.KILL_BAD_COMMAND, message: 'the request must be a JSON object {token, scope?, reason?}' });
    const b = body as Record<string, unknown>;
    const v = typeof b.token === 'string' ? verifyToken(ctx.secret, b.token, ctx.clock.nowMs() / 1000, ctx.config.auth.clockSkewSec) : null;
    if (v === null || !v.ok) return reply(msg, { ok: false, code: ErrorCode.KILL_NOT_AUTHORIZED, message: v === null ? 'a signed token is required' : `token refused: ${v.reason}` });
    void svc.command({ who: v.claims.sub, role: v.claims.role, via: 'nats' }, action, b, t0).then((r) => reply(msg, r));
  };

  // ── WebSocket: trader and admin sessions ────────────────────────────────────────────────────
  ctx.gateway.addRequestHandler({
    kinds: new Set(Object.keys(WS_KINDS)),
    handle(session: Session, m: Record<string, unknown>) {
      const t0 = performance.now();
      const id = typeof m.id === 'string' || typeof m.id === 'number' ? m.id : undefined;
      const action = WS_KINDS[m.t as string];
      void svc.command({ who: session.client, role: session.role, via: 'ws' }, action, m, t0).then((r) => {
        if (!r.ok) ctx.gateway.sendTo(session, { t: 'error', code: r.code, message: r.message, id });
        else if (action === 'status') ctx.gateway.sendTo(session, { t: 'risk_state', id, ...r.state });
        else ctx.gateway.sendTo(session, { t: 'risk_ack', id, action, changed: r.changed, state: r.state });
      });
    },
  });

  return {
    name: 'risk',
    async start() {
      loss.start();
    },
    async stop() {
      loss.stop();
      for (const s of subs) s.unsubscribe();
    },
  };
}
