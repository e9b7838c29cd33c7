/** Risk ledger: reference data derived from the instruments, config overrides, buckets. */
import t from 'tap';
import { loadDefaultConfig, parseConfig } from '../../engine/config.js';
import { pnlConfigIssues, pnlConfigSchema } from '../../engine/pnl/config.js';
import { RiskLedger, referenceData } from '../../engine/pnl/ledger.js';

const NOW = Date.UTC(2026, 10, 25);
const raw = () => JSON.parse(JSON.stringify(loadDefaultConfig()));

t.test('ledger - reference data derived from the default instruments', async (t) => {
  const config = loadDefaultConfig();
  const refs = referenceData(config, NOW);
  const by = (id: string) => refs.find((r) => r.id === id)!;
  t.equal(refs.length, config.instruments.length, 'one per instrument, universe order');
  t.match(by('ACME-27'), { assetClass: 'corporate_bond', issuer: 'ACME', proxy: 'CDX-IG', beta: 0.9, priceScale: 0.01, ccyRate: 1, measure: 'CS01' });
  // matures mid-2027: ~0.6 years from Nov 2026 → duration ≈ 0.85 × 0.6
  t.ok(by('ACME-27').durationYears > 0.4 && by('ACME-27').durationYears < 0.6, `ACME-27 duration ${by('ACME-27').durationYears}`);
  t.ok(by('STARK-35').durationYears > 7, 'a 2035 bond has a longer duration');
  t.match(by('UST-10Y'), { assetClass: 'govt_bond', issuer: 'UST', measure: 'DV01', durationYears: 8.5, proxy: null });
  // DV01 per unit notional: 8.5 × 97.44 × 0.01 × 1e-4 → per 1M notional ≈ 828
  t.ok(Math.abs(by('UST-10Y').sensitivity * 1e6 - 8.5 * 97.44) < 1e-6, 'UST-10Y DV01 per 1M');
  t.match(by('CDX-IG'), { assetClass: 'cds_index', issuer: 'CDX-IG', durationYears: 4.5, measure: 'CS01' });
  t.match(by('EURUSD'), { priceScale: 1, ccyRate: 1, measure: 'FX01' });
  t.ok(Math.abs(by('USDJPY').ccyRate - 1 / 151.37) < 1e-12, 'JPY-quoted converts at 1/USDJPY');
  t.ok(Math.abs(by('EURGBP').ccyRate - 1.2671) < 1e-12, 'GBP-quoted converts at GBPUSD');
  t.ok(Math.abs(by('EURUSD').sensitivity - 1.0842e-4) < 1e-12, 'FX01 = 1 bp of spot per unit');
  t.match(by('ZN'), { assetClass: 'rates_future', durationYears: 8, measure: 'DV01' }, '10Y note future from its description');
  t.match(by('FGBL'), { durationYears: 7 }, 'no tenor named: the default');
  t.ok(refs.every((r) => Number.isFinite(r.sensitivity) && r.sensitivity > 0), 'every sensitivity positive');
});

t.test('ledger - config overrides win; an empty section is valid; unknown ids are named', async (t) => {
  t.same(pnlConfigSchema.parse(undefined).instruments, {}, 'empty section valid');
  t.equal(pnlConfigSchema.parse({}).dayStart, 'utc_midnight');
  const c = raw();
  c.pnl = { instruments: { 'ACME-27': { issuer: 'ACME_HOLD', sensitivity: 0.0002, beta: 0.7 }, EURUSD: { ccyRate: 2 } } };
  const config = parseConfig(c);
  const refs = referenceData(config, NOW);
  t.match(refs.find((r) => r.id === 'ACME-27'), { issuer: 'ACME_HOLD', sensitivity: 0.0002, beta: 0.7 });
  t.equal(refs.find((r) => r.id === 'EURUSD')!.ccyRate, 2);
  t.same(pnlConfigIssues(config.pnl, config.instruments.map((i) => i.id)), []);
  t.same(pnlConfigIssues(pnlConfigSchema.parse({ instruments: { NOPE: {} } }), ['A']), ['pnl.instruments.NOPE: unknown instrument "NOPE"']);
  for (const bad of [{ dayStart: 'noon' }, { rollUtcMinute: 1440 }, { recentTrades: -1 }, { pushIntervalMs: 0 }, { instruments: { X: { priceScale: 0 } } }, { instruments: { X: { bogus: 1 } } }, { extra: 1 }, { currency: 'usd' }]) {
    const c2 = raw();
    c2.pnl = bad;
    t.throws(() => parseConfig(c2), { code: 'QE_CONFIG_INVALID' }, JSON.stringify(bad));
  }
});

t.test('ledger - positions per instrument and per bucket with risk and proxy equivalents', async (t) => {
  const config = loadDefaultConfig();
  const refs = referenceData(config, NOW);
  const idx = (id: string) => refs.findIndex((r) => r.id === id);
  const pos = new Float64Array(refs.length);
  pos[idx('ACME-27')] = 2e6;
  pos[idx('ACME-33')] = -1e6;
  pos[idx('TYRL-34')] = 1e6;
  pos[idx('CDX-IG')] = -1.5e6;
  pos[idx('EURUSD')] = 3e6;
  const marks = new Map([[idx('ACME-27'), 101], [idx('EURUSD'), 1.1]]);
  const ledger = new RiskLedger(refs, pos, (i) => marks.get(i) ?? NaN);
  const v = ledger.view();
  t.same(v.instruments.map((r) => r.instrument), ['ACME-27', 'ACME-33', 'TYRL-34', 'CDX-IG', 'EURUSD'], 'only instruments with a position');
  const acme = v.instruments[0];
  t.match(acme, { position: 2e6, mark: 101, value: 2e6 * 101 * 0.01, proxy: 'CDX-IG', beta: 0.9, proxyEquivalent: 1.8e6 });
  t.equal(acme.risk, 2e6 * refs[idx('ACME-27')].sensitivity);
  t.match(v.instruments[1], { mark: null, value: 0 }, 'no mark: no value, risk still shown');
  const cls = Object.fromEntries(v.byAssetClass.map((b) => [b.bucket, b]));
  t.match(cls.corporate_bond, { net: 2e6, gross: 4e6, instruments: 3 });
  t.match(cls.fx, { net: 3e6, instruments: 1 });
  const iss = Object.fromEntries(v.byIssuer.map((b) => [b.bucket, b]));
  t.match(iss['corporate_bond/ACME'], { net: 1e6, gross: 3e6, instruments: 2 });
  const px = Object.fromEntries(v.byProxy.map((b) => [b.bucket, b]));
  // CDX-IG: 0.9 × 2M + 1.1 × (−1M) + the index itself −1.5M = −0.8M proxy notional open
  t.ok(Math.abs(px['CDX-IG'].net - -0.8e6) < 1e-6, `CDX-IG proxy bucket ${px['CDX-IG'].net}`);
  t.ok(Math.abs(px['ITRX-XO'].net - 1.4e6) < 1e-6, 'ITRX-XO: 1.4 × 1M');
  t.equal(ledger.view(true).instruments.length, refs.length, 'all = every instrument');
});
