/**
 * R19/R20 under kill -9: an engine child process is SIGKILLed at random points while a client
 * streams trades at it, then started again (≥ 100 times). After every restart and at the end:
 *
 *   - every trade confirmed to the client is in the journal, under the same id and sequence;
 *   - no trade is in the journal twice (trade ids and Nats-Msg-Ids unique, one per acceptId);
 *   - a replayed accept after a restart gets the journaled trade back, not a second booking;
 *   - inventory after the restart equals the journal's sum up to the sequence the engine replayed.
 *
 * One engine runs at a time. The next process is spawned (modules loaded, waiting on stdin) while
 * the current one runs, so a cycle costs an engine start, not a Node start.
 */
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AckPolicy, connect, DeliverPolicy, type Consumer } from 'nats';
import { encode } from '@msgpack/msgpack';
import { decodeTrade, deskQty, type TradeRecord } from '../../engine/booking/trade.js';
import { bookSubject } from '../../engine/wire/market-data.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { spawnEngineChild, type EngineChild } from '../helpers/engine-child-proc.js';
import { startBroker } from '../helpers/nats.js';
import { rfqConfig } from '../helpers/rfq.js';

const KILLS = Number(process.env.QE_KILLS ?? 100);
const INSTRUMENT = 'EURUSD';
const MID = 1.08;

/** user + system CPU of a live process, ms (Linux /proc; 0 elsewhere) */
function procCpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    // not Linux, or the process is gone: the figure is informational only
    return 0;
  }
}

type Child = EngineChild;

t.test(`rfq crash - SIGKILL at ${KILLS} random points during a stream of trades: confirmed ⊆ journal, nothing booked twice, inventory = journal`, async (t) => {
  const broker = await startBroker(t);
  const config = rfqConfig((c) => {
    c.market = { ...c.market, staleAfterMs: 1000 };
    c.rfq = { streamHistory: 16, streamTtlMs: 2000 };
    c.booking = { ackTimeoutMs: 1000, maxAttempts: 2 };
  });
  const iid = config.instruments.findIndex((i) => i.id === INSTRUMENT);
  const secret = randomBytes(32);
  // a plain Node for the engine: without the test runner's NODE_OPTIONS (--import of its process
  // tracker) each child would load and report through tap's machinery, doubling its start cost
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NATS_URL: broker.url, QE_TEST_SECRET: secret.toString('hex'), QE_TEST_CONFIG: JSON.stringify(config) };
  const nc = await connect({ servers: broker.url });
  const live = new Set<ChildProcess>();
  t.teardown(async () => {
    for (const p of live) p.kill('SIGKILL');
    await nc.close();
  });

  // market data for the engine: every venue, in sequence, at a constant mid
  const venues = config.instruments[iid].venues;
  let mdSeq = 0;
  const ticker = setInterval(() => {
    mdSeq++;
    for (const v of venues) nc.publish(bookSubject(config.nats.mdPrefix, INSTRUMENT, v), encode({ i: INSTRUMENT, v, s: mdSeq, ts: Date.now(), b: MID - 0.00005, a: MID + 0.00005, bs: 5e6, as: 5e6 }));
  }, 20);
  t.teardown(() => clearInterval(ticker));

  const spawnChild = (): Child => spawnEngineChild(env, live);

  // the journal, read independently of the engine (incrementally, by sequence)
  const journal = new Map<number, TradeRecord>();
  const msgIds = new Map<string, number>();
  let consumer: Consumer | null = null;
  let journalDupMsgIds = 0;
  const readJournalTo = async (lastSeq: number) => {
    if (consumer === null) {
      const jsm = await nc.jetstreamManager();
      const ci = await jsm.consumers.add('TRADES', { ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, inactive_threshold: 120e9 });
      consumer = await nc.jetstream().consumers.get('TRADES', ci.name);
    }
    while (journal.size < lastSeq) {
      const it = await consumer.fetch({ max_messages: lastSeq - journal.size, expires: 2000 });
      let got = 0;
      for await (const m of it) {
        got++;
        const tr = decodeTrade(m.data);
        if (typeof tr === 'string') throw new Error(`bad journal entry ${m.seq}: ${tr}`);
        journal.set(m.seq, tr);
        const id = m.headers?.get('Nats-Msg-Id') ?? '';
        if (msgIds.has(id)) journalDupMsgIds++;
        msgIds.set(id, m.seq);
      }
      if (got === 0) throw new Error(`journal has ${journal.size} entries, engine replayed ${lastSeq}`);
    }
  };
  const journalPosition = (upTo: number) => {
    let p = config.instruments[iid].initialPosition;
    for (const [seq, tr] of journal) if (seq <= upTo && tr.instrument === INSTRUMENT) p += deskQty(tr);
    return p;
  };

  const confirms = new Map<string, { tradeId: string; seq: number }>();
  let confirmConflicts = 0;
  let inventoryMismatches = 0;
  let sent = 0;
  let replays = 0;
  let replayedFromJournal = 0;
  let unknownOutcomes = 0;
  let nextAccept = 0;
  const unconfirmed: string[] = [];
  const started = Date.now();
  const rnd = (() => {
    let s = 0x9e3779b9;
    return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
  })();

  const record = (c: TestClient) => {
    for (const f of c.frames) {
      if (f.t === 'trade_unknown') unknownOutcomes++;
      if (f.t !== 'trade_confirm') continue;
      const prev = confirms.get(f.acceptId);
      if (prev && (prev.tradeId !== f.tradeId || prev.seq !== f.seq)) confirmConflicts++;
      confirms.set(f.acceptId, { tradeId: f.tradeId, seq: f.seq });
    }
  };

  let startMsTotal = 0;
  let childCpuMs = 0;
  let childCpuAtReady = 0;
  const phase = { loaded: 0, ready: 0, journal: 0, firm: 0, burst: 0, exit: 0 };
  let mark = Date.now();
  const lap = (p: keyof typeof phase) => {
    const now = Date.now();
    phase[p] += now - mark;
    mark = now;
  };
  // processes loading ahead of use (Node start + imports are most of a restart's cost)
  const PRELOAD = Number(process.env.QE_PRELOAD ?? 2);
  const queue: Child[] = Array.from({ length: PRELOAD }, spawnChild);
  for (let k = 0; k < KILLS; k++) {
    const cur = queue.shift()!;
    mark = Date.now();
    await cur.loaded;
    lap('loaded');
    cur.go();
    const ready = await cur.ready;
    lap('ready');
    startMsTotal += ready.startMs;
    childCpuAtReady += procCpuMs(cur.proc.pid!);
    if (k + PRELOAD <= KILLS) queue.push(spawnChild());
    // R20: inventory after the restart is the journal's, up to what the engine replayed
    await readJournalTo(ready.lastSeq);
    if (ready.positions[iid] !== journalPosition(ready.lastSeq)) inventoryMismatches++;
    lap('journal');

    const c = await TestClient.connect(`ws://127.0.0.1:${ready.port}`, TestClient.token(secret, 'atlas'));
    c.send({ t: 'sub', i: [INSTRUMENT] });
    let frame: Frame = await c.waitFor((f) => f.t === 'q' && f.st === 'firm' && f.l.length > 0, 5000, 'firm quote after restart');
    lap('firm');
    const onFrame = (f: Frame) => f.t === 'q' && f.st === 'firm' && f.l.length > 0 && (frame = f);
    c.ws.on('message', () => onFrame(c.frames[c.frames.length - 1]));
    const trade = (acceptId: string, side: 'buy' | 'sell') => {
      const lv = frame.l[0];
      c.send({ t: 'trade', i: INSTRUMENT, side, size: lv[0], price: side === 'buy' ? lv[2] : lv[1], sq: frame.sq, acceptId });
    };
    // replay a few accepts that were never confirmed: the journal answers for the ones it holds
    for (const a of unconfirmed.slice(0, 4)) {
      replays++;
      trade(a, 'buy');
    }
    const killAt = Date.now() + rnd() * 120;
    while (Date.now() < killAt) {
      const a = `k${k}-${nextAccept++}`;
      unconfirmed.push(a);
      trade(a, nextAccept % 2 === 0 ? 'buy' : 'sell');
      sent++;
      await new Promise((r) => setTimeout(r, 1));
    }
    lap('burst');
    childCpuMs += procCpuMs(cur.proc.pid!);
    cur.proc.kill('SIGKILL');
    await cur.exited;
    await new Promise((r) => setTimeout(r, 5)); // frames already in the client socket
    record(c);
    c.close();
    for (let j = unconfirmed.length - 1; j >= 0; j--) if (confirms.has(unconfirmed[j])) unconfirmed.splice(j, 1);
    lap('exit');
  }
  const cpu = process.cpuUsage();
  t.comment(`time per phase (ms, all cycles): ${JSON.stringify(phase)}; engine start inside the child ${startMsTotal} ms; CPU ms: test process ${Math.round((cpu.user + cpu.system) / 1000)}, engine children ${childCpuMs} (${childCpuAtReady} of it before ready), broker ${procCpuMs(broker.server.pid)}`);

  // a last start: answers every outstanding replay and shows the final inventory
  const last = queue.shift()!;
  for (const extra of queue) extra.proc.kill('SIGKILL');
  await last.loaded;
  last.go();
  const final = await last.ready;
  const c = await TestClient.connect(`ws://127.0.0.1:${final.port}`, TestClient.token(secret, 'atlas'));
  c.send({ t: 'sub', i: [INSTRUMENT] });
  const fr = await c.waitFor((f) => f.t === 'q' && f.st === 'firm' && f.l.length > 0, 5000, 'firm quote');
  const journaledAccepts = new Set([...journal.values()].map((x) => x.acceptId));
  await readJournalTo(final.lastSeq);
  for (const tr of journal.values()) journaledAccepts.add(tr.acceptId);
  // every journaled but unconfirmed accept, replayed: must come back as that same trade
  const journaledUnconfirmed = unconfirmed.filter((a) => journaledAccepts.has(a));
  const probe = journaledUnconfirmed.slice(0, 50);
  for (const a of probe) c.send({ t: 'trade', i: INSTRUMENT, side: 'buy', size: fr.l[0][0], price: fr.l[0][2], sq: fr.sq, acceptId: a });
  await c.waitFor(() => c.frames.filter((f) => f.t === 'trade_confirm' && probe.includes(f.acceptId)).length >= probe.length, 5000, 'replay answers');
  for (const f of c.frames) if (f.t === 'trade_confirm' && probe.includes(f.acceptId)) {
    const j = journal.get(f.seq);
    if (j !== undefined && j.tradeId === f.tradeId && j.acceptId === f.acceptId) replayedFromJournal++;
  }
  record(c);
  c.close();
  last.proc.kill('SIGTERM');
  await last.exited;

  await readJournalTo(final.lastSeq);
  const trades = [...journal.values()];
  const tradeIds = new Set(trades.map((x) => x.tradeId));
  const acceptIds = new Set(trades.map((x) => `${x.clientId}/${x.acceptId}`));
  let missing = 0;
  for (const [, cf] of confirms) if (journal.get(cf.seq)?.tradeId !== cf.tradeId) missing++;
  const elapsed = Date.now() - started;

  t.equal(missing, 0, `every confirmed trade is in the journal under its id and sequence (${confirms.size} confirmed)`);
  t.equal(tradeIds.size, trades.length, `no trade id twice in the journal (${trades.length} entries)`);
  t.equal(journalDupMsgIds, 0, 'no Nats-Msg-Id twice');
  t.equal(acceptIds.size, trades.length, 'one journal entry per acceptId');
  t.equal(confirmConflicts, 0, 'an acceptId was never confirmed as two different trades');
  t.equal(inventoryMismatches, 0, `inventory after each of ${KILLS} restarts equals the journal's sum`);
  t.equal(final.positions[iid], journalPosition(final.lastSeq), 'final inventory equals the journal');
  t.equal(replayedFromJournal, probe.length, `replayed accepts that the journal held came back as the same trade (${probe.length})`);
  t.ok(confirms.size > KILLS, 'trades were confirmed throughout');
  t.ok(journaledUnconfirmed.length > 0, `kills landed between journal and confirm: ${journaledUnconfirmed.length} journaled trades still unconfirmed after the last kill`);
  t.comment(`kills ${KILLS}; trades sent ${sent}, replays ${replays}; journaled ${trades.length}; confirmed ${confirms.size}; journaled but unconfirmed after the last kill ${journaledUnconfirmed.length} (${replayedFromJournal} replayed: same trade back); duplicates ${trades.length - tradeIds.size}; unknown outcomes ${unknownOutcomes}; ${(elapsed / 1000).toFixed(1)} s`);
});
