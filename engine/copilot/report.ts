/**
 * The calibration report over the decision audit (engine/cli/copilot-report.ts): per RFQ, what the
 * co-pilot recommended against what a trader sent and how it ended, with its markout; and the
 * figures that say whether the co-pilot is calibrated:
 *
 *   asRecommended   share of sent quotes at the recommended price and size
 *   meanAbsDevBps   mean |sent − recommended| price, bps of the recommended price
 *   insideCi        share of sent prices inside the recommendation's confidence interval (a CI that
 *                   traders keep leaving is too narrow, or the model misses something they see)
 *   hitRate         booked / sent, split by as-recommended vs adjusted, against the mean win
 *                   probability the model gave (a calibrated model's mean winP ≈ hit rate)
 *   markout         mean markout of booked trades at each horizon, split the same way
 */
import type { DecisionRow } from './audit.js';

export interface Calibration {
  readonly rfqs: number;
  readonly recommended: number;
  readonly sent: number;
  readonly asRecommended: number;
  readonly meanAbsDevBps: number | null;
  readonly insideCi: number | null;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly groups: Readonly<Record<'asRecommended' | 'adjusted', { readonly sent: number; readonly booked: number; readonly hitRate: number | null; readonly meanWinP: number | null; readonly markoutBps: Readonly<Record<string, number>> }>>;
}

const mean = (xs: number[]): number | null => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);

export function calibrate(rows: readonly DecisionRow[]): Calibration {
  const outcomes: Record<string, number> = {};
  const devs: number[] = [];
  let inside = 0, withCi = 0, sent = 0, asRec = 0, recommended = 0;
  const g = {
    asRecommended: { sent: 0, booked: 0, winP: [] as number[], mo: {} as Record<string, number[]> },
    adjusted: { sent: 0, booked: 0, winP: [] as number[], mo: {} as Record<string, number[]> },
  };
  for (const r of rows) {
    const o = r.outcome?.outcome ?? 'open';
    outcomes[o] = (outcomes[o] ?? 0) + 1;
    if (r.recommended) recommended++;
    if (!r.sent) continue;
    sent++;
    const rec = r.recommended;
    const k = r.sent.asRecommended ? 'asRecommended' : 'adjusted';
    if (r.sent.asRecommended) asRec++;
    const grp = g[k];
    grp.sent++;
    if (rec?.winP !== undefined) grp.winP.push(rec.winP);
    if (rec?.price !== undefined && r.sent.price !== undefined) {
      devs.push((Math.abs(r.sent.price - rec.price) / rec.price) * 1e4);
      if (rec.ciLow !== undefined && rec.ciHigh !== undefined) {
        withCi++;
        if (r.sent.price >= rec.ciLow && r.sent.price <= rec.ciHigh) inside++;
      }
    }
    if (o === 'booked') {
      grp.booked++;
      for (const [h, m] of Object.entries(r.markout)) (grp.mo[h] ??= []).push(m.bps);
    }
  }
  const fin = (x: (typeof g)['adjusted']) => ({
    sent: x.sent,
    booked: x.booked,
    hitRate: x.sent > 0 ? x.booked / x.sent : null,
    meanWinP: mean(x.winP),
    markoutBps: Object.fromEntries(Object.entries(x.mo).map(([h, v]) => [h, mean(v)!])),
  });
  return {
    rfqs: rows.length,
    recommended,
    sent,
    asRecommended: asRec,
    meanAbsDevBps: mean(devs),
    insideCi: withCi > 0 ? inside / withCi : null,
    outcomes,
    groups: { asRecommended: fin(g.asRecommended), adjusted: fin(g.adjusted) },
  };
}
