/**
 * Parent ⇄ child messages over Node's IPC channel. Requests carry an `id` that the reply echoes;
 * every child answers each request exactly once (`ok: false` with `error` when it failed).
 */
import type { ChildProcess } from 'node:child_process';

export const SystemKind = { ENGINE: 'engine', FLOOR: 'floor', NATSWS: 'natsws' } as const;
export type SystemKind = (typeof SystemKind)[keyof typeof SystemKind];

export interface SocketSpec {
  readonly tier: 1 | 2 | 3;
  readonly instruments: readonly string[];
  /** engine only: bearer token of this socket's client */
  readonly token?: string;
}

/** parent → subscriber process */
export type SubscriberRequest =
  | { readonly id: number; readonly cmd: 'open'; readonly system: SystemKind; readonly url: string; readonly sockets: readonly SocketSpec[]; readonly quotePrefix: string }
  /** start timing now, for `durationMs` by the subscriber's own clock (a flooded process reads IPC late) */
  | { readonly id: number; readonly cmd: 'measure'; readonly durationMs: number }
  | { readonly id: number; readonly cmd: 'collect' }
  | { readonly id: number; readonly cmd: 'close' };

export interface SubscriberCollect {
  /** hdr histogram of tick→quote latency, µs, compressed base64 */
  readonly histogram: string;
  /** quote frames received in the window (snapshots excluded) */
  readonly frames: number;
  /** frames missing by per-(tier, instrument) sequence: conflated or dropped before this client */
  readonly gaps: number;
  readonly snapshots: number;
  /** frames whose tick sequence did not advance (re-publishes without a new tick): not timed */
  readonly repeats: number;
  readonly slowNotices: number;
  readonly closes: number;
  readonly errors: number;
  readonly elapsedUs: number;
  /** the worst latency (µs) per SLICE_US of the window by receipt time, 0 where nothing arrived */
  readonly sliceMaxUs: number[];
}

/** width of one slice of the window in SubscriberCollect.sliceMaxUs */
export const SLICE_US = 100_000;

/** parent → load generator */
export type LoadgenRequest =
  | { readonly id: number; readonly cmd: 'start'; readonly configPath: string; readonly ratePerSec: number; readonly seed: number; readonly timeScale: number }
  | { readonly id: number; readonly cmd: 'stats' }
  | { readonly id: number; readonly cmd: 'stop' };

export interface LoadgenStats {
  readonly published: number;
  readonly shortfall: number;
  readonly elapsedMs: number;
}

/** parent → floor relay */
export type FloorRequest = { readonly id: number; readonly cmd: 'stats' };

export interface FloorStats {
  readonly ticks: number;
  readonly frames: number;
  readonly opened: number;
  readonly closedAbruptly: number;
  readonly loopLagP50Ms: number;
  readonly loopLagP99Ms: number;
  readonly loopLagMaxMs: number;
}

export interface Reply<T = unknown> {
  readonly id: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly data?: T;
}

/** Child side: answers requests with `handler`; a throw becomes `ok: false`. Exits when the parent goes away. */
export function serve<Req extends { id: number; cmd: string }>(handler: (req: Req) => Promise<unknown> | unknown): void {
  process.on('message', (m: Req) => {
    Promise.resolve()
      .then(() => handler(m))
      .then(
        (data) => process.send?.({ id: m.id, ok: true, data } satisfies Reply),
        (e: unknown) => process.send?.({ id: m.id, ok: false, error: e instanceof Error ? e.stack ?? e.message : String(e) } satisfies Reply),
      );
  });
  // an orphaned child must not keep sockets and CPU busy after the harness died
  process.on('disconnect', () => process.exit(0));
  // messages sent before the listener above existed would be lost: the parent waits for this
  process.send?.({ ready: true });
}

/** Parent side: resolves on the child's `{ready: true}`. Call right after spawning. */
export function whenReady(child: ChildProcess, timeoutMs: number, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onMessage = (m: { ready?: boolean }) => {
      if (m?.ready !== true) return;
      done();
      resolve();
    };
    const onExit = (code: number | null, sig: string | null) => {
      done();
      reject(new Error(`${what} exited (${code ?? sig}) before it was ready`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what} not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

let nextId = 1;

/** Parent side: one request, its reply (or a rejection after `timeoutMs` or if the child exits). */
export function request<T>(child: ChildProcess, msg: Record<string, unknown> & { cmd: string }, timeoutMs = 30_000): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    const onMessage = (r: Reply<T>) => {
      if (r.id !== id) return;
      done();
      if (r.ok) resolve(r.data as T);
      else reject(new Error(`child ${child.pid} ${msg.cmd}: ${r.error}`));
    };
    const onExit = (code: number | null, sig: string | null) => {
      done();
      reject(new Error(`child ${child.pid} exited (${code ?? sig}) during ${msg.cmd}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`child ${child.pid} did not answer ${msg.cmd} within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send({ ...msg, id });
  });
}

/** parent → RFQ client process (perf/rfq-proc.ts) */
export type RfqProcRequest =
  | {
      readonly id: number;
      readonly cmd: 'open';
      readonly url: string;
      /** one socket per token (one per RFQ client) */
      readonly tokens: readonly string[];
      readonly instruments: ReadonlyArray<{ readonly id: string; readonly minSize: number }>;
      /** acceptIds are `<prefix>-<n>`: unique across phases and runs (the journal remembers them for good) */
      readonly acceptPrefix: string;
    }
  /** start sending RFQs at this total rate over all sockets (not timed until `measure`) */
  | { readonly id: number; readonly cmd: 'start'; readonly ratePerSec: number }
  /** time every request sent from now for `durationMs` (by this process's clock) */
  | { readonly id: number; readonly cmd: 'measure'; readonly durationMs: number }
  /** stop sending, wait up to `drainMs` for the window's answers, report */
  | { readonly id: number; readonly cmd: 'collect'; readonly drainMs: number }
  | { readonly id: number; readonly cmd: 'close' };

export interface RfqProcCollect {
  /** hdr histograms (µs, compressed base64) */
  readonly rfqToQuote: string;
  readonly acceptToConfirm: string;
  readonly counts: import('./rfq.js').RfqCounts;
  readonly elapsedUs: number;
}
