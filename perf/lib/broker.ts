/**
 * The run's nats-server: client port, the built-in WebSocket listener (the peer system) and the
 * monitoring port (/varz: slow consumers, CPU), all on loopback with ports the OS picks. Not the
 * engine's embedded broker: that one has no WebSocket listener, and engine/ is not the harness's.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findNatsServer, NATS_INSTALL_HINT } from '../../engine/nats/embedded.js';
import { spawnTracked, stopChild } from './procs.js';

export interface Broker {
  readonly url: string;
  readonly wsUrl: string | null;
  readonly monitorUrl: string | null;
  /** null when the broker is external (NATS_URL) */
  readonly pid: number | null;
  stop(): Promise<void>;
}

export async function startBroker(dir: string, cpus: string | null): Promise<Broker> {
  const bin = findNatsServer();
  if (bin === null) throw new Error(`nats-server not found; install it with: ${NATS_INSTALL_HINT}`);
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'nats-server.conf');
  writeFileSync(
    conf,
    [
      'listen: "127.0.0.1:-1"',
      'http: "127.0.0.1:-1"',
      // the same limits the engine's embedded broker uses, so the engine sees the broker it ships with
      'max_pending: 64MB',
      'write_deadline: "5s"',
      // the engine books trades to JetStream at start-up, as with its embedded broker
      'jetstream {',
      `  store_dir: ${JSON.stringify(join(dir, 'js'))}`,
      '  max_memory_store: 268435456',
      '  max_file_store: 1073741824',
      '}',
      'websocket {',
      '  listen: "127.0.0.1:-1"',
      '  no_tls: true',
      // small frames at a high rate: compression would cost CPU and latency for nothing
      '  compression: false',
      '}',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawnTracked(bin, ['-c', conf], { cpus, label: 'nats-server', quiet: true });
  const ports = await new Promise<{ client: number; ws: number; http: number }>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`nats-server did not start within 10 s:\n${buf.slice(-2000)}`)), 10_000);
    const onData = (d: Buffer) => {
      buf += d.toString();
      const c = /Listening for client connections on [^\s]*:(\d+)/.exec(buf);
      const w = /Listening for websocket clients on ws:\/\/[^\s]*:(\d+)/.exec(buf);
      const h = /Starting http monitor on [^\s]*:(\d+)/.exec(buf);
      if (c && w && h && /Server is ready/.test(buf)) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        child.stderr!.resume();
        resolve({ client: Number(c[1]), ws: Number(w[1]), http: Number(h[1]) });
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code}) during start:\n${buf.slice(-2000)}`));
    });
  });
  return {
    url: `nats://127.0.0.1:${ports.client}`,
    wsUrl: `ws://127.0.0.1:${ports.ws}`,
    monitorUrl: `http://127.0.0.1:${ports.http}`,
    pid: child.pid!,
    stop: () => stopChild(child),
  };
}

/** NATS_URL given: use it; the WebSocket peer runs only when NATS_WS_URL names its listener too. */
export function externalBroker(env: NodeJS.ProcessEnv): Broker | null {
  const url = env.NATS_URL;
  if (!url) return null;
  return {
    url,
    wsUrl: env.NATS_WS_URL || null,
    monitorUrl: env.NATS_MONITOR_URL || null,
    pid: null,
    stop: async () => undefined,
  };
}

export interface Varz {
  readonly slowConsumers: number;
  readonly outMsgs: number;
  readonly inMsgs: number;
}

export async function readVarz(monitorUrl: string | null): Promise<Varz | null> {
  if (monitorUrl === null) return null;
  try {
    const r = await fetch(`${monitorUrl}/varz`);
    const j = (await r.json()) as { slow_consumers?: number; out_msgs?: number; in_msgs?: number };
    return { slowConsumers: j.slow_consumers ?? 0, outMsgs: j.out_msgs ?? 0, inMsgs: j.in_msgs ?? 0 };
  } catch {
    // monitoring is optional (an external broker may not expose it): the figure is left out
    return null;
  }
}
