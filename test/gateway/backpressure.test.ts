/**
 * Slow clients (R26). A paused `ws` client stops reading its TCP socket; on loopback the kernel
 * absorbs a few MB before uWS starts buffering, so each test publishes until the gateway reports
 * conflation rather than a fixed amount.
 */
import t from 'tap';
import type { Frame, Rig } from './helpers.js';
import { ManualClock, sample, startRig, sweeps, until } from './helpers.js';

const PAD = 'x'.repeat(8 * 1024);
const SOFT = 256 * 1024;

/** Publishes padded frames on `instruments` in bursts (yielding between them) until `done()`. */
async function flood(rig: Rig, tier: 1 | 2 | 3, instruments: string[], done: () => boolean, timeoutMs = 8000): Promise<number> {
  const t0 = Date.now();
  const closed0 = rig.gw.stats.closed;
  let n = 0;
  while (!done()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`flood: condition not reached after ${n} frames`);
    if (rig.gw.stats.closed !== closed0) throw new Error(`flood: a socket closed after ${n} frames (${JSON.stringify(rig.gw.stats)})`);
    for (let k = 0; k < 16; k++) rig.engine.emit(tier, instruments[n++ % instruments.length], { pad: PAD });
    await new Promise((r) => setTimeout(r, 1));
  }
  return n;
}

function contiguous(q: Frame[]): boolean {
  return q.every((f, k) => k === 0 || f.sq === q[k - 1].sq + 1);
}

t.test('gateway - a client that stops reading is conflated, others keep receiving, and it gets snapshots when it reads again', async (t) => {
  const rig = await startRig(t, { gateway: { softBackpressureBytes: SOFT, maxBackpressureBytes: 64 * 1024 * 1024, sweepMs: 10, slowClientCloseMs: 60_000 } });
  const slow = await rig.connect('atlas');
  const normal = await rig.connect('pinecrest');
  const both = ['EURUSD', 'GBPUSD'];
  await slow.request({ t: 'sub', i: both, id: 1 });
  await normal.request({ t: 'sub', i: both, id: 1 });
  slow.pauseReading();
  await flood(rig, 3, both, () => rig.gw.stats.conflations === 1);
  t.equal(rig.gw.connections().find((c) => c.client === 'atlas')?.conflated, true, 'the slow socket is conflated');
  t.equal(rig.gw.connections().find((c) => c.client === 'pinecrest')?.conflated, false, 'the reader is not');
  // while conflated the slow socket is off the topics: its backlog stops growing (after the
  // burst uWS had already queued for it when the sweep ran)
  await sweeps(rig.gw);
  const backlog = rig.gw.connections().find((c) => c.client === 'atlas')!.bufferedBytes;
  for (let k = 0; k < 64; k++) rig.engine.emit(3, both[k % 2], { pad: PAD });
  const lastBefore = { EURUSD: rig.engine.lastSq(3, 'EURUSD'), GBPUSD: rig.engine.lastSq(3, 'GBPUSD') };
  await normal.barrier();
  await sweeps(rig.gw);
  t.equal(rig.gw.connections().find((c) => c.client === 'atlas')!.bufferedBytes, backlog, 'no deltas queued while conflated');
  for (const i of both) {
    const q = normal.quotes(i);
    t.ok(contiguous(q), `the reader got every ${i} frame in order`);
    t.equal(q[q.length - 1].sq, lastBefore[i as 'EURUSD' | 'GBPUSD'], `the reader is up to date on ${i}`);
    t.equal(q.filter((f) => f.sn === 1).length, 0, 'and never needed a snapshot');
  }

  slow.resumeReading();
  const snaps = await Promise.all(both.map((i) => slow.waitFor((f) => f.t === 'q' && f.i === i && f.sn === 1, 8000, `snapshot of ${i}`)));
  t.same(snaps.map((f) => f.sq), [lastBefore.EURUSD, lastBefore.GBPUSD], 'the snapshot is the newest frame (conflated)');
  const slowIdx = slow.frames.findIndex((f) => f.t === 'slow');
  t.match(slow.frames[slowIdx], { t: 'slow', code: 'QE_WS_SLOW_CONSUMER', softLimitBytes: SOFT, closeAfterMs: 60_000, bufferedBytes: Number });
  t.ok(slow.frames[slowIdx].bufferedBytes > SOFT);
  t.equal(slow.frames.filter((f) => f.t === 'slow').length, 1, 'told once');
  t.ok(snaps.every((s) => slow.frames.indexOf(s) > slowIdx), 'snapshots come after the notice');
  t.equal(rig.gw.stats.recoveries, 1);

  rig.engine.emit(3, 'EURUSD');
  await slow.barrier();
  const after = slow.quotes('EURUSD').slice(slow.quotes('EURUSD').indexOf(snaps[0]));
  t.same(after.map((f) => [f.sq, f.sn]), [[lastBefore.EURUSD, 1], [lastBefore.EURUSD + 1, 0]], 'live again from the snapshot, no gap');
  t.equal(slow.closed, null);
  const m = await rig.metrics();
  t.equal(sample(m, 'qe_ws_conflations_total'), 1);
  t.equal(sample(m, 'qe_ws_slow_closes_total'), 0);
});

t.test('gateway - a client conflated for slowClientCloseMs is closed with 4008', async (t) => {
  const clock = new ManualClock(Date.now());
  const rig = await startRig(t, { clock, gateway: { softBackpressureBytes: SOFT, sweepMs: 10, slowClientCloseMs: 2_000 } });
  const slow = await rig.connect('atlas');
  const normal = await rig.connect('orbit');
  await slow.request({ t: 'sub', i: ['USDCHF'], id: 1 });
  await normal.request({ t: 'sub', i: ['USDCHF'], id: 1 });
  slow.pauseReading();
  await flood(rig, 3, ['USDCHF'], () => rig.gw.stats.conflations === 1);
  clock.advance(1_999);
  await sweeps(rig.gw);
  t.equal(rig.gw.stats.connections, 2, 'not closed before slowClientCloseMs');
  clock.advance(1);
  await until(() => rig.gw.stats.slowCloses === 1, 2000, 'slow close');
  t.equal(rig.gw.stats.connections, 1);
  slow.resumeReading();
  t.same(await slow.waitClose(), { code: 4008, reason: 'slow consumer' });
  t.match(await normal.request({ t: 'ping', id: 1 }), { t: 'pong' });
  t.equal(sample(await rig.metrics(), 'qe_ws_slow_closes_total'), 1);
});

t.test('gateway - a socket whose buffer would pass maxBackpressureBytes is closed at once', async (t) => {
  // The cap leaves room for the ~10 bursts a sweep interval can queue, so conflation comes first
  // and the test is deterministic; a cap that small can also be hit before conflation (same close).
  const rig = await startRig(t, { gateway: { softBackpressureBytes: SOFT, maxBackpressureBytes: 4 * 1024 * 1024, sweepMs: 10, slowClientCloseMs: 60_000 } });
  const slow = await rig.connect('atlas');
  const normal = await rig.connect('orbit');
  await slow.request({ t: 'sub', i: ['NZDUSD'], id: 1 });
  slow.pauseReading();
  await flood(rig, 3, ['NZDUSD'], () => rig.gw.stats.conflations === 1);
  // conflated sockets still get status broadcasts: past the hard cap uWS closes the socket
  // rather than queue more, whatever the sweep has decided
  const big = 'y'.repeat(64 * 1024);
  for (let k = 0; k < 200 && rig.gw.stats.connections === 2; k++) {
    rig.gw.broadcastStatus({ note: big });
    await new Promise((r) => setTimeout(r, 1));
  }
  await until(() => rig.gw.stats.connections === 1, 3000, 'hard-cap close');
  t.equal(rig.gw.stats.hardCapCloses, 1);
  t.equal(rig.gw.stats.slowCloses, 1);
  t.match(await normal.request({ t: 'ping', id: 1 }), { t: 'pong' }, 'the other socket is unaffected');
  slow.resumeReading();
  t.equal((await slow.waitClose()).code, 1006, 'no close frame: uWS drops the connection');
});
