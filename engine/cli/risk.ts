/**
 * npm run risk -- [--nats <url>] [--as <name>] [--role admin|trader] [--token T | --secret-file F] [--config F] [--json] <command>
 *
 *   status                                     switches engaged, hedging, loss limit
 *   kill <level> [target] --reason S           level: global | tier <1-3> | instrument <id> | client <id>
 *   release <level> [target] --reason S        (admin only)
 *   enable-hedging --reason S                  re-enable the hedger after the repeated-execution throttle (admin only)
 *   reset-loss --reason S                      re-enable streaming after the daily loss limit (admin only)
 *
 * Talks to a running engine over NATS request/reply (`<risk.nats.subjectPrefix>.<action>`) with a
 * short-lived token minted from the shared secret for `--as` with `--role` (default admin): the
 * engine checks the role, applies, audits (RISK_AUDIT) and answers. Secret: --secret-file, else
 * $QE_AUTH_SECRET, else .data/auth.secret. Exit 0 on success, 2 when refused (the code is printed:
 * QE_KILL_NOT_AUTHORIZED, QE_KILL_BAD_COMMAND, …), 1 when the engine or broker does not answer.
 */
import { userInfo } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { connect } from 'nats';
import { DEFAULT_SECRET_FILE, loadSecret } from '../auth/secret.js';
import { mintToken } from '../auth/token.js';
import { loadConfigFile, loadDefaultConfig } from '../config.js';
import { EngineError } from '../errors.js';

interface Opts { nats: string; as: string; token?: string; role: 'admin' | 'trader'; secretFile?: string; config?: string; json?: boolean }

const program = new Command()
  .name('risk')
  .description('Kill switch and risk controls of a running engine (over NATS)')
  .option('--nats <url>', 'broker URL', process.env.NATS_URL ?? 'nats://127.0.0.1:4222')
  .option('--as <name>', 'who is acting (recorded in the audit trail)', safeName())
  .option('--role <role>', 'admin | trader (traders may kill and read the status only)', (v) => {
    if (v !== 'admin' && v !== 'trader') throw new InvalidArgumentError('must be admin or trader');
    return v;
  }, 'admin')
  .option('--token <token>', 'a signed admin / trader token to use as is (instead of minting one)')
  .option('--secret-file <path>', 'HMAC secret file (default: $QE_AUTH_SECRET, else .data/auth.secret)')
  .option('--config <path>', 'engine config file (subject prefix, secret env name)')
  .option('--json', 'print the raw reply')
  .showHelpAfterError();

function safeName(): string {
  try {
    const n = userInfo().username.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 32);
    return n.length > 0 ? n : 'risk-cli';
  } catch {
    // no user database entry (some containers): a fixed name still identifies the channel
    return 'risk-cli';
  }
}

function scopeOf(level: string, target: string | undefined): Record<string, unknown> {
  return target === undefined ? { level } : { level, target };
}

let job: { action: string; body: Record<string, unknown> } | null = null;
program.command('status').description('show the risk state').action(() => {
    job = { action: 'status', body: {} };
  });
program
  .command('kill <level> [target]')
  .description('engage a kill switch: global | tier <1-3> | instrument <id> | client <id>')
  .requiredOption('--reason <text>', 'why (audited)')
  .action((level: string, target: string | undefined, o: { reason: string }) => {
    job = { action: 'kill', body: { scope: scopeOf(level, target), reason: o.reason } };
  });
program
  .command('release <level> [target]')
  .description('release a kill switch (admin)')
  .requiredOption('--reason <text>', 'why (audited)')
  .action((level: string, target: string | undefined, o: { reason: string }) => {
    job = { action: 'release', body: { scope: scopeOf(level, target), reason: o.reason } };
  });
program
  .command('enable-hedging')
  .description('re-enable hedging after the repeated-execution throttle (admin)')
  .requiredOption('--reason <text>', 'why (audited)')
  .action((o: { reason: string }) => {
    job = { action: 'enable_hedging', body: { reason: o.reason } };
  });
program
  .command('reset-loss')
  .description('re-enable streaming after the daily loss limit (admin)')
  .requiredOption('--reason <text>', 'why (audited)')
  .action((o: { reason: string }) => {
    job = { action: 'reset_loss', body: { reason: o.reason } };
  });

program.parse();
const o = program.opts<Opts>();
if (job === null) program.help();
const { action, body } = job as unknown as { action: string; body: Record<string, unknown> };

try {
  const config = o.config === undefined ? loadDefaultConfig() : loadConfigFile(o.config);
  const token = o.token ?? mintToken(loadSecret({ envName: config.auth.secretEnv, file: o.secretFile, fallbackFile: DEFAULT_SECRET_FILE }), { sub: o.as, role: o.role }, 60, Date.now() / 1000);
  let nc;
  try {
    nc = await connect({ servers: o.nats, timeout: 3_000 });
  } catch (e) {
    process.stderr.write(`risk: cannot reach the broker at ${o.nats}: ${(e as Error).message}\n`);
    process.exit(1);
  }
  let reply: any;
  try {
    const m = await nc.request(`${config.risk.nats.subjectPrefix}.${action}`, JSON.stringify({ ...body, token }), { timeout: 5_000 });
    reply = JSON.parse(Buffer.from(m.data).toString('utf8'));
  } catch (e) {
    process.stderr.write(`risk: no answer from an engine: ${(e as Error).message}\n`);
    await nc.close();
    process.exit(1);
  }
  await nc.close();
  if (o.json) process.stdout.write(JSON.stringify(reply, null, 2) + '\n');
  else if (!reply.ok) process.stderr.write(`risk: ${reply.code}: ${reply.message}\n`);
  else process.stdout.write(render(action, reply));
  process.exitCode = reply.ok ? 0 : 2;
} catch (e) {
  process.stderr.write(`risk: ${e instanceof EngineError ? `${e.code}: ` : ''}${(e as Error).message}\n`);
  process.exitCode = 2;
}

function render(action: string, r: { changed: boolean; state: any }): string {
  const s = r.state;
  const lines: string[] = [];
  if (action !== 'status') lines.push(`${action}: ${r.changed ? 'applied' : 'no change (already in that state)'}`);
  lines.push(s.switches.length === 0 ? 'kill switches: none engaged' : 'kill switches:');
  for (const w of s.switches) lines.push(`  ${w.level}${w.target === null ? '' : ' ' + w.target}  by ${w.by} (${w.role}, ${w.via}) since ${new Date(w.since).toISOString()}: ${w.why}`);
  lines.push(s.hedging.enabled ? 'hedging: enabled' : `hedging: DISABLED since ${new Date(s.hedging.disabledSince).toISOString()}: ${s.hedging.why}`);
  const l = s.lossLimit;
  lines.push(l.limit === null ? 'loss limit: off' : l.breached ? `loss limit ${l.limit}: BREACHED since ${new Date(l.since).toISOString()}${l.pnl === null ? '' : ` (P&L ${l.pnl})`}` : `loss limit ${l.limit}: ok`);
  return lines.join('\n') + '\n';
}
