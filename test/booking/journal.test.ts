/** The trade journal against a real nats-server with JetStream (file storage). */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, StorageType, type NatsConnection } from 'nats';
import { buildUniverse, type Config } from '../../engine/config.js';
import { Booking, encodeTrade, TradeJournal } from '../../engine/booking/index.js';
import { EngineError } from '../../engine/errors.js';
import { Inventory } from '../../engine/inventory/index.js';
import { makeRegistry } from '../../engine/metrics.js';
import { quietLog, testConfig } from '../helpers/engine.js';
import { startBroker } from '../helpers/nats.js';
import { readJournal, trade } from '../helpers/trades.js';

async function open(nc: NatsConnection, config: Config = testConfig()) {
  const universe = buildUniverse(config);
  const inventory = new Inventory(config);
  const booking = await Booking.open(nc, universe, inventory, makeRegistry(), quietLog);
  return { booking, inventory, universe };
}

/** Resolves once every thread of `pid` is stopped (SIGSTOP takes effect per thread, not at once). */
async function stopped(pid: number): Promise<void> {
  const end = Date.now() + 5000;
  for (;;) {
    const states = readdirSync(`/proc/${pid}/task`).map((tid) => readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1][0]);
    if (states.every((st) => st === 'T' || st === 't')) return;
    if (Date.now() > end) throw new Error(`process ${pid} did not stop: ${states.join('')}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('booking - the journal stream: file storage, trade.> subjects, duplicate window; a stream configured otherwise is refused', async (t) => {
  const broker = await startBroker(t);
  const nc = await connect({ servers: broker.url });
  t.teardown(() => nc.close());
  const { booking } = await open(nc);
  await booking.recover();
  const info = await (await nc.jetstreamManager()).streams.info('TRADES');
  t.equal(info.config.storage, StorageType.File);
  t.same(info.config.subjects, ['trade.>']);
  t.equal(info.config.duplicate_window, 86_400_000 * 1e6);
  t.equal(info.config.deny_delete, true);
  await booking.close();
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'OTHER', subjects: ['x.>'], storage: StorageType.Memory });
  const cfg = testConfig((c) => (c.booking = { stream: 'OTHER', subjectPrefix: 'x' }));
  const err = await TradeJournal.open(nc, cfg.booking).then(() => null, (e: unknown) => e);
  t.ok(err instanceof EngineError && err.code === 'QE_BOOKING_STREAM', `memory storage refused: ${String(err)}`);
});

t.test('booking - Nats-Msg-Id = trade id: a second publish of the same trade is a duplicate and the stream keeps one', async (t) => {
  const broker = await startBroker(t);
  const nc = await connect({ servers: broker.url });
  t.teardown(() => nc.close());
  const j = await TradeJournal.open(nc, testConfig().booking);
  const tr = trade();
  const a = await j.publishOnce(tr);
  const b = await j.publishOnce(tr);
  t.same(a.kind === 'acked' && [a.seq, a.duplicate], [1, false]);
  t.same(b.kind === 'acked' && [b.seq, b.duplicate], [1, true], 'the duplicate ack names the original sequence');
  const entries = await readJournal(nc);
  t.equal(entries.length, 1);
  t.equal(entries[0].msgId, tr.tradeId, 'header Nats-Msg-Id is the trade id');
  await j.close();
});

t.test('booking - book() returns booked only after the PubAck; the ledger and inventory apply each trade once', async (t) => {
  const broker = await startBroker(t);
  const nc = await connect({ servers: broker.url });
  t.teardown(() => nc.close());
  const { booking, inventory, universe } = await open(nc);
  t.teardown(() => booking.close());
  await booking.recover();
  const seen: string[] = [];
  booking.onBooked((b) => seen.push(b.trade.tradeId));
  const iid = universe.instrumentIndex.get('EURUSD')!;
  const before = inventory.position[iid];
  const tr = trade({ side: 'buy', size: 2e6 });
  const r = await booking.book(tr);
  t.equal(r.kind, 'booked');
  if (r.kind === 'booked') t.equal(r.booked.seq, 1);
  t.equal(inventory.position[iid], before - 2e6, 'the client bought: the desk is short');
  const again = await booking.book(tr);
  t.equal(again.kind, 'booked');
  t.equal(booking.count('booked'), 1, 'the second book() did not publish');
  await until(() => booking.lastSeq >= 1, 2000, 'tail');
  await new Promise((r) => setTimeout(r, 100));
  t.same(seen, [tr.tradeId], 'listeners saw it once (PubAck and tail)');
  t.equal(inventory.position[iid], before - 2e6, 'inventory applied once');
  t.equal(booking.byAccept(tr.clientId, tr.acceptId)?.trade.tradeId, tr.tradeId);
});

t.test('booking - recovery rebuilds inventory, P&L and the accept ids from the journal', async (t) => {
  const broker = await startBroker(t);
  const nc = await connect({ servers: broker.url });
  t.teardown(() => nc.close());
  const first = await open(nc);
  await first.booking.recover();
  const trades = [
    trade({ instrument: 'EURUSD', side: 'sell', size: 3e6, price: 1.08 }),
    trade({ instrument: 'EURUSD', side: 'buy', size: 1e6, price: 1.082 }),
    trade({ instrument: 'UST-10Y', side: 'sell', size: 5e6, price: 97.5, clientId: 'atlas', tier: 3 }),
    trade({ instrument: 'EURUSD', side: 'buy', size: 4e6, price: 1.079 }),
  ];
  for (const tr of trades) t.equal((await first.booking.book(tr)).kind, 'booked');
  await first.booking.close();

  const second = await open(nc);
  const replayed: boolean[] = [];
  second.booking.onBooked((_b, replay) => replayed.push(replay));
  const r = await second.booking.recover();
  t.equal(r.replayed, 4);
  t.equal(r.lastSeq, 4);
  t.same(replayed, [true, true, true, true], 'listeners see replayed trades flagged');
  t.same([...second.inventory.position], [...first.inventory.position], 'positions');
  t.same([...second.inventory.realizedPnl], [...first.inventory.realizedPnl], 'realized P&L');
  t.same([...second.inventory.avgCost], [...first.inventory.avgCost], 'average cost');
  for (const tr of trades) t.equal(second.booking.byAccept(tr.clientId, tr.acceptId)?.trade.price, tr.price, `accept ${tr.acceptId} known`);
  const eur = second.universe.instrumentIndex.get('EURUSD')!;
  t.ok(second.inventory.realizedPnl[eur] !== 0, 'some P&L was realized');
  t.equal((await second.booking.book(trades[0])).kind, 'booked');
  t.equal(second.booking.count('booked'), 0, 'a replayed trade is never published again');
  await second.booking.close();
});

t.test('booking - a trade stored by another writer (a killed predecessor) reaches the ledger through the tail, once', async (t) => {
  const broker = await startBroker(t);
  const nc = await connect({ servers: broker.url });
  t.teardown(() => nc.close());
  const { booking, inventory, universe } = await open(nc);
  t.teardown(() => booking.close());
  await booking.recover();
  const tr = trade({ side: 'sell', size: 7e6 });
  await nc.jetstream().publish(`trade.${tr.clientId}.${tr.instrument}`, encodeTrade(tr), { msgID: tr.tradeId });
  await until(() => booking.byId(tr.tradeId) !== undefined, 3000, 'tail');
  t.equal(inventory.position[universe.instrumentIndex.get('EURUSD')!], 7e6);
  const r = await booking.book(tr);
  t.equal(r.kind, 'booked', 'booking the same accept again finds it');
  t.equal(inventory.position[universe.instrumentIndex.get('EURUSD')!], 7e6, 'once');
});

t.test('booking - no PubAck (broker frozen): outcome unknown, not booked; after the broker resumes a retry with the same id books it exactly once', async (t) => {
  const broker = await startBroker(t);
  const nc = await connect({ servers: broker.url });
  t.teardown(() => nc.close());
  const config = testConfig((c) => (c.booking = { ackTimeoutMs: 150, maxAttempts: 2 }));
  const { booking, inventory, universe } = await open(nc, config);
  t.teardown(() => booking.close());
  await booking.recover();
  const iid = universe.instrumentIndex.get('EURUSD')!;
  const tr = trade({ size: 1e6 });
  process.kill(broker.server.pid, 'SIGSTOP');
  await stopped(broker.server.pid);
  let r;
  try {
    r = await booking.book(tr);
  } finally {
    process.kill(broker.server.pid, 'SIGCONT');
  }
  t.equal(r.kind, 'unknown', 'no ack within 2 × 150 ms');
  t.equal(booking.count('unknown'), 1, 'counted');
  t.equal(booking.byId(tr.tradeId), undefined, 'not in the ledger yet');
  let out = await booking.retry(tr);
  for (let k = 0; out.kind !== 'booked' && k < 20; k++) out = await booking.retry(tr);
  t.equal(out.kind, 'booked');
  const entries = await readJournal(nc);
  t.equal(entries.filter((e) => e.msgId === tr.tradeId).length, 1, 'two attempts and the retries: one journal entry');
  t.equal(inventory.position[iid], -1e6, 'inventory moved once');
});

t.test('booking - every attempt answered "not stored" (no stream): failed, nothing booked', async (t) => {
  const broker = await startBroker(t);
  const nc = await connect({ servers: broker.url });
  t.teardown(() => nc.close());
  const config = testConfig((c) => (c.booking = { ackTimeoutMs: 500, maxAttempts: 2 }));
  const { booking, inventory } = await open(nc, config);
  t.teardown(() => booking.close());
  await booking.recover();
  await (await nc.jetstreamManager()).streams.delete('TRADES');
  const r = await booking.book(trade());
  t.equal(r.kind, 'failed');
  t.equal(booking.count('failed'), 1);
  t.same([...inventory.position].every((p) => p === 0), true, 'inventory untouched');
});

t.test('booking - an invalid journal entry stops recovery with QE_RECOVERY_FAILED (fail closed)', async (t) => {
  const broker = await startBroker(t);
  const nc = await connect({ servers: broker.url });
  t.teardown(() => nc.close());
  const first = await open(nc);
  await first.booking.recover();
  await first.booking.book(trade());
  await nc.jetstream().publish('trade.meridian.EURUSD', new TextEncoder().encode('{"v":1,"tradeId":"nope"}'), { msgID: 'junk' });
  await first.booking.close();
  const second = await open(nc);
  const err = await second.booking.recover().then(() => null, (e: unknown) => e);
  t.ok(err instanceof EngineError && err.code === 'QE_RECOVERY_FAILED' && /entry 2/.test(err.message), String(err));
  await second.booking.close();
});
