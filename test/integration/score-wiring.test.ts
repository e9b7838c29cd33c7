/**
 * The journal feeds the relationship score and markout: a trade booked through the real engine
 * produces a score for its client in the CRM bucket, and a markout once the first horizon passes.
 */
import t from 'tap';
import { accept, rfq, rfqConfig, startRfqRig } from '../helpers/rfq.js';

t.test('crm wiring - a booked trade yields a relationship score in KV and a markout sample', async (t) => {
  const rig = await startRfqRig(t, {
    config: rfqConfig((c) => { c.crm = { score: { debounceMs: 0 }, markout: { horizonsMs: [200, 1000], sweepMs: 20 } }; }),
    crm: true,
  });
  const eng = rig.te.engine;
  t.ok(eng.scorer && eng.markout, 'scorer and markout run with the CRM store');
  t.equal(eng.crm!.score('atlas'), undefined, 'no score before any trade');
  await eng.crm!.putClient({ id: 'atlas', name: 'Atlas Retail Brokerage', tier: 3, creditLimit: 1e9, maxOrderSize: 5e7 }, 'test');
  const c = await rig.client('atlas');
  const q = await rfq(c, 'EURUSD', 'buy', 1e6);
  t.equal(q.t, 'quote_firm', 'tier 3 automatic quote');
  const conf = await accept(c, q.quoteId, 'score-1');
  t.equal(conf.t, 'trade_confirm');
  const end = Date.now() + 8000;
  while (eng.crm!.score('atlas') === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  const s = eng.crm!.score('atlas');
  t.ok(s, 'a score for atlas was computed on the worker and written to KV');
  t.equal(s?.trades, 1, 'from the one trade');
  t.ok(s && s.score >= 0 && s.score <= 100, 'score in 0..100');
  const mEnd = Date.now() + 5000;
  while (eng.markout!.stats().ok === 0 && Date.now() < mEnd) await new Promise((r) => setTimeout(r, 50));
  t.ok(eng.markout!.stats().ok >= 1, 'a markout sample was taken at the first horizon');
});
