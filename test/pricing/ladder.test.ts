import t from 'tap';
import fc from 'fast-check';
import { loadDefaultConfig, parseConfig, type Config } from '../../engine/config.js';
import {
  buildPricingParams, priceInstrument, priceBatch, IN_STRIDE, IN_IID, IN_MID, IN_VOLF, IN_VOLS, IN_POS, IN_IMB, IN_CHALF,
  OUT_STRIDE, O_TIER_STRIDE, O_NLEV, O_LEVELS, O_BD, N_TIERS,
} from '../../engine/pricing/ladder.js';

const config = loadDefaultConfig();
const params = buildPricingParams(config);
const idx = (id: string) => config.instruments.findIndex((i) => i.id === id);

interface Ladder { size: number; bid: number; ask: number }
function price(cfg: Config, p: ReturnType<typeof buildPricingParams>, iid: number, mid: number, vol: number, pos: number, imb = 0, chalf = 1): Ladder[][] {
  const input = new Float64Array(IN_STRIDE);
  input[IN_IID] = iid; input[IN_MID] = mid; input[IN_VOLF] = vol; input[IN_VOLS] = vol;
  input[IN_POS] = pos; input[IN_IMB] = imb; input[IN_CHALF] = chalf;
  const out = new Float64Array(OUT_STRIDE);
  priceInstrument(p, input, 0, out, 0);
  const tiers: Ladder[][] = [];
  for (let t = 0; t < N_TIERS; t++) {
    const to = t * O_TIER_STRIDE;
    const levels: Ladder[] = [];
    for (let k = 0; k < out[to + O_NLEV]; k++) levels.push({ size: out[to + O_LEVELS + 3 * k], bid: out[to + O_LEVELS + 3 * k + 1], ask: out[to + O_LEVELS + 3 * k + 2] });
    tiers.push(levels);
  }
  return tiers;
}
const centre = (l: Ladder) => (l.bid + l.ask) / 2;

t.test('pricing - tier ordering T1 ≤ T2 ≤ T3 spread in every band, for any inputs (property)', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: config.instruments.length - 1 }),
      fc.double({ min: 0.5, max: 2, noNaN: true }),
      fc.double({ min: 0, max: 5, noNaN: true }),
      fc.double({ min: -1e8, max: 1e8, noNaN: true }),
      fc.double({ min: -1, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 50, noNaN: true }),
      (iid, scale, vol, pos, imb, chalf) => {
        const mid = config.instruments[iid].refPrice * scale;
        const [t1, t2, t3] = price(config, params, iid, mid, vol, pos, imb, chalf);
        for (const [better, worse] of [[t1, t2], [t2, t3]] as const) {
          for (let j = 0; j < Math.min(better.length, worse.length); j++) {
            const sb = better[j].ask - better[j].bid;
            const sw = worse[j].ask - worse[j].bid;
            if (sw < sb - 1e-9 * mid) throw new Error(`band ${j}: worse tier spread ${sw} < better ${sb}`);
          }
        }
        for (const tier of [t1, t2, t3]) {
          for (let j = 0; j < tier.length; j++) {
            if (!(tier[j].bid < tier[j].ask)) throw new Error('crossed level');
            if (j > 0 && tier[j].ask - tier[j].bid < tier[j - 1].ask - tier[j - 1].bid - 1e-9 * mid) throw new Error('spread narrows with size');
          }
        }
      },
    ),
    { numRuns: 3000 },
  );
  t.equal(price(config, params, 0, 100, 0.2, 0)[0].length > 0, true, 'sanity: tier 1 gets a ladder');
});

t.test('pricing - prices sit on the tick grid, bids rounded down and asks up', async (t) => {
  for (const id of ['EURUSD', 'UST-10Y', 'ACME-27', 'ZN', 'USDJPY']) {
    const iid = idx(id);
    const tick = config.instruments[iid].tickSize;
    const mid = config.instruments[iid].refPrice;
    for (const tier of price(config, params, iid, mid, 0.3, 0)) {
      for (const l of tier) {
        t.ok(Math.abs(l.bid / tick - Math.round(l.bid / tick)) < 1e-6, `${id} bid ${l.bid} on tick ${tick}`);
        t.ok(Math.abs(l.ask / tick - Math.round(l.ask / tick)) < 1e-6, `${id} ask ${l.ask} on tick ${tick}`);
        t.ok(l.bid < mid && l.ask > mid, `${id} flat inventory: mid inside the quote`);
      }
    }
  }
});

t.test('pricing - inventory skew direction follows the sign of the position', async (t) => {
  const iid = idx('ACME-27');
  const mid = 100;
  const flat = price(config, params, iid, mid, 0.3, 0);
  const long = price(config, params, iid, mid, 0.3, 20e6);
  const short = price(config, params, iid, mid, 0.3, -20e6);
  for (let tr = 0; tr < N_TIERS; tr++) {
    t.ok(centre(long[tr][0]) < centre(flat[tr][0]), `tier ${tr + 1}: long inventory lowers the quote to sell`);
    t.ok(centre(short[tr][0]) > centre(flat[tr][0]), `tier ${tr + 1}: short inventory raises the quote to buy`);
  }
  const huge = price(config, params, iid, mid, 5, 1e12);
  const shiftBps = ((centre(flat[0][0]) - centre(huge[0][0])) / mid) * 1e4;
  t.ok(shiftBps <= config.pricing.maxSkewBps + 1, `skew capped at maxSkewBps (${shiftBps.toFixed(2)} bps)`);
});

t.test('pricing - spread widens with volatility and with size', async (t) => {
  const iid = idx('UST-10Y');
  const calm = price(config, params, iid, 97, 0.05, 0)[2];
  const wild = price(config, params, iid, 97, 2, 0)[2];
  t.ok(wild[0].ask - wild[0].bid > calm[0].ask - calm[0].bid, 'higher σ → wider');
  const t1 = price(config, params, iid, 97, 0.3, 0)[0];
  t.ok(t1.length >= 2 && t1[t1.length - 1].ask - t1[t1.length - 1].bid > t1[0].ask - t1[0].bid, 'larger band → wider');
});

t.test('pricing - Tier 2 shades toward the book imbalance, Tier 1 and 3 do not', async (t) => {
  const iid = idx('EURUSD');
  const base = price(config, params, iid, 1.08, 0.2, 0, 0, 5);
  const bidHeavy = price(config, params, iid, 1.08, 0.2, 0, 1, 5);
  t.ok(centre(bidHeavy[1][0]) > centre(base[1][0]), 'tier 2 centre moves up with bid-heavy imbalance');
  t.equal(centre(bidHeavy[0][0]), centre(base[0][0]), 'tier 1 unchanged');
  t.equal(centre(bidHeavy[2][0]), centre(base[2][0]), 'tier 3 unchanged');
});

t.test('pricing - sizes never exceed tier and instrument maxima; band counts follow the tier', async (t) => {
  for (let iid = 0; iid < config.instruments.length; iid++) {
    const ins = config.instruments[iid];
    const tiers = price(config, params, iid, ins.refPrice, 0.3, 0);
    tiers.forEach((levels, tr) => {
      const tc = config.tiers[String(tr + 1) as '1'];
      t.ok(levels.length <= tc.maxBands, `${ins.id} tier ${tr + 1} bands ≤ ${tc.maxBands}`);
      for (const l of levels) t.ok(l.size <= Math.min(tc.maxSize, ins.maxSize), `${ins.id} tier ${tr + 1} size ${l.size}`);
    });
  }
});

t.test('pricing - fails closed on NaN, zero, negative or infinite inputs', async (t) => {
  const iid = idx('EURUSD');
  for (const [mid, vol, pos] of [[NaN, 0.2, 0], [0, 0.2, 0], [-1, 0.2, 0], [Infinity, 0.2, 0], [1.08, NaN, 0], [1.08, 0.2, NaN], [1.08, -1, 0]]) {
    const tiers = price(config, params, iid, mid, vol, pos);
    t.same(tiers.map((l) => l.length), [0, 0, 0], `mid=${mid} vol=${vol} pos=${pos} → no levels`);
  }
  const input = new Float64Array(IN_STRIDE);
  input[IN_IID] = 9999; input[IN_MID] = 1; input[IN_VOLF] = 0.1; input[IN_VOLS] = 0.1;
  const out = new Float64Array(OUT_STRIDE).fill(7);
  priceInstrument(params, input, 0, out, 0);
  t.equal(out[O_NLEV], 0, 'unknown instrument id → no levels');
});

t.test('pricing - the breakdown adds up to the band-0 quote', async (t) => {
  const iid = idx('ACME-27');
  const input = new Float64Array(IN_STRIDE);
  input[IN_IID] = iid; input[IN_MID] = 100; input[IN_VOLF] = 0.4; input[IN_VOLS] = 0.2; input[IN_POS] = 5e6; input[IN_IMB] = 0.5; input[IN_CHALF] = 10;
  const out = new Float64Array(OUT_STRIDE);
  priceBatch(params, input, 1, out);
  for (let tr = 0; tr < N_TIERS; tr++) {
    const to = tr * O_TIER_STRIDE;
    const [base, vol, hedge, skew, signal] = Array.from(out.subarray(to + O_BD, to + O_BD + 5));
    const half = base + vol + hedge;
    const bid = out[to + O_LEVELS + 1];
    const ask = out[to + O_LEVELS + 2];
    const tick = config.instruments[iid].tickSize;
    t.ok(Math.abs(bid - 100 * (1 + (skew + signal - half) / 1e4)) <= tick + 1e-9, `tier ${tr + 1} bid from breakdown`);
    t.ok(Math.abs(ask - 100 * (1 + (skew + signal + half) / 1e4)) <= tick + 1e-9, `tier ${tr + 1} ask from breakdown`);
    t.ok(vol > 0 && hedge > 0 && skew < 0, 'vol and hedge widen, long position skews down');
  }
});

t.test('pricing - a config with one band and a tiny tier still prices', async (t) => {
  const raw = JSON.parse(JSON.stringify(config));
  raw.instruments = [raw.instruments[0]];
  raw.instruments[0].hedgeProxy = null;
  raw.instruments[0].sizeBands = [raw.instruments[0].minSize];
  const c = parseConfig(raw);
  const p = buildPricingParams(c);
  const tiers = price(c, p, 0, c.instruments[0].refPrice, 0.2, 0);
  t.same(tiers.map((l) => l.length), [1, 1, 1]);
});
