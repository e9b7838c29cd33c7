import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { runCrmCli } from '../../engine/crm/cli.js';
import { CrmStore } from '../../engine/crm/store.js';
import { startBroker } from '../helpers/nats.js';
import { captureLog, nextChange, record, storeOpts } from './helpers.js';

const CRM_JS = fileURLToPath(new URL('../../engine/cli/crm.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'qe-crm-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const broker = await startBroker(t);
const nc = await connect({ servers: broker.url });
t.teardown(() => nc.close());
// the "engine": a store in this process that must see every CLI change live, without a restart
const store = await CrmStore.open(nc, storeOpts(captureLog()));
t.teardown(() => store.close());

function crm(args: string[], env: Record<string, string> = { NATS_URL: broker.url }): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CRM_JS, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, cwd: dir, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr });
    });
  });
}
/** The same CLI code in-process (argument handling, validation, output, exit code) — no node start-up per case. */
async function crmIn(args: string[], env: Record<string, string> = { NATS_URL: broker.url }): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCrmCli(args, { out: (x) => void (out += x), err: (x) => void (err += x), env });
  return { code, out, err };
}
const file = (name: string, v: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, typeof v === 'string' ? v : JSON.stringify(v));
  return p;
};

t.test('crm - CLI end to end (spawned against the broker): import, set, override, show, list; then clear-override, axes, scores', async (t) => {
  // generous: the clock starts before a node process is spawned (the 1 s bound is in store.test)
  const imported = nextChange(store, (k) => k.clientId === 'atlas', 15_000);
  const imp = await crm(['import', file('book.json', { clients: [record('atlas', { name: 'Atlas Retail' }), record('orbit', { tier: 2 })], axes: { axes: [{ instrument: 'UMBR-28', side: 'sell', size: 3e6 }] } })]);
  t.equal(imp.code, 0, imp.err);
  t.match(imp.out, /imported 2 client\(s\) and the desk axes/);
  t.match(imp.out, /^atlas\s+Atlas Retail\s+3\s+3 \(record\)\s+-\s+10M\s+1M/m);
  await imported;
  t.equal(store.get('orbit')?.tier, 2, 'the running store saw the import');

  const changed = nextChange(store, (k) => k.clientId === 'atlas', 15_000);
  const set = await crm(['set', 'atlas', '--tier', '2', '--credit-limit', '5e7', '--max-order', '1e7', '--instrument-max', 'UST-10Y=2e6', '--author', 'rm.jane']);
  t.equal(set.code, 0, set.err);
  t.match(set.out, /credit limit\s+50M/);
  await changed;
  t.match(store.get('atlas'), { tier: 2, creditLimit: 5e7, maxOrderSize: 1e7, instrumentMaxSize: { 'UST-10Y': 2e6 }, updatedBy: 'rm.jane' }, 'applied live');

  const t0 = Date.now();
  const overridden = nextChange(store, (k) => k.clientId === 'atlas', 15_000);
  const ov = await crm(['override', 'atlas', '--tier', '1', '--reason', 'strategic onboarding', '--author', 'rm.jane', '--expires-in', '7d']);
  await overridden;
  t.equal(ov.code, 0, ov.err);
  t.match(ov.out, /tier\s+2\s+effective 1 \(from override\)/);
  const o = store.get('atlas')!.override!;
  t.match(o, { tier: 1, reason: 'strategic onboarding', author: 'rm.jane' });
  t.ok(Math.abs(o.expiresAtMs - (t0 + 7 * 86_400_000)) < 10_000, 'expires in 7 days');
  t.equal(store.effectiveTier('atlas', Date.now()), 1, 'the running engine re-tiers at once');

  const show = await crm(['show', 'atlas', '--json']);
  t.equal(show.code, 0, show.err);
  const shown = JSON.parse(show.out) as { record: { creditLimit: number }; effective: { tier: number; source: string } };
  t.same(shown.effective, { tier: 1, source: 'override' });
  t.equal(shown.record.creditLimit, 5e7);

  const list = await crm(['list']);
  t.match(list.out, /^atlas\s+Atlas Retail\s+2\s+1 \(override\)\s+T1 until \d{4}-\d\d-\d\dT[\d:]+Z by rm\.jane\s+50M\s+10M/m);
  t.match(list.out, /^orbit\s/m);

  const cleared = nextChange(store, (k) => k.clientId === 'atlas', 15_000);
  const clr = await crmIn(['clear-override', 'atlas', '--author', 'rm.jane']);
  t.equal(clr.code, 0, clr.err);
  await cleared;
  t.equal(store.get('atlas')?.override, null);
  t.equal(store.effectiveTier('atlas', Date.now()), 2);

  const axesChanged = nextChange(store, (k) => k.kind === 'axes', 15_000);
  const axes = await crmIn(['axes', '--set', file('axes.json', [{ instrument: 'CDX-IG', side: 'buy', size: 2e7, note: 'short the index' }])]);
  t.equal(axes.code, 0, axes.err);
  await axesChanged;
  t.match(axes.out, /^CDX-IG\s+buy\s+20M\s+short the index/m);
  t.match(store.axes().axes, [{ instrument: 'CDX-IG' }]);

  await store.putScore({ clientId: 'orbit', score: 61.25, components: { volume: 0.5, profitability: 0.75, flowQuality: 0.5, diversification: 0.25 }, proposedTier: 2, computedAtMs: 1, trades: 12 });
  const scores = await crmIn(['scores']);
  t.match(scores.out, /^orbit\s+61\.3\s+2\s+0\.50\s+0\.75\s+0\.50\s+0\.25\s+12/m);
});

t.test('crm - CLI refuses bad input with a coded message and exit 2, writing nothing; an unreachable broker exits 1', async (t) => {
  const before = JSON.stringify(store.list());
  const cases: [string[], RegExp][] = [
    [['set', 'atlas', '--tier', '5'], /QE_CRM_INVALID: .*--tier.*must be 1, 2 or 3/],
    [['set', 'atlas', '--credit-limit', 'lots'], /QE_CRM_INVALID: .*must be a finite number/],
    [['set', 'atlas', '--instrument-max', 'NOPE=1e6'], /QE_CRM_INVALID: invalid client record:\n\s+instrumentMaxSize\.NOPE: unknown instrument/],
    [['set', 'ghost', '--tier', '1'], /QE_CRM_UNKNOWN_CLIENT: unknown client "ghost": to create it give --name, --credit-limit, --max-order/],
    [['show', 'ghost'], /QE_CRM_UNKNOWN_CLIENT: unknown client "ghost"; known: atlas, orbit/],
    [['override', 'atlas', '--tier', '1', '--reason', 'x', '--author', 'rm', '--expires-in', '7 days'], /QE_CRM_INVALID: .*duration like/],
    [['override', 'atlas', '--tier', '1', '--reason', 'x', '--author', 'rm', '--expires-in', '200d'], /QE_CRM_INVALID: invalid override:\n\s+override\.expiresAtMs: an override may last at most 90 days/],
    [['override', 'atlas', '--tier', '1', '--reason', 'x', '--expires-in', '1d'], /QE_CRM_INVALID: .*--author/],
    [['clear-override', 'orbit'], /QE_CRM_INVALID: client "orbit" has no override/],
    [['import', file('bad.json', { clients: [record('pinecrest'), { ...record('cedar'), creditLimit: 'big' }] })], /QE_CRM_INVALID: invalid client book:\n\s+clients\[1\]\.creditLimit/],
    [['import', file('garbage.json', '{ nope')], /QE_CRM_INVALID: cannot parse [^\n]*garbage.json:\n\s+\(value\): not valid JSON/],
  ];
  const results: Awaited<ReturnType<typeof crm>>[] = [];
  for (const [args] of cases) results.push(await crmIn(args));
  results.forEach((r, i) => {
    t.equal(r.code, 2, `${cases[i][0].join(' ')} → exit 2 (${r.err.split('\n')[0]})`);
    t.match(r.err, cases[i][1]);
    t.equal(r.out, '', 'nothing on stdout');
  });
  // and the real process exits 2 too
  const spawned = await crm(['set', 'atlas', '--tier', '5']);
  t.equal(spawned.code, 2);
  t.match(spawned.err, /^crm: QE_CRM_INVALID: option '--tier <n>' argument '5' is invalid/);
  t.equal(JSON.stringify(store.list()), before, 'nothing changed');
  t.equal(store.get('pinecrest'), undefined, 'an import with one bad record writes none');

  const down = await crmIn(['list'], { NATS_URL: 'nats://127.0.0.1:1' });
  t.equal(down.code, 1, 'an unreachable broker is not bad input: exit 1');
  t.match(down.err, /QE_NATS_UNAVAILABLE/);
});

t.test('crm - CLI seeds the default book only into an empty bucket', async (t) => {
  const seed = await crmIn(['seed']);
  t.equal(seed.code, 0, seed.err);
  t.match(seed.out, /already has clients: nothing written/);
  t.equal(store.get('northwind'), undefined);
});
