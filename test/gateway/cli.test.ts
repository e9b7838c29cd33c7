import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyToken } from '../../engine/auth/token.js';
import { formatAge, formatPrice, formatSize, renderLadder, type LadderRow } from '../../engine/cli/ladder-view.js';
import { SECRET, startRig } from './helpers.js';

const TOKEN_JS = fileURLToPath(new URL('../../engine/cli/token.js', import.meta.url));
const WATCH_JS = fileURLToPath(new URL('../../engine/cli/watch.js', import.meta.url));
const empty = mkdtempSync(join(tmpdir(), 'qe-cli-'));
t.teardown(() => rmSync(empty, { recursive: true, force: true }));
/** env without any inherited secret, run from an empty dir so no .data/auth.secret is found */
const bareEnv = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '', ...extra });

function runToken(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [TOKEN_JS, ...args], { env: bareEnv(env), cwd: empty, encoding: 'utf8', timeout: 10_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('gateway - token CLI mints a verifiable token for a configured client', async (t) => {
  const r = runToken(['--client', 'atlas', '--ttl-sec', '60'], { QE_AUTH_SECRET: SECRET.toString() });
  t.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  t.equal(lines.length, 1, 'stdout is the token alone');
  const v = verifyToken(SECRET, lines[0], Date.now() / 1000, 5);
  t.equal(v.ok, true);
  if (v.ok) t.same([v.claims.sub, v.claims.role, v.claims.exp - v.claims.iat], ['atlas', 'client', 60]);
  t.match(r.err, /atlas \(tier 3, role client\) expires 20\d\d-/);
});

t.test('gateway - token CLI takes --role and --secret-file', async (t) => {
  const f = join(empty, 'sec');
  writeFileSync(f, 'f'.repeat(40) + '\n');
  const r = runToken(['--client', 'northwind', '--role', 'trader', '--secret-file', f], { QE_AUTH_SECRET: SECRET.toString() });
  t.equal(r.code, 0, r.err);
  const v = verifyToken(Buffer.from('f'.repeat(40)), r.out.trim(), Date.now() / 1000, 5);
  t.match(v, { ok: true, claims: { sub: 'northwind', role: 'trader' } });
  t.equal(verifyToken(SECRET, r.out.trim(), Date.now() / 1000, 5).ok, false, 'the file won over the env var');
});

t.test('gateway - token CLI refuses unknown clients, bad roles and a missing secret', async (t) => {
  const unknown = runToken(['--client', 'mallory'], { QE_AUTH_SECRET: SECRET.toString() });
  t.equal(unknown.code, 2);
  t.match(unknown.err, /unknown client "mallory".*atlas/);
  t.equal(unknown.out, '');
  const badRole = runToken(['--client', 'atlas', '--role', 'root'], { QE_AUTH_SECRET: SECRET.toString() });
  t.not(badRole.code, 0);
  t.match(badRole.err, /must be one of client, trader, rm, admin/);
  const noSecret = runToken(['--client', 'atlas'], {});
  t.equal(noSecret.code, 2);
  t.match(noSecret.err, /QE_CONFIG_UNREADABLE.*QE_AUTH_SECRET is unset/);
  const shortSecret = runToken(['--client', 'atlas'], { QE_AUTH_SECRET: 'short' });
  t.match(shortSecret.err, /QE_CONFIG_INVALID.*at least 32 bytes/);
});

t.test('gateway - watch CLI connects, subscribes and draws the live ladder', async (t) => {
  const rig = await startRig(t);
  const child = spawn(process.execPath, [WATCH_JS, '--client', 'atlas', '--url', rig.url, '--instruments', 'EURUSD,USDJPY'], {
    env: bareEnv({ QE_AUTH_SECRET: SECRET.toString() }),
    cwd: empty,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const iid = rig.engine.iid('EURUSD');
  const timer = setInterval(() => {
    if (rig.gw.connections()[0]?.subscriptions === 2) {
      rig.engine.emit(3, 'EURUSD', { mid: 1.08421, l: [[1e6, 1.0841, 1.08432], [5e6, 1.08401, 1.08441]] });
    }
  }, 50);
  t.teardown(() => clearInterval(timer));
  const t0 = Date.now();
  while (!/^EURUSD\s+firm\s+1\.08421\s+1M\s+1\.08410\s+1\.08432\s+5M\s+1\.08401\s+1\.08441/m.test(out)) {
    if (Date.now() - t0 > 6000 || child.exitCode !== null) throw new Error(`no ladder line; stdout:\n${out}\nstderr:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  t.match(out, /^atlas \(tier 3\)/m);
  t.match(out, /^USDJPY\s+waiting/m, 'an instrument with no quote yet is shown as waiting');
  t.notMatch(out, /\x1b\[/, 'no ANSI escapes when stdout is not a terminal');
  t.equal(rig.gw.wantsJson(3, iid), false, 'watch uses msgpack');
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  t.equal(child.exitCode, 0);
});

t.test('gateway - watch CLI reports a refused upgrade and exits', async (t) => {
  const rig = await startRig(t);
  // async spawn: spawnSync would block the loop this gateway runs on
  const child = spawn(process.execPath, [WATCH_JS, '--token', 'bogus', '--url', rig.url], { env: bareEnv(), cwd: empty, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.once('exit', r));
  t.equal(code, 1);
  t.match(err, /refused with HTTP 401 QE_WS_AUTH_INVALID: malformed token/);
});

t.test('gateway - ladder rendering formats sizes, prices, ages and states', async (t) => {
  t.same([formatSize(1e6), formatSize(2.5e6), formatSize(500_000), formatSize(1.25e9), formatSize(100)], ['1M', '2.5M', '500k', '1.25B', '100']);
  t.same([formatPrice(1.08421), formatPrice(151.37), formatPrice(99.3), formatPrice(0), formatPrice(NaN)], ['1.08421', '151.370', '99.3000', '-', '-']);
  t.same([formatAge(12.4), formatAge(1500), formatAge(125_000), formatAge(-3)], ['12ms', '1.5s', '2m', '0ms']);
  const now = 1_700_000_000_000;
  const rows = new Map<string, LadderRow>([
    ['EURUSD', { instrument: 'EURUSD', st: 'firm', rs: '', mid: 1.08421, levels: [[1e6, 1.0841, 1.08432]], ts: now - 40, sq: 9, tr: 3 }],
    ['ZN', { instrument: 'ZN', st: 'pulled', rs: 'stale', mid: 0, levels: [], ts: now - 5000, sq: 2, tr: 3 }],
  ]);
  const view = { client: 'atlas', tier: 3, url: 'ws://x', instruments: ['EURUSD', 'ZN', 'ZB'], rows, notice: 'hello', connected: true };
  const plain = renderLadder(view, now, { ansi: false, bands: 2 });
  const lines = plain.split('\n');
  t.match(lines[0], /^atlas \(tier 3\)  ws:\/\/x  connected  22:13:20\.000Z$/);
  t.match(lines[2], /^EURUSD\s+firm\s+1\.08421\s+1M\s+1\.08410\s+1\.08432\s+40ms$/);
  t.match(lines[3], /^ZN\s+pulled:stale\s+-\s+5\.0s$/);
  t.match(lines[4], /^ZB\s+waiting/);
  t.equal(lines[6], 'hello');
  t.notMatch(plain, /\x1b/);
  const coloured = renderLadder(view, now, { ansi: true });
  t.match(coloured, /\x1b\[32mfirm/, 'firm in green');
  t.match(coloured, /\x1b\[31mpulled:stale/, 'pulled in red');
  t.match(coloured, /\x1b\[2m\s+5\.0s/, 'old rows dimmed');
  t.ok(coloured.split('\n').slice(0, -1).every((l) => l.endsWith('\x1b[K')), 'every line erases its tail');
});
