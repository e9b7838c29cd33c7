/**
 * A run's results as files: the JSON (per scenario, per system), the markdown summary and the
 * SVG charts. Pure functions from a RunResult to strings; run.ts writes them.
 */
import type { SystemKind } from './ipc.js';
import { compact, lineChart, type Series } from './svg.js';
import type { GoalResult, LatencySummary, Ratios } from './stats.js';
import { rfqMarkdown, type RfqResult } from './rfq.js';
import { riskMarkdown } from './kill.js';

export interface CpuFigures {
  /** % of one core over the measurement window */
  readonly sut: number;
  readonly sutMainThread: number;
  readonly natsServer: number | null;
  readonly loadgen: number;
  readonly subscribers: number;
  /** all CPUs busy, and what was not ours (other people's processes on a shared machine) */
  readonly machine: number | null;
  readonly other: number | null;
}

export interface SystemResult extends LatencySummary {
  readonly deliveredPerSec: number;
  /**
   * deliveredPerSec ÷ frames published per second: copies each published frame reached. The engine
   * publishes only when a ladder changed (fewer frames than ticks × 3), so this, not delivered/s,
   * compares the fan-out itself.
   */
  readonly deliveredPerFrame: number | null;
  readonly cdf: Array<[number, number]>;
  readonly client: { frames: number; gaps: number; snapshots: number; repeats: number; slowNotices: number; closes: number; errors: number };
  readonly server: {
    /** ticks the system under test received per second */
    readonly ticksInPerSec: number;
    readonly framesPublishedPerSec: number | null;
    /** engine: sockets conflated; floor: sockets closed by uWS's backpressure cap; natsws: nats-server slow consumers */
    readonly conflatedOrDropped: number;
    readonly slowCloses: number;
    /** engine: ticks per pricing batch (coalescing) */
    readonly ticksPerBatch: number | null;
    /** engine: instrument stress-regime changes in the window (each re-prices, and may pull, its streams) */
    readonly regimeTransitions?: number | null;
    /** engine: share of the published frames that were firm (the rest indicative or pulled) */
    readonly firmShare?: number | null;
  };
  readonly load: { readonly ticksPublishedPerSec: number; readonly shortfall: number };
  readonly cpu: CpuFigures;
  /** main-thread CPU µs per tick received (the event loop's cost per tick) */
  readonly cpuUsPerTick: number | null;
  /** every thread of the process (engine: + pricer worker, uWS, GC) per tick */
  readonly cpuUsPerTickAllThreads: number | null;
  readonly eventLoopLagMs: { readonly p50: number; readonly p99: number; readonly max: number } | null;
  readonly windowSec: number;
  /**
   * the worst latency (µs) in each 100 ms slice of the window (max over subscriber processes; with
   * --repeat, of the phase whose p50 is nearest the median): a tail from one stall shows as one
   * tall slice, a steady tail as many
   */
  readonly sliceMaxUs?: number[];
  /** with --repeat n: how many phases this figure is the median of, and every phase's p50/p99 */
  readonly repeats?: { readonly n: number; readonly p50Us: number[]; readonly p99Us: number[] };
  readonly error?: string;
}

export interface ScenarioResult {
  readonly id: string;
  readonly ratePerSec: number;
  readonly instruments: number;
  readonly subscribers: number;
  readonly tiers: 3;
  readonly watch: number;
  readonly order: SystemKind[];
  readonly systems: Partial<Record<SystemKind, SystemResult>>;
  /** engine / floor; `fanout` = ratio of deliveredPerFrame */
  readonly ratio: Ratios & { readonly fanout: number | null };
  /** engine / nats-server WebSocket peer */
  readonly ratioVsNatsWs: Ratios;
}

export interface RunResult {
  readonly version: 1;
  readonly mode: 'quick' | 'sweep' | 'grid' | 'custom';
  readonly startedAt: string;
  readonly wallSeconds: number;
  readonly machine: {
    readonly cpus: number;
    readonly cpuModel: string;
    readonly node: string;
    readonly natsServer: string;
    readonly loadAverageStart: number[];
    readonly loadAverageEnd: number[];
    readonly pinning: { readonly server: string | null; readonly client: string | null };
  };
  readonly settings: {
    /** phases per (scenario, system); figures are medians over them */
    readonly repeats: number;
    readonly warmupMs: number;
    readonly durationMs: number;
    /** instruments per subscriber: a fixed count, or a share of the universe */
    readonly watch: number | string;
    readonly timeScale: number;
    readonly seed: number;
    readonly subscriberProcesses: number;
    readonly pricer: string;
    /** true: the engine phase also published its NATS quote subjects (`--quote-bus`; nats.publishQuotes is off by default) */
    readonly quoteBus: boolean;
    /** engine modules attached: all, none, or a comma list */
    readonly modules?: string;
    /** engine config overrides (`--set path=value`) */
    readonly sets?: readonly string[];
    /** the code measured: HEAD and how many engine/ files differed from it (others edit concurrently) */
    readonly tree: { readonly commit: string; readonly uncommittedEngineFiles: number };
  };
  readonly scenarios: ScenarioResult[];
  /** RFQ → quote_firm and accept → trade_confirm under background ticks (absent in runs before it existed, or with --no-rfq: []) */
  readonly rfq?: RfqResult[];
  readonly goals: GoalResult[];
}

/** Above this share of a core used by others during a phase, its latency is flagged as contended. */
export const CONTENDED_OTHER_PCT = 25;

export const SYSTEM_LABEL: Record<SystemKind, string> = {
  engine: 'engine (uWS gateway)',
  floor: 'bare relay floor',
  natsws: 'nats-server WebSocket',
};

const us = (v: number | null | undefined) => (v == null || !Number.isFinite(v) ? '–' : v >= 10_000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v)));
const num = (v: number | null | undefined, d = 1) => (v == null || !Number.isFinite(v) ? '–' : String(Math.round(v * 10 ** d) / 10 ** d));
const x = (v: number | null | undefined) => (v == null ? '–' : `${v.toFixed(2)}×`);

export function markdownSummary(r: RunResult): string {
  const L: string[] = [];
  L.push(`# Perf results: ${r.mode} run, ${r.startedAt}`);
  L.push('');
  L.push(`Wall time ${r.wallSeconds.toFixed(1)} s · ${r.machine.cpus} × ${r.machine.cpuModel} · Node ${r.machine.node} · nats-server ${r.machine.natsServer}`);
  const pin = r.machine.pinning.server === null ? 'none (all processes float)' : `brokers + system under test on CPU ${r.machine.pinning.server}, load generator + subscribers on CPU ${r.machine.pinning.client}`;
  L.push(`Pinning: ${pin} · load average at start ${r.machine.loadAverageStart.join(' ')}, at end ${r.machine.loadAverageEnd.join(' ')}`);
  L.push(`Code: HEAD ${r.settings.tree.commit}${r.settings.tree.uncommittedEngineFiles > 0 ? ` plus ${r.settings.tree.uncommittedEngineFiles} uncommitted engine/ file(s)` : ''}`);
  L.push(`${r.settings.repeats > 1 ? `Each figure is the median of ${r.settings.repeats} phases per system (order alternating). ` : ''}Per phase: ${r.settings.warmupMs / 1000} s warm-up, ${r.settings.durationMs / 1000} s measured · each subscriber watches ${typeof r.settings.watch === 'number' ? `${r.settings.watch} instruments` : r.settings.watch} · 3 tiers · feed seed ${r.settings.seed}, time scale ${r.settings.timeScale} · pricer ${r.settings.pricer}${r.settings.quoteBus ? ' · engine also publishing NATS quote subjects' : ''}${(r.settings.modules ?? 'all') === 'all' ? '' : ` · engine modules: ${r.settings.modules}`}${r.settings.sets?.length ? ` · engine config ${r.settings.sets.join(', ')}` : ''}`);
  L.push('');
  L.push('Latency = tick published on NATS (publisher monotonic µs) → quote frame decoded by a subscriber process. Ratios are engine ÷ reference: below 1 the engine is faster (latency) or delivers less (delivered).');
  L.push('');
  if (r.goals.length > 0) {
    L.push('## Goals (reported, not asserted)');
    L.push('');
    L.push('| goal | scenario | value | target | met |');
    L.push('|---|---|---|---|---|');
    for (const g of r.goals) L.push(`| ${g.goal} | ${g.scenario} | ${g.value === null ? '–' : g.value.toFixed(2)} | ${g.target} | ${g.met === null ? 'n/a' : g.met ? 'yes' : '**no**'} |`);
    L.push('');
  }
  for (const s of r.scenarios) {
    L.push(`## ${s.id}: ${s.ratePerSec.toLocaleString('en-US')} ticks/s, ${s.instruments.toLocaleString('en-US')} instruments, ${s.subscribers.toLocaleString('en-US')} subscribers × ${s.watch} instruments`);
    L.push('');
    L.push(`Order run: ${s.order.join(' → ')}. Engine ÷ floor: p50 ${x(s.ratio.p50)}, p99 ${x(s.ratio.p99)}, delivered ${x(s.ratio.delivered)} (per published frame ${x(s.ratio.fanout)}). Engine ÷ nats-server WS: p50 ${x(s.ratioVsNatsWs.p50)}, p99 ${x(s.ratioVsNatsWs.p99)}, delivered ${x(s.ratioVsNatsWs.delivered)}.`);
    L.push('');
    L.push('| system | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | samples | delivered/s | per frame | gaps | conflated/dropped | ticks in/s | frames out/s |');
    L.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const k of s.order) {
      const v = s.systems[k];
      if (!v) continue;
      if (v.error) {
        L.push(`| ${SYSTEM_LABEL[k]} | failed: ${v.error.split('\n')[0].slice(0, 120)} ||||||||||||`);
        continue;
      }
      L.push(`| ${SYSTEM_LABEL[k]} | ${us(v.p50Us)} | ${us(v.p90Us)} | ${us(v.p99Us)} | ${us(v.p999Us)} | ${us(v.maxUs)} | ${v.samples} | ${compact(v.deliveredPerSec)} | ${num(v.deliveredPerFrame, 2)} | ${v.client.gaps} | ${v.server.conflatedOrDropped} | ${compact(v.server.ticksInPerSec)} | ${v.server.framesPublishedPerSec === null ? '–' : compact(v.server.framesPublishedPerSec)} |`);
    }
    const noisy = s.order.filter((k) => (s.systems[k]?.cpu.other ?? 0) > CONTENDED_OTHER_PCT);
    if (noisy.length > 0) {
      L.push('');
      L.push(`⚠ Other people's processes used more than ${CONTENDED_OTHER_PCT}% of a core during ${noisy.map((k) => `${k} (${num(s.systems[k]!.cpu.other)}%)`).join(', ')}: latency there says more about the neighbours than the system.`);
    }
    L.push('');
    const tails: string[] = [];
    const states: string[] = [];
    L.push('| system | CPU % system under test | main thread % | main-thread µs/tick | all threads µs/tick | loop lag p50/p99/max ms | nats-server % | load gen % | subscribers % | machine % | others\' % |');
    L.push('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const k of s.order) {
      const v = s.systems[k];
      if (!v || v.error) continue;
      const c = v.cpu;
      const lag = v.eventLoopLagMs ? `${num(v.eventLoopLagMs.p50)}/${num(v.eventLoopLagMs.p99)}/${num(v.eventLoopLagMs.max)}` : '–';
      tails.push(`${SYSTEM_LABEL[k]} ${sliceSummary(v.sliceMaxUs)}`);
      if (v.server.firmShare != null) states.push(`${SYSTEM_LABEL[k]}: ${num(v.server.firmShare * 100)}% of published frames firm, ${v.server.regimeTransitions ?? 0} stress-regime changes in the window`);
      L.push(`| ${SYSTEM_LABEL[k]} | ${num(c.sut)} | ${num(c.sutMainThread)} | ${num(v.cpuUsPerTick, 2)} | ${num(v.cpuUsPerTickAllThreads, 2)} | ${lag} | ${num(c.natsServer)} | ${num(c.loadgen)} | ${num(c.subscribers)} | ${num(c.machine)} | ${num(c.other)} |`);
    }
    L.push('');
    L.push(`Worst latency per 0.5 s of the window, ms (one tall value: a stall; all alike: a steady tail): ${tails.join(' · ')}.`);
    if (states.length > 0) L.push(`Quote states: ${states.join('; ')}.`);
    L.push('');
  }
  L.push(...rfqMarkdown(r.rfq ?? []));
  for (const x of r.rfq ?? []) if (!x.error) L.push(...riskMarkdown(x.kill, x.hedgeDecision, x.id));
  return L.join('\n');
}

/** sliceMaxUs (100 ms slices) folded to 0.5 s: "[12 9 180 11 …]" */
function sliceSummary(slices: readonly number[] | undefined): string {
  if (slices === undefined || slices.length === 0) return '[–]';
  const out: string[] = [];
  for (let k = 0; k < slices.length; k += 5) out.push(num(Math.max(...slices.slice(k, k + 5)) / 1000, 1));
  return `[${out.join(' ')}]`;
}

const COLORS: Record<SystemKind, string> = { engine: '#1f77b4', floor: '#2ca02c', natsws: '#d62728' };

export function cdfChart(s: ScenarioResult): string {
  const series: Series[] = [];
  for (const k of s.order) {
    const v = s.systems[k];
    if (!v || v.error || v.cdf.length === 0) continue;
    series.push({ name: `${SYSTEM_LABEL[k]} (p99 ${us(v.p99Us)} µs)`, color: COLORS[k], points: v.cdf });
  }
  return lineChart({
    title: `Tick → quote latency CDF: ${s.id}`,
    xLabel: 'latency (µs, log scale)',
    yLabel: 'fraction of quotes ≤ latency',
    xLog: true,
    yRange: [0, 1],
    yFormat: (v) => v.toFixed(2),
    yGuides: [
      { y: 0.5, label: 'p50' },
      { y: 0.99, label: 'p99' },
    ],
    series,
  });
}

/** Scenarios grouped by everything but one parameter; the group with the most points of it. */
function sweepOf(r: RunResult, vary: 'subscribers' | 'instruments' | 'ratePerSec'): ScenarioResult[] {
  const groups = new Map<string, ScenarioResult[]>();
  for (const s of r.scenarios) {
    const key = (['subscribers', 'instruments', 'ratePerSec'] as const).filter((k) => k !== vary).map((k) => s[k]).join('/');
    const g = groups.get(key) ?? [];
    g.push(s);
    groups.set(key, g);
  }
  let best: ScenarioResult[] = [];
  for (const g of groups.values()) if (g.length > best.length) best = g;
  return best.length >= 2 ? [...best].sort((a, b) => a[vary] - b[vary]) : [];
}

export function deliveredChart(r: RunResult): string | null {
  const sw = sweepOf(r, 'subscribers');
  if (sw.length === 0) return null;
  const series: Series[] = (['engine', 'floor', 'natsws'] as const).map((k) => ({
    name: SYSTEM_LABEL[k],
    color: COLORS[k],
    markers: true,
    points: sw.filter((s) => s.systems[k] && !s.systems[k]!.error).map((s) => [s.subscribers, s.systems[k]!.deliveredPerSec] as [number, number]),
  }));
  return lineChart({
    title: `Delivered quotes/s vs subscribers (${compact(sw[0].ratePerSec)} ticks/s, ${compact(sw[0].instruments)} instruments)`,
    xLabel: 'subscribers (log scale)',
    yLabel: 'quote frames delivered per second (log scale)',
    xLog: true,
    yLog: true,
    series,
  });
}

export function costChart(r: RunResult): string | null {
  const sw = sweepOf(r, 'instruments');
  if (sw.length === 0) return null;
  const pick = (k: SystemKind, f: (v: SystemResult) => number | null) =>
    sw.filter((s) => s.systems[k] && !s.systems[k]!.error && f(s.systems[k]!) !== null).map((s) => [s.instruments, f(s.systems[k]!)!] as [number, number]);
  return lineChart({
    title: `CPU per tick vs universe size (${compact(sw[0].ratePerSec)} ticks/s, ${sw[0].subscribers} subscribers)`,
    xLabel: 'instruments (log scale)',
    yLabel: 'CPU µs per tick',
    xLog: true,
    series: [
      { name: 'engine main thread', color: COLORS.engine, markers: true, points: pick('engine', (v) => v.cpuUsPerTick) },
      { name: 'engine all threads', color: '#9467bd', markers: true, points: pick('engine', (v) => v.cpuUsPerTickAllThreads) },
      { name: 'floor main thread', color: COLORS.floor, markers: true, points: pick('floor', (v) => v.cpuUsPerTick) },
    ],
  });
}
