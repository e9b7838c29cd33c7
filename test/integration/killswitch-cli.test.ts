/** The risk CLI (engine/cli/risk.ts) against a real engine and broker: NATS request/reply with a signed token. */
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { mintToken } from '../../engine/auth/token.js';
import type { Frame } from '../helpers/client.js';
import { rfqConfig, startRfqRig } from '../helpers/rfq.js';

const firm = (i: string) => (f: Frame) => f.t === 'q' && f.i === i && f.st === 'firm';
const killed = (i: string) => (f: Frame) => f.t === 'q' && f.i === i && f.st === 'pulled' && f.rs === 'killed';
const cfg = () => rfqConfig();

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../engine/cli/risk.js', import.meta.url));

t.test('killswitch - the risk CLI engages, shows and releases over NATS; a trader token may kill but not release (exit 2, coded)', async (t) => {
  const rig = await startRfqRig(t, { config: cfg() });
  const atlas = await rig.client('atlas');
  atlas.send({ t: 'sub', i: ['ACME-27'] });
  await atlas.waitFor(firm('ACME-27'));
  const tok = (role: 'admin' | 'trader' | 'client', sub = 'cli-user') => mintToken(rig.te.secret, { sub, role }, 600, Date.now() / 1000);
  const risk = (token: string, ...args: string[]) => run(process.execPath, [cli, '--nats', rig.te.broker.url, '--token', token, ...args], { timeout: 15_000 });
  const k = await risk(tok('admin'), 'kill', 'instrument', 'ACME-27', '--reason', 'corporate action');
  t.match(k.stdout, /kill: applied/);
  t.match(k.stdout, /instrument ACME-27 {2}by cli-user \(admin, nats\)/);
  await atlas.waitFor(killed('ACME-27'), 3000, 'pulled by the CLI');
  const st = JSON.parse((await risk(tok('trader', 'desk'), '--json', 'status')).stdout);
  t.match(st, { ok: true, state: { switches: [{ level: 'instrument', target: 'ACME-27', by: 'cli-user' }] } });
  const refused = await risk(tok('trader', 'desk'), 'release', 'instrument', 'ACME-27', '--reason', 'x').catch((e) => e);
  t.equal(refused.code, 2);
  t.match(refused.stderr, /QE_KILL_NOT_AUTHORIZED/);
  const byClient = await risk(tok('client', 'atlas'), 'kill', 'global', '--reason', 'x').catch((e) => e);
  t.equal(byClient.code, 2);
  t.match(byClient.stderr, /QE_KILL_NOT_AUTHORIZED/);
  const r = await risk(tok('admin'), 'release', 'instrument', 'ACME-27', '--reason', 'done');
  t.match(r.stdout, /release: applied[\s\S]*kill switches: none engaged/);
});
