/**
 * An engine with the hedge router in a child process, for the SIGKILL test
 * (test/integration/hedge-crash.test.ts). Same protocol as test/helpers/engine-child.ts:
 *
 *   stdout  {"loaded":true}
 *   stdin   go\n
 *   stdout  {"ready":true,"port":N,"lastSeq":S,"hedgeSeq":H,"positions":[...]}
 *   SIGTERM → graceful stop → stdout {"stopped":true,"positions":[...],"hedgeSeq":H}
 *
 * `positions`, `lastSeq` and `hedgeSeq` are read in the same turn: inventory = the trade journal up
 * to S + the hedge journal's fills up to H (the router journals one instrument's records one at a time).
 */
import { createInterface } from 'node:readline';
import { parseConfig } from '../../engine/config.js';
import { startEngine } from '../../engine/engine.js';
import type { HedgeRouter } from '../../engine/hedging/router.js';
import { demoDirectory } from '../helpers/directory.js';

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
const engine = await startEngine({
  config,
  natsUrl: process.env.NATS_URL!,
  secret: Buffer.from(process.env.QE_TEST_SECRET!, 'hex'),
  log,
  port: 0,
  pricer: 'inline',
  directory: demoDirectory(),
});
const router = engine.services.hedgeRouter as HedgeRouter;
process.stdout.write(JSON.stringify({ ready: true, port: engine.port, lastSeq: engine.booking.lastSeq, hedgeSeq: router.appliedSeq, positions: [...engine.inventory.position] }) + '\n');
process.on('SIGTERM', () => {
  void engine.stop().then(() => {
    process.stdout.write(JSON.stringify({ stopped: true, hedgeSeq: router.appliedSeq, positions: [...engine.inventory.position] }) + '\n');
    process.exit(0);
  });
});
