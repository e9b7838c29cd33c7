import t from 'tap';
import { readFileSync } from 'node:fs';
import { Encoder } from '@msgpack/msgpack';
import { loadDefaultConfig, parseConfig } from '../../engine/config.js';
import { QuoteFrameWriter, QuoteReason, QuoteState } from '../../engine/wire/quote.js';
import { FrameError, newFrameFields, readFrame } from '../../perf/lib/frame-reader.js';
import { markdownSummary, type RunResult, type SystemResult } from '../../perf/lib/report.js';
import { applyConfigSets, perfConfigInput, quickScenarios, socketPlan, sweepScenarios, systemOrder, watchFor } from '../../perf/lib/scenarios.js';
import {
  cdfPoints, cpuPercent, encodeHistogram, median, medianOfRepeats, evaluateGoals, mergeHistograms, newLatencyHistogram, parseCpuTotals, parseProcStat,
  parsePrometheus, ratio, ratios, summarize,
} from '../../perf/lib/stats.js';
import { escapeXml, lineChart, linearTicks, logTicks } from '../../perf/lib/svg.js';

const within = (actual: number, expected: number, relTol = 0.002) => Math.abs(actual - expected) <= Math.abs(expected) * relTol + 1;

t.test('perf - histogram summary gives percentiles of the recorded latencies', async (t) => {
  const h = newLatencyHistogram();
  for (let v = 1; v <= 10_000; v++) h.recordValue(v * 10); // 10 µs .. 100 ms, uniform
  const s = summarize(h);
  t.equal(s.samples, 10_000);
  t.ok(within(s.p50Us, 50_000), `p50 ${s.p50Us}`);
  t.ok(within(s.p90Us, 90_000), `p90 ${s.p90Us}`);
  t.ok(within(s.p99Us, 99_000), `p99 ${s.p99Us}`);
  t.ok(within(s.p999Us, 99_900), `p99.9 ${s.p999Us}`);
  t.ok(within(s.maxUs, 100_000), `max ${s.maxUs}`);
  t.ok(s.p50Us < s.p90Us && s.p90Us < s.p99Us && s.p99Us < s.p999Us && s.p999Us <= s.maxUs, 'percentiles ascend');
});

t.test('perf - an empty histogram summarises to NaN with zero samples (no fake zeros)', async (t) => {
  const s = summarize(newLatencyHistogram());
  t.equal(s.samples, 0);
  t.ok(Number.isNaN(s.p50Us) && Number.isNaN(s.p99Us) && Number.isNaN(s.maxUs));
  t.same(cdfPoints(newLatencyHistogram()), []);
});

t.test('perf - histograms from several subscriber processes merge into one', async (t) => {
  const a = newLatencyHistogram();
  const b = newLatencyHistogram();
  for (let k = 0; k < 900; k++) a.recordValue(100);
  for (let k = 0; k < 100; k++) b.recordValue(5_000);
  const m = mergeHistograms([encodeHistogram(a), encodeHistogram(b)]);
  t.equal(m.totalCount, 1000);
  t.ok(within(m.getValueAtPercentile(50), 100), 'p50 from the big process');
  t.ok(within(m.getValueAtPercentile(95), 5_000), 'p95 from the slow process');
  t.ok(within(m.maxValue, 5_000));
});

t.test('perf - CDF points rise monotonically from the minimum to the maximum, ending at 1', async (t) => {
  const h = newLatencyHistogram();
  for (let v = 1; v <= 1000; v++) h.recordValue(v);
  const pts = cdfPoints(h);
  t.ok(pts.length > 10);
  for (let k = 1; k < pts.length; k++) {
    t.ok(pts[k][0] > pts[k - 1][0], `latency ascends at ${k}`);
    t.ok(pts[k][1] > pts[k - 1][1], `fraction ascends at ${k}`);
  }
  t.equal(pts[pts.length - 1][1], 1);
  t.ok(within(pts[pts.length - 1][0], 1000));
  t.ok(within(pts[0][0], 1));
});

t.test('perf - ratios are engine ÷ reference, null when a side is missing or zero', async (t) => {
  t.equal(ratio(130, 100), 1.3);
  t.equal(ratio(1, 3), 0.333);
  t.equal(ratio(5, 0), null);
  t.equal(ratio(undefined, 5), null);
  t.equal(ratio(NaN, 5), null);
  const r = ratios({ p50Us: 260, p99Us: 900, deliveredPerSec: 45_000 }, { p50Us: 200, p99Us: 1000, deliveredPerSec: 50_000 });
  t.same(r, { p50: 1.3, p99: 0.9, delivered: 0.9 });
  t.same(ratios(undefined, { p50Us: 1, p99Us: 1, deliveredPerSec: 1 }), { p50: null, p99: null, delivered: null });
});

t.test('perf - repeated phases reduce to per-figure medians, ignoring failed phases', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([NaN])));
  const r = (p50: number, p99: number, cpu: number, tag: string) => ({ p50Us: p50, p99Us: p99, cpu: { sut: cpu, name: tag }, tag });
  const m = medianOfRepeats([r(100, 900, 50, 'a'), r(300, 100, 10, 'b'), r(200, 500, 30, 'c'), { ...r(1, 1, 1, 'x'), error: 'boom' }]);
  t.equal(m.p50Us, 200);
  t.equal(m.p99Us, 500);
  t.equal(m.cpu.sut, 30);
  t.equal(m.tag, 'c', 'non-numbers from the phase nearest the median p50');
  t.same(m.repeats, { n: 3, p50Us: [100, 300, 200], p99Us: [900, 100, 500] });
  const lone = r(5, 6, 7, 'only');
  t.equal(medianOfRepeats([lone]), lone, 'a single phase is returned as is');
});

t.test('perf - goals are judged against their budgets', async (t) => {
  const floor = { p50Us: 200, p99Us: 1000, deliveredPerSec: 100_000, deliveredPerFrame: 3 };
  const goals = evaluateGoals([
    { scenario: 'a', ratePerSec: 10_000, instruments: 1000, subscribers: 1, engine: { p50Us: 250, p99Us: 1400, deliveredPerSec: 1, cpuUsPerTick: 10 }, floor },
    { scenario: 'b', ratePerSec: 10_000, instruments: 1000, subscribers: 1000, engine: { p50Us: 1, p99Us: 1, deliveredPerSec: 95_000, deliveredPerFrame: 2.5, cpuUsPerTick: 11 }, floor, natsws: { p50Us: 1, p99Us: 1, deliveredPerSec: 96_000 } },
    { scenario: 'c', ratePerSec: 10_000, instruments: 100, subscribers: 1000, engine: { p50Us: 1, p99Us: 1, deliveredPerSec: 1, cpuUsPerTick: 10 } },
    { scenario: 'd', ratePerSec: 10_000, instruments: 10_000, subscribers: 1000, engine: { p50Us: 1, p99Us: 1, deliveredPerSec: 1, cpuUsPerTick: 20 } },
  ]);
  const find = (goal: string, scenario: string) => goals.find((g) => g.goal.startsWith(goal) && g.scenario === scenario);
  t.equal(find('engine p50 / floor p50', 'a')?.met, true, '1.25 ≤ 1.3');
  t.equal(find('engine p99 / floor p99', 'a')?.met, false, '1.4 > 1.3');
  t.equal(find('engine delivered/s / floor', 'b')?.met, true, '0.95 ≥ 0.9');
  t.equal(find('engine delivered/s / nats-server', 'b')?.met, false, 'below the nats-server peer');
  t.equal(find('engine / floor, delivered per published frame', 'b')?.value, 0.833);
  t.equal(find('engine / floor, delivered per published frame', 'b')?.met, false);
  t.equal(find('engine delivered/s / floor', 'c')?.met, null, 'no floor: nothing to judge');
  const flat = goals.find((g) => g.goal.includes('CPU per tick') && g.scenario.startsWith('c'));
  t.equal(flat?.value, 2, '10,000 instruments cost twice 100 per tick');
  t.equal(flat?.met, false);
});

t.test('perf - /proc/<pid>/stat parses past a comm holding spaces and parentheses', async (t) => {
  // fields 3.. after the comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const line = '4242 (node (worker) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 7 0 999 123456789 5000 18446744073709551615';
  const s = parseProcStat(line);
  t.equal(s.pid, 4242);
  t.equal(s.comm, 'node (worker) 1');
  t.equal(s.state, 'S');
  t.equal(s.cpuTicks, 1234 + 567);
  t.equal(s.threads, 7);
  t.equal(s.rssPages, 5000);
  t.throws(() => parseProcStat('garbage'), /not a \/proc stat line/);
  t.throws(() => parseProcStat('1 (x) S 1 2'), /field 14/);
});

t.test('perf - this process reads its own /proc stat', { skip: process.platform !== 'linux' }, async (t) => {
  const s = parseProcStat(readFileSync(`/proc/${process.pid}/stat`, 'utf8'));
  t.equal(s.pid, process.pid);
  t.ok(s.threads >= 1);
  t.ok(s.cpuTicks >= 0);
});

t.test('perf - /proc/stat totals count everything but idle and iowait as busy', async (t) => {
  const text = 'cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1\n';
  t.same(parseCpuTotals(text), { busy: 161, total: 1181 });
  t.throws(() => parseCpuTotals('intr 1\n'), /no aggregate cpu line/);
  t.equal(cpuPercent(100, 150, 1_000_000, 100), 50, '50 ticks of 10 ms in 1 s = 50% of a core');
  t.equal(cpuPercent(0, 300, 1_000_000, 100), 300, 'three cores busy');
  t.ok(Number.isNaN(cpuPercent(0, 1, 0, 100)));
});

t.test('perf - Prometheus text parses to name{labels} → value', async (t) => {
  const m = parsePrometheus(
    '# HELP qe_md_messages_total x\n# TYPE qe_md_messages_total counter\nqe_md_messages_total{result="ok"} 120\nqe_md_messages_total{result="unchanged"} 3\nqe_nodejs_eventloop_lag_p99_seconds 0.0123\nweird +Inf\n',
  );
  t.equal(m.get('qe_md_messages_total{result="ok"}'), 120);
  t.equal(m.get('qe_md_messages_total{result="unchanged"}'), 3);
  t.equal(m.get('qe_nodejs_eventloop_lag_p99_seconds'), 0.0123);
  t.equal(m.get('weird'), Infinity);
  t.equal(m.size, 4);
});

t.test('perf - the SVG chart draws one line per series, escapes text and scales log axes', async (t) => {
  const svg = lineChart({
    title: 'a <b> & c',
    xLabel: 'x',
    yLabel: 'y',
    xLog: true,
    series: [
      { name: 'engine <uWS>', points: [[100, 0.1], [1000, 0.5], [10_000, 1]] },
      { name: 'floor', points: [[50, 0.1], [500, 0.5], [5_000, 1]], markers: true },
    ],
  });
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.ok(svg.trimEnd().endsWith('</svg>'));
  t.equal(svg.match(/<polyline /g)?.length, 2);
  t.equal(svg.match(/<circle /g)?.length, 3, 'markers only on the series that asks');
  t.match(svg, /a &lt;b&gt; &amp; c/);
  t.match(svg, /engine &lt;uWS&gt;/);
  t.notMatch(svg, /<b>/);
  // x = 10 (axis floor) .. 10,000: 100 sits one third of the way across the plot
  const first = /<polyline [^>]*points="([\d.]+),/.exec(svg);
  t.ok(first, 'polyline has points');
  const x0 = Number(first![1]);
  t.ok(Math.abs(x0 - (70 + (720 - 70 - 170) / 3)) < 1, `log x position ${x0}`);
  t.match(lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [] }), /no data/);
  t.equal(escapeXml(`"'`), '&quot;&apos;');
  t.same(logTicks(10, 1000), [10, 20, 50, 100, 200, 500, 1000]);
  t.same(linearTicks(0, 1, 4), [0, 0.25, 0.5, 0.75, 1]);
});

t.test('perf - the frame reader gets the same fields as a full msgpack decode of an engine frame', async (t) => {
  const w = new QuoteFrameWriter();
  const f = w.frame;
  Object.assign(f, { i: 'UST-10Y-12', tr: 2, st: QuoteState.FIRM, rs: QuoteReason.NONE, sq: 70_001, sn: 0, ts: 1_764_000_000_123.5, mid: 99.875, tk: 4_294_967_297, tts: 1_764_000_000_100.25, tpt: 98_765_432_101 });
  const lv = w.setLevels(3);
  for (const l of lv) l.splice(0, 3, 1e6, 99.8, 99.9);
  const bytes = w.encodeBinary().slice();
  const out = newFrameFields();
  t.equal(readFrame(bytes, out), 'q');
  t.same(out, { t: 'q', i: 'UST-10Y-12', sq: 70_001, sn: 0, tk: 4_294_967_297, tpt: 98_765_432_101 });
  f.sn = 1;
  readFrame(w.encodeBinary(), out);
  t.equal(out.sn, 1);
  // control messages reuse keys with other types ('i' is an array in 'subscribed')
  const enc = new Encoder();
  t.equal(readFrame(enc.encode({ t: 'subscribed', id: 1, i: ['A', 'B'] }), out), 'subscribed');
  t.equal(out.i, '');
  t.equal(readFrame(enc.encode({ t: 'hello', v: 1, limits: { a: 1.5, b: -3 }, instruments: ['x'], serverTime: 1e12, neg: -200, nil: null }), out), 'hello');
  t.throws(() => readFrame(bytes.subarray(0, bytes.length - 3), out), FrameError, 'truncated');
  t.throws(() => readFrame(enc.encode([1, 2]), out), FrameError, 'not a map');
});

t.test('perf - one-factor sweeps pivot on the base scenario without duplicates; the grid has all 27', async (t) => {
  const oat = sweepScenarios({ grid: false });
  t.equal(oat.length, 7);
  t.equal(new Set(oat.map((s) => s.id)).size, 7);
  t.ok(oat.some((s) => s.ratePerSec === 10_000 && s.instruments === 1000 && s.subscribers === 100), 'base present');
  for (const s of oat) {
    const offBase = Number(s.ratePerSec !== 10_000) + Number(s.instruments !== 1000) + Number(s.subscribers !== 100);
    t.ok(offBase <= 1, `${s.id} varies one factor`);
  }
  t.equal(sweepScenarios({ grid: true }).length, 27);
  t.same(oat.filter((s) => s.subscribers === 100 && s.ratePerSec === 10_000).map((s) => [s.instruments, s.watch]), [[100, 10], [1000, 100], [10_000, 1000]], 'each watches 10% of its universe');
  t.same(quickScenarios().map((s) => [s.ratePerSec, s.instruments, s.subscribers, s.watch]), [[10_000, 500, 1, 50], [10_000, 500, 100, 50]]);
  t.equal(watchFor(20_000, undefined), 1000, 'capped below the gateway\'s 1024 names per subscribe');
  t.equal(watchFor(10, 50), 10, 'a fixed count is capped by the universe');
  t.equal(watchFor(3, undefined), 1, 'at least one');
  t.same(systemOrder(0, ['engine', 'floor', 'natsws']), ['engine', 'floor', 'natsws']);
  t.same(systemOrder(1, ['engine', 'floor', 'natsws']), ['natsws', 'floor', 'engine']);
});

t.test('perf - generated configs validate and hold a client for every subscriber socket', async (t) => {
  const base = loadDefaultConfig();
  const cfg = parseConfig(perfConfigInput(base, 100, 1000));
  t.equal(cfg.instruments.length, 100);
  t.equal(cfg.market.minVenues, 1);
  const plan = socketPlan(cfg.instruments.map((i) => i.id), 1000, 50);
  const clients = new Map(cfg.clients.map((c) => [c.id, c.tier]));
  t.equal(new Set(plan.map((p) => p.client)).size, 1000, 'one client per socket');
  t.same(plan.filter((p) => clients.get(p.client) !== p.tier).map((p) => p.client), [], 'every socket\'s client exists with the socket\'s tier');
  t.same([1, 2, 3].map((tier) => plan.filter((p) => p.tier === tier).length), [334, 333, 333], 'spread over the three tiers');
  t.equal(plan[0].instruments.length, 50);
  t.equal(socketPlan(['A', 'B'], 1, 50)[0].instruments.length, 2, 'watch capped by the universe');
});

t.test('perf - the markdown summary shows each system and the ratios', async (t) => {
  const sys = (p50: number): SystemResult => ({
    p50Us: p50, p90Us: p50 * 2, p99Us: p50 * 5, p999Us: p50 * 8, maxUs: p50 * 10, meanUs: p50, samples: 1000,
    deliveredPerSec: 5000, deliveredPerFrame: 1, cdf: [[p50, 0.5]],
    client: { frames: 1, gaps: 0, snapshots: 0, repeats: 0, slowNotices: 0, closes: 0, errors: 0 },
    server: { ticksInPerSec: 10_000, framesPublishedPerSec: 5000, conflatedOrDropped: 0, slowCloses: 0, ticksPerBatch: null, regimeTransitions: null, firmShare: null },
    load: { ticksPublishedPerSec: 10_000, shortfall: 0 },
    cpu: { sut: 50, sutMainThread: 40, natsServer: 10, loadgen: 10, subscribers: 5, machine: 80, other: 5 },
    cpuUsPerTick: 40, cpuUsPerTickAllThreads: 50, eventLoopLagMs: { p50: 10, p99: 11, max: 12 }, windowSec: 5,
  });
  const run: RunResult = {
    version: 1, mode: 'quick', startedAt: '2026-01-01T00:00:00.000Z', wallSeconds: 42,
    machine: { cpus: 2, cpuModel: 'x', node: '20', natsServer: '2.9', loadAverageStart: [1], loadAverageEnd: [1], pinning: { server: '0', client: '1' } },
    settings: { repeats: 1, warmupMs: 1000, durationMs: 5000, watch: '10% of the universe', timeScale: 50, seed: 1, subscriberProcesses: 2, pricer: 'worker', quoteBus: true, tree: { commit: 'abc1234', uncommittedEngineFiles: 0 } },
    scenarios: [{
      id: 's1', ratePerSec: 10_000, instruments: 500, subscribers: 1, tiers: 3, watch: 50, order: ['engine', 'floor'],
      systems: { engine: { ...sys(300), sliceMaxUs: [1000, 2000, 180_000, 3000, 4000, 5000, 6000] }, floor: sys(200) },
      ratio: { p50: 1.5, p99: 1.5, delivered: 1, fanout: 1 }, ratioVsNatsWs: { p50: null, p99: null, delivered: null },
    }],
    goals: [{ goal: 'engine p50 / floor p50', scenario: 's1', value: 1.5, target: '≤ 1.3', met: false }],
  };
  const md = markdownSummary(run);
  t.match(md, /\| engine \(uWS gateway\) \| 300 \| 600 \| 1500 \|/);
  t.match(md, /\| bare relay floor \| 200 \|/);
  t.match(md, /p50 1\.50×/);
  t.match(md, /\| engine p50 \/ floor p50 \| s1 \| 1\.50 \| ≤ 1\.3 \| \*\*no\*\* \|/);
  t.match(md, /Worst latency per 0\.5 s of the window, ms .*: engine \(uWS gateway\) \[180 6\] · bare relay floor \[–\]\./, 'a stall shows as one tall half-second');
});

t.test('perf - --set overrides one config field for the engine phases, and says what is wrong', async (t) => {
  const input = perfConfigInput(loadDefaultConfig(), 100, 1);
  const cfg = parseConfig(applyConfigSets(input, ['pricing.miniBatchRows=0', 'nats.publishQuotes=true', 'nats.quotePrefix=qq']));
  t.equal(cfg.pricing.miniBatchRows, 0);
  t.equal(cfg.nats.publishQuotes, true);
  t.equal(cfg.nats.quotePrefix, 'qq', 'not JSON: a string');
  t.equal(parseConfig(input).pricing.miniBatchRows, 8, 'the input itself is untouched');
  t.throws(() => applyConfigSets(input, ['pricing']), /expected path=value/);
  t.throws(() => applyConfigSets(input, ['nope.x=1']), /no config section nope/);
});
