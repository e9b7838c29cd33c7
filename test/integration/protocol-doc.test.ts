/**
 * The minimal client printed in docs/protocol.md, run as written (only the URL changed) against a
 * real engine: proof that a client written from the doc alone authenticates, subscribes and
 * decodes quotes.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TestClient } from '../helpers/client.js';
import { startTestEngine } from '../helpers/engine.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

t.test('protocol doc - the minimal Node client from docs/protocol.md receives firm quotes', async (t) => {
  const doc = readFileSync(`${root}docs/protocol.md`, 'utf8');
  const section = doc.slice(doc.indexOf('### Minimal client (Node)'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  t.ok(m, 'the doc has a js code block under "Minimal client (Node)"');
  const te = await startTestEngine(t);
  const code = m![1].replace('ws://127.0.0.1:8080/', `ws://127.0.0.1:${te.engine.port}/`);
  t.not(code, m![1], 'the example connects to a URL the test can redirect');
  // inside the repo so that `ws` and `@msgpack/msgpack` resolve from node_modules
  const file = `${root}.doc-client-${process.pid}.mjs`;
  writeFileSync(file, code);
  t.teardown(() => rmSync(file, { force: true }));
  const child = spawn(process.execPath, [file], { env: { ...process.env, TOKEN: TestClient.token(te.secret, 'atlas') }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const deadline = Date.now() + 10_000;
  while (!/EURUSD \d+ \[/.test(out) && Date.now() < deadline) {
    te.tickAll('EURUSD', 1.08);
    await new Promise((r) => setTimeout(r, 200));
  }
  t.match(out, /EURUSD \d+ \[ 1000000, [\d.]+, [\d.]+ \]/, 'the doc client printed a firm EURUSD band-1 level');
  t.notMatch(out, /error/, 'no error frames');
});
