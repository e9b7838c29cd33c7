import t from 'tap';
import { loadDefaultConfig } from '../../engine/config.js';
import { buildPricingParams, priceInstrument, IN_CHALF, IN_IID, IN_IMB, IN_MID, IN_POS, IN_STRIDE, IN_VOLF, IN_VOLS, O_LEVELS, O_NLEV, O_TIER_STRIDE, OUT_STRIDE } from '../../engine/pricing/ladder.js';
import { checkSize, FirmPricer, onTick, shadingBps, sizeLimit } from '../../engine/rfq/pricing.js';
import { SizeCheck } from '../../engine/rfq/types.js';
import { MemoryDirectory } from '../helpers/directory.js';

const config = loadDefaultConfig();
const idx = (id: string) => config.instruments.findIndex((i) => i.id === id);
const EUR = idx('EURUSD');
const eur = config.instruments[EUR];
const market = { mid: 1.08, volFastBps: 0.2, volSlowBps: 0.1, position: 0, imbalance: 0.3, compHalfSpreadBps: 0.5 };

function ladder(iid: number, tier: number, m = market): number[][] {
  const p = buildPricingParams(config);
  const input = new Float64Array(IN_STRIDE);
  input[IN_IID] = iid; input[IN_MID] = m.mid; input[IN_VOLF] = m.volFastBps; input[IN_VOLS] = m.volSlowBps;
  input[IN_POS] = m.position; input[IN_IMB] = m.imbalance; input[IN_CHALF] = m.compHalfSpreadBps;
  const out = new Float64Array(OUT_STRIDE);
  priceInstrument(p, input, 0, out, 0);
  const to = (tier - 1) * O_TIER_STRIDE;
  return Array.from({ length: out[to + O_NLEV] }, (_, k) => [out[to + O_LEVELS + 3 * k], out[to + O_LEVELS + 3 * k + 1], out[to + O_LEVELS + 3 * k + 2]]);
}

t.test('rfq pricing - the firm price for a size is the streamed ladder price of the smallest band that covers it', async (t) => {
  const fp = new FirmPricer(config);
  for (const tier of [1, 2, 3] as const) {
    const l = ladder(EUR, tier);
    for (const [size, expectBand] of [[1e6, 0], [1e5, 0], [3e6, 1], [5e6, 1]] as const) {
      if (expectBand >= l.length) continue;
      const buy = fp.price(EUR, tier, 'buy', size, market, 0);
      const sell = fp.price(EUR, tier, 'sell', size, market, 0);
      t.equal(buy?.price, l[expectBand][2], `tier ${tier} buy ${size} = ask of band ${l[expectBand][0]}`);
      t.equal(sell?.price, l[expectBand][1], `tier ${tier} sell ${size} = bid of band ${l[expectBand][0]}`);
      t.equal(buy?.bandSize, l[expectBand][0]);
    }
  }
  const t3 = ladder(EUR, 3);
  t.equal(fp.price(EUR, 3, 'buy', t3[t3.length - 1][0] + 1000, market, 0), null, 'beyond the tier\'s largest band: no automatic price');
});

t.test('rfq pricing - inventory skews the firm price the same way as the stream', async (t) => {
  const fp = new FirmPricer(config);
  const flat = fp.price(EUR, 2, 'buy', 1e6, market, 0)!;
  const long = fp.price(EUR, 2, 'buy', 1e6, { ...market, position: 2e7 }, 0)!;
  t.ok(long.price < flat.price, `long inventory lowers the offer (${long.price} < ${flat.price})`);
  t.ok(long.bd[3] < 0, 'skew in the breakdown');
  t.equal(long.price, ladder(EUR, 2, { ...market, position: 2e7 })[0][2]);
});

t.test('rfq pricing - agreement shading improves the client price, stays on the tick grid and never inside the minimum spread', async (t) => {
  const fp = new FirmPricer(config);
  const base = fp.price(EUR, 3, 'buy', 1e6, market, 0)!;
  const shaded = fp.price(EUR, 3, 'buy', 1e6, market, 0.5)!;
  t.ok(shaded.price < base.price, `shaded ask ${shaded.price} below ${base.price}`);
  t.ok(onTick(shaded.price, eur.tickSize), 'on the tick grid');
  t.ok(shaded.bd[5] > 0 && shaded.bd[5] <= 0.5 + 1e-9, `shading in the breakdown (${shaded.bd[5]} bps)`);
  const sell = fp.price(EUR, 3, 'sell', 1e6, market, 0.5)!;
  t.ok(sell.price > fp.price(EUR, 3, 'sell', 1e6, market, 0)!.price, 'shaded bid is higher');
  const huge = fp.price(EUR, 3, 'buy', 1e6, market, 100)!;
  const minSpread = Math.max(eur.tickSize, (config.pricing.minSpreadBps * market.mid) / 1e4);
  t.ok(huge.ask - huge.bid >= minSpread - 1e-12, 'a 100 bp agreement cannot cross or squeeze below the minimum spread');
});

t.test('rfq pricing - a market the gate refuses gives no automatic price (fail closed)', async (t) => {
  const fp = new FirmPricer(config);
  for (const mid of [NaN, 0, -1, Infinity]) t.equal(fp.price(EUR, 2, 'buy', 1e6, { ...market, mid }, 0), null, `mid ${mid}`);
  t.equal(fp.price(EUR, 2, 'buy', 1e6, { ...market, volFastBps: 1e6 }, 0), null, 'absurd volatility: outside the collar');
});

t.test('rfq pricing - size checks (R2): NaN, -0, 0, Infinity, 1e308, off-lot, limit ± 1 lot', async (t) => {
  const lim = 5e6;
  const cases: Array<[number, SizeCheck]> = [
    [NaN, SizeCheck.BAD], [-0, SizeCheck.BAD], [0, SizeCheck.BAD], [-1e6, SizeCheck.BAD], [Infinity, SizeCheck.BAD], [-Infinity, SizeCheck.BAD],
    [1e308, SizeCheck.OVER_HARD], [eur.maxSize + eur.lotSize, SizeCheck.OVER_HARD], [eur.minSize - eur.lotSize, SizeCheck.BAD],
    [1e6 + 1, SizeCheck.BAD], [lim - eur.lotSize, SizeCheck.OK], [lim, SizeCheck.OK], [lim + eur.lotSize, SizeCheck.OVER_LIMIT], [eur.maxSize, SizeCheck.OVER_LIMIT],
  ];
  for (const [size, want] of cases) t.equal(checkSize(size, eur, lim), want, `size ${Object.is(size, -0) ? '-0' : size} → ${want}`);
});

t.test('rfq pricing - size limit is the smallest of CRM maxOrderSize, instrumentMaxSize and the tier max; shading by instrument, else asset class', async (t) => {
  const d = new MemoryDirectory([{
    id: 'c1', name: 'C', tier: 2, creditLimit: 1e8, maxOrderSize: 8e6, instrumentMaxSize: { EURUSD: 3e6 },
    agreements: [{ assetClass: 'fx', shadingBps: 0.2 }, { instrument: 'EURUSD', shadingBps: 0.1 }, { instrument: 'EURUSD', shadingBps: 0.3 }],
  }]);
  const rec = d.get('c1')!;
  t.equal(sizeLimit(rec, eur, 1e7), 3e6);
  t.equal(sizeLimit(rec, config.instruments[idx('UST-10Y')], 1e7), 8e6);
  t.equal(sizeLimit(rec, eur, 2e6), 2e6);
  t.equal(sizeLimit(undefined, eur, 2e6), 2e6);
  t.equal(shadingBps(rec, eur), 0.3, 'largest instrument agreement wins over the asset class');
  const gbp = config.instruments.find((i) => i.assetClass === 'fx' && i.id !== 'EURUSD')!;
  t.equal(shadingBps(rec, gbp), 0.2, 'asset-class agreement');
  t.equal(shadingBps(rec, config.instruments[idx('UST-10Y')]), 0);
  t.equal(shadingBps(undefined, eur), 0);
});
