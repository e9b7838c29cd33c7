/**
 * npm run copilot-report -- [--nats nats://127.0.0.1:4222] [--stream DECISIONS] [--json] [--limit N]
 *
 * The decision audit joined per RFQ (recommended vs sent vs outcome, who decided, markout) and the
 * calibration figures (engine/copilot/report.ts, docs/copilot.md § Calibration report). Exit 0 on
 * success, 1 when the broker or the stream cannot be read (the code is printed).
 */
import { Command } from 'commander';
import { connect } from 'nats';
import { readDecisions, joinDecisions, type DecisionRow } from '../copilot/audit.js';
import { calibrate } from '../copilot/report.js';
import { EngineError, ErrorCode } from '../errors.js';

const o = new Command()
  .name('copilot-report')
  .description('Compare co-pilot recommendations with what traders sent, the outcome and its markout')
  .option('--nats <url>', 'broker URL', 'nats://127.0.0.1:4222')
  .option('--stream <name>', 'decision audit stream (copilot.audit.stream)', 'DECISIONS')
  .option('--json', 'print the rows and the calibration as JSON')
  .option('--limit <n>', 'rows to print, newest last (default 50)', (v) => Number(v), 50)
  .showHelpAfterError()
  .parse()
  .opts<{ nats: string; stream: string; json?: boolean; limit: number }>();

const fmt = (x: number | null | undefined, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));

function line(r: DecisionRow): string {
  const rec = r.recommended;
  const sent = r.sent;
  const dev = rec?.price !== undefined && sent?.price !== undefined ? ((sent.price - rec.price) / rec.price) * 1e4 : null;
  const mo = Object.entries(r.markout).map(([h, m]) => `${Number(h) / 1000}s:${fmt(m.bps, 1)}`).join(' ');
  return [
    r.rfqId.padEnd(14), r.clientId.padEnd(10), r.i.padEnd(10), r.side.padEnd(4), String(r.requestedSize).padStart(9),
    `rec ${fmt(rec?.price, 4)} x ${rec?.size ?? '-'} [${fmt(rec?.ciLow, 4)}, ${fmt(rec?.ciHigh, 4)}]`.padEnd(46),
    `sent ${fmt(sent?.price, 4)} x ${sent?.size ?? '-'} by ${r.decidedBy ?? '-'}${sent?.asRecommended ? ' (as rec)' : ''}`.padEnd(40),
    `Δ ${fmt(dev, 1)} bps`.padEnd(12), (r.outcome?.outcome ?? 'open').padEnd(8), mo,
  ].join(' ');
}

try {
  const nc = await connect({ servers: o.nats, name: 'copilot-report', timeout: 3_000, maxReconnectAttempts: 0 }).catch((cause: Error) => {
    throw new EngineError(ErrorCode.NATS_UNAVAILABLE, `cannot connect to ${o.nats}: ${cause.message}`, { cause });
  });
  const { decisions, invalid } = await readDecisions(nc, o.stream);
  await nc.close();
  const rows = joinDecisions(decisions);
  const cal = calibrate(rows);
  if (o.json) process.stdout.write(JSON.stringify({ rows, calibration: cal, invalid }, null, 1) + '\n');
  else {
    for (const r of rows.slice(-o.limit)) process.stdout.write(line(r) + '\n');
    const g = cal.groups;
    process.stdout.write(
      `\n${cal.rfqs} RFQs, ${cal.recommended} recommended, ${cal.sent} sent (${cal.asRecommended} as recommended); ` +
        `mean |sent − rec| ${fmt(cal.meanAbsDevBps)} bps; sent inside the CI ${fmt(cal.insideCi === null ? null : cal.insideCi * 100, 0)}%\n` +
        `outcomes: ${Object.entries(cal.outcomes).map(([k, v]) => `${k} ${v}`).join(', ')}\n` +
        `as recommended: hit ${fmt(g.asRecommended.hitRate)} vs model ${fmt(g.asRecommended.meanWinP)}; markout ${JSON.stringify(g.asRecommended.markoutBps)}\n` +
        `adjusted:       hit ${fmt(g.adjusted.hitRate)} vs model ${fmt(g.adjusted.meanWinP)}; markout ${JSON.stringify(g.adjusted.markoutBps)}\n` +
        (invalid > 0 ? `${invalid} records did not validate\n` : ''),
    );
  }
} catch (e) {
  const code = e instanceof EngineError ? e.code : ErrorCode.INTERNAL;
  process.stderr.write(`copilot-report: ${code} ${(e as Error).message}\n`);
  process.exit(1);
}
