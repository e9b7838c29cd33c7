/**
 * Composition root: config → NATS → state → pricer → hot path → gateway. Nothing else lives here.
 *
 *   node dist/engine/main.js [--config file] [--demo] [--feed-rate N] [--scenario normal|stressed]
 *
 * NATS_URL set   → connect to it.
 * NATS_URL unset → start an embedded nats-server (loopback, free port, JetStream) and stop it on exit.
 * --demo         → also run the synthetic multi-venue feed (with its venue simulator taking hedge
 *                  orders) as a child process, a scripted Tier-1 client sending RFQs, and print the
 *                  trader screen's URL and demo tokens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { pino } from 'pino';
import { startEngine, type Engine } from './engine.js';
import { loadConfigFile, loadDefaultConfig, type Config } from './config.js';
import { EngineError } from './errors.js';
import { ensureSecretFile, mintToken, secretFromEnv } from './auth/index.js';
import { startEmbeddedNats, type EmbeddedNats } from './nats/embedded.js';
import { startDemoTier1Client, type DemoTier1Client } from './copilot/demo-client.js';

const program = new Command()
  .name('quoting-engine')
  .option('--config <path>', 'engine config file (default: engine/default-config.json, or $QE_CONFIG)')
  .option('--port <n>', 'WebSocket/HTTP port (overrides gateway.port)')
  .option('--demo', 'run the synthetic multi-venue feed and print demo client tokens')
  .option('--feed-rate <n>', 'synthetic feed messages per second (with --demo)', '2000')
  .option('--scenario <name>', 'synthetic feed scenario: normal | stressed (with --demo)', 'normal')
  .option('--seed <n>', 'synthetic feed seed (with --demo)', '42')
  .option('--time-scale <x>', 'synthetic feed: market time runs this many times faster (with --demo)', '50')
  .option('--demo-rfq-ms <ms>', 'the scripted Tier-1 client sends an RFQ this often (with --demo; 0 = no client)', '8000')
  .option('--inline-pricer', 'price on the main thread instead of piscina workers (diagnostics only)')
  .option('--data-dir <path>', 'where the generated auth secret lives (the broker store is nats.embedded.dataDir)', '.data')
  .parse();

const opts = program.opts<{
  config?: string; port?: string; demo?: boolean; demoRfqMs: string; feedRate: string; scenario: string; seed: string; timeScale: string; inlinePricer?: boolean; dataDir: string;
}>();

const log = pino({ name: 'engine', level: process.env.LOG_LEVEL ?? 'info' });

function configPath(): string | undefined {
  return opts.config ?? (process.env.QE_CONFIG || undefined);
}

function loadConfig(): Config {
  const path = configPath();
  return path ? loadConfigFile(path) : loadDefaultConfig();
}

/** The HMAC secret: from the configured env var, else a per-install random one in <data-dir>/auth.secret. */
function loadSecret(config: Config, dataDir: string): Buffer {
  return secretFromEnv(config.auth.secretEnv) ?? ensureSecretFile(resolve(dataDir, 'auth.secret'));
}

async function main(): Promise<void> {
  const config = loadConfig();
  const dataDir = resolve(opts.dataDir);
  const secret = loadSecret(config, dataDir);

  let embedded: EmbeddedNats | undefined;
  let natsUrl = process.env.NATS_URL;
  if (!natsUrl) {
    embedded = await startEmbeddedNats({ dataDir: resolve(config.nats.embedded.dataDir), port: config.nats.embedded.port });
    natsUrl = embedded.url;
    log.info({ url: natsUrl, pid: embedded.pid }, 'embedded nats-server started');
  }

  const engine: Engine = await startEngine({
    config,
    natsUrl,
    secret,
    log,
    port: opts.port !== undefined ? Number(opts.port) : undefined,
    pricer: opts.inlinePricer ? 'inline' : 'worker',
  });
  const httpBase = `http://${config.gateway.host}:${engine.port}`;
  log.info({ ws: `ws://${config.gateway.host}:${engine.port}/`, health: `${httpBase}/health`, metrics: `${httpBase}/metrics` }, 'engine streaming');

  let feed: ChildProcess | undefined;
  let tier1: DemoTier1Client | undefined;
  if (opts.demo) {
    const feedCli = fileURLToPath(new URL('../feeds/cli.js', import.meta.url));
    feed = spawn(process.execPath, [feedCli, '--nats', natsUrl, '--rate', opts.feedRate, '--scenario', opts.scenario, '--seed', opts.seed, '--time-scale', opts.timeScale, '--venue-sim', ...(configPath() ? ['--config', configPath()!] : [])], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const now = Math.floor(Date.now() / 1000);
    const token = (c: { id: string; role: 'client' | 'trader' | 'rm' | 'admin' }) => mintToken(secret, { sub: c.id, role: c.role }, config.auth.tokenTtlSec, now);
    const lines = config.clients.map((c) => `  tier ${c.tier}  ${c.id.padEnd(12)} ${c.role.padEnd(7)} ${token(c)}`);
    const screens = config.clients.filter((c) => c.role !== 'client').map((c) => `  ${c.role.padEnd(7)} ${httpBase}/screen/?token=${token(c)}`);
    const rfqMs = Number(opts.demoRfqMs);
    const t1 = config.clients.find((c) => c.tier === 1 && c.role === 'client');
    if (t1 !== undefined && Number.isFinite(rfqMs) && rfqMs > 0) {
      const liquid = config.instruments.filter((i) => i.sizeBands[0] <= 1e6 && i.maxSize >= 1e6).slice(0, 6).map((i) => i.id);
      tier1 = startDemoTier1Client({ url: `ws://${config.gateway.host}:${engine.port}`, token: () => mintToken(secret, { sub: t1.id, role: 'client' }, config.auth.tokenTtlSec, Math.floor(Date.now() / 1000)), instruments: liquid, everyMs: rfqMs, log });
    }
    process.stdout.write(
      [
        '',
        `Quoting engine up. WebSocket ws://${config.gateway.host}:${engine.port}/  health ${httpBase}/health  metrics ${httpBase}/metrics`,
        `Synthetic feed: ${opts.feedRate} msgs/s, scenario ${opts.scenario}, seed ${opts.seed}.`,
        'Watch a client\'s live ladder in another terminal:',
        `  npm run watch -- --client meridian --url ws://${config.gateway.host}:${engine.port}`,
        `Broker: ${natsUrl}   client book (NATS KV): NATS_URL=${natsUrl} npm run crm -- list`,
        'Trader screen (open in a browser; one URL per desk role):',
        ...screens,
        t1 !== undefined && tier1 !== undefined ? `Scripted Tier-1 client ${t1.id}: an RFQ every ${rfqMs / 1000} s for the trader to work (--demo-rfq-ms 0 to stop it).` : '',
        'Demo tokens (valid ' + Math.round(config.auth.tokenTtlSec / 3600) + ' h):',
        ...lines,
        '',
      ].join('\n'),
    );
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    feed?.kill('SIGTERM');
    await tier1?.stop();
    await engine.stop();
    await embedded?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  feed?.once('exit', (code) => {
    if (!stopping) log.warn({ code }, 'synthetic feed exited');
  });
}

main().catch((err) => {
  const code = err instanceof EngineError ? err.code : 'QE_INTERNAL';
  process.stderr.write(`engine failed to start [${code}]: ${err?.message ?? err}\n`);
  process.exit(1);
});
