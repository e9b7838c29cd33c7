/**
 * npm run trader -- [--url ws://127.0.0.1:8080] [--as desk] [--token T | --secret-file F] <command>
 *
 *   queue                               open RFQs routed to a trader (Tier 1, oversize, limit, stale market)
 *   quote <rfqId> --price P [--size S]  send a firm quote for it (size defaults to the requested size)
 *   reject <rfqId> --reason "..."       reject it
 *   scores                              relationship scores, record vs effective tier, overrides
 *
 * The trader role over the same WebSocket protocol as the screen (docs/protocol.md § RFQ). The
 * token is minted for `--as` (a configured client whose role is trader or admin) from the secret,
 * unless `--token` is given. Exit 0 on success, 2 on a refusal (the code is printed), 1 when the
 * engine cannot be reached.
 */
import { decode, encode } from '@msgpack/msgpack';
import { Command } from 'commander';
import WebSocket from 'ws';
import { DEFAULT_SECRET_FILE, loadSecret } from '../auth/secret.js';
import { mintToken } from '../auth/token.js';
import { loadConfigFile, loadDefaultConfig } from '../config.js';

type Frame = Record<string, any>;

const program = new Command()
  .name('trader')
  .description('Work the RFQ trader queue from a terminal')
  .option('--url <url>', 'engine WebSocket URL', 'ws://127.0.0.1:8080')
  .option('--as <id>', 'configured client id with the trader or admin role', 'desk')
  .option('--token <token>', 'use this token instead of minting one')
  .option('--secret-file <path>', 'HMAC secret file (default: $QE_AUTH_SECRET, else .data/auth.secret)')
  .option('--config <path>', 'engine config file (default: the shipped default config)')
  .option('--json', 'print raw JSON answers')
  .showHelpAfterError();

let json = false;
let action: { msg: Frame; done: (f: Frame) => boolean } | null = null;

program.command('queue').description('list open RFQs in the trader queue').action(() => {
  action = { msg: { t: 'rfqs', id: 'cli' }, done: (f) => f.t === 'rfqs' || f.t === 'rejected' };
});
program
  .command('quote <rfqId>')
  .description('send a firm quote for a queued RFQ')
  .requiredOption('--price <p>', 'price (on the tick grid, inside the collar)', Number)
  .option('--size <s>', 'size (≤ the requested size; default: the requested size)', Number)
  .action((rfqId: string, o: { price: number; size?: number }) => {
    action = {
      msg: { t: 'quote', id: 'cli', rfqId, price: o.price, size: o.size },
      done: (f) => (f.t === 'rfq_queue' && f.rfq.rfqId === rfqId && f.rfq.state !== 'queued') || (f.t === 'rejected' && f.rfqId === rfqId),
    };
  });
program
  .command('reject <rfqId>')
  .description('reject a queued RFQ')
  .requiredOption('--reason <text>', 'why (shown to the client and kept in the log)')
  .action((rfqId: string, o: { reason: string }) => {
    action = { msg: { t: 'reject', id: 'cli', rfqId, reason: o.reason }, done: (f) => (f.t === 'rfq_queue' && f.rfq.rfqId === rfqId && f.rfq.state !== 'queued') || (f.t === 'rejected' && f.rfqId === rfqId) };
  });
program.command('scores').description('relationship scores and tiers').action(() => {
  action = { msg: { t: 'scores', id: 'cli' }, done: (f) => f.t === 'scores' || f.t === 'rejected' };
});

function print(f: Frame): void {
  if (json) {
    process.stdout.write(JSON.stringify(f) + '\n');
    return;
  }
  if (f.t === 'rfqs') {
    if (f.rfqs.length === 0) process.stdout.write('trader queue is empty\n');
    for (const r of f.rfqs) {
      const left = r.deadlineMs ? Math.max(0, Math.round((r.deadlineMs - f.serverTime) / 1000)) + 's left' : '';
      process.stdout.write(`${String(r.rfqId).padEnd(16)} ${String(r.client).padEnd(12)} T${r.tier} ${String(r.i).padEnd(10)} ${String(r.side).padEnd(4)} ${String(r.size).padStart(10)}  ${String(r.state).padEnd(10)} ${String(r.reason ?? '').padEnd(12)} ${left}\n`);
    }
  } else if (f.t === 'scores') {
    process.stdout.write('CLIENT       TIER  EFFECTIVE  OVERRIDE  SCORE  VOL   PROF  FLOW  DIV   PROPOSED\n');
    for (const c of f.clients) {
      const s = c.score;
      const comp = s ? [s.components.volume, s.components.profitability, s.components.flowQuality, s.components.diversification].map((x: number) => x.toFixed(2).padStart(5)).join(' ') : '    -     -     -     -';
      process.stdout.write(`${String(c.clientId).padEnd(12)} ${String(c.tier).padEnd(5)} ${String(c.effectiveTier ?? '-').padEnd(10)} ${(c.override ? `T${c.override.tier}` : '-').padEnd(9)} ${(s ? s.score.toFixed(1) : '-').padStart(5)}  ${comp}  ${s ? s.proposedTier : '-'}\n`);
    }
  } else if (f.t === 'rejected') {
    process.stdout.write(`refused: ${f.code} ${f.message ?? ''}\n`);
  } else if (f.t === 'rfq_queue') {
    const r = f.rfq;
    process.stdout.write(`${r.rfqId} ${r.state}${r.price !== null ? ` at ${r.price} for ${r.size}, valid until ${new Date(r.validUntil).toISOString()}` : ''}\n`);
  }
}

program.parse();
const o = program.opts<{ url: string; as: string; token?: string; secretFile?: string; config?: string; json?: boolean }>();
json = o.json === true;
if (action === null) {
  program.help();
}
const job = action as unknown as { msg: Frame; done: (f: Frame) => boolean };

let token = o.token;
if (token === undefined) {
  const config = o.config === undefined ? loadDefaultConfig() : loadConfigFile(o.config);
  const me = config.clients.find((c) => c.id === o.as);
  if (me === undefined || (me.role !== 'trader' && me.role !== 'admin')) {
    process.stderr.write(`trader: "${o.as}" is not a configured client with the trader or admin role\n`);
    process.exit(2);
  }
  const secret = loadSecret({ envName: config.auth.secretEnv, file: o.secretFile, fallbackFile: DEFAULT_SECRET_FILE });
  token = mintToken(secret, { sub: me.id, role: me.role }, 600, Date.now() / 1000);
}

const ws = new WebSocket(o.url.replace(/\/?$/, '/'), ['qe.v1'], { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
const timer = setTimeout(() => {
  process.stderr.write('trader: no answer within 5 s\n');
  process.exit(1);
}, 5_000);
ws.on('unexpected-response', (_req, res) => {
  let body = '';
  res.on('data', (d) => (body += d)).on('end', () => {
    process.stderr.write(`trader: refused at the upgrade: ${res.statusCode} ${body}\n`);
    process.exit(2);
  });
});
ws.on('error', (e) => {
  process.stderr.write(`trader: cannot reach ${o.url}: ${e.message}\n`);
  process.exit(1);
});
ws.on('message', (data) => {
  const f = decode(data as Buffer) as Frame;
  if (f.t === 'hello') {
    // a quote without --size takes the requested size: read it from the queue first
    if (job.msg.t === 'quote' && job.msg.size === undefined) ws.send(encode({ t: 'rfqs', id: 'cli-size' }));
    else ws.send(encode(Object.fromEntries(Object.entries(job.msg).filter(([, v]) => v !== undefined))));
    return;
  }
  if (f.t === 'rfqs' && f.id === 'cli-size') {
    const r = (f.rfqs as Frame[]).find((x) => x.rfqId === job.msg.rfqId);
    if (r === undefined) {
      process.stderr.write(`trader: ${job.msg.rfqId} is not in the queue\n`);
      process.exit(2);
    }
    ws.send(encode({ ...job.msg, size: r.size }));
    return;
  }
  if (f.t === 'error') {
    process.stderr.write(`trader: ${f.code}: ${f.message}\n`);
    process.exit(2);
  }
  if (job.done(f)) {
    clearTimeout(timer);
    print(f);
    ws.close();
    process.exitCode = f.t === 'rejected' ? 2 : 0;
  }
});
