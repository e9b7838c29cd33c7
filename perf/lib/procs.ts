/**
 * Child processes of a perf run: spawning (optionally pinned with taskset), reading the JSON line
 * a server prints when it listens, /proc CPU samples, and stopping every child by pid.
 *
 * Every child is registered in `children` and `stopAll()` ends each by its own pid (SIGTERM, then
 * SIGKILL after a grace period): never by name, since other people's nats-servers run here too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { parseCpuTotals, parseProcStat, type CpuTotals } from './stats.js';

const children = new Set<ChildProcess>();

export interface Pinning {
  /** CPUs for brokers and the system under test (taskset list, e.g. "0") */
  readonly server: string | null;
  /** CPUs for the load generator and subscriber processes */
  readonly client: string | null;
}

/**
 * Servers on CPU 0, load generator and clients on CPU 1 when taskset exists and there are ≥ 2
 * CPUs: each side then has a core of its own and cannot steal the other's time slices. Without
 * taskset (or with --no-pin) everything floats and the report says so.
 */
export function choosePinning(wanted: boolean): Pinning {
  if (!wanted || availableParallelism() < 2) return { server: null, client: null };
  const r = spawnSync('taskset', ['-c', '0', 'true']);
  if (r.error || r.status !== 0) return { server: null, client: null };
  return { server: '0', client: '1' };
}

export interface SpawnOptions {
  readonly cpus?: string | null;
  readonly env?: NodeJS.ProcessEnv;
  readonly ipc?: boolean;
  /** extra node flags, e.g. --cpu-prof */
  readonly nodeFlags?: readonly string[];
  readonly label: string;
  /** do not relay stderr (the caller reads it, e.g. nats-server's log) */
  readonly quiet?: boolean;
}

/** Runs `node <flags> <script> <args>` (under `taskset -c <cpus>` when given). stderr is inherited. */
export function spawnNode(script: string, args: readonly string[], o: SpawnOptions): ChildProcess {
  return spawnTracked(process.execPath, [...(o.nodeFlags ?? []), script, ...args], o);
}

export function spawnTracked(cmd: string, args: readonly string[], o: SpawnOptions): ChildProcess {
  // taskset execs the command in place, so the child's pid is the real process's pid
  const [file, argv] = o.cpus ? ['taskset', ['-c', o.cpus, cmd, ...args]] : [cmd, [...args]];
  const child = spawn(file, argv, {
    stdio: ['ignore', 'pipe', 'pipe', ...(o.ipc ? (['ipc'] as const) : [])],
    env: { ...process.env, ...o.env },
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  // stderr: relayed line by line with a label, so a child's crash is visible in the run's output
  if (!o.quiet) {
    const err = createInterface({ input: child.stderr! });
    err.on('line', (l) => {
      if (l.trim() !== '') process.stderr.write(`  [${o.label} ${child.pid}] ${l}\n`);
    });
  }
  return child;
}

/** Resolves with the first stdout line of `child` that parses as a JSON object. */
export function firstJsonLine<T>(child: ChildProcess, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => finish(new Error(`${what} printed no JSON line within ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code: number | null, sig: string | null) => finish(new Error(`${what} exited (${code ?? sig}) before it was ready`));
    const finish = (e: Error | null, v?: T) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      rl.off('line', onLine);
      // keep draining stdout so the child never blocks on a full pipe
      child.stdout!.resume();
      if (e) reject(e);
      else resolve(v as T);
    };
    const onLine = (l: string) => {
      if (!l.startsWith('{')) return;
      try {
        finish(null, JSON.parse(l) as T);
      } catch {
        // a log line that merely starts with '{' is not the ready line: keep waiting
      }
    };
    rl.on('line', onLine);
    child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c, 3_000)));
}

/** For a synchronous exit path (uncaught error): SIGKILL whatever is left, by pid. */
export function killAllNow(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

// ── CPU samples ────────────────────────────────────────────────────────────────────────────────

export const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const v = Number(r.stdout?.trim());
  return Number.isFinite(v) && v > 0 ? v : 100;
})();

/** CPU ticks of a process (all threads), or NaN when it is gone. */
export function processTicks(pid: number): number {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).cpuTicks;
  } catch {
    // the process exited between the listing and the read: no sample
    return NaN;
  }
}

/**
 * CPU time of one thread in µs (`tid` = pid for the main thread, where the event loop runs):
 * schedstat's run time in ns when the kernel has it, else stat's 10 ms ticks.
 */
export function threadCpuUs(pid: number, tid = pid): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
  } catch {
    // no schedstat (kernel without CONFIG_SCHED_INFO) or the thread is gone: fall back to stat
  }
  try {
    return (parseProcStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')).cpuTicks * 1e6) / CLK_TCK;
  } catch {
    // gone: no sample
    return NaN;
  }
}

export function machineTicks(): CpuTotals | null {
  if (!existsSync('/proc/stat')) return null;
  return parseCpuTotals(readFileSync('/proc/stat', 'utf8'));
}

export function loadAverage(): number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);
  } catch {
    // not Linux: no load figure in the report
    return [];
  }
}
