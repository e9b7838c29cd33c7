/** RFQ integration rig: a real broker and engine with an in-memory CRM, a trader seat, and live ticks. */
import type { Test } from 'tap';
import type { Clock } from '../../engine/clock.js';
import type { Config } from '../../engine/config.js';
import { InstrumentStatus } from '../../engine/market/index.js';
import { TestClient, type Frame } from './client.js';
import { demoDirectory, type MemoryDirectory } from './directory.js';
import { startTestEngine, testConfig, type TestEngine } from './engine.js';
import type { TestBroker } from './nats.js';

export const MID: Record<string, number> = { EURUSD: 1.08, 'UST-10Y': 97.5, 'ACME-27': 101.2, 'CDX-IG': 60 };

/** testConfig plus a trader seat (`desk`, role trader) and the given rfq/booking settings. */
export function rfqConfig(patch: (c: Record<string, any>) => void = () => {}): Config {
  return testConfig((c: any) => {
    if (!c.clients.some((x: { id: string }) => x.id === 'desk')) c.clients = [...c.clients, { id: 'desk', name: 'Trading desk', tier: 1, role: 'trader' }];
    patch(c);
  });
}

export interface RfqRig {
  te: TestEngine;
  /** the in-memory directory (a stand-in when the rig runs with `crm: true`) */
  dir: MemoryDirectory;
  /** mid per instrument; ticks follow it */
  mid: Record<string, number>;
  /** publish one book on every venue of every instrument at the current mids and wait until the engine applied them */
  tick(): Promise<void>;
  client(id: string, role?: 'client' | 'trader' | 'admin'): Promise<TestClient>;
  stopTicking(): void;
}

export async function startRfqRig(
  t: Test,
  opts: { config?: Config; dir?: MemoryDirectory; clock?: Clock; tickEveryMs?: number; broker?: TestBroker; crm?: boolean } = {},
): Promise<RfqRig> {
  // crm: the engine's own CRM store (NATS KV) instead of an in-memory directory
  const dir = opts.crm ? undefined : (opts.dir ?? demoDirectory());
  const te = await startTestEngine(t, { config: opts.config ?? rfqConfig(), engine: { directory: dir, clock: opts.clock }, broker: opts.broker });
  const mid = { ...MID };
  const clients: TestClient[] = [];
  const instruments = te.config.instruments.map((i) => i.id);
  const tick = async () => {
    const before = instruments.map((_, iid) => te.engine.market.lastTickSeq[iid]);
    for (const i of instruments) te.tickAll(i, mid[i]);
    await te.pub.flush();
    const end = Date.now() + 3000;
    while (instruments.some((_, iid) => te.engine.market.lastTickSeq[iid] === before[iid] || te.engine.market.status[iid] !== InstrumentStatus.FIRM)) {
      if (Date.now() > end) throw new Error('ticks not applied / market not firm');
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  let timer: NodeJS.Timeout | null = null;
  if (opts.tickEveryMs !== 0) {
    timer = setInterval(() => {
      for (const i of instruments) te.tickAll(i, mid[i]);
    }, opts.tickEveryMs ?? 60);
  }
  const rig: RfqRig = {
    te,
    dir: dir ?? demoDirectory(),
    mid,
    tick,
    async client(id, role = 'client') {
      const c = await TestClient.connect(te.url, TestClient.token(te.secret, id, 600, role));
      clients.push(c);
      await c.waitFor((f) => f.t === 'hello');
      return c;
    },
    stopTicking() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
  t.teardown(() => {
    rig.stopTicking();
    for (const c of clients) c.close();
  });
  await tick();
  return rig;
}

let seq = 0;
/** Sends an RFQ and resolves with the server's answer to it (quote_firm, rfq status or rejected). */
export async function rfq(c: TestClient, i: string, side: 'buy' | 'sell', size: number, extra: Record<string, unknown> = {}): Promise<Frame> {
  const id = `r${++seq}`;
  c.send({ t: 'rfq', id, i, side, size, ...extra });
  return c.waitFor((f) => (f.t === 'quote_firm' || f.t === 'rfq' || f.t === 'rejected' || f.t === 'error') && f.id === id, 5000, `answer to RFQ ${id}`);
}

/** Sends an accept and resolves with its answer (trade_confirm, rejected or trade_unknown). */
export async function accept(c: TestClient, quoteId: string, acceptId: string): Promise<Frame> {
  c.send({ t: 'accept', quoteId, acceptId });
  return c.next((f) => (f.t === 'trade_confirm' || f.t === 'rejected' || f.t === 'trade_unknown' || f.t === 'error') && f.acceptId === acceptId, 5000, `answer to accept ${acceptId}`);
}
