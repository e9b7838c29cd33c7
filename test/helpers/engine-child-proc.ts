/**
 * The parent side of test/helpers/engine-child.ts, for the kill -9 tests: spawns the child (it
 * imports its modules, prints {"loaded"}, then waits for `go()`), and turns its stdout lines into
 * promises. `ready` rejects if the child exits first (a preloaded child killed unused rejects it
 * with nobody waiting: that is not an error, so the rejection is pre-handled).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ChildReady {
  port: number;
  lastSeq: number;
  /** null when the hedge router is off */
  hedgeSeq: number | null;
  positions: number[];
  startMs: number;
}

export interface EngineChild {
  proc: ChildProcess;
  loaded: Promise<void>;
  ready: Promise<ChildReady>;
  /** after SIGTERM: a graceful stop printed its final state */
  stopped: Promise<ChildReady>;
  exited: Promise<void>;
  stderr: string[];
  go(): void;
}

const CHILD = new URL('./engine-child.js', import.meta.url).pathname;

/** Spawns an engine child with `env` (NATS_URL, QE_TEST_SECRET, QE_TEST_CONFIG); `live` tracks it until it exits. */
export function spawnEngineChild(env: NodeJS.ProcessEnv, live: Set<ChildProcess>): EngineChild {
  const proc = spawn(process.execPath, [CHILD], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(proc);
  const stderr: string[] = [];
  proc.stderr!.on('data', (d) => stderr.push(String(d)));
  const lines = createInterface({ input: proc.stdout! });
  let onLoaded!: () => void;
  let onReady!: (r: ChildReady) => void;
  let onStopped!: (r: ChildReady) => void;
  let onFail!: (e: Error) => void;
  const loaded = new Promise<void>((res) => (onLoaded = res));
  const ready = new Promise<ChildReady>((res, rej) => {
    onReady = res;
    onFail = rej;
  });
  ready.catch(() => undefined);
  const stopped = new Promise<ChildReady>((res) => (onStopped = res));
  lines.on('line', (l) => {
    const m = JSON.parse(l);
    if (m.loaded) onLoaded();
    if (m.ready) onReady(m);
    if (m.stopped) onStopped(m);
  });
  const exited = new Promise<void>((res) =>
    proc.once('exit', () => {
      live.delete(proc);
      onFail(new Error(`engine child exited before ready (code ${proc.exitCode}, signal ${proc.signalCode}): ${stderr.join('').slice(-2000)}`));
      res();
    }),
  );
  return { proc, loaded, ready, stopped, exited, stderr, go: () => proc.stdin!.write('go\n') };
}
