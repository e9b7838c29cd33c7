/**
 * The engine as a perf run sees it: startEngine() unchanged, in a process of its own, on a
 * generated universe. Prints one JSON line {"port", "pid"} once the gateway listens; stops cleanly
 * on SIGTERM so `node --cpu-prof` can write its profile.
 *
 *   QE_AUTH_SECRET=… node [--cpu-prof] dist/perf/engine-proc.js --nats <url> --config <file> [--pricer worker|inline]
 */
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../engine/config.js';
import { DEFAULT_EXTENSIONS, startEngine } from '../engine/engine.js';
import type { Logger } from '../engine/hotpath.js';
import { secretFromEnv } from '../engine/auth/index.js';
import { perfCrmRecord } from './lib/rfq.js';

const { values } = parseArgs({
  options: {
    nats: { type: 'string' },
    config: { type: 'string' },
    pricer: { type: 'string', default: 'worker' },
    /** `all` (default), `none`, or a comma list of hedging,pnl,risk,regime,copilot: which engine modules to attach */
    modules: { type: 'string', default: 'all' },
    /** `client:tier,…`: CRM records (lib/rfq.ts perfCrmRecord) written before the ready line, so their RFQs are automated */
    'rfq-clients': { type: 'string' },
  },
});
if (!values.nats || !values.config) throw new Error('usage: engine-proc --nats <url> --config <file> [--pricer worker|inline]');
const config = loadConfigFile(values.config);
const secret = secretFromEnv(config.auth.secretEnv);
if (secret === null) throw new Error(`$${config.auth.secretEnv} must hold the auth secret`);

// warnings and errors only, to stderr (stdout carries the ready line)
const log: Logger = {
  info() {},
  warn(o, m) {
    process.stderr.write(`warn ${m ?? ''} ${JSON.stringify(o)}\n`);
  },
  error(o, m) {
    process.stderr.write(`error ${m ?? ''} ${JSON.stringify(o)}\n`);
  },
};

const MODULES = ['hedging', 'pnl', 'risk', 'regime', 'copilot'] as const;
const wanted = values.modules === 'all' ? MODULES : values.modules === 'none' ? [] : values.modules!.split(',');
for (const m of wanted) if (!(MODULES as readonly string[]).includes(m)) throw new Error(`--modules: unknown module "${m}" (${MODULES.join(', ')}, all, none)`);
const extensions = DEFAULT_EXTENSIONS.filter((_, k) => wanted.includes(MODULES[k]));

const engine = await startEngine({
  extensions,
  config,
  natsUrl: values.nats,
  secret,
  log,
  port: 0,
  pricer: values.pricer === 'inline' ? 'inline' : 'worker',
});
if (values['rfq-clients']) {
  // the engine's CRM store (NATS KV, shared by every phase of a run): one record per RFQ client
  if (engine.crm === undefined) throw new Error('--rfq-clients: the engine runs without its CRM store');
  for (const spec of values['rfq-clients'].split(',')) {
    const [client, tier] = spec.split(':');
    await engine.crm.putClient(perfCrmRecord(client, Number(tier) as 1 | 2 | 3), 'perf');
  }
  // the write is applied in memory by the store's KV watch: wait until the RFQ path can see it
  const end = Date.now() + 10_000;
  for (const spec of values['rfq-clients'].split(',')) {
    const client = spec.split(':')[0];
    while (engine.directory?.get(client) === undefined) {
      if (Date.now() > end) throw new Error(`CRM record of ${client} not visible within 10 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
process.stdout.write(`${JSON.stringify({ port: engine.port, pid: process.pid })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await engine.stop();
  // process.exit (not a signal death) lets --cpu-prof write the profile
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
