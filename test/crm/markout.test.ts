import t from 'tap';
import { Registry } from 'prom-client';
import { ManualClock } from '../../engine/clock.js';
import { MarkoutRecorder, MarkoutResult } from '../../engine/crm/markout.js';

const T0 = 1_750_000_000_000;

function rig(opts: ConstructorParameters<typeof MarkoutRecorder>[2] = {}) {
  const clock = new ManualClock(T0);
  const mids = new Map<number, number>([[0, 100], [1, 1.08]]);
  const rec = new MarkoutRecorder((iid) => mids.get(iid) ?? Number.NaN, clock, opts);
  const got: { id: string; h: number; bps: number; total: number; client: string }[] = [];
  rec.onMarkout((id, h, bps, d) => got.push({ id, h, bps, total: d.totalBps, client: d.clientId }));
  return { clock, mids, rec, got };
}
const near = (a: number, b: number) => Math.abs(a - b) < 1e-9;

t.test('crm - markout samples the mid at +1 s, +10 s, +60 s on a manual clock, positive = good for the desk', async (t) => {
  const { clock, mids, rec, got } = rig();
  // the client BUYS at 100.02 with mid 100; the mid then rises (the client's favour): bad for the desk
  t.equal(rec.record('T1', 'atlas', 0, 'buy', 100.02, 100, T0), MarkoutResult.OK);
  // the client SELLS at 99.99; the same rise is good for the desk (it bought below the later mid)
  t.equal(rec.record('T2', 'orbit', 0, 'sell', 99.99, 100, T0), MarkoutResult.OK);
  t.equal(rec.pending(), 2);

  mids.set(0, 100.01);
  clock.set(T0 + 999);
  t.equal(rec.sweep(), 0, 'nothing due before +1 s');
  clock.set(T0 + 1_000);
  t.equal(rec.sweep(), 2, 'both trades at +1 s');
  const a1 = got.find((g) => g.id === 'T1' && g.h === 1_000)!;
  const o1 = got.find((g) => g.id === 'T2' && g.h === 1_000)!;
  t.ok(near(a1.bps, -1), `client buy, mid +1 bp → ${a1.bps} bp`);
  t.ok(near(a1.total, 1), `with the 2 bp spread captured → ${a1.total} bp total`);
  t.ok(near(o1.bps, 1), `client sell, mid +1 bp → ${o1.bps} bp`);
  t.ok(near(o1.total, 2), `the desk bought at 99.99, mid now 100.01 → ${o1.total} bp total`);

  mids.set(0, 99.95);
  clock.set(T0 + 10_000);
  t.equal(rec.sweep(), 2, '+10 s');
  t.ok(near(got.find((g) => g.id === 'T1' && g.h === 10_000)!.bps, 5), 'mid fell 5 bp after a client buy: +5');
  mids.set(0, 100.03);
  clock.set(T0 + 59_999);
  t.equal(rec.sweep(), 0);
  clock.set(T0 + 60_000);
  t.equal(rec.sweep(), 2, '+60 s');
  t.ok(near(got.find((g) => g.id === 'T1' && g.h === 60_000)!.bps, -3));
  t.equal(rec.pending(), 0, 'a trade leaves the queues after its last horizon');
  t.equal(got.length, 6);
  t.same(got.map((g) => g.h), [1_000, 1_000, 10_000, 10_000, 60_000, 60_000], 'in due order');

  const avg = rec.averages('atlas');
  t.same(Object.keys(avg), ['h1s', 'h10s', 'h60s']);
  t.ok(near(avg.h1s, -1) && near(avg.h10s, 5) && near(avg.h60s, -3), JSON.stringify(avg));
  t.same(rec.averages('nobody'), {});
  t.equal(rec.sweep(), 0, 'nothing left');
});

t.test('crm - markout keeps per-client averages per horizon over many trades, in time order even when recorded out of order', async (t) => {
  const { clock, mids, rec, got } = rig({ horizonsMs: [500, 2_000], maxLateMs: 10_000 });
  t.same(rec.horizonsMs, [500, 2_000]);
  for (let i = 0; i < 1_000; i++) rec.record(`T${i}`, i % 2 ? 'a' : 'b', 0, 'buy', 100, 100, T0 + i);
  rec.record('late-recorded', 'c', 0, 'sell', 100, 100, T0 + 10); // arrives after later trades
  mids.set(0, 99.99); // −1 bp after every client buy → +1 for the desk
  clock.set(T0 + 510);
  t.equal(rec.sweep(), 12, 'trades at T0..T0+10 (11 + the late one) are due at +500');
  t.ok(got.some((g) => g.id === 'late-recorded'), 'the out-of-order trade was sampled at its own due time');
  clock.set(T0 + 3_000);
  rec.sweep();
  t.equal(got.length, 2 * 1_001);
  t.ok(near(rec.averages('a')['h0.5s'], 1));
  t.ok(near(rec.averages('a').h2s, 1));
  t.ok(near(rec.averages('c').h2s, -1), 'a client sell before the mid fell: −1');
  t.same(rec.sampleCounts('a'), { 'h0.5s': 500, h2s: 500 });
  t.equal(rec.pending(), 0);
});

t.test('crm - markout drops late samples and missing mids (never made up) and refuses bad or excess trades', async (t) => {
  const registry = new Registry();
  const { clock, mids, rec, got } = rig({ maxLateMs: 200, maxPending: 3, registry });
  rec.record('A', 'x', 0, 'buy', 100, 100, T0);
  rec.record('B', 'x', 1, 'buy', 1.08, 1.08, T0);
  rec.record('C', 'x', 0, 'buy', 100, 100, T0 + 5_000);
  t.equal(rec.record('D', 'x', 0, 'buy', 100, 100, T0), MarkoutResult.FULL, 'bounded: a 4th pending trade is refused');
  t.equal(rec.record('E', 'x', 0, 'hold' as 'buy', 100, 100, T0), MarkoutResult.INVALID);
  t.equal(rec.record('F', 'x', 0, 'buy', Number.NaN, 100, T0), MarkoutResult.INVALID);
  t.equal(rec.record('G', 'x', 0, 'buy', 100, 0, T0), MarkoutResult.INVALID);
  t.equal(rec.record('H', 'x', -1, 'buy', 100, 100, T0), MarkoutResult.INVALID);

  mids.set(1, Number.NaN); // instrument 1 went stale
  clock.set(T0 + 1_100);
  rec.sweep();
  t.same(got.map((g) => g.id), ['A'], 'B had no mid: dropped');
  clock.set(T0 + 10_500); // A and B +10 s are 500 ms late (> 200), C's +1 s is 4.5 s late
  rec.sweep();
  t.same(got.map((g) => g.id), ['A'], 'late samples are dropped, not read at the wrong horizon');
  const s = rec.stats();
  t.match(s, { ok: 1, no_mid: 1, late: 3, invalid: 4, full: 1 });
  t.match(await registry.getSingleMetricAsString('qe_markout_samples_total'), /result="late"\} 3/);
  t.throws(() => new MarkoutRecorder(() => 1, clock, { horizonsMs: [1_000, 1_000] }), RangeError);
  t.throws(() => new MarkoutRecorder(() => 1, clock, { horizonsMs: [] }), RangeError);
  t.throws(() => new MarkoutRecorder(() => 1, clock, { horizonsMs: [-5] }), RangeError);
});

t.test('crm - markout is swept by one interval timer; a throwing listener does not stop it', async (t) => {
  const errors: string[] = [];
  const { clock, rec, got } = rig({ sweepMs: 20, log: { error: (o, m) => errors.push(String(m)) } });
  rec.onMarkout(() => {
    throw new Error('listener bug');
  });
  rec.record('A', 'x', 0, 'buy', 100, 100, T0);
  rec.record('B', 'x', 0, 'buy', 100, 100, T0);
  rec.start();
  t.teardown(() => rec.stop());
  clock.set(T0 + 1_000);
  const t0 = Date.now();
  while (got.length < 2 && Date.now() - t0 < 1_000) await new Promise((r) => setTimeout(r, 5));
  t.equal(got.length, 2, 'sampled by the timer, without an explicit sweep()');
  t.equal(rec.stats().listenerErrors, 2);
  t.same(errors, ['markout listener threw', 'markout listener threw']);
  rec.stop();
  clock.set(T0 + 10_000);
  await new Promise((r) => setTimeout(r, 80));
  t.equal(got.length, 2, 'stopped: no more samples');
});
