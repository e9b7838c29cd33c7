/**
 * npm run watch -- --client <id> [--url ws://127.0.0.1:8080] [--token T] [--instruments A,B] [--max 12]
 *
 * A small terminal client of the WebSocket protocol (docs/protocol.md): connects, subscribes and
 * redraws the client's live ladder at most 5×/s. Without --token it mints one from
 * --secret-file, else $QE_AUTH_SECRET, else .data/auth.secret (what the demo writes). On a
 * dropped connection it reconnects with backoff and re-subscribes (the server sends snapshots).
 */
import { decode } from '@msgpack/msgpack';
import { Command, InvalidArgumentError } from 'commander';
import WebSocket from 'ws';
import { DEFAULT_SECRET_FILE, loadSecret } from '../auth/secret.js';
import { mintToken } from '../auth/token.js';
import { loadConfigFile, loadDefaultConfig, type Config } from '../config.js';
import { EngineError } from '../errors.js';
import { renderLadder, type LadderRow } from './ladder-view.js';

const REDRAW_MS = 200;
const PLAIN_REDRAW_MS = 1000;
const MAX_BACKOFF_MS = 15_000;

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

const program = new Command()
  .name('watch')
  .description("Watch a client's live quote ladder over the WebSocket gateway")
  .option('--client <id>', 'client id to mint a token for (required without --token)')
  .option('--url <url>', 'gateway URL (default: ws://<config.gateway.host>:<config.gateway.port>)')
  .option('--token <token>', 'use this token instead of minting one')
  .option('--instruments <list>', 'comma-separated instrument ids (default: the first --max from hello)')
  .option('--max <n>', 'how many instruments to show by default', positiveInt, 12)
  .option('--secret-file <path>', `HMAC secret file (default: $QE_AUTH_SECRET, else ${DEFAULT_SECRET_FILE})`)
  .option('--ttl-sec <n>', 'lifetime of a minted token', positiveInt)
  .option('--config <path>', 'engine config file (default: the shipped default config)')
  .showHelpAfterError();

interface Opts {
  client?: string;
  url?: string;
  token?: string;
  instruments?: string;
  max: number;
  secretFile?: string;
  ttlSec?: number;
  config?: string;
}

function fail(msg: string): never {
  process.stderr.write(`watch: ${msg}\n`);
  process.exit(2);
}

program.parse();
const o = program.opts<Opts>();
let config: Config;
try {
  config = o.config === undefined ? loadDefaultConfig() : loadConfigFile(o.config);
} catch (e) {
  fail(e instanceof EngineError ? `${e.code}: ${e.message}` : String(e));
}
const url = (o.url ?? `ws://${config.gateway.host}:${config.gateway.port}`).replace(/\/+$/, '');
if (o.token === undefined && o.client === undefined) fail('give --client (to mint a token) or --token');

let secret: Buffer | null = null;
function currentToken(): string {
  if (o.token !== undefined) return o.token;
  if (secret === null) {
    try {
      secret = loadSecret({ envName: config.auth.secretEnv, file: o.secretFile, fallbackFile: DEFAULT_SECRET_FILE });
    } catch (e) {
      fail(`${e instanceof EngineError ? e.code + ': ' : ''}${(e as Error).message} (or pass --token)`);
    }
  }
  // minted per connection, so a reconnect after expiry just works
  return mintToken(secret, { sub: o.client! }, o.ttlSec ?? config.auth.tokenTtlSec, Date.now() / 1000);
}

const ansi = process.stdout.isTTY === true;
const rows = new Map<string, LadderRow>();
let shown: string[] = [];
let client = o.client ?? '?';
let tier = 0;
let notice = '';
let connected = false;
let dirty = true;
let lastDraw = 0;
let backoffMs = 500;
let stopping = false;

function draw(): void {
  const now = Date.now();
  // ages tick even without traffic: redraw at least once a second
  if (!dirty && now - lastDraw < 1000) return;
  if (!ansi && now - lastDraw < PLAIN_REDRAW_MS) return;
  dirty = false;
  lastDraw = now;
  const text = renderLadder({ client, tier, url, instruments: shown, rows, notice, connected }, now, { ansi });
  process.stdout.write(ansi ? `\x1b[H${text}\x1b[J` : `${text}---\n`);
}

function onFrame(f: Record<string, any>, ws: WebSocket): void {
  switch (f.t) {
    case 'q':
      rows.set(f.i, { instrument: f.i, st: f.st, rs: f.rs, mid: f.mid, levels: f.l, ts: f.ts, sq: f.sq, tr: f.tr });
      break;
    case 'hello': {
      client = f.client;
      tier = f.tier;
      const all: string[] = f.instruments;
      shown = o.instruments !== undefined ? o.instruments.split(',').map((s) => s.trim()).filter(Boolean) : all.slice(0, o.max);
      notice = `hello: ${all.length} instruments, role ${f.role}, token expires ${new Date(f.exp * 1000).toISOString()}`;
      ws.send(JSON.stringify({ t: 'sub', i: shown, id: 'watch' }));
      break;
    }
    case 'status':
      if (typeof f.tier === 'number') tier = f.tier;
      notice = `status: ${JSON.stringify(f)}`;
      break;
    case 'slow':
      notice = `slow consumer: ${f.bufferedBytes} bytes buffered; conflating (close after ${f.closeAfterMs} ms)`;
      break;
    case 'error':
      notice = `error ${f.code}: ${f.message}`;
      break;
    default:
      break;
  }
  dirty = true;
}

function connect(): void {
  const ws = new WebSocket(`${url}/`, ['qe.v1'], { headers: { authorization: `Bearer ${currentToken()}` }, perMessageDeflate: false });
  ws.on('open', () => {
    connected = true;
    backoffMs = 500;
    dirty = true;
  });
  ws.on('message', (data, isBinary) => {
    try {
      onFrame((isBinary ? decode(data as Buffer) : JSON.parse(String(data))) as Record<string, any>, ws);
    } catch (e) {
      notice = `undecodable frame: ${(e as Error).message}`;
    }
  });
  ws.on('unexpected-response', (_req, res) => {
    let body = '';
    res.on('data', (d: Buffer) => (body += d));
    res.on('end', () => {
      let detail = body;
      try {
        const j = JSON.parse(body) as { code: string; message: string };
        detail = `${j.code}: ${j.message}`;
      } catch {
        // not our JSON refusal (a proxy?): show the raw body
      }
      if (ansi) process.stdout.write('\x1b[?25h');
      process.stderr.write(`watch: refused with HTTP ${res.statusCode} ${detail}\n`);
      process.exit(1);
    });
  });
  ws.on('error', (e) => {
    notice = `connection error: ${e.message}`;
    dirty = true;
  });
  ws.on('close', (code, reason) => {
    connected = false;
    if (stopping) return;
    if (code === 4001 && o.token !== undefined) {
      process.stderr.write('watch: the given token expired (4001)\n');
      process.exit(1);
    }
    notice = `closed ${code}${reason.length ? ' ' + String(reason) : ''}; reconnecting in ${backoffMs} ms`;
    dirty = true;
    setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
  });
}

if (ansi) process.stdout.write('\x1b[?25l\x1b[2J');
const timer = setInterval(draw, REDRAW_MS);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    stopping = true;
    clearInterval(timer);
    if (ansi) process.stdout.write('\x1b[?25h\n');
    process.exit(0);
  });
}
connect();
