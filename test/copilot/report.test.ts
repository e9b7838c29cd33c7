import t from 'tap';
import { joinDecisions, type Decision } from '../../engine/copilot/audit.js';
import { calibrate } from '../../engine/copilot/report.js';

const base = { v: 1 as const, clientId: 'northwind', i: 'ACME-27', side: 'sell' as const, requestedSize: 2e6, ts: 1 };
const d = (rfqId: string, kind: Decision['kind'], x: Partial<Decision> = {}): Decision => ({ ...base, rfqId, kind, ...x });

t.test('copilot report - joins per RFQ and compares recommended with sent, outcome and markout', async (t) => {
  const ds: Decision[] = [
    d('R1', 'recommended', { price: 100, size: 2e6, ciLow: 99.9, ciHigh: 100.1, winP: 0.6 }),
    d('R1', 'taken', { by: 'desk' }),
    d('R1', 'sent', { price: 100, size: 2e6, by: 'desk', asRecommended: true }),
    d('R1', 'outcome', { outcome: 'booked', tradeId: 'T1' }),
    d('R1', 'markout', { tradeId: 'T1', horizonMs: 1000, markoutBps: 1.5, totalBps: 3 }),
    d('R2', 'recommended', { price: 100, size: 2e6, ciLow: 99.9, ciHigh: 100.1, winP: 0.5 }),
    d('R2', 'sent', { price: 99.8, size: 1e6, by: 'desk2', asRecommended: false }),
    d('R2', 'outcome', { outcome: 'expired' }),
    d('R3', 'recommended', { price: 100, size: 2e6, ciLow: 99.9, ciHigh: 100.1 }),
    d('R3', 'rejected', { by: 'desk', text: 'no appetite' }),
    d('R3', 'outcome', { outcome: 'rejected', code: 'QE_RFQ_TRADER_REJECTED' }),
  ];
  const rows = joinDecisions(ds);
  t.equal(rows.length, 3);
  t.match(rows[0], { rfqId: 'R1', decidedBy: 'desk', sent: { price: 100 }, outcome: { outcome: 'booked' }, markout: { '1000': { bps: 1.5, totalBps: 3 } } });
  t.match(rows[1], { decidedBy: 'desk2' });
  t.match(rows[2], { decidedBy: 'desk', sent: null, outcome: { code: 'QE_RFQ_TRADER_REJECTED' } });
  const c = calibrate(rows);
  t.match(c, { rfqs: 3, recommended: 3, sent: 2, asRecommended: 1, insideCi: 0.5, outcomes: { booked: 1, expired: 1, rejected: 1 } });
  t.ok(Math.abs(c.meanAbsDevBps! - 10) < 1e-9, 'mean |Δ| = (0 + 20) / 2 bps');
  t.match(c.groups.asRecommended, { sent: 1, booked: 1, hitRate: 1, meanWinP: 0.6, markoutBps: { '1000': 1.5 } });
  t.match(c.groups.adjusted, { sent: 1, booked: 0, hitRate: 0, meanWinP: 0.5 });
});
