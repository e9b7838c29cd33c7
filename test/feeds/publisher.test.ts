import t from 'tap';
import { spawn } from 'node:child_process';
import { connect, type Msg, type NatsConnection } from 'nats';
import { buildUniverse, loadDefaultConfig, type Config } from '../../engine/config.js';
import { MdResult } from '../../engine/errors.js';
import { makeDecoder, MD_LIMITS } from '../../engine/wire/codec.js';
import { decodeMd, MdKind, monoUs, newMdRecord } from '../../engine/wire/market-data.js';
import { startFeed } from '../../feeds/publisher.js';
import { startBroker } from '../helpers/nats.js';

const config = loadDefaultConfig();
// One broker for the file: starting one per test costs more than the tests themselves.
const broker = await startBroker(t);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Received {
  subject: string;
  data: Uint8Array;
  atMs: number;
}

/** Subscribes on the publishing connection itself: a flush() then proves every published message came back. */
async function collect(nc: NatsConnection, subject = 'md.>'): Promise<Received[]> {
  const got: Received[] = [];
  nc.subscribe(subject, { callback: (_err, m: Msg) => got.push({ subject: m.subject, data: m.data, atMs: performance.now() }) });
  await nc.flush();
  return got;
}

/** Decodes every message against `cfg` and checks the subject names its instrument, venue and kind. */
function verify(got: Received[], cfg: Config, prefix = 'md'): string[] {
  const u = buildUniverse(cfg);
  const dec = makeDecoder(MD_LIMITS);
  const rec = newMdRecord();
  const now = monoUs();
  const bad: string[] = [];
  for (const m of got) {
    const r = decodeMd(dec, m.data, u.instrumentIndex, u.venueIndex, rec);
    if (r !== MdResult.OK) {
      bad.push(`${m.subject}: result ${r}`);
      continue;
    }
    const kind = rec.kind === MdKind.BOOK ? 'book' : 'trade';
    const expected = `${prefix}.${kind}.${cfg.instruments[rec.iid].id}.${cfg.venues[rec.vid]}`;
    if (m.subject !== expected) bad.push(`${m.subject} carries ${expected}`);
    if (!(rec.pubMonoUs > now - 10_000_000 && rec.pubMonoUs <= now)) bad.push(`${m.subject}: pt ${rec.pubMonoUs} not a recent monoUs()`);
  }
  return bad;
}

t.test('feeds - publishes decodable books and trades on the documented subjects at the configured rate', async (t) => {
  const nc = await connect({ servers: broker.url });
  t.teardown(() => nc.close());
  const got = await collect(nc);
  const progress: number[] = [];
  const t0 = performance.now();
  const feed = startFeed({ nc, config, seed: 7, scenario: 'normal', ratePerSec: 2000, durationMs: 600, onProgress: (s) => progress.push(s.published), progressEveryMs: 200 });
  await sleep(300);
  const midway = got.length;
  t.equal(await feed.done, 'duration');
  await feed.stop();
  await nc.flush();
  const s = feed.stats();
  t.equal(s.published, 1200, 'exactly rate × duration messages');
  t.equal(got.length, s.published, 'every published message arrived');
  t.equal(s.books + s.trades, s.published);
  t.ok(s.trades > 0 && s.trades < s.published * 0.15, `some trades (${s.trades})`);
  t.ok(midway > 400 && midway < 800, `paced, not bursted: ${midway} of 1200 after 300 ms`);
  const spanMs = got[got.length - 1].atMs - got[0].atMs;
  t.ok(spanMs > 480 && spanMs < 850, `arrivals spread over ${spanMs.toFixed(0)} ms`);
  t.ok(performance.now() - t0 < 1200, 'ended on time');
  t.ok(progress.length >= 3 && progress.at(-1) === 1200, `progress reported (${progress.join(',')})`);
  t.same(verify(got, config).slice(0, 5), [], 'decodes, subject matches payload, pt stamped at publish');
  t.ok(new Set(got.map((m) => m.subject.split('.')[2])).size > 25, 'spread over the universe');
});

t.test('feeds - stop() halts publishing; instruments picks the first N or generates a universe; mdPrefix is honoured', async (t) => {
  const nc = await connect({ servers: broker.url });
  t.teardown(() => nc.close());

  const got = await collect(nc, 'alt.>');
  const feed = startFeed({ nc, config, seed: 1, scenario: 'normal', ratePerSec: 3000, instruments: 5, mdPrefix: 'alt' });
  t.equal(feed.config, config, 'first N: the config itself');
  await sleep(200);
  await feed.stop();
  t.equal(await feed.done, 'stopped');
  await nc.flush();
  const atStop = got.length;
  t.ok(atStop > 300, `published before stop (${atStop})`);
  await sleep(100);
  await nc.flush();
  t.equal(got.length, atStop, 'nothing after stop()');
  t.same([...new Set(got.map((m) => m.subject.split('.')[2]))].sort(), config.instruments.slice(0, 5).map((x) => x.id).sort(), 'only the first 5 instruments');
  t.same(verify(got, config, 'alt').slice(0, 5), []);

  const big = await collect(nc, 'md.>');
  const feed2 = startFeed({ nc, config, seed: 1, scenario: 'normal', ratePerSec: 5000, durationMs: 200, instruments: 400 });
  t.equal(feed2.config.instruments.length, 400, 'generated universe');
  await feed2.done;
  await feed2.stop();
  await nc.flush();
  t.equal(big.length, 1000);
  t.same(verify(big, feed2.config).slice(0, 5), [], 'decodes against the generated universe');
  t.ok(big.some((m) => /\.[A-Za-z0-9-]+-\d+\.[A-Z]+$/.test(m.subject)), 'replica instruments publish');
  t.throws(() => startFeed({ nc, config, seed: 1, scenario: 'normal', ratePerSec: 0 }), RangeError);
});

t.test('feeds - holds 20k msgs/s with no shortfall and reports a closed connection as an error', async (t) => {
  const nc = await connect({ servers: broker.url });
  let n = 0;
  nc.subscribe('md.>', { callback: () => n++ });
  await nc.flush();
  const feed = startFeed({ nc, config, seed: 3, scenario: 'stressed', ratePerSec: 20_000, durationMs: 500, stress: { startAfterMs: 100, durationMs: 1000 } });
  await feed.done;
  await feed.stop();
  await nc.flush();
  const s = feed.stats();
  t.equal(s.shortfall, 0, 'never fell a second behind');
  t.equal(s.published + s.quietSkips, 10_000, 'every scheduled pick emitted or swallowed by a quiet venue');
  t.ok(s.quietSkips < 100, `quiet skips are rare (${s.quietSkips})`);
  t.equal(n, s.published, 'all delivered');

  const feed2 = startFeed({ nc, config, seed: 3, scenario: 'normal', ratePerSec: 2000 });
  await sleep(50);
  await nc.close();
  t.equal(await feed2.done, 'error');
  t.match(feed2.error?.message ?? '', /closed/i, 'the cause is kept');
  await feed2.stop();
});

function runCli(args: string[], onStdout?: (chunk: string, kill: (sig: NodeJS.Signals) => void) => void) {
  // tap's NODE_OPTIONS loaders would add about a second to every CLI start and test nothing of ours.
  const env = { ...process.env, NATS_URL: '', NODE_OPTIONS: '' };
  const child = spawn(process.execPath, ['dist/feeds/cli.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    onStdout?.(out, (sig) => child.kill(sig));
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise<{ code: number | null; out: string; err: string }>((res) => child.on('exit', (code) => res({ code, out, err })));
}

t.test('feeds - the CLI publishes, prints status lines and exits 0 on SIGTERM; bad arguments are refused', async (t) => {
  const nc = await connect({ servers: broker.url });
  t.teardown(() => nc.close());
  const got = await collect(nc);

  const refused = runCli(['--nats', broker.url, '--scenario', 'panic']);
  let signalled = false;
  const r = await runCli(['--nats', broker.url, '--seed', '9', '--scenario', 'stressed', '--rate', '1000', '--status-ms', '100', '--instruments', '10'], (out, kill) => {
    if (!signalled && (out.match(/^feed t=/gm) ?? []).length >= 2) {
      signalled = true;
      kill('SIGTERM');
    }
  });
  await nc.flush();
  t.equal(r.code, 0, `SIGTERM exits 0 ${r.err}`);
  t.match(r.out, /feed started seed=9 scenario=stressed rate=1000\/s instruments=10 streams=30/);
  const status = r.out.match(/^feed t=.* published=(\d+) rate=\d+\/s.*$/gm) ?? [];
  t.ok(status.length >= 3, `status lines, the last one at stop (${status.length})`);
  t.match(r.out, /feed ended \(stopped\)\n$/);
  const last = Number(/published=(\d+)/.exec(status.at(-1) ?? '')?.[1]);
  t.ok(last > 100, `published ${last} before the signal`);
  t.equal(got.length, last, 'everything it reported reached the broker (flushed before exit)');
  t.same(verify(got, config).slice(0, 5), []);
  t.same([...new Set(got.map((m) => m.subject.split('.')[2]))].sort(), config.instruments.slice(0, 10).map((x) => x.id).sort());

  const r3 = await refused;
  t.not(r3.code, 0, 'a bad scenario is refused');
  t.match(r3.err, /panic/);
});
