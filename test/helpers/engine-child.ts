/**
 * An engine in a child process, for kill -9 tests (trades: rfq-crash; hedges: hedge-crash).
 * Environment: NATS_URL, QE_TEST_SECRET (hex), QE_TEST_CONFIG (config JSON). Imports only the engine
 * (no test helpers but the directory) and starts it when a line arrives on stdin, so a test can load
 * the next process while the current one runs:
 *
 *   stdout  {"loaded":true}                         modules imported, waiting
 *   stdin   go\n
 *   stdout  {"ready":true,"port":N,"lastSeq":S,"hedgeSeq":H,"positions":[...],"startMs":T}
 *   SIGTERM → graceful stop → stdout {"stopped":true,"hedgeSeq":H,"positions":[...]}
 *
 * `positions`, `lastSeq` and `hedgeSeq` are read in the same turn: inventory = the trade journal up
 * to S + the hedge journal's fills up to H (H is null when the hedge router is off).
 */
import { createInterface } from 'node:readline';
import { parseConfig } from '../../engine/config.js';
import { startEngine } from '../../engine/engine.js';
import { demoDirectory } from './directory.js';

const log = {
  info() {},
  warn() {},
  error(o: object, m?: string) {
    process.stderr.write(`${m} ${JSON.stringify(o)}\n`);
  },
};

const config = parseConfig(JSON.parse(process.env.QE_TEST_CONFIG!));
process.stdout.write(JSON.stringify({ loaded: true }) + '\n');
const rl = createInterface({ input: process.stdin });
await new Promise<void>((res) => rl.once('line', () => res()));
const t0 = performance.now();
const engine = await startEngine({
  config,
  natsUrl: process.env.NATS_URL!,
  secret: Buffer.from(process.env.QE_TEST_SECRET!, 'hex'),
  log,
  port: 0,
  pricer: 'inline',
  directory: demoDirectory(),
  screenDir: false,
});
const hedgeSeq = () => engine.services.hedgeRouter?.appliedSeq ?? null;
process.stdout.write(JSON.stringify({ ready: true, port: engine.port, lastSeq: engine.booking.lastSeq, hedgeSeq: hedgeSeq(), positions: [...engine.inventory.position], startMs: Math.round(performance.now() - t0) }) + '\n');
process.on('SIGTERM', () => {
  void engine.stop().then(() => {
    process.stdout.write(JSON.stringify({ stopped: true, hedgeSeq: hedgeSeq(), positions: [...engine.inventory.position] }) + '\n');
    process.exit(0);
  });
});
