/**
 * Load generator: the seeded synthetic multi-venue feed (feeds/publisher.ts) at a fixed aggregate
 * rate, each tick stamped with `pt` = monoUs() as it is published. A fresh feed per phase, same
 * seed: every system of a scenario sees the same message sequence, from sequence 1.
 *
 *   node dist/perf/loadgen-proc.js <natsUrl>        (IPC: start → stats → stop)
 */
import { connect } from 'nats';
import { loadConfigFile } from '../engine/config.js';
import { startFeed, type FeedHandle } from '../feeds/publisher.js';
import { serve, type LoadgenRequest, type LoadgenStats } from './lib/ipc.js';

const natsUrl = process.argv[2];
if (!natsUrl) throw new Error('usage: loadgen-proc <natsUrl>');
const nc = await connect({ servers: natsUrl, name: 'perf-loadgen', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
let feed: FeedHandle | null = null;

const stats = (): LoadgenStats => {
  const s = feed?.stats();
  return { published: s?.published ?? 0, shortfall: s?.shortfall ?? 0, elapsedMs: s?.elapsedMs ?? 0 };
};

serve<LoadgenRequest>(async (req) => {
  switch (req.cmd) {
    case 'start': {
      if (feed) await feed.stop();
      feed = startFeed({
        nc,
        config: loadConfigFile(req.configPath),
        seed: req.seed,
        scenario: 'normal',
        ratePerSec: req.ratePerSec,
        timeScale: req.timeScale,
        // 1 ms wakes: a burst per wake is ≤ rate/1000 ticks, so pacing adds little queueing of its own
        wakeMs: 1,
        progressEveryMs: 60_000,
      });
      return {};
    }
    case 'stats':
      return stats();
    case 'stop': {
      const s = stats();
      if (feed) await feed.stop();
      feed = null;
      return s;
    }
  }
});

const shutdown = async () => {
  if (feed) await feed.stop();
  await nc.close();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
