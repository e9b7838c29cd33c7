/** A real nats-server per test file, on a free loopback port, with JetStream in a temp dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { startEmbeddedNats, type EmbeddedNats } from '../../engine/nats/embedded.js';

export interface TestBroker {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  server: EmbeddedNats;
  /** Kill (SIGKILL by default) and start again on the same port and store. */
  restart(downMs?: number, signal?: NodeJS.Signals): Promise<void>;
}

export async function startBroker(t: Test): Promise<TestBroker> {
  const dataDir = mkdtempSync(join(tmpdir(), 'qe-nats-'));
  const server = await startEmbeddedNats({ dataDir });
  const broker: TestBroker = {
    url: server.url,
    port: server.port,
    dataDir,
    server,
    async restart(downMs = 0, signal = 'SIGKILL') {
      await broker.server.kill(signal);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      broker.server = await startEmbeddedNats({ dataDir, port: broker.port });
    },
  };
  t.teardown(async () => {
    await broker.server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return broker;
}
