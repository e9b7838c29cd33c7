/**
 * npm run pnl -- [--url ws://127.0.0.1:8080] [--as desk] [--token T | --secret-file F] [--json] <command>
 *
 *   split [--trades N]     the P&L split (spread capture, hedge cost, markout, inventory) by desk,
 *                          tier, client and instrument, and the last N trades (default command)
 *   positions [--all]      the risk ledger: position, sensitivity, risk and beta per instrument,
 *                          and per bucket (asset class, issuer / index, hedge proxy)
 *
 * Reads the `pnl` / `positions` kinds over the WebSocket protocol (docs/protocol.md § Positions and
 * P&L) with a trader or admin token minted for `--as` from the secret, unless `--token` is given.
 * Exit 0 on success, 2 on a refusal (the code is printed), 1 when the engine cannot be reached.
 */
import { decode, encode } from '@msgpack/msgpack';
import { Command } from 'commander';
import WebSocket from 'ws';
import { DEFAULT_SECRET_FILE, loadSecret } from '../auth/secret.js';
import { mintToken } from '../auth/token.js';
import { loadConfigFile, loadDefaultConfig } from '../config.js';

type Frame = Record<string, any>;

const program = new Command()
  .name('pnl')
  .description('The desk P&L split and the risk ledger')
  .option('--url <url>', 'engine WebSocket URL', 'ws://127.0.0.1:8080')
  .option('--as <id>', 'configured client id with the trader or admin role', 'desk')
  .option('--token <token>', 'use this token instead of minting one')
  .option('--secret-file <path>', 'HMAC secret file (default: $QE_AUTH_SECRET, else .data/auth.secret)')
  .option('--config <path>', 'engine config file (default: the shipped default config)')
  .option('--json', 'print the raw JSON answer')
  .showHelpAfterError();

let request: Frame = { t: 'pnl', id: 'cli', trades: 10 };
program
  .command('split', { isDefault: true })
  .description('P&L split by desk, tier, client, instrument and the last trades')
  .option('--trades <n>', 'recent trades to show', (v) => Number(v), 10)
  .action((o: { trades: number }) => {
    request = { t: 'pnl', id: 'cli', trades: o.trades };
  });
program
  .command('positions')
  .description('risk ledger: positions, sensitivities, betas and buckets')
  .option('--all', 'every instrument, flat ones too')
  .action((o: { all?: boolean }) => {
    request = { t: 'positions', id: 'cli', all: o.all === true };
  });

const money = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-').padStart(13);
const qty = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-').padStart(14);

function splitLine(label: string, s: Frame): string {
  return `${label.padEnd(26)}${money(s.spread)}${money(s.hedgeCost)}${money(s.markout)}${money(s.inventory)}${money(s.total)}${String(s.trades).padStart(7)}${String(s.hedgeFills).padStart(6)}\n`;
}

function printSplit(f: Frame): void {
  const day = f.dayStartMs === null ? 'start' : new Date(f.dayStartMs).toISOString();
  let out = `P&L in ${f.currency} since ${day}\n`;
  out += `${''.padEnd(26)}${'SPREAD'.padStart(13)}${'HEDGE COST'.padStart(13)}${'MARKOUT'.padStart(13)}${'INVENTORY'.padStart(13)}${'TOTAL'.padStart(13)}${'TRADES'.padStart(7)}${'FILLS'.padStart(6)}\n`;
  out += splitLine('desk', f.desk);
  for (const x of f.byTier) out += splitLine(`  tier ${x.tier}`, x);
  for (const x of f.byClient) out += splitLine(`  client ${x.clientId}`, x);
  if (f.unattributed.hedgeFills > 0) out += splitLine('  unattributed hedges', f.unattributed);
  for (const x of f.byInstrument) out += splitLine(`  ${x.instrument}`, x);
  if (f.trades.length > 0) {
    out += `\nlast ${f.trades.length} trades\n`;
    for (const x of f.trades) out += splitLine(`${String(x.tradeId).slice(0, 9)} ${x.clientId} ${x.instrument}`.slice(0, 25), x);
  }
  process.stdout.write(out);
}

function printPositions(f: Frame): void {
  let out = `Positions (${f.currency})\n${'INSTRUMENT'.padEnd(12)}${'CLASS'.padEnd(16)}${'ISSUER'.padEnd(11)}${'POSITION'.padStart(14)}${'MARK'.padStart(11)}${'VALUE'.padStart(16)}  RISK/bp${''.padStart(8)}${'PROXY'.padStart(10)}${'BETA'.padStart(6)}\n`;
  for (const r of f.instruments) {
    out += `${String(r.instrument).padEnd(12)}${String(r.assetClass).padEnd(16)}${String(r.issuer).padEnd(11)}${qty(r.position)}${(r.mark === null ? '-' : String(r.mark)).padStart(11)}${money(r.value).padStart(16)}  ${money(r.risk)} ${r.measure}${String(r.proxy ?? '-').padStart(10)}${String(r.beta).padStart(6)}\n`;
  }
  for (const [title, rows] of [['asset class', f.byAssetClass], ['issuer / index', f.byIssuer], ['hedge proxy (beta-weighted)', f.byProxy]] as const) {
    out += `\nby ${title}\n`;
    for (const b of rows as Frame[]) out += `  ${String(b.bucket).padEnd(28)} net ${qty(b.net)}  gross ${qty(b.gross)}  risk/bp ${money(b.risk)}\n`;
  }
  process.stdout.write(out);
}

program.parse();
const o = program.opts<{ url: string; as: string; token?: string; secretFile?: string; config?: string; json?: boolean }>();
if (request.t === 'pnl' && !(Number.isInteger(request.trades) && request.trades >= 0)) {
  process.stderr.write('pnl: --trades must be a whole number ≥ 0\n');
  process.exit(2);
}

let token = o.token;
if (token === undefined) {
  const config = o.config === undefined ? loadDefaultConfig() : loadConfigFile(o.config);
  const me = config.clients.find((c) => c.id === o.as);
  if (me === undefined || (me.role !== 'trader' && me.role !== 'admin')) {
    process.stderr.write(`pnl: "${o.as}" is not a configured client with the trader or admin role\n`);
    process.exit(2);
  }
  const secret = loadSecret({ envName: config.auth.secretEnv, file: o.secretFile, fallbackFile: DEFAULT_SECRET_FILE });
  token = mintToken(secret, { sub: me.id, role: me.role }, 600, Date.now() / 1000);
}

const ws = new WebSocket(o.url.replace(/\/?$/, '/'), ['qe.v1'], { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
const timer = setTimeout(() => {
  process.stderr.write('pnl: no answer within 5 s\n');
  process.exit(1);
}, 5_000);
ws.on('unexpected-response', (_req, res) => {
  let body = '';
  res.on('data', (d) => (body += d)).on('end', () => {
    process.stderr.write(`pnl: refused at the upgrade: ${res.statusCode} ${body}\n`);
    process.exit(2);
  });
});
ws.on('error', (e) => {
  process.stderr.write(`pnl: cannot reach ${o.url}: ${e.message}\n`);
  process.exit(1);
});
ws.on('message', (data) => {
  const f = decode(data as Buffer) as Frame;
  if (f.t === 'hello') {
    ws.send(encode(request));
    return;
  }
  if (f.id !== 'cli' || f.push === true) return; // pushes and other traffic
  if (f.t === 'error' || f.t === 'rejected') {
    clearTimeout(timer);
    process.stderr.write(`pnl: refused: ${f.code} ${f.message ?? ''}\n`);
    ws.close();
    process.exitCode = 2;
    return;
  }
  if (f.t !== request.t) return;
  clearTimeout(timer);
  if (o.json === true) process.stdout.write(JSON.stringify(f) + '\n');
  else if (f.t === 'pnl') printSplit(f);
  else printPositions(f);
  ws.close();
});
