#!/usr/bin/env node
/**
 * `npm run feed -- --seed 42 --scenario stressed --rate 2000`: the synthetic feed as a process.
 * `runFeed` is the same thing in-process (the engine's demo main passes its own connection).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { connect, type NatsConnection } from 'nats';
import { loadConfigFile, loadDefaultConfig, type Config } from '../engine/config.js';
import { EngineError } from '../engine/errors.js';
import { startFeed, type FeedHandle, type FeedOptions, type FeedStats } from './publisher.js';
import { SCENARIOS, type ScenarioName } from './synthetic.js';
import { startVenueSim, type VenueSimHandle, type VenueSimOptions } from './venue-sim.js';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export interface RunFeedOptions extends Omit<FeedOptions, 'nc' | 'config'> {
  /** Use this connection (not closed by `close()`); otherwise one is opened to `natsUrl`. */
  readonly nc?: NatsConnection;
  /** Default: NATS_URL, else nats://127.0.0.1:4222. */
  readonly natsUrl?: string;
  /** Default: `configPath` if given, else the engine's default universe. */
  readonly config?: Config;
  readonly configPath?: string;
  /** Also serve orders against the feed's own books (feeds/venue-sim.ts) on the same connection. */
  readonly venueSim?: Partial<VenueSimOptions>;
}

export interface RunningFeed extends FeedHandle {
  /** The venue simulator, when `venueSim` was given. */
  readonly venueSim: VenueSimHandle | undefined;
  /** Stops the feed and closes the connection if runFeed opened it. */
  close(): Promise<void>;
}

export async function runFeed(opts: RunFeedOptions): Promise<RunningFeed> {
  const config = opts.config ?? (opts.configPath ? loadConfigFile(opts.configPath) : loadDefaultConfig());
  const owned = opts.nc === undefined;
  const nc =
    opts.nc ??
    (await connect({
      // `||`: an empty NATS_URL means unset, as in the engine.
      servers: opts.natsUrl || process.env.NATS_URL || DEFAULT_NATS_URL,
      name: 'qe-synthetic-feed',
      // A feed outliving a broker restart keeps publishing after it (R21); it pauses meanwhile.
      maxReconnectAttempts: -1,
    }));
  let feed: FeedHandle;
  try {
    feed = startFeed({ ...opts, nc, config });
  } catch (err) {
    if (owned) await nc.close();
    throw err;
  }
  let venueSim: VenueSimHandle | undefined;
  try {
    // Same market object as the publisher: orders fill against the books being published, and
    // their permanent impact shows up in the market data.
    if (opts.venueSim) venueSim = startVenueSim({ nc, config: feed.config, market: feed.market, clock: opts.clock, options: opts.venueSim });
  } catch (err) {
    await feed.stop();
    if (owned) await nc.close();
    throw err;
  }
  return {
    venueSim,
    get config() {
      return feed.config;
    },
    get market() {
      return feed.market;
    },
    get done() {
      return feed.done;
    },
    get error() {
      return feed.error;
    },
    stop: () => feed.stop(),
    stats: () => feed.stats(),
    async close() {
      await venueSim?.stop();
      await feed.stop();
      if (owned && !nc.isClosed()) await nc.close();
    },
  };
}

/** One status line; formatting stays at the edge. */
export function formatStatus(s: FeedStats): string {
  const mb = (s.bytes / 1_048_576).toFixed(1);
  const parts = [
    `t=${(s.elapsedMs / 1000).toFixed(1)}s`,
    `phase=${s.phase}`,
    `published=${s.published}`,
    `rate=${Math.round(s.ratePerSec)}/s`,
    `books=${s.books}`,
    `trades=${s.trades}`,
    `bytes=${mb}MB`,
  ];
  if (s.quietSkips) parts.push(`quietSkips=${s.quietSkips}`);
  if (s.shortfall) parts.push(`shortfall=${s.shortfall}`);
  if (s.skippedDisconnected) parts.push(`skippedDisconnected=${s.skippedDisconnected}`);
  const faults = s.crossed + s.gaps + s.duplicates + s.outliers;
  if (faults) parts.push(`faults=crossed:${s.crossed},gap:${s.gaps},dup:${s.duplicates},outlier:${s.outliers}`);
  return `feed ${parts.join(' ')}`;
}

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
  return n;
};
const num = (name: string, min: number, max = Number.POSITIVE_INFINITY) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}]`);
  return n;
};

export function buildProgram(): Command {
  return new Command()
    .name('feed')
    .description('Synthetic multi-venue market data onto NATS (seeded, deterministic)')
    .option('--nats <url>', 'NATS server URL (default: $NATS_URL, else nats://127.0.0.1:4222)')
    .option('--config <path>', 'engine config JSON (default: the engine default universe)')
    .option('--seed <n>', 'PRNG seed', int('seed', 0), 42)
    .addOption(new Option('--scenario <name>', 'market scenario').choices([...SCENARIOS]).default('normal'))
    .option('--rate <msgsPerSec>', 'aggregate messages per second', num('rate', 1, 1_000_000), 2000)
    .option('--duration-ms <ms>', 'stop after this long (default: run until a signal)', int('duration-ms', 1))
    .option('--instruments <n>', 'first N instruments; more than the config holds generates a universe', int('instruments', 1))
    .option('--md-prefix <prefix>', 'subject root (default: config nats.mdPrefix)')
    .option('--time-scale <x>', 'speed up the price path (variance × x)', num('time-scale', 1e-6), 1)
    .option('--stress-start-ms <ms>', 'stressed: sell-off starts this long after start', int('stress-start-ms', 0))
    .option('--stress-duration-ms <ms>', 'stressed: length of sell-off + dislocation + recovery', int('stress-duration-ms', 1))
    .option('--fault-crossed <p>', 'probability per book of a crossed book', num('fault-crossed', 0, 1), 0)
    .option('--fault-gap <p>', 'probability per book of a sequence gap', num('fault-gap', 0, 1), 0)
    .option('--fault-dup <p>', 'probability per book of a duplicate', num('fault-dup', 0, 1), 0)
    .option('--fault-outlier <p>', 'probability per book of an outlier price', num('fault-outlier', 0, 1), 0)
    .option('--status-ms <ms>', 'status line period', int('status-ms', 100), 5000)
    .option('--venue-sim', 'also accept orders on venue.<venue>.order|cancel against the synthetic books (docs/hedging.md)')
    .option('--venue-latency-ms <ms>', 'venue simulator: latency floor per message', num('venue-latency-ms', 0, 60_000))
    .option('--venue-reject-rate <p>', 'venue simulator: probability of refusing a valid order', num('venue-reject-rate', 0, 1));
}

interface CliOptions {
  nats?: string;
  config?: string;
  seed: number;
  scenario: ScenarioName;
  rate: number;
  durationMs?: number;
  instruments?: number;
  mdPrefix?: string;
  timeScale: number;
  stressStartMs?: number;
  stressDurationMs?: number;
  faultCrossed: number;
  faultGap: number;
  faultDup: number;
  faultOutlier: number;
  statusMs: number;
  venueSim?: boolean;
  venueLatencyMs?: number;
  venueRejectRate?: number;
}

export async function main(argv: readonly string[] = process.argv): Promise<number> {
  const o = buildProgram().parse([...argv]).opts<CliOptions>();
  let feed: RunningFeed;
  try {
    feed = await runFeed({
      natsUrl: o.nats,
      configPath: o.config,
      seed: o.seed,
      scenario: o.scenario,
      ratePerSec: o.rate,
      durationMs: o.durationMs,
      instruments: o.instruments,
      mdPrefix: o.mdPrefix,
      timeScale: o.timeScale,
      stress: {
        ...(o.stressStartMs !== undefined && { startAfterMs: o.stressStartMs }),
        ...(o.stressDurationMs !== undefined && { durationMs: o.stressDurationMs }),
      },
      faults: { crossedProb: o.faultCrossed, gapProb: o.faultGap, duplicateProb: o.faultDup, outlierProb: o.faultOutlier },
      onProgress: (s) => process.stdout.write(formatStatus(s) + '\n'),
      progressEveryMs: o.statusMs,
      venueSim: o.venueSim
        ? {
            seed: o.seed,
            ...(o.venueLatencyMs !== undefined && { latencyFloorMs: o.venueLatencyMs }),
            ...(o.venueRejectRate !== undefined && { rejectRate: o.venueRejectRate }),
          }
        : undefined,
    });
  } catch (err) {
    process.stderr.write(`feed: ${err instanceof EngineError ? `${err.code} ` : ''}${(err as Error).message}\n`);
    return err instanceof EngineError || err instanceof RangeError ? 2 : 1;
  }
  const instruments = feed.market.instruments.length;
  process.stdout.write(
    `feed started seed=${o.seed} scenario=${o.scenario} rate=${o.rate}/s instruments=${instruments} streams=${feed.market.streamCount}\n`,
  );
  if (feed.venueSim) process.stdout.write(`venue simulator listening on ${feed.venueSim.prefix}.<venue>.order|cancel, fills on ${feed.venueSim.prefix}.<venue>.fill\n`);
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    // A second signal means the clean stop is stuck (e.g. a flush to an unreachable broker).
    if (++signals > 1) process.exit(sig === 'SIGINT' ? 130 : 143);
    void feed.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const end = await feed.done;
  await feed.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (feed.error) {
    process.stderr.write(`feed: stopped on error: ${feed.error.message}\n`);
    return 1;
  }
  process.stdout.write(`feed ended (${end})\n`);
  return 0;
}

function isMain(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    // argv[1] is not a file we can resolve (e.g. `node -e`): then this module was imported.
    return false;
  }
}

if (isMain()) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`feed: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
