/** The RFQ phase's pure helpers (perf/lib/rfq.ts): requests, CRM records, answer counting, the report section. */
import t from 'tap';
import { clientRecordSchema } from '../../engine/crm/types.js';
import { loadDefaultConfig, parseConfig } from '../../engine/config.js';
import { markdownSummary, type RunResult } from '../../perf/lib/report.js';
import {
  countOutcome, mergeRfqCounts, newRfqCounts, outcomesText, perfCrmRecord, rfqClients, rfqMarkdown, rfqRequest, RFQ_INSTRUMENTS, type RfqResult,
} from '../../perf/lib/rfq.js';
import { perfConfigInput } from '../../perf/lib/scenarios.js';
import { summarize, newLatencyHistogram } from '../../perf/lib/stats.js';

t.test('perf rfq - the RFQ clients are automated tiers that exist in the generated config, and their CRM records validate', async (t) => {
  const cfg = parseConfig(perfConfigInput(loadDefaultConfig(), 500, 1));
  const tiers = new Map(cfg.clients.map((c) => [c.id, c.tier]));
  for (const c of rfqClients()) {
    t.not(c.tier, 1, 'tier 1 RFQs always queue for a trader');
    t.equal(tiers.get(c.client), c.tier, `${c.client} is in the generated config with its tier`);
    const r = clientRecordSchema.safeParse(perfCrmRecord(c.client, c.tier));
    t.ok(r.success, `${c.client}: record valid`);
    if (r.success) t.equal(r.data.tier, c.tier);
  }
  t.ok(cfg.instruments.length >= RFQ_INSTRUMENTS);
});

t.test('perf rfq - requests round-robin over sockets; each socket buys an instrument then sells it back, at its minimum size', async (t) => {
  const ins = [{ id: 'A', minSize: 1e6 }, { id: 'B', minSize: 5e5 }, { id: 'C', minSize: 1 }];
  const reqs = Array.from({ length: 60 }, (_, n) => rfqRequest(n, 2, ins));
  t.same(reqs.slice(0, 6).map((r) => r.socket), [0, 1, 0, 1, 0, 1]);
  t.same(reqs.filter((r) => r.socket === 0).slice(0, 6).map((r) => `${r.side} ${r.i}`), ['buy A', 'sell A', 'buy B', 'sell B', 'buy C', 'sell C']);
  for (const r of reqs) t.equal(r.size, ins.find((i) => i.id === r.i)!.minSize);
  // after every completed pair each socket is flat in every instrument
  for (const s of [0, 1]) {
    const pos = new Map<string, number>();
    for (const r of reqs.filter((r) => r.socket === s)) pos.set(r.i, (pos.get(r.i) ?? 0) + (r.side === 'buy' ? r.size : -r.size));
    t.ok([...pos.values()].every((v) => v === 0), `socket ${s} ends flat`);
  }
});

t.test('perf rfq - answers other than quote_firm / trade_confirm are counted by kind and code; counts merge', async (t) => {
  const a = newRfqCounts();
  countOutcome(a, 'rfq', { t: 'rejected', code: 'QE_RFQ_TOO_MANY_OPEN' });
  countOutcome(a, 'rfq', { t: 'rfq', state: 'queued', reason: 'stale_market' });
  countOutcome(a, 'accept', { t: 'rejected', code: 'QE_RFQ_PRICE_MOVED' });
  countOutcome(a, 'accept', { t: 'rejected', code: 'QE_RFQ_PRICE_MOVED' });
  t.same(a.outcomes, { 'rfq rejected QE_RFQ_TOO_MANY_OPEN': 1, 'rfq queued stale_market': 1, 'accept rejected QE_RFQ_PRICE_MOVED': 2 });
  const b = newRfqCounts();
  b.rfqSent = 10;
  b.sendLagMaxUs = 700;
  countOutcome(b, 'accept', { t: 'rejected', code: 'QE_RFQ_PRICE_MOVED' });
  a.rfqSent = 5;
  a.sendLagMaxUs = 300;
  const m = mergeRfqCounts([a, b]);
  t.equal(m.rfqSent, 15);
  t.equal(m.sendLagMaxUs, 700, 'the worst lag, not a sum');
  t.equal(m.outcomes['accept rejected QE_RFQ_PRICE_MOVED'], 3);
  t.equal(outcomesText(m.outcomes).split(', ')[0], 'accept rejected QE_RFQ_PRICE_MOVED: 3', 'most frequent first');
  t.equal(outcomesText({}), 'none');
});

t.test('perf rfq - the RFQ section appears in latest.md with both legs and the counts', async (t) => {
  const h = newLatencyHistogram();
  for (let v = 1; v <= 100; v++) h.recordValue(v * 100);
  const s = summarize(h);
  const counts = { ...newRfqCounts(), rfqSent: 200, quoteFirm: 199, acceptSent: 199, confirmed: 198 };
  countOutcome(counts, 'accept', { t: 'rejected', code: 'QE_RFQ_PRICE_MOVED' });
  const r: RfqResult = {
    id: 'rfq-x', ratePerSec: 10_000, instruments: 500, subscribers: 1, rfqRatePerSec: 50, clients: rfqClients(),
    rfqToQuote: s, acceptToConfirm: s, counts,
    background: { ticksInPerSec: 9_900, streamP50Us: 1000, streamP99Us: 9000, tradesJournaled: 198 },
    cpu: { engine: 50, natsServer: 10, other: 0 }, windowSec: 4,
  };
  const md = rfqMarkdown([r]).join('\n');
  t.match(md, /\| rfq-x \| RFQ → quote_firm \| 50\d\d \| 90\d\d \| 99\d\d \| 10k \| 10k \| 100 \|/);
  t.match(md, /\| rfq-x \| accept → trade_confirm \|/);
  t.match(md, /trade_confirm 198/);
  t.match(md, /accept rejected QE_RFQ_PRICE_MOVED: 1/);
  t.same(rfqMarkdown([]), [], 'no section without an RFQ phase');
  const failed = rfqMarkdown([{ ...r, error: 'engine exited\nstack' }]).join('\n');
  t.match(failed, /\| rfq-x \| failed: engine exited \|/);
  const run = {
    version: 1, mode: 'quick', startedAt: 'x', wallSeconds: 1,
    machine: { cpus: 2, cpuModel: 'x', node: '20', natsServer: '2', loadAverageStart: [1], loadAverageEnd: [1], pinning: { server: null, client: null } },
    settings: { repeats: 1, warmupMs: 1000, durationMs: 4000, watch: 'x', timeScale: 50, seed: 1, subscriberProcesses: 1, pricer: 'worker', quoteBus: true, tree: { commit: 'a', uncommittedEngineFiles: 0 } },
    scenarios: [], rfq: [r], goals: [],
  } satisfies RunResult;
  t.match(markdownSummary(run), /## RFQ under background ticks/);
});
