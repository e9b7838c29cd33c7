import t from 'tap';
import fc from 'fast-check';
import { loadDefaultConfig, type InstrumentConfig } from '../../engine/config.js';
import { ConfigError } from '../../engine/errors.js';
import {
  acCostOfTrajectory,
  acKappaPerSec,
  acSchedule,
  acTrajectory,
  chooseHedge,
  hedgeInstrumentFromConfig,
  immediateCost,
  netOpposingFlow,
  pacedCost,
  holdCost,
  type HedgeFlow,
  type HedgeInputs,
  type HedgeMarket,
} from '../../engine/hedging/costs.js';
import { DEFAULT_HEDGING_CONFIG as P, parseHedgingConfig, type HedgingConfig } from '../../engine/hedging/config.js';
import { annualBpsToBpsPerSqrtSec } from '../../engine/market/state.js';

const config = loadDefaultConfig();
const byId = new Map(config.instruments.map((i) => [i.id, i]));
const get = (id: string): InstrumentConfig => byId.get(id)!;

/** What MarketState shows for an instrument of the default universe on a normal day (σ from its annual vol; H ≈ the synthetic venues' average). */
function marketOf(ins: InstrumentConfig, over: Partial<HedgeMarket> = {}): HedgeMarket {
  return { mid: ins.refPrice, volBpsPerSqrtSec: annualBpsToBpsPerSqrtSec(ins.initialVolBpsAnnual), halfSpreadBps: (ins.baseSpreadBps / 2) * 1.15, firm: true, ...over };
}
function inputs(id: string, positionNotional: number, opts: { rho?: number; flow?: HedgeFlow; params?: HedgingConfig; market?: Partial<HedgeMarket>; proxyMarket?: Partial<HedgeMarket>; beta?: number; pending?: number[] } = {}): HedgeInputs {
  const ins = get(id);
  const proxy = ins.hedgeProxy ? get(ins.hedgeProxy) : undefined;
  return {
    instrument: hedgeInstrumentFromConfig(ins, config.liquidity),
    market: marketOf(ins, opts.market),
    positionNotional,
    pendingClientFlowNotional: opts.pending,
    flow: opts.flow,
    proxy: proxy
      ? { instrument: hedgeInstrumentFromConfig(proxy, config.liquidity), market: marketOf(proxy, opts.proxyMarket), beta: opts.beta ?? ins.hedgeBeta, correlation: opts.rho ?? P.proxy.correlation }
      : null,
    params: opts.params ?? P,
  };
}
const feasibleScores = (d: ReturnType<typeof chooseHedge>) => Object.values(d.options).filter((o) => o.feasible).map((o) => o.scoreBps);

t.test('hedging - a small trade in a liquid name is hedged at once', async (t) => {
  for (const [id, size] of [['UST-5Y', 1_000_000], ['EURUSD', 2_000_000], ['ZN', 1_000_000], ['CDX-IG', 5_000_000]] as const) {
    const d = chooseHedge(inputs(id, size));
    t.equal(d.choice, 'immediate', `${id} ${size}: ${d.reasonText}`);
    t.equal(d.hedgeSide, 'sell', 'long → sell');
    t.equal(d.options.immediate.scoreBps, Math.min(...feasibleScores(d)), 'the cheapest feasible option');
    t.equal(d.options.immediate.riskBps, 0, 'no risk left');
  }
  const short = chooseHedge(inputs('UST-5Y', -1_000_000));
  t.equal(short.hedgeSide, 'buy', 'short → buy');
  t.match(short.reasonText, /^immediate -1000000 UST-5Y: lowest risk-adjusted cost/);
});

t.test('hedging - a block in a thin name is paced on an Almgren–Chriss schedule', async (t) => {
  const d = chooseHedge(inputs('STARK-35', 10_000_000, { rho: 0.55 }));
  t.equal(d.choice, 'paced', d.reasonText);
  t.ok(d.options.immediate.scoreBps > d.options.paced.scoreBps + 10, `crossing 10 clips at once costs far more (${d.options.immediate.scoreBps.toFixed(1)} vs ${d.options.paced.scoreBps.toFixed(1)})`);
  t.ok(d.options.proxy.feasible && d.options.proxy.scoreBps > d.options.paced.scoreBps, 'a weakly correlated proxy leaves too much basis risk');
  const plan = d.paced!;
  t.equal(plan.slices, P.liquidity.low.pacedSlices);
  t.equal(plan.horizonSec, P.liquidity.low.pacedHorizonSec);
  t.equal(plan.children.reduce((s, c) => s + c.size, 0), 10_000_000, 'children add up to the position');
  t.equal(plan.children[0].offsetMs, 0, 'the first child goes at once');
  t.ok(plan.children[0].size > plan.children.at(-1)!.size, 'front-loaded: risk aversion makes it trade faster early');
  t.equal(d.hedgeSide, 'sell');
  t.match(d.reasonText, /12 child orders over 1800 s/);

  // the same block in a name with a tightly correlated liquid index goes through the index instead
  t.equal(chooseHedge(inputs('STARK-35', 10_000_000, { rho: 0.95 })).choice, 'proxy');
});

t.test('hedging - a position against an opposing axe is held; without the axe it is not', async (t) => {
  const axe: HedgeFlow = { expectedOffsetNotional: 0, axeOffsetNotional: 5_000_000, earnedHalfSpreadBps: 10 };
  const held = chooseHedge(inputs('ACME-27', 5_000_000, { flow: axe }));
  t.equal(held.choice, 'hold', held.reasonText);
  t.equal(held.hedgeSide, null, 'nothing is sent');
  t.ok(held.options.hold.expectedCostBps < 5, `expected to earn part of the spread back (${held.options.hold.expectedCostBps.toFixed(2)} bps)`);
  t.match(held.options.hold.reason, /expect 2\.5 of 5 clips taken off by clients/);

  const noAxe = chooseHedge(inputs('ACME-27', 5_000_000, { flow: { ...axe, axeOffsetNotional: 0 } }));
  t.not(noAxe.choice, 'hold', `without the axe: ${noAxe.choice}`);
  t.ok(noAxe.options.hold.scoreBps > held.options.hold.scoreBps);
  // more interest the other way → cheaper to hold, monotonically
  let prev = Infinity;
  for (const a of [0, 1e6, 2e6, 4e6, 8e6, 10e6]) {
    const s = holdCost(5_000_000, hedgeInstrumentFromConfig(get('ACME-27'), config.liquidity), marketOf(get('ACME-27')), { ...axe, axeOffsetNotional: a }, P).scoreBps;
    t.ok(s < prev, `axe ${a / 1e6} mm: hold ${s.toFixed(2)} bps`);
    prev = s;
  }
  // hold with no offsetting flow costs the inventory risk γσ²q²τ on top of the later hedge
  const ins = hedgeInstrumentFromConfig(get('ACME-27'), config.liquidity);
  const m = marketOf(get('ACME-27'));
  const bare = holdCost(5_000_000, ins, m, undefined, P);
  const X = 5;
  const tau = P.liquidity.medium.holdHorizonSec;
  t.ok(Math.abs(bare.riskPenaltyBps * X - P.riskAversionPerBpClip * m.volBpsPerSqrtSec ** 2 * X * X * tau) < 1e-9, 'λσ²X²τ, per clip');
  t.ok(Math.abs(bare.expectedCostBps - immediateCost(5_000_000, ins, m, P).expectedCostBps) < 1e-12, 'then the whole hedge at today\'s cost');
});

t.test('hedging - an illiquid bond with a liquid index proxy is hedged through the proxy, sized by beta', async (t) => {
  const bond = get('ACME-33');
  const cdx = get('CDX-IG');
  const d = chooseHedge(inputs('ACME-33', 5_000_000, { rho: 0.9 }));
  t.equal(d.choice, 'proxy', d.reasonText);
  const want = Math.round((bond.hedgeBeta * 5_000_000 * bond.refPrice) / cdx.refPrice / cdx.lotSize) * cdx.lotSize;
  t.same(d.proxy, { instrument: 'CDX-IG', side: 'sell', notional: want }, 'long bond, β > 0: sell β × value of the index');
  t.equal(d.hedgeSide, null, 'nothing traded in the bond itself');
  const rho = 0.9;
  const basis = Math.sqrt(1 - rho * rho) * marketOf(bond).volBpsPerSqrtSec * Math.sqrt(P.proxy.horizonSec);
  t.ok(Math.abs(d.options.proxy.riskBps - basis) < 1e-9, 'risk left is the basis: √(1−ρ²)·σ·√τ');
  t.ok(d.options.proxy.expectedCostBps < d.options.immediate.expectedCostBps / 5, 'far cheaper to trade than the bond');

  t.equal(chooseHedge(inputs('ACME-33', -5_000_000, { rho: 0.9 })).proxy?.side, 'buy', 'short bond: buy the index');
  t.equal(chooseHedge(inputs('ACME-33', 5_000_000, { rho: 0.9, beta: -1.1 })).proxy?.side, 'buy', 'negative β flips the side');
  const weak = chooseHedge(inputs('ACME-33', 5_000_000, { rho: 0.3 }));
  t.equal(weak.options.proxy.feasible, false);
  t.match(weak.options.proxy.reason, /below 0\.5/);
  const noMkt = chooseHedge(inputs('ACME-33', 5_000_000, { rho: 0.9, proxyMarket: { firm: false } }));
  t.match(noMkt.options.proxy.reason, /no firm market in the proxy CDX-IG/);
  t.match(chooseHedge(inputs('UST-5Y', 5_000_000)).options.proxy.reason, /has no hedge proxy/);
});

t.test('hedging - opposite client flow nets first; what is left is hedged', async (t) => {
  const n = netOpposingFlow(5_000_000, [-2_000_000, 1_000_000, -4_000_000]);
  t.same(n, { residualNotional: 0, nettedNotional: 5_000_000, used: [-2_000_000, 0, -3_000_000] }, 'same-side flow is skipped, the last one used in part');
  t.same(netOpposingFlow(-3e6, [2e6]), { residualNotional: -1e6, nettedNotional: 2e6, used: [2e6] });
  t.same(netOpposingFlow(3e6, [Number.NaN, 1e6]).used, [0, 0], 'NaN and same-side flows net nothing');

  const all = chooseHedge(inputs('UST-5Y', 5_000_000, { pending: [-5_000_000] }));
  t.equal(all.choice, 'none');
  t.equal(all.internalizedNotional, 5_000_000);
  t.match(all.reasonText, /netted 5000000 against opposite client flow; nothing left to hedge/);
  const part = chooseHedge(inputs('UST-5Y', 5_000_000, { pending: [-3_000_000] }));
  t.equal(part.residualNotional, 2_000_000);
  t.equal(part.choice, 'immediate');
  t.match(part.reasonText, /^netted 3000000 .*immediate 2000000 UST-5Y/);
});

t.test('hedging - expected costs grow with size; paced beats immediate only for blocks', async (t) => {
  for (const id of ['UST-5Y', 'EURUSD', 'ACME-27', 'ACME-33', 'CDX-IG']) {
    const ins = get(id);
    const h = hedgeInstrumentFromConfig(ins, config.liquidity);
    const m = marketOf(ins);
    let prevI = -Infinity;
    let prevP = -Infinity;
    for (const clips of [2, 3, 5, 8, 13, 21, 34]) {
      const q = clips * ins.sizeBands[0];
      const i = immediateCost(q, h, m, P).expectedCostBps;
      const p = pacedCost(q, h, m, P).estimate.expectedCostBps;
      t.ok(i > prevI, `${id} ${clips} clips: immediate ${i.toFixed(3)} > ${prevI.toFixed(3)}`);
      t.ok(p > prevP, `${id} ${clips} clips: paced ${p.toFixed(3)} > ${prevP.toFixed(3)}`);
      prevI = i;
      prevP = p;
    }
  }
  const lin = parseHedgingConfig({ immediate: { impactModel: 'linear', linearExecutionSec: 10 } });
  const ins = hedgeInstrumentFromConfig(get('ACME-27'), config.liquidity);
  const m = marketOf(get('ACME-27'));
  const e = immediateCost(4_000_000, ins, m, lin);
  t.ok(Math.abs(e.expectedCostBps - (m.halfSpreadBps + (lin.liquidity.medium.etaBpsPerClipPerSec * 4) / 10)) < 1e-9, 'linear model: H + η·X/T_exec');
});

t.test('hedging - the Almgren–Chriss schedule adds up to q, never increases, and minimises E + λV', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 200_000 }),
      fc.constantFrom(1, 1_000, 100_000, 1_000_000),
      fc.integer({ min: 2, max: 60 }),
      fc.double({ min: 1, max: 7_200, noNaN: true }),
      fc.double({ min: 0, max: 0.1, noNaN: true }),
      (lots, lot, N, T, kappa) => {
        const plan = acSchedule(lots * lot, lot, T, N, kappa);
        const sum = plan.children.reduce((s, c) => s + c.size, 0);
        if (sum !== lots * lot) return false;
        let rem = lots * lot;
        let off = -1;
        for (const c of plan.children) {
          if (!(c.size > 0) || c.size % lot !== 0 || c.offsetMs <= off) return false;
          rem -= c.size;
          if (c.remainingAfter !== rem) return false;
          off = c.offsetMs;
        }
        if (plan.children.length > N) return false;
        // front-loading: each child no larger than the one before, up to one lot of rounding
        for (let k = 1; k < plan.children.length; k++) if (plan.children[k].size > plan.children[k - 1].size + lot) return false;
        return true;
      },
    ),
    { numRuns: 500 },
  );
  const x = acTrajectory(10, 600, 10, 0.004);
  t.equal(x[0], 10);
  t.equal(x[10], 0);
  for (let k = 1; k <= 10; k++) t.ok(x[k] < x[k - 1], `x_${k} < x_${k - 1}`);
  const twap = acTrajectory(10, 600, 10, 0);
  t.ok(Array.from(twap).every((v, k) => Math.abs(v - (10 - k)) < 1e-12), 'κ = 0 is a straight line');

  // optimality: any small change to the interior holdings raises E + λV
  const lambda = 0.02;
  const sigma = 0.25;
  const eta = 90;
  const N = 10;
  const T = 600;
  const tau = T / N;
  const kappa = acKappaPerSec(lambda, sigma, eta, tau);
  const U = (traj: Float64Array) => {
    const c = acCostOfTrajectory(traj, tau, 12, eta, sigma);
    return c.expected + lambda * c.variance;
  };
  const best = acTrajectory(10, T, N, kappa);
  const u0 = U(best);
  fc.assert(
    fc.property(fc.array(fc.double({ min: -0.2, max: 0.2, noNaN: true }), { minLength: N - 1, maxLength: N - 1 }), (d) => {
      const y = Float64Array.from(best);
      for (let k = 1; k < N; k++) y[k] += d[k - 1];
      return U(y) >= u0 - 1e-9;
    }),
    { numRuns: 300 },
  );
  t.ok(U(twap) > u0, 'TWAP is worse than the AC trajectory when λ > 0');
  t.equal(acKappaPerSec(0, sigma, eta, tau), 0, 'no risk aversion: no urgency');
});

t.test('hedging - infeasible options say why; the risk limit is honoured', async (t) => {
  const dark = chooseHedge(inputs('ACME-27', 5_000_000, { market: { firm: false }, rho: 0.9, proxyMarket: { firm: false } }));
  t.equal(dark.options.immediate.feasible, false);
  t.match(dark.options.immediate.reason, /no firm market in ACME-27/);
  t.equal(dark.options.paced.feasible, false);
  t.equal(dark.choice, 'hold', 'no firm market anywhere: keep the position');
  const nothing = chooseHedge(inputs('ACME-27', 5_000_000, { market: { firm: false, halfSpreadBps: Number.NaN } }));
  t.equal(nothing.choice, 'none');
  t.match(nothing.reasonText, /no option is feasible: immediate: no firm market in ACME-27; paced: .*; hold: no volatility or spread known/);
  t.equal(nothing.options.immediate.scoreBps, Infinity);

  // a tight limit excludes every option that leaves risk: immediate (zero risk) wins although dearer
  const tight = parseHedgingConfig({ maxRiskClipBps: 1 });
  const d = chooseHedge(inputs('STARK-35', 10_000_000, { rho: 0.55, params: tight }));
  t.equal(d.choice, 'immediate', d.reasonText);
  t.equal(d.options.paced.withinRiskLimit, false);
  t.ok(d.options.paced.scoreBps < d.options.immediate.scoreBps, 'paced was cheaper, but over the limit');
  // nothing within the limit and no immediate: the least risky option, and the words say so
  const d2 = chooseHedge(inputs('STARK-35', 10_000_000, { rho: 0.55, params: tight, market: { firm: false } }));
  t.match(d2.reasonText, /no option within the risk limit \(1 clip·bps\): the least risky/);
  const risks = Object.values(d2.options).filter((o) => o.feasible).map((o) => o.riskBps);
  t.equal(d2.options[d2.choice as 'hold' | 'proxy'].riskBps, Math.min(...risks));
});

t.test('hedging - config: defaults, strict keys, named bad fields, frozen', async (t) => {
  t.same(parseHedgingConfig({}), P);
  t.ok(Object.isFrozen(P) && Object.isFrozen(P.liquidity.low));
  t.equal(P.liquidity.low.pacedSlices, 12);
  const partial = parseHedgingConfig({ liquidity: { low: { pacedSlices: 20 } } });
  t.equal(partial.liquidity.low.pacedSlices, 20);
  t.equal(partial.liquidity.low.pacedHorizonSec, 1_800, 'the other fields keep their defaults');
  const bad = (input: unknown, path: RegExp) => {
    try {
      parseHedgingConfig(input);
      t.fail(`accepted ${JSON.stringify(input)}`);
    } catch (err) {
      t.ok(err instanceof ConfigError, 'ConfigError');
      t.match((err as ConfigError).issues.join('\n'), path);
    }
  };
  bad({ extra: 1 }, /hedging: Unrecognized key/);
  bad({ riskAversionPerBpClip: 0 }, /hedging\.riskAversionPerBpClip/);
  bad({ riskAversionPerBpClip: Number.NaN }, /hedging\.riskAversionPerBpClip/);
  bad({ maxRiskClipBps: -1 }, /hedging\.maxRiskClipBps/);
  bad({ liquidity: { low: { pacedSlices: 1 } } }, /hedging\.liquidity\.low\.pacedSlices/);
  bad({ liquidity: { high: { pacedHorizonSec: 0.1, pacedSlices: 10 } } }, /hedging\.liquidity\.high\.pacedSlices: slices closer than 50 ms/);
  bad({ immediate: { impactModel: 'cubic' } }, /hedging\.immediate\.impactModel/);
  bad({ proxy: { correlation: 1.5 } }, /hedging\.proxy\.correlation/);
  bad({ proxy: { correlationByInstrument: { 'ACME-27': 0.2 } } }, /hedging\.proxy\.correlationByInstrument\.ACME-27: \|ρ\| 0\.2 is below/);
  bad({ hold: { axeFillProbability: 2 } }, /hedging\.hold\.axeFillProbability/);
});
