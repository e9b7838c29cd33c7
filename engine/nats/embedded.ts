/**
 * The embedded default broker: a real `nats-server` child process on loopback with JetStream,
 * used when NATS_URL is unset (and by every integration test). Not a mock: the same binary a
 * deployment runs (Debian's 2.9.10).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EngineError, ErrorCode } from '../errors.js';

export interface EmbeddedNatsOptions {
  /** JetStream store and generated config live here. */
  readonly dataDir: string;
  /** 0 = pick a free port (the OS chooses; read back from the server's log). */
  readonly port?: number;
  readonly binary?: string;
  /** JetStream memory / file store caps, bytes. Small by default: this is one desk's engine. */
  readonly maxMemBytes?: number;
  readonly maxFileBytes?: number;
  readonly startTimeoutMs?: number;
}

export interface EmbeddedNats {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** SIGTERM and wait for exit (lame-duck is not used: the engine owns the only clients). */
  stop(): Promise<void>;
  /** Signal without waiting for a clean shutdown (tests: SIGKILL the broker). */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export const NATS_INSTALL_HINT = 'apt-get update && apt-get install -y nats-server';

export function findNatsServer(binary = process.env.NATS_SERVER_BIN ?? 'nats-server'): string | null {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
      const s = spawnSync(p, ['--version'], { encoding: 'utf8' });
      if (!s.error && s.status === 0) return p;
    }
    return null;
  }
  return binary;
}

export async function startEmbeddedNats(opts: EmbeddedNatsOptions): Promise<EmbeddedNats> {
  const binary = opts.binary ?? findNatsServer();
  if (!binary) {
    throw new EngineError(ErrorCode.NATS_SERVER_MISSING, `nats-server not found; install it with: ${NATS_INSTALL_HINT}`);
  }
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const confPath = join(dataDir, 'nats-server.conf');
  const port = opts.port && opts.port > 0 ? opts.port : -1;
  writeFileSync(
    confPath,
    [
      `listen: "127.0.0.1:${port}"`,
      // A slow engine must be cut off visibly rather than buffer unboundedly in the broker.
      'max_pending: 64MB',
      'write_deadline: "5s"',
      'jetstream {',
      `  store_dir: ${JSON.stringify(dataDir)}`,
      `  max_memory_store: ${opts.maxMemBytes ?? 256 * 1024 * 1024}`,
      `  max_file_store: ${opts.maxFileBytes ?? 4 * 1024 * 1024 * 1024}`,
      '}',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(binary, ['-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));

  const actualPort = await new Promise<number>((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new EngineError(ErrorCode.NATS_UNAVAILABLE, `nats-server did not start within ${opts.startTimeoutMs ?? 10_000} ms:\n${buf.slice(-2000)}`));
    }, opts.startTimeoutMs ?? 10_000);
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = /Listening for client connections on [^\s]*:(\d+)/.exec(buf);
      if (m && /Server is ready/.test(buf)) {
        clearTimeout(timer);
        // keep draining stderr so the child never blocks on a full pipe
        child.stderr!.off('data', onData);
        child.stderr!.resume();
        res(Number(m[1]));
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new EngineError(ErrorCode.NATS_UNAVAILABLE, `nats-server exited (${code}) during start:\n${buf.slice(-2000)}`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      rej(new EngineError(ErrorCode.NATS_SERVER_MISSING, `cannot run ${binary}: ${err.message}`, { cause: err }));
    });
  });

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    url: `nats://127.0.0.1:${actualPort}`,
    port: actualPort,
    pid: child.pid!,
    stop: () => kill('SIGTERM'),
    kill,
  };
}
