/**
 * What a run measures: the scenarios (tick rate × universe × subscribers), the generated engine
 * config for each universe, and which instruments each subscriber socket watches.
 */
import type { Config, ConfigInput } from '../../engine/config.js';
import { generateUniverse } from '../../feeds/universe.js';
import { SystemKind } from './ipc.js';

export interface Scenario {
  readonly id: string;
  readonly ratePerSec: number;
  readonly instruments: number;
  readonly subscribers: number;
  /** instruments each subscriber socket subscribes to */
  readonly watch: number;
}

export const FULL_RATES = [1_000, 10_000, 50_000] as const;
export const FULL_INSTRUMENTS = [100, 1_000, 10_000] as const;
export const FULL_SUBSCRIBERS = [1, 100, 1_000] as const;
/** the point the one-factor sweeps pivot on */
export const BASE = { ratePerSec: 10_000, instruments: 1_000, subscribers: 100 } as const;
/**
 * Each subscriber watches this share of the universe, so a subscriber's frame rate (≈ tick rate ×
 * share, in its own tier) does not change with the universe size: the instruments sweep then
 * varies the engine's state, not the clients' load. 10% at 10k ticks/s ≈ 1,000 frames/s a socket.
 */
export const DEFAULT_WATCH_FRACTION = 0.1;
/** at most this many per subscribe message (the gateway's CLIENT_LIMITS.maxArrayLength is 1024) */
export const MAX_WATCH = 1000;

export function watchFor(instruments: number, fixed: number | undefined, fraction = DEFAULT_WATCH_FRACTION): number {
  const w = fixed ?? Math.round(instruments * fraction);
  return Math.max(1, Math.min(w, instruments, MAX_WATCH));
}

export const QUICK_PARAMS = [
  { id: 'q-10k-500i-1s', ratePerSec: 10_000, instruments: 500, subscribers: 1 },
  { id: 'q-10k-500i-100s', ratePerSec: 10_000, instruments: 500, subscribers: 100 },
] as const;

export function quickScenarios(fixedWatch?: number, fraction?: number): Scenario[] {
  return QUICK_PARAMS.map((q) => ({ ...q, watch: watchFor(q.instruments, fixedWatch, fraction) }));
}

export function scenarioId(rate: number, instruments: number, subscribers: number): string {
  const k = (n: number) => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
  return `${k(rate)}tps-${k(instruments)}i-${k(subscribers)}s`;
}

/**
 * One factor at a time around BASE (7 scenarios: each sweep's values with the other two at the
 * base), or the full grid (27). Scenarios sharing a universe are adjacent so it is generated once.
 */
export function sweepScenarios(opts: {
  grid: boolean;
  rates?: readonly number[];
  instruments?: readonly number[];
  subscribers?: readonly number[];
  /** a fixed count per subscriber instead of the universe share */
  watch?: number;
  watchFraction?: number;
}): Scenario[] {
  const rates = opts.rates ?? FULL_RATES;
  const insts = opts.instruments ?? FULL_INSTRUMENTS;
  const subs = opts.subscribers ?? FULL_SUBSCRIBERS;
  const seen = new Set<string>();
  const out: Scenario[] = [];
  const add = (r: number, i: number, s: number) => {
    const id = scenarioId(r, i, s);
    if (seen.has(id)) return;
    seen.add(id);
    out.push({ id, ratePerSec: r, instruments: i, subscribers: s, watch: watchFor(i, opts.watch, opts.watchFraction) });
  };
  if (opts.grid) {
    for (const i of insts) for (const r of rates) for (const s of subs) add(r, i, s);
  } else {
    const baseR = rates.includes(BASE.ratePerSec) ? BASE.ratePerSec : rates[Math.floor(rates.length / 2)];
    const baseI = insts.includes(BASE.instruments) ? BASE.instruments : insts[Math.floor(insts.length / 2)];
    const baseS = subs.includes(BASE.subscribers) ? BASE.subscribers : subs[Math.floor(subs.length / 2)];
    for (const i of insts) {
      if (i === baseI) {
        for (const s of subs) add(baseR, i, s);
        for (const r of rates) add(r, i, baseS);
      } else add(baseR, i, baseS);
    }
  }
  return out;
}

/** Systems in the order a scenario runs them: alternated between scenarios so none always goes first. */
export function systemOrder(index: number, systems: readonly SystemKind[]): SystemKind[] {
  return index % 2 === 0 ? [...systems] : [...systems].reverse();
}

export const PERF_CLIENTS_PER_TIER_MIN = 4;

export function perfClientId(tier: number, k: number): string {
  return `perf-t${tier}-${k}`;
}

/**
 * The engine config of a perf universe: `n` instruments generated from the default universe,
 * enough clients for one per subscriber socket across the three tiers, and two market settings
 * that keep the measurement on the quoting path rather than the degradation policy:
 *   minVenues 1         an instrument is firm from its first tick (a 10,000-instrument universe at
 *                       1k ticks/s would otherwise stay "thin" for most of a run)
 *   staleAfterMs max    a venue stream ticks every streams/rate seconds (35 s at 10,000 instruments,
 *                       1k ticks/s); staleness would pull quotes and re-publish old ticks
 */
export function perfConfigInput(base: Config, instruments: number, subscribers: number): ConfigInput {
  const input = generateUniverse(base, instruments) as ConfigInput & { market?: Record<string, unknown>; gateway?: Record<string, unknown> };
  const perTier = Math.max(PERF_CLIENTS_PER_TIER_MIN, Math.ceil(subscribers / 3));
  const clients: ConfigInput['clients'] = [];
  for (const tier of [1, 2, 3] as const) {
    for (let k = 0; k < perTier; k++) clients.push({ id: perfClientId(tier, k), name: `perf tier ${tier} client ${k}`, tier });
  }
  input.clients = clients;
  input.market = { ...(input.market ?? {}), minVenues: 1, staleAfterMs: 600_000 };
  input.gateway = { ...(input.gateway ?? {}), port: 0 };
  return input;
}

/** Socket j: tier (j mod 3) + 1, client j div 3 of that tier, `watch` consecutive instruments from j × watch (mod n). */
export function socketPlan(instrumentIds: readonly string[], subscribers: number, watch: number): Array<{ tier: 1 | 2 | 3; client: string; instruments: string[] }> {
  const n = instrumentIds.length;
  const w = Math.min(watch, n);
  const out: Array<{ tier: 1 | 2 | 3; client: string; instruments: string[] }> = [];
  for (let j = 0; j < subscribers; j++) {
    const tier = ((j % 3) + 1) as 1 | 2 | 3;
    const instruments: string[] = [];
    for (let m = 0; m < w; m++) instruments.push(instrumentIds[(j * w + m) % n]);
    out.push({ tier, client: perfClientId(tier, Math.floor(j / 3)), instruments });
  }
  return out;
}

/** Subscriber processes for a socket count: a few processes, each hosting many sockets. */
export function subscriberProcesses(subscribers: number, max: number): number {
  if (subscribers <= 1) return 1;
  if (subscribers <= 10) return Math.min(max, 1);
  if (subscribers <= 200) return Math.min(max, 2);
  return max;
}

export const ALL_SYSTEMS: readonly SystemKind[] = [SystemKind.ENGINE, SystemKind.FLOOR, SystemKind.NATSWS];

/**
 * `--set pricing.miniBatchRows=0`: config overrides for A/B runs of the engine. The value is read
 * as JSON when it parses (numbers, booleans, arrays), else as a string; the path must exist.
 */
export function applyConfigSets<T extends object>(input: T, sets: readonly string[]): T {
  const out = JSON.parse(JSON.stringify(input)) as T;
  for (const set of sets) {
    const eq = set.indexOf('=');
    if (eq <= 0) throw new Error(`--set ${set}: expected path=value`);
    const path = set.slice(0, eq).split('.');
    const raw = set.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    let node = out as Record<string, unknown>;
    for (let k = 0; k < path.length - 1; k++) {
      const next = node[path[k]];
      if (next === null || typeof next !== 'object') throw new Error(`--set ${set}: no config section ${path.slice(0, k + 1).join('.')}`);
      node = next as Record<string, unknown>;
    }
    node[path[path.length - 1]] = value;
  }
  return out;
}
