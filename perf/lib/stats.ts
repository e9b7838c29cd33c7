/**
 * The harness's pure pieces: histogram summaries, ratios against the floor, goal checks, and the
 * parsers for /proc/<pid>/stat, /proc/stat and Prometheus text. No I/O here, so test/perf can
 * exercise every one of them without starting a process.
 */
import * as hdr from 'hdr-histogram-js';

/** 1 µs .. 1 h, 3 significant digits: ~0.1% value error, a few KiB per histogram. */
export function newLatencyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

export function encodeHistogram(h: hdr.Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** Sums histograms encoded by `encodeHistogram` (one per subscriber process) into one. */
export function mergeHistograms(encoded: readonly string[]): hdr.Histogram {
  const total = newLatencyHistogram();
  for (const e of encoded) {
    const h = hdr.decodeFromCompressedBase64(e);
    total.add(h);
    h.destroy();
  }
  return total;
}

export interface LatencySummary {
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
  readonly meanUs: number;
  readonly samples: number;
}

/** Percentiles of a latency histogram in µs; all NaN when it holds no sample (a system that delivered nothing). */
export function summarize(h: hdr.Histogram): LatencySummary {
  const n = h.totalCount;
  if (n === 0) return { p50Us: NaN, p90Us: NaN, p99Us: NaN, p999Us: NaN, maxUs: NaN, meanUs: NaN, samples: 0 };
  return {
    p50Us: h.getValueAtPercentile(50),
    p90Us: h.getValueAtPercentile(90),
    p99Us: h.getValueAtPercentile(99),
    p999Us: h.getValueAtPercentile(99.9),
    maxUs: h.maxValue,
    meanUs: Math.round(h.mean * 10) / 10,
    samples: n,
  };
}

/**
 * CDF points [latencyUs, fraction ≤ it] for a chart: percentiles spaced evenly in log(1/(1−p)),
 * so the tail (where the systems differ) gets as many points as the body. Small enough for JSON.
 */
export const CDF_PERCENTILES: readonly number[] = [
  0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96.5, 97.5, 98, 98.5, 99, 99.3, 99.5, 99.7, 99.8, 99.9, 99.95, 99.99, 100,
];
export function cdfPoints(h: hdr.Histogram): Array<[number, number]> {
  if (h.totalCount === 0) return [];
  const pts: Array<[number, number]> = [];
  for (const p of CDF_PERCENTILES) {
    const v = p === 0 ? h.minNonZeroValue : p === 100 ? h.maxValue : h.getValueAtPercentile(p);
    const last = pts[pts.length - 1];
    if (last !== undefined && last[0] === v) last[1] = p / 100;
    else pts.push([v, p / 100]);
  }
  return pts;
}

/** a / b rounded to 3 decimals; null when either side is missing or b is 0 (no ratio, not infinity). */
export function ratio(a: number | undefined, b: number | undefined): number | null {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return Math.round((a / b) * 1000) / 1000;
}

export interface SystemFigures {
  readonly p50Us: number;
  readonly p99Us: number;
  readonly deliveredPerSec: number;
  /** delivered ÷ frames published: the fan-out alone, whatever number of frames a system publishes */
  readonly deliveredPerFrame?: number | null;
}

export interface Ratios {
  readonly p50: number | null;
  readonly p99: number | null;
  readonly delivered: number | null;
}

/** Engine relative to a reference system (the floor, or the nats-server WebSocket peer). */
export function ratios(engine: SystemFigures | undefined, ref: SystemFigures | undefined): Ratios {
  return {
    p50: ratio(engine?.p50Us, ref?.p50Us),
    p99: ratio(engine?.p99Us, ref?.p99Us),
    delivered: ratio(engine?.deliveredPerSec, ref?.deliveredPerSec),
  };
}

// ── goals (issue #4): reported, never asserted ────────────────────────────────────────────────

export interface GoalInput {
  readonly scenario: string;
  readonly ratePerSec: number;
  readonly instruments: number;
  readonly subscribers: number;
  readonly engine?: SystemFigures & { readonly cpuUsPerTick: number | null };
  readonly floor?: SystemFigures;
  readonly natsws?: SystemFigures;
}

export interface GoalResult {
  readonly goal: string;
  readonly scenario: string;
  readonly value: number | null;
  readonly target: string;
  /** null when the run had nothing to judge it by */
  readonly met: boolean | null;
}

export const LATENCY_BUDGET = 1.3;
export const DELIVERED_VS_FLOOR = 0.9;
/** "Flat" cost per tick: the largest universe costs at most this much more per tick than the smallest. */
export const FLAT_COST_TOLERANCE = 1.25;

export function evaluateGoals(rows: readonly GoalInput[]): GoalResult[] {
  const out: GoalResult[] = [];
  const judge = (v: number | null, ok: (x: number) => boolean): boolean | null => (v === null ? null : ok(v));
  for (const r of rows) {
    if (r.ratePerSec === 10_000 && (r.subscribers === 1 || r.subscribers === 100)) {
      const q = ratios(r.engine, r.floor);
      out.push({ goal: 'engine p50 / floor p50', scenario: r.scenario, value: q.p50, target: `≤ ${LATENCY_BUDGET}`, met: judge(q.p50, (x) => x <= LATENCY_BUDGET) });
      out.push({ goal: 'engine p99 / floor p99', scenario: r.scenario, value: q.p99, target: `≤ ${LATENCY_BUDGET}`, met: judge(q.p99, (x) => x <= LATENCY_BUDGET) });
    }
    if (r.subscribers === 1000) {
      const f = ratios(r.engine, r.floor).delivered;
      const n = ratios(r.engine, r.natsws).delivered;
      out.push({ goal: 'engine delivered/s / floor delivered/s', scenario: r.scenario, value: f, target: `≥ ${DELIVERED_VS_FLOOR}`, met: judge(f, (x) => x >= DELIVERED_VS_FLOOR) });
      const pf = ratio(r.engine?.deliveredPerFrame ?? undefined, r.floor?.deliveredPerFrame ?? undefined);
      out.push({ goal: 'engine / floor, delivered per published frame (fan-out only)', scenario: r.scenario, value: pf, target: `≥ ${DELIVERED_VS_FLOOR}`, met: judge(pf, (x) => x >= DELIVERED_VS_FLOOR) });
      out.push({ goal: 'engine delivered/s / nats-server WS delivered/s', scenario: r.scenario, value: n, target: '≥ 1', met: judge(n, (x) => x >= 1) });
    }
  }
  // cost per tick against universe size, at equal rate and subscribers
  const groups = new Map<string, GoalInput[]>();
  for (const r of rows) {
    if (r.engine?.cpuUsPerTick == null) continue;
    const k = `${r.ratePerSec}/${r.subscribers}`;
    const g = groups.get(k) ?? [];
    g.push(r);
    groups.set(k, g);
  }
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    const sorted = [...g].sort((a, b) => a.instruments - b.instruments);
    const lo = sorted[0];
    const hi = sorted[sorted.length - 1];
    if (lo.instruments === hi.instruments) continue;
    const v = ratio(hi.engine!.cpuUsPerTick!, lo.engine!.cpuUsPerTick!);
    out.push({
      goal: `engine main-thread CPU per tick, ${hi.instruments} / ${lo.instruments} instruments`,
      scenario: `${lo.scenario}..${hi.scenario}`,
      value: v,
      target: `≤ ${FLAT_COST_TOLERANCE} (flat)`,
      met: judge(v, (x) => x <= FLAT_COST_TOLERANCE),
    });
  }
  return out;
}

// ── /proc parsing ──────────────────────────────────────────────────────────────────────────────

export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  readonly state: string;
  /** user + system CPU time, clock ticks (sysconf CLK_TCK, 100 on Linux) */
  readonly cpuTicks: number;
  readonly threads: number;
  readonly rssPages: number;
}

/**
 * One line of /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat. `comm` is in parentheses and may
 * itself hold spaces and ')' (a thread may be named anything), so fields are counted from the
 * *last* ')': after it come state (field 3) … utime (14), stime (15) … num_threads (20) … rss (24).
 */
export function parseProcStat(line: string): ProcStat {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc stat line: ${line.slice(0, 80)}`);
  const pid = Number(line.slice(0, open).trim());
  const rest = line.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3, so field k is rest[k - 3]
  const field = (k: number): number => {
    const v = Number(rest[k - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc stat field ${k} missing or not a number`);
    return v;
  };
  return {
    pid,
    comm: line.slice(open + 1, close),
    state: rest[0],
    cpuTicks: field(14) + field(15),
    threads: field(20),
    rssPages: field(24),
  };
}

export interface CpuTotals {
  /** all CPUs, clock ticks */
  readonly busy: number;
  readonly total: number;
}

/** The aggregate `cpu ` line of /proc/stat: busy = everything but idle and iowait. */
export function parseCpuTotals(procStat: string): CpuTotals {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) throw new Error('/proc/stat has no aggregate cpu line');
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal [guest guest_nice: already inside user/nice]
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - (v[4] ?? 0), total };
}

/** CPU use between two samples as a percentage of one core. */
export function cpuPercent(ticksBefore: number, ticksAfter: number, wallUs: number, clkTck: number): number {
  if (!(wallUs > 0)) return NaN;
  return Math.round(((((ticksAfter - ticksBefore) / clkTck) * 1e6) / wallUs) * 1000) / 10;
}

/**
 * Prometheus text exposition → `name{labels}` → value (labels exactly as the exporter wrote them).
 * Comments, blank lines and NaN/±Inf samples are kept as numbers JS understands.
 */
export function parsePrometheus(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    if (sp < 0) continue;
    const key = line.slice(0, sp);
    const val = line.slice(sp + 1);
    const n = val === '+Inf' ? Infinity : val === '-Inf' ? -Infinity : Number(val);
    m.set(key, n);
  }
  return m;
}

// ── repeats ────────────────────────────────────────────────────────────────────────────────────

export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/**
 * One result from repeated phases of a system: every top-level number and every number one level
 * down (cpu.*, server.*, …) is the median over the phases that did not fail; the rest (the CDF,
 * counts of strings) comes from the phase whose p50 is nearest that median. A lone result is
 * returned as is. Medians, not means: on a shared machine one phase with a noisy neighbour should
 * not move the figure.
 */
export function medianOfRepeats<T extends { p50Us: number; p99Us: number; error?: string }>(runs: readonly T[]): T & { repeats?: { n: number; p50Us: number[]; p99Us: number[] } } {
  const ok = runs.filter((r) => r.error === undefined);
  if (runs.length === 1 || ok.length === 0) return runs[runs.length - 1];
  const m50 = median(ok.map((r) => r.p50Us));
  const base = ok.reduce((best, r) => (Math.abs(r.p50Us - m50) < Math.abs(best.p50Us - m50) ? r : best), ok[0]);
  const out: Record<string, unknown> = { ...base };
  const medianOf = (get: (r: T) => unknown): unknown => {
    const xs = ok.map(get);
    return xs.every((x) => typeof x === 'number') ? median(xs as number[]) : get(base);
  };
  for (const [k, v] of Object.entries(base)) {
    if (typeof v === 'number') out[k] = medianOf((r) => (r as Record<string, unknown>)[k]);
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const inner: Record<string, unknown> = { ...(v as Record<string, unknown>) };
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) {
        if (typeof v2 === 'number') inner[k2] = medianOf((r) => ((r as Record<string, unknown>)[k] as Record<string, unknown> | null)?.[k2]);
      }
      out[k] = inner;
    }
  }
  out.repeats = { n: ok.length, p50Us: ok.map((r) => r.p50Us), p99Us: ok.map((r) => r.p99Us) };
  return out as T & { repeats: { n: number; p50Us: number[]; p99Us: number[] } };
}
