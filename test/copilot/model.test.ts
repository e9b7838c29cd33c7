import t from 'tap';
import fc from 'fast-check';
import { axeRelation, distanceBps, fitWinModel, priceAt, recommend, winPrior, winProbability } from '../../engine/copilot/model.js';
import { input, params } from './helpers.js';

t.test('copilot model - a recommendation has every figure, each with its inputs', async (t) => {
  const r = recommend(input());
  t.ok(r.ok);
  for (const k of ['price', 'size', 'ci', 'impact', 'hedge', 'axe', 'pnl', 'win', 'scenarios'] as const) {
    t.ok(r[k], `${k} present`);
    t.type((r[k] as { inputs: object }).inputs, 'object', `${k} carries its inputs`);
  }
  t.equal(r.client.clientId, 'northwind', 'client context passed through');
  t.equal(r.price!.inputs.mid, 101.2);
  t.ok(['immediate', 'paced', 'hold', 'proxy', 'none'].includes(r.hedge!.option), 'a hedge option from chooseHedge');
  // a client sell: the desk buys below mid
  t.ok(r.price!.value < 101.2, 'client sells below mid');
  t.ok(r.price!.distanceBps > 0, 'distance worse for the client is positive');
  t.ok(Math.abs(r.price!.value / 0.001 - Math.round(r.price!.value / 0.001)) < 1e-6, 'on the tick grid');
});

t.test('copilot model - no mid: no figures, said why', async (t) => {
  const x = input();
  const r = recommend({ ...x, market: { ...x.market, mid: NaN } });
  t.equal(r.ok, false);
  t.match(r.why, /mid/);
  t.notOk(r.price);
});

t.test('copilot model - the confidence interval contains the recommended price, for any side, size, position and vol', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom<'buy' | 'sell'>('buy', 'sell'), fc.integer({ min: 100, max: 25_000 }), fc.integer({ min: -20_000, max: 20_000 }), fc.double({ min: 0.1, max: 10, noNaN: true }), (side, lots, posLots, volMult) => {
      const r = recommend(input({ side, size: lots * 1000, position: posLots * 1000, volMult }));
      return r.ok && r.ci!.low <= r.price!.value && r.price!.value <= r.ci!.high && r.ci!.halfWidthBps > 0;
    }),
    { numRuns: 300 },
  );
});

t.test('copilot model - the CI widens with volatility', async (t) => {
  const lo = recommend(input({ volMult: 1 }));
  const hi = recommend(input({ volMult: 3 }));
  t.ok(hi.ci!.halfWidthBps > lo.ci!.halfWidthBps, `${hi.ci!.halfWidthBps} > ${lo.ci!.halfWidthBps}`);
  t.ok(hi.ci!.inputs.volTermBps as number > (lo.ci!.inputs.volTermBps as number), 'through the hedge-horizon vol term');
});

t.test('copilot model - with the axe is priced tighter than against it, and labelled so', async (t) => {
  // desk long 10 mm: a client buy takes it down (with), a client sell adds to it (against)
  const withAxe = recommend(input({ side: 'buy', size: 2e6, position: 10e6 }));
  const against = recommend(input({ side: 'sell', size: 2e6, position: 10e6 }));
  t.equal(withAxe.axe!.label, 'with');
  t.equal(against.axe!.label, 'against');
  t.ok(withAxe.price!.halfSpreadBps < against.price!.halfSpreadBps, `with ${withAxe.price!.halfSpreadBps} < against ${against.price!.halfSpreadBps}`);
  t.ok(withAxe.pnl!.inventoryRiskChange < 0, 'with the axe: inventory risk falls');
  t.ok(against.pnl!.inventoryRiskChange > 0, 'against: it grows');
  t.ok(withAxe.pnl!.hedgeCost < 0, 'with the axe saves hedge cost');
  // the CRM desk axe counts too, with no position
  const crm = recommend(input({ side: 'buy', position: 0, deskAxe: { side: 'sell', size: 5e6 } }));
  const none = recommend(input({ side: 'buy', position: 0 }));
  t.equal(crm.axe!.label, 'with');
  t.equal(none.axe!.label, 'against');
  t.ok(crm.price!.value <= none.price!.value, 'the desk axe improves the client buy price');
  t.same(axeRelation(5, -3, null), { withAxe: true, reduces: true, matchesDeskAxe: false });
});

t.test('copilot model - win probability falls as the price gets worse for the client', async (t) => {
  const r = recommend(input());
  const ps = r.win!.points;
  t.equal(ps.length, 5);
  for (let k = 1; k < ps.length; k++) {
    t.ok(ps[k].distanceBps > ps[k - 1].distanceBps, 'points go from better to worse');
    t.ok(ps[k].p < ps[k - 1].p, `p falls: ${ps[k].p} < ${ps[k - 1].p}`);
  }
  t.equal(r.win!.model, 'prior', 'no history: the prior');
  const h = r.win!.inputs.tierHalfSpreadBps as number;
  t.ok(Math.abs(winProbability(r.win!.a, r.win!.b, h) - params.winModel.priorWinAtHalf) < 1e-3, 'the prior gives priorWinAtHalf at the tier half-spread');
  // a fitted model on a client who takes tight prices and walks away from wide ones stays monotone
  const history = Array.from({ length: 60 }, (_, i) => ({ distanceBps: (i % 12) - 2, won: (i % 12) - 2 < 4 }));
  const prior = winPrior(params.winModel, 2);
  const fit = fitWinModel(history, params.winModel, prior);
  t.equal(fit.model, 'fitted');
  t.ok(fit.b < 0, 'fitted slope negative');
  t.ok(winProbability(fit.a, fit.b, 0) > 0.8 && winProbability(fit.a, fit.b, 9) < 0.2, 'the fit follows the data');
  // even a perverse history (wins only when wide) keeps the curve non-increasing
  const perverse = Array.from({ length: 40 }, (_, i) => ({ distanceBps: i % 10, won: i % 10 > 5 }));
  const pf = fitWinModel(perverse, params.winModel, prior);
  t.ok(pf.b < 0, 'slope clamped below zero');
  // non-increasing everywhere (it saturates far out), strictly falling where it is not saturated
  fc.assert(fc.property(fc.double({ min: -50, max: 50, noNaN: true }), fc.double({ min: 0.01, max: 50, noNaN: true }), (d, dd) => winProbability(pf.a, pf.b, d + dd) <= winProbability(pf.a, pf.b, d)));
  t.ok(winProbability(pf.a, pf.b, 1) < winProbability(pf.a, pf.b, 0), 'strictly falling near the mid');
  const few = fitWinModel(history.slice(0, 3), params.winModel, prior);
  t.equal(few.model, 'prior', 'little history: the prior');
});

t.test('copilot model - scenario P&L signs: long loses on a fall, gains on a rise; the hedge takes most of it away', async (t) => {
  // client sells 10 mm to a flat desk: the desk ends long
  const r = recommend(input({ side: 'sell', size: 10e6, position: 0 }));
  const spread = r.scenarios!.inputs.spreadPnl as number;
  const row = (n: string) => r.scenarios!.rows.find((x) => x.name === n)!;
  const move = (n: string) => row(n).pnlUnhedged - spread;
  t.ok(r.hedge!.inputs.positionAfter as number > 0, 'desk long after');
  t.ok(move('-3σ') < 0 && move('-1σ') < 0, 'long, a fall: the position loses');
  t.ok(move('+3σ') > 0 && move('+1σ') > 0, 'long, a rise: it gains');
  t.ok(move('-1σ') > move('-3σ'), 'smaller fall, smaller loss');
  t.ok(row('stressed').moveBps < 0, 'stressed move is against a long');
  t.ok(row('stressed').pnlUnhedged < row('-3σ').pnlUnhedged, 'stressed is worse than −3σ');
  t.ok(Math.abs(row('-3σ').pnlHedged - row('+3σ').pnlHedged) < Math.abs(row('-3σ').pnlUnhedged - row('+3σ').pnlUnhedged), 'hedged: a smaller swing');
  // in a violent market the fall outweighs the spread captured
  const v = recommend(input({ side: 'sell', size: 10e6, position: 0, volMult: 20 }));
  t.ok(v.scenarios!.rows.find((x) => x.name === '-3σ')!.pnlUnhedged < 0, 'high vol, −3σ: a net loss');
  t.ok(v.scenarios!.rows.find((x) => x.name === 'stressed')!.pnlUnhedged < 0, 'stressed: a net loss');
  // a short desk: the signs flip
  const s = recommend(input({ side: 'buy', size: 10e6, position: 0 }));
  const ss = s.scenarios!.inputs.spreadPnl as number;
  const srow = (n: string) => s.scenarios!.rows.find((x) => x.name === n)!;
  t.ok(srow('+3σ').pnlUnhedged - ss < 0 && srow('-3σ').pnlUnhedged - ss > 0, 'short: loses on a rise');
  t.ok(srow('stressed').moveBps > 0, 'stressed move is against a short');
  t.ok(r.pnl!.spread > 0, 'spread P&L positive at a price worse for the client');
});

t.test('copilot model - size: partial above the cap, whole lots', async (t) => {
  const r = recommend(input({ size: 25e6 }));
  t.ok(r.size!.partial, 'more than maxClips × clip: partial');
  t.equal(r.size!.value, 20e6, '20 clips of 1 mm');
  t.equal(recommend(input({ size: 2e6 })).size!.partial, false);
  const o = recommend(input({ size: 8e6, reason: 'oversize', client: { maxSize: 5e6 } }));
  t.equal(o.size!.value, 5e6, 'oversize: the client limit');
});

t.test('copilot model - a shown axe better for the client replaces the price; a worse one does not', async (t) => {
  const base = recommend(input({ side: 'buy' }));
  const better = Number((base.price!.value - 0.05).toFixed(3));
  const r = recommend(input({ side: 'buy', shownAxe: { price: better, size: 2e6, validUntil: 2_000_000 } }));
  t.equal(r.price!.value, better);
  t.equal(r.price!.inputs.axeApplied, true);
  const worse = recommend(input({ side: 'buy', shownAxe: { price: base.price!.value + 0.05, size: 2e6, validUntil: 2_000_000 } }));
  t.equal(worse.price!.value, base.price!.value);
  const expired = recommend(input({ side: 'buy', shownAxe: { price: better, size: 2e6, validUntil: 1 } }));
  t.equal(expired.price!.value, base.price!.value, 'an expired axe is ignored');
});

t.test('copilot model - price helpers round away from the client', async (t) => {
  t.equal(priceAt('buy', 10, 100, 0.01), 100.1);
  t.equal(priceAt('sell', 10.5, 100, 0.01), 99.89);
  t.ok(distanceBps('buy', 100.1, 100) > 9.99);
  t.ok(distanceBps('sell', 99.9, 100) > 9.99);
});
