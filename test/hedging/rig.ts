/**
 * Hedging integration rig: a real broker, the seeded synthetic feed and the venue simulator running
 * in this process on the same SyntheticMarket (so the engine's composite and the venues' books
 * agree), and a real engine. Also a reader of the hedge journal independent of the engine.
 */
import { connect, type NatsConnection } from 'nats';
import type { Test } from 'tap';
import { loadDefaultConfig, type Config } from '../../engine/config.js';
import type { ClientDirectory, DeskAxes } from '../../engine/crm/types.js';
import type { HedgeRouter } from '../../engine/hedging/router.js';
import { InstrumentStatus } from '../../engine/market/index.js';
import { startFeed, type FeedHandle } from '../../feeds/publisher.js';
import { startVenueSim, type VenueSimHandle } from '../../feeds/venue-sim.js';
import { MemoryDirectory, demoDirectory } from '../helpers/directory.js';
import { startTestEngine, testConfig, type TestEngine } from '../helpers/engine.js';
import { startBroker, type TestBroker } from '../helpers/nats.js';
import { readStream } from '../helpers/trades.js';

export const HEDGE_INSTRUMENTS = ['EURUSD', 'UST-10Y', 'ACME-27', 'ACME-33', 'STARK-35', 'CDX-IG'];

/** testConfig with the hedging scenario's instruments and a fast router; `patch` edits the raw config. */
export function hedgeConfig(patch: (c: any) => void = () => {}): Config {
  const all = (loadDefaultConfig() as any).instruments as any[];
  return testConfig((c: any) => {
    c.instruments = all.filter((i) => HEDGE_INSTRUMENTS.includes(i.id)).map((i) => ({ ...JSON.parse(JSON.stringify(i)), initialPosition: 0 }));
    c.market = { ...c.market, staleAfterMs: 1_500 };
    c.hedging = { router: { reviewMs: 100, retryAfterMs: 400 } };
    patch(c);
  });
}

/** A MemoryDirectory whose desk axes can be set. */
export class AxedDirectory extends MemoryDirectory {
  desk: DeskAxes = { axes: [], updatedAtMs: 0 };
  override axes(): DeskAxes {
    return this.desk;
  }
}
export function axedDirectory(): AxedDirectory {
  const d = new AxedDirectory();
  for (const r of demoDirectory().list()) d.set(r);
  return d;
}

export interface HedgeRig {
  te: TestEngine;
  broker: TestBroker;
  feed: FeedHandle;
  sim: VenueSimHandle;
  nc: NatsConnection;
  router: HedgeRouter;
  iid(instrument: string): number;
  waitFirm(instruments?: string[], timeoutMs?: number): Promise<void>;
}

export async function startHedgeRig(t: Test, opts: { config?: Config; directory?: ClientDirectory; broker?: TestBroker; ratePerSec?: number } = {}): Promise<HedgeRig> {
  const broker = opts.broker ?? (await startBroker(t));
  const config = opts.config ?? hedgeConfig();
  const feedNc = await connect({ servers: broker.url });
  const simNc = await connect({ servers: broker.url });
  const nc = await connect({ servers: broker.url });
  const feed = startFeed({ nc: feedNc, config, seed: 17, scenario: 'normal', ratePerSec: opts.ratePerSec ?? 600 });
  const sim = startVenueSim({ nc: simNc, config, market: feed.market, options: { latencyFloorMs: 0, latencyMeanMs: 0.3 } });
  await sim.ready;
  const te = await startTestEngine(t, { config, broker, engine: { directory: opts.directory ?? axedDirectory(), pricer: 'inline' } });
  t.teardown(async () => {
    await feed.stop();
    await sim.stop();
    await Promise.all([feedNc.close(), simNc.close(), nc.close()]);
  });
  const router = te.engine.services.hedgeRouter as HedgeRouter | undefined;
  if (!router) throw new Error('no hedge router attached');
  const iid = (id: string) => te.config.instruments.findIndex((i) => i.id === id);
  const rig: HedgeRig = {
    te, broker, feed, sim, nc, router, iid,
    async waitFirm(instruments = HEDGE_INSTRUMENTS, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      while (instruments.some((i) => te.engine.market.status[iid(i)] !== InstrumentStatus.FIRM)) {
        if (Date.now() > end) throw new Error(`market not firm: ${instruments.filter((i) => te.engine.market.status[iid(i)] !== InstrumentStatus.FIRM).join(', ')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
  await rig.waitFirm();
  return rig;
}

export interface HedgeEntry {
  seq: number;
  subject: string;
  msgId: string | undefined;
  rec: any;
}

/** Every entry of the hedge journal, read with a throw-away consumer (independent of the engine). */
export async function readHedgeJournal(nc: NatsConnection, stream = 'HEDGES'): Promise<HedgeEntry[]> {
  return (await readStream(nc, stream)).map((m) => ({ seq: m.seq, subject: m.subject, msgId: m.msgId, rec: JSON.parse(new TextDecoder().decode(m.data)) }));
}

export async function until<T>(what: string, fn: () => T | undefined | false | null, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
