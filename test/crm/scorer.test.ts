import t from 'tap';
import { connect } from 'nats';
import { ManualClock } from '../../engine/clock.js';
import { MarkoutRecorder } from '../../engine/crm/markout.js';
import type { ScoreTrade } from '../../engine/crm/score.js';
import { Scorer, type ScorerOptions } from '../../engine/crm/scorer.js';
import { CrmStore } from '../../engine/crm/store.js';
import { CrmError } from '../../engine/errors.js';
import { startBroker } from '../helpers/nats.js';
import { captureLog, nextChange, record, sleep, storeOpts } from './helpers.js';

const broker = await startBroker(t);
const nc = await connect({ servers: broker.url });
t.teardown(() => nc.close());
const clock = new ManualClock(1_750_000_000_000);
const log = captureLog();
const store = await CrmStore.open(nc, { ...storeOpts(log, clock), autoTier: true });
t.teardown(() => store.close());
await store.importClients(['northwind', 'meridian', 'atlas'].map((id) => record(id)), 'test');

let n = 0;
function trade(clientId: string, p: Partial<ScoreTrade> = {}): ScoreTrade {
  return { tradeId: `T${++n}`, clientId, instrument: 'UST-10Y', assetClass: 'govt_bond', side: 'buy', size: 1e6, price: 100.01, midAtTrade: 100, notional: 1e6, tsMs: clock.nowMs() - 1_000, ...p };
}
function scorer(o: Partial<ScorerOptions> = {}): Scorer {
  const s = new Scorer({ store, clock, log, refreshMs: 0, debounceMs: 30, ...o });
  t.teardown(() => s.close());
  return s;
}
const book = () => [
  trade('northwind', { notional: 5e8, size: 5e8, price: 100.02 }),
  trade('northwind', { notional: 2e8, size: 2e8, assetClass: 'fx', instrument: 'EURUSD', price: 1.08011, midAtTrade: 1.08 }),
  trade('meridian', { notional: 2e7, size: 2e7, price: 100.01 }),
  trade('atlas', { notional: 1e6, size: 1e6, price: 99.99 }),
];

t.test('crm - scorer runs computeScores on a worker and writes the scores to the CRM (autoTier re-tiers)', async (t) => {
  const s = scorer();
  s.setTrades(book());
  const scores = await s.refresh();
  t.same(scores.map((x) => x.clientId), ['atlas', 'meridian', 'northwind']);
  const nw = store.score('northwind');
  t.ok(nw, 'written to the store');
  t.equal(nw!.proposedTier, 1, `northwind: ${nw!.score}`);
  t.equal(store.score('atlas')!.proposedTier, 3, `atlas: ${store.score('atlas')!.score}`);
  t.equal(store.effectiveTier('atlas', clock.nowMs()), 3);
  t.equal(store.effectiveTier('northwind', clock.nowMs()), 1);
  t.equal(s.runs().ok, 1);

  // the same record again changes nothing and writes nothing
  const events: string[] = [];
  store.onChange((k) => events.push(`${k.kind}:${k.clientId}`));
  await s.refresh();
  await sleep(50);
  t.same(events, [], 'an unchanged score is not rewritten');
});

t.test('crm - scorer coalesces: one run in flight, concurrent requests share one next run', async (t) => {
  const s = scorer();
  s.setTrades(book());
  const all = await Promise.all([s.refresh(), s.refresh(), s.refresh(), s.refresh(), s.refresh()]);
  t.equal(s.runs().ok, 2, '5 requests, 2 runs (the one in flight and one after it)');
  for (const r of all) t.same(r, all[0]);
  t.equal(s.runs().failed, 0);
});

t.test('crm - scorer refreshes after trades (debounced) and uses markouts attached later', async (t) => {
  const s = scorer({ debounceMs: 30 });
  s.setTrades(book());
  await s.refresh();
  const before = store.score('meridian')!;
  t.equal(before.raw!.markoutBps, null);

  const rec = new MarkoutRecorder(() => 100.05, clock); // the mid rose 5 bp after every client buy
  rec.onMarkout((id, h, bps) => s.onMarkout(id, h, bps));
  const tr = trade('meridian', { tsMs: clock.nowMs() });
  const changed = nextChange(store, (k) => k.kind === 'score' && k.clientId === 'meridian', 2_000);
  s.addTrade(tr);
  rec.record(tr.tradeId!, tr.clientId, 0, tr.side, tr.price, tr.midAtTrade, tr.tsMs);
  await changed;
  t.equal(store.score('meridian')!.trades, before.trades + 1, 'a booked trade triggers a run on its own');
  await sleep(20); // the run counts itself once its writes are acknowledged, just after the watch saw them
  t.equal(s.runs().ok, 2, 'setTrades + refresh() was one run, the trade one more');

  for (const step of [1_000, 9_000, 50_000]) {
    clock.advance(step);
    rec.sweep();
  }
  t.same(Object.keys(rec.averages('meridian')), ['h1s', 'h10s', 'h60s']);
  t.equal(s.onMarkout('unknown', 1_000, 1), false);
  await s.refresh();
  const after = store.score('meridian')!;
  t.ok(after.raw!.markoutBps !== null && after.raw!.markoutBps < -4.9, `adverse markout attached: ${after.raw!.markoutBps}`);
  t.equal(after.components.flowQuality, 0.5, 'the only client with markouts: neutral until others have some');
  clock.advance(-60_000);
});

t.test('crm - scorer: a failed run keeps the previous scores and rejects with QE_CRM_SCORER_FAILED; bad weights are refused', async (t) => {
  const prev = store.score('northwind');
  const s = scorer({ timeoutMs: 1 });
  s.setTrades(book().map((x) => ({ ...x, notional: x.notional * 3 })));
  const e = await s.refresh().then(
    () => null,
    (err: unknown) => err,
  );
  t.type(e, CrmError);
  t.equal((e as CrmError).code, 'QE_CRM_SCORER_FAILED');
  t.match((e as Error).message, /exceeded 1 ms/);
  t.equal(s.runs().failed, 1);
  t.same(store.score('northwind'), prev, 'previous score kept');
  t.ok(log.lines.some((l) => l.level === 'error' && /score run failed/.test(l.msg)));

  t.throws(() => new Scorer({ store, clock, log, weights: { volume: 0.5, profitability: 0.5, flowQuality: 0.5, diversification: 0 } }), { code: 'QE_CRM_SCORE_PARAMS' });
  t.throws(() => new Scorer({ store, clock, log, tierCuts: { tier1: 10, tier2: 20 } }), { code: 'QE_CRM_SCORE_PARAMS' });

  const closed = scorer();
  await closed.close();
  await t.rejects(closed.refresh(), { code: 'QE_CRM_SCORER_FAILED' });
});

t.test('crm - scorer keeps only the trailing window', async (t) => {
  const s = scorer();
  s.setTrades([trade('atlas', { tsMs: clock.nowMs() - 400 * 86_400_000 }), ...book()]);
  t.equal(s.tradeCount(), 5);
  await s.refresh();
  t.equal(s.tradeCount(), 4, 'the 400-day-old trade was pruned');
});
