import t, { type Test } from 'tap';
import fc from 'fast-check';
import {
  computeScores,
  computeScoresDetailed,
  DEFAULT_WEIGHTS,
  tierForScore,
  validateScoreParams,
  YEAR_MS,
  type ScoreTrade,
  type ScoreWeights,
} from '../../engine/crm/score.js';
import { CrmError } from '../../engine/errors.js';

const NOW = 1_750_000_000_000;
const DAY = 86_400_000;

function trade(clientId: string, p: Partial<ScoreTrade> = {}): ScoreTrade {
  return {
    clientId,
    instrument: 'UST-10Y',
    assetClass: 'govt_bond',
    side: 'buy',
    size: 1e6,
    price: 100.01,
    midAtTrade: 100,
    notional: 1e6,
    tsMs: NOW - DAY,
    ...p,
  };
}
const byId = (scores: ReturnType<typeof computeScores>) => new Map(scores.map((s) => [s.clientId, s]));
const close = (t: Test, a: number, b: number, msg?: string) => t.ok(Math.abs(a - b) < 1e-9, `${msg ?? ''} ${a} ≈ ${b}`);

t.test('crm - score: each factor is min-max normalized across clients (best 1, worst 0, between in between)', async (t) => {
  const trades = [
    trade('big', { notional: 1e9, size: 1e9 }),
    trade('mid', { notional: 1e7, size: 1e7 }),
    trade('small', { notional: 1e5, size: 1e5 }),
  ];
  const s = byId(computeScores(trades, NOW));
  t.equal(s.get('big')!.components.volume, 1);
  t.equal(s.get('small')!.components.volume, 0);
  const mid = s.get('mid')!.components.volume;
  // volume is normalized on log10(1 + notional): 1e7 sits half way between 1e5 and 1e9
  close(t, mid, (Math.log10(1 + 1e7) - Math.log10(1 + 1e5)) / (Math.log10(1 + 1e9) - Math.log10(1 + 1e5)), 'log scale');
  t.ok(mid > 0.45 && mid < 0.55);
  for (const c of s.values()) {
    for (const v of Object.values(c.components)) t.ok(v >= 0 && v <= 1, 'components in [0, 1]');
    t.ok(c.score >= 0 && c.score <= 100);
  }
  // identical clients: no information, everyone 0.5 on every factor (markout absent → 0.5 too)
  const same = computeScores([trade('a'), trade('b')], NOW);
  t.same(same.map((x) => x.components), [0, 1].map(() => ({ volume: 0.5, profitability: 0.5, flowQuality: 0.5, diversification: 0.5 })));
  t.same(same.map((x) => x.score), [50, 50]);
});

t.test('crm - score: weights apply (score = 100·Σ weight·component) and are configurable', async (t) => {
  const trades = [
    trade('volumey', { notional: 5e8, price: 100.0001 }), // big but thin
    trade('profity', { notional: 1e6, price: 100.5 }), // small but wide
    trade('diverse', { notional: 1e6, price: 100.01 }),
    trade('diverse', { notional: 1e6, price: 1.0801, midAtTrade: 1.08, assetClass: 'fx', instrument: 'EURUSD' }),
    trade('diverse', { notional: 1e6, price: 101.01, midAtTrade: 101, assetClass: 'corporate_bond', instrument: 'ACME-27' }),
  ];
  const def = computeScores(trades, NOW);
  for (const s of def) {
    const c = s.components;
    const expected = 100 * (0.25 * c.volume + 0.35 * c.profitability + 0.3 * c.flowQuality + 0.1 * c.diversification);
    t.ok(Math.abs(s.score - expected) <= 1e-6, `${s.clientId}: ${s.score} = ${expected} (scores are rounded to 1e-6)`);
  }
  const only = (k: keyof ScoreWeights): ScoreWeights => ({ volume: 0, profitability: 0, flowQuality: 0, diversification: 0, [k]: 1 });
  const vol = byId(computeScores(trades, NOW, only('volume')));
  t.equal(vol.get('volumey')!.score, 100);
  t.equal(vol.get('volumey')!.proposedTier, 1);
  const pnl = byId(computeScores(trades, NOW, only('profitability')));
  t.equal(pnl.get('profity')!.score, 100, 'the widest spread captured wins on profitability alone');
  t.ok(pnl.get('volumey')!.score < 100);
  const div = byId(computeScores(trades, NOW, only('diversification')));
  t.equal(div.get('diverse')!.score, 100);
  t.equal(div.get('volumey')!.score, 0);
  t.ok(div.get('diverse')!.raw!.assetClasses === 3);
});

t.test('crm - score: more volume never lowers the volume component (property)', async (t) => {
  const arbTrade = fc.record({
    clientId: fc.constantFrom('a', 'b', 'c', 'd'),
    assetClass: fc.constantFrom('fx', 'govt_bond', 'corporate_bond'),
    side: fc.constantFrom('buy' as const, 'sell' as const),
    notional: fc.double({ min: 1e3, max: 1e9, noNaN: true }),
    spreadBps: fc.double({ min: -5, max: 20, noNaN: true }),
    mk: fc.option(fc.double({ min: -10, max: 10, noNaN: true }), { nil: undefined }),
  });
  const checked = fc.check(
    fc.property(fc.array(arbTrade, { minLength: 1, maxLength: 40 }), fc.nat(), fc.double({ min: 1.01, max: 1e3, noNaN: true }), (raw, pick, factor) => {
      const trades = raw.map((r) =>
        trade(r.clientId, {
          assetClass: r.assetClass,
          side: r.side,
          notional: r.notional,
          size: r.notional,
          price: 100 * (1 + ((r.side === 'buy' ? 1 : -1) * r.spreadBps) / 1e4),
          markoutBps: r.mk === undefined ? undefined : { h60s: r.mk },
        }),
      );
      const i = pick % trades.length;
      const bumped = trades.map((x, j) => (j === i ? { ...x, notional: x.notional * factor, size: x.size * factor } : x));
      const who = trades[i].clientId;
      const before = byId(computeScores(trades, NOW)).get(who)!.components.volume;
      const after = byId(computeScores(bumped, NOW)).get(who)!.components.volume;
      return after >= before - 1e-12;
    }),
    { numRuns: 300 },
  );
  t.notOk(checked.failed, fc.defaultReportMessage(checked) ?? '300 random books');
});

t.test('crm - score: adverse markouts give a lower flow-quality component; no markout is neutral', async (t) => {
  const trades = [
    trade('informed', { markoutBps: { h1s: -2, h10s: -4, h60s: -6 } }),
    trade('benign', { markoutBps: { h1s: 0.5, h10s: 0.2, h60s: 0.1 } }),
    trade('fresh'), // no markout yet
  ];
  const s = byId(computeScores(trades, NOW));
  t.equal(s.get('informed')!.components.flowQuality, 0);
  t.equal(s.get('benign')!.components.flowQuality, 1);
  t.equal(s.get('fresh')!.components.flowQuality, 0.5);
  t.ok(s.get('informed')!.score < s.get('benign')!.score);
  close(t, s.get('informed')!.raw!.markoutBps!, -4, 'mean of the horizons present');
  t.equal(s.get('fresh')!.raw!.markoutBps, null);
  // one wild markout (a bad mid) is clipped to ±markoutClipBps before it is averaged
  const wild = byId(computeScores([trade('x', { markoutBps: { h60s: -5000 } }), trade('y', { markoutBps: { h60s: 1 } })], NOW, DEFAULT_WEIGHTS, undefined, { markoutClipBps: 50 }));
  t.equal(wild.get('x')!.raw!.markoutBps, -50);
});

t.test('crm - score: profitability is spread captured from the client side, in notional terms', async (t) => {
  const s = byId(
    computeScores(
      [
        trade('buysHigh', { side: 'buy', price: 100.02, midAtTrade: 100 }), // +2 bp on 1mm = +200
        trade('sellsLow', { side: 'sell', price: 99.98, midAtTrade: 100 }), // +200
        trade('buysLow', { side: 'buy', price: 99.99, midAtTrade: 100 }), // −100: the desk sold under mid
      ],
      NOW,
    ),
  );
  close(t, s.get('buysHigh')!.raw!.pnl, 200);
  close(t, s.get('sellsLow')!.raw!.pnl, 200);
  close(t, s.get('buysLow')!.raw!.pnl, -100);
  t.equal(s.get('buysLow')!.components.profitability, 0);
  t.equal(s.get('buysHigh')!.components.profitability, 1);
});

t.test('crm - score: tiers follow the cut-offs; only the trailing 12 months count', async (t) => {
  t.equal(tierForScore(70, { tier1: 70, tier2: 40 }), 1);
  t.equal(tierForScore(69.999, { tier1: 70, tier2: 40 }), 2);
  t.equal(tierForScore(40, { tier1: 70, tier2: 40 }), 2);
  t.equal(tierForScore(39.999, { tier1: 70, tier2: 40 }), 3);
  const trades = [trade('a', { notional: 1e8 }), trade('b', { notional: 1e6 }), trade('c', { notional: 1e4 })];
  const def = byId(computeScores(trades, NOW));
  t.same([...def.values()].map((s) => s.proposedTier), [...def.values()].map((s) => tierForScore(s.score, { tier1: 70, tier2: 40 })));
  const strict = byId(computeScores(trades, NOW, DEFAULT_WEIGHTS, { tier1: 99, tier2: 98 }));
  t.ok([...strict.values()].every((s) => s.proposedTier === 3 || s.score >= 98), 'custom cut-offs change the proposal');
  t.equal(byId(computeScores(trades, NOW, DEFAULT_WEIGHTS, { tier1: 0, tier2: 0 })).get('c')!.proposedTier, 1);

  const old = [trade('a', { tsMs: NOW - YEAR_MS - 1, notional: 1e12 }), trade('a', { tsMs: NOW - 10 * DAY, notional: 1e3 }), trade('b', { notional: 1e6 }), trade('gone', { tsMs: NOW - YEAR_MS })];
  const w = byId(computeScores(old, NOW));
  t.equal(w.get('a')!.trades, 1, 'the 13-month-old trade does not count');
  t.equal(w.get('a')!.raw!.notional, 1e3);
  t.equal(w.get('a')!.components.volume, 0, 'a is now the smaller client');
  t.match(w.get('gone'), { trades: 0, score: 0, proposedTier: 3, components: { volume: 0, profitability: 0, flowQuality: 0, diversification: 0 } }, 'no trade in the window: score 0');
  t.equal(w.get('b')!.components.volume, 1, 'the dormant client does not take part in the normalization');
});

t.test('crm - score: bad weights, cut-offs and options are refused with QE_CRM_SCORE_PARAMS; bad trades are skipped and counted', async (t) => {
  const bad: [unknown, unknown, RegExp][] = [
    [{ ...DEFAULT_WEIGHTS, volume: 0.35 }, undefined, /weights: must sum to 1/],
    [{ ...DEFAULT_WEIGHTS, volume: -0.25, profitability: 0.85 }, undefined, /weights\.volume/],
    [{ ...DEFAULT_WEIGHTS, flowQuality: Number.NaN }, undefined, /weights\.flowQuality/],
    [{ volume: 0.5, profitability: 0.5, flowQuality: 0 }, undefined, /weights\.diversification/],
    [{ ...DEFAULT_WEIGHTS, size: 0 }, undefined, /weights\.size: unknown/],
    [DEFAULT_WEIGHTS, { tier1: 40, tier2: 70 }, /tierCuts\.tier2: must not exceed/],
    [DEFAULT_WEIGHTS, { tier1: 170, tier2: 40 }, /tierCuts\.tier1/],
  ];
  for (const [w, c, re] of bad) {
    const e = (() => {
      try {
        computeScores([trade('a')], NOW, w as ScoreWeights, c as undefined);
        return null;
      } catch (err) {
        return err;
      }
    })();
    t.type(e, CrmError);
    t.equal((e as CrmError).code, 'QE_CRM_SCORE_PARAMS');
    t.ok((e as CrmError).issues.some((i) => re.test(i)), `${(e as CrmError).issues.join(' | ')} ~ ${re}`);
  }
  t.same(validateScoreParams({ volume: 0.1, profitability: 0.2, flowQuality: 0.3, diversification: 0.4 }, { tier1: 70, tier2: 40 }), [], '0.1+0.2+0.3+0.4 is 1 within tolerance');
  t.ok(validateScoreParams(DEFAULT_WEIGHTS, { tier1: 70, tier2: 40 }, { windowMs: 0, markoutClipBps: 1, assetClassCount: 5 }).some((i) => /windowMs/.test(i)));

  const r = computeScoresDetailed(
    [trade('a'), trade('a', { notional: Number.NaN }), trade('a', { midAtTrade: 0 }), trade('a', { side: 'hold' as 'buy' }), trade('a', { notional: -5 }), null as unknown as ScoreTrade],
    NOW,
  );
  t.equal(r.skipped, 5);
  t.equal(r.scores[0].trades, 1);
  t.ok(Number.isFinite(r.scores[0].score));
});
