/**
 * Risk ledger: the desk's net position per instrument and per risk bucket, with each instrument's
 * sensitivity and beta to its hedge proxy (docs/pnl.md § Risk ledger).
 *
 * Positions are not kept here: they are read from `Inventory.position` (the booking path is its
 * only writer; hedge fills land there too), so the ledger can never disagree with what the pricer
 * skews on. What this file adds is reference data, derived from `instruments` and overridden by
 * `config.pnl.instruments`:
 *
 *   priceScale   currency per (notional × price point): 0.01 for prices in % of par (bonds, CDS
 *                index prices, bond futures; engine/inventory/inventory.ts), 1 for FX
 *   ccyRate      reporting currency per price currency: FX pairs quoted in another currency
 *                convert at a FIXED rate from refPrice (not live: a known approximation)
 *   durationYears  rates / credit: ≈ years to maturity (bond ids end in the maturity year, e.g.
 *                ACME-27; treasuries and futures name their tenor), 4.5 for a 5Y CDS index
 *   sensitivity  currency change per 1 bp move, per unit notional:
 *                  durationYears × refPrice × priceScale × ccyRate × 10⁻⁴   (DV01 / CS01)
 *                  refPrice × priceScale × ccyRate × 10⁻⁴                    (FX01: 1 bp of spot)
 *   issuer       bucket under the asset class: a bond's issuer (id before '-'), else the id
 *   proxy, beta  the instrument's hedgeProxy and hedgeBeta
 *
 * Buckets report net notional, gross notional and risk (Σ position × sensitivity, signed: a long
 * bond position has positive DV01 exposure = loses when yields rise). The proxy bucket is the
 * beta-weighted notional in proxy units: Σ position × beta over the instruments hedged through
 * the proxy, plus the proxy's own position (what a proxy hedge has left open).
 */
import type { Config } from '../config.js';
import type { PnlConfig } from './config.js';

export type RiskMeasure = 'DV01' | 'CS01' | 'FX01';

export interface InstrumentRef {
  readonly id: string;
  readonly assetClass: string;
  readonly issuer: string;
  readonly proxy: string | null;
  readonly beta: number;
  readonly priceScale: number;
  readonly ccyRate: number;
  readonly durationYears: number;
  readonly measure: RiskMeasure;
  /** currency per bp per unit notional */
  readonly sensitivity: number;
}

const DAY_MS = 86_400_000;
const YEAR_MS = 365.25 * DAY_MS;
/** Default 5Y CDS index risky duration. */
const CDS_INDEX_DURATION = 4.5;
/** Rates future without a tenor in its description (e.g. the Bund): a 10Y-ish deliverable. */
const FUTURE_DEFAULT_DURATION = 7;

/** Years to maturity from a bond id ending in a 2-digit year (ACME-27) or a tenor (UST-10Y). */
function yearsFromId(id: string, description: string, nowMs: number): number | undefined {
  const tenor = /(\d{1,2})Y\b/.exec(id) ?? /(\d{1,2})Y\b/.exec(description);
  if (tenor) return Number(tenor[1]);
  const yy = /-(\d{2})$/.exec(id);
  if (yy) {
    const maturity = Date.UTC(2000 + Number(yy[1]), 6, 1);
    return Math.max(0.25, (maturity - nowMs) / YEAR_MS);
  }
  return undefined;
}

/** Reporting-currency value of one unit of an FX pair's quote currency (USD reporting; fixed rates). */
function fxRate(id: string, byId: Map<string, { refPrice: number }>, currency: string): number {
  const m = /^([A-Z]{3})([A-Z]{3})$/.exec(id);
  if (!m) return 1;
  const quote = m[2];
  if (quote === currency) return 1;
  if (m[1] === currency) return 1 / byId.get(id)!.refPrice;
  const direct = byId.get(`${quote}${currency}`);
  if (direct) return direct.refPrice;
  const inverse = byId.get(`${currency}${quote}`);
  if (inverse) return 1 / inverse.refPrice;
  return 1;
}

/** Reference data for every instrument, in universe order (index = iid). */
export function referenceData(config: Config, nowMs: number, pnl: PnlConfig = config.pnl): InstrumentRef[] {
  const byId = new Map(config.instruments.map((i) => [i.id, i]));
  return config.instruments.map((ins) => {
    const o = pnl.instruments[ins.id] ?? {};
    const fx = ins.assetClass === 'fx';
    const priceScale = o.priceScale ?? (fx ? 1 : 0.01);
    const ccyRate = o.ccyRate ?? (fx ? fxRate(ins.id, byId, pnl.currency) : 1);
    let duration: number;
    if (fx) duration = 0;
    else if (ins.assetClass === 'cds_index') duration = CDS_INDEX_DURATION;
    else {
      const y = yearsFromId(ins.id, ins.description, nowMs);
      // modified duration of a coupon bond is below its maturity; 0.85 × years is a fair flat guess
      duration = y === undefined ? FUTURE_DEFAULT_DURATION : ins.assetClass === 'rates_future' ? y * 0.8 : y * 0.85;
    }
    const durationYears = o.durationYears ?? duration;
    const measure: RiskMeasure = fx ? 'FX01' : ins.assetClass === 'corporate_bond' || ins.assetClass === 'cds_index' ? 'CS01' : 'DV01';
    const unit = ins.refPrice * priceScale * ccyRate * 1e-4;
    const sensitivity = o.sensitivity ?? (fx ? unit : durationYears * unit);
    const bond = ins.assetClass === 'corporate_bond' || ins.assetClass === 'govt_bond';
    const issuer = o.issuer ?? (bond && ins.id.includes('-') ? ins.id.slice(0, ins.id.indexOf('-')) : ins.id);
    return {
      id: ins.id, assetClass: ins.assetClass, issuer, proxy: ins.hedgeProxy, beta: o.beta ?? ins.hedgeBeta,
      priceScale, ccyRate, durationYears, measure, sensitivity,
    };
  });
}

export interface PositionRow {
  readonly instrument: string;
  readonly assetClass: string;
  readonly issuer: string;
  /** notional, positive = long */
  readonly position: number;
  /** the mark used for `value` (composite mid, else the last known one; null when none yet) */
  readonly mark: number | null;
  /** position × mark × priceScale × ccyRate, in the reporting currency (0 without a mark) */
  readonly value: number;
  readonly measure: RiskMeasure;
  readonly sensitivity: number;
  /** position × sensitivity: currency per 1 bp */
  readonly risk: number;
  readonly proxy: string | null;
  readonly beta: number;
  /** position × beta, in notional of the proxy (0 when no proxy) */
  readonly proxyEquivalent: number;
}

export interface BucketRow {
  readonly bucket: string;
  readonly net: number;
  readonly gross: number;
  /** Σ position × sensitivity (mixed measures within a bucket are added as currency per bp) */
  readonly risk: number;
  readonly instruments: number;
}

export interface PositionsView {
  readonly instruments: readonly PositionRow[];
  readonly byAssetClass: readonly BucketRow[];
  readonly byIssuer: readonly BucketRow[];
  /** beta-weighted notional per proxy (instruments hedged through it + the proxy itself) */
  readonly byProxy: readonly BucketRow[];
}

export class RiskLedger {
  private readonly index: Map<string, number>;
  /** instruments some other instrument is hedged through */
  private readonly proxies: Set<string>;

  constructor(
    readonly refs: readonly InstrumentRef[],
    private readonly position: Float64Array,
    /** the mark per instrument (NaN when none) */
    private readonly markOf: (iid: number) => number,
  ) {
    this.index = new Map(refs.map((r, i) => [r.id, i]));
    this.proxies = new Set(refs.flatMap((r) => (r.proxy === null ? [] : [r.proxy])));
  }

  row(iid: number): PositionRow {
    const r = this.refs[iid];
    const pos = this.position[iid];
    const m = this.markOf(iid);
    const mark = m > 0 ? m : null;
    return {
      instrument: r.id, assetClass: r.assetClass, issuer: r.issuer, position: pos, mark,
      value: mark === null ? 0 : pos * mark * r.priceScale * r.ccyRate,
      measure: r.measure, sensitivity: r.sensitivity, risk: pos * r.sensitivity,
      proxy: r.proxy, beta: r.beta, proxyEquivalent: r.proxy === null ? 0 : pos * r.beta,
    };
  }

  /** Instruments with a position (`all` = every instrument) and the buckets they fall in. */
  view(all = false): PositionsView {
    const rows: PositionRow[] = [];
    const byClass = new Map<string, { net: number; gross: number; risk: number; instruments: number }>();
    const byIssuer = new Map<string, { net: number; gross: number; risk: number; instruments: number }>();
    const byProxy = new Map<string, { net: number; gross: number; risk: number; instruments: number }>();
    const add = (m: typeof byClass, k: string, net: number, risk: number) => {
      const b = m.get(k) ?? { net: 0, gross: 0, risk: 0, instruments: 0 };
      b.net += net;
      b.gross += Math.abs(net);
      b.risk += risk;
      b.instruments++;
      m.set(k, b);
    };
    for (let iid = 0; iid < this.refs.length; iid++) {
      const pos = this.position[iid];
      if (pos === 0 && !all) continue;
      const row = this.row(iid);
      rows.push(row);
      add(byClass, row.assetClass, pos, row.risk);
      add(byIssuer, `${row.assetClass}/${row.issuer}`, pos, row.risk);
      if (row.proxy !== null) {
        const p = this.index.get(row.proxy);
        add(byProxy, row.proxy, row.proxyEquivalent, p === undefined ? 0 : row.proxyEquivalent * this.refs[p].sensitivity);
      } else if (this.proxies.has(row.instrument)) {
        add(byProxy, row.instrument, pos, row.risk);
      }
    }
    const list = (m: typeof byClass): BucketRow[] => [...m].map(([bucket, b]) => ({ bucket, ...b })).sort((a, b) => a.bucket.localeCompare(b.bucket));
    return { instruments: rows, byAssetClass: list(byClass), byIssuer: list(byIssuer), byProxy: list(byProxy) };
  }
}
