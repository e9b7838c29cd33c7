/** The trader screen's static files from the gateway's own server: types, cache headers, redirects, 404s, no traversal. */
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assetName, serveScreen } from '../../engine/screen/serve.js';
import { startTestEngine } from '../helpers/engine.js';

t.test('screen serve - asset names: plain relative paths only', async (t) => {
  t.equal(assetName('/screen/'), 'index.html');
  t.equal(assetName('/screen/app.js'), 'app.js');
  t.equal(assetName('/screen/a/b.css'), 'a/b.css');
  for (const bad of ['/screen/../package.json', '/screen/%2e%2e/package.json', '/screen/a/../../x', '/screen/..%2fx', '/screen/%2e%2e%5cx', '/screen/a//b', '/screen/./app.js', '/screen/%E0%A4%A', '/screen/a%00b', '/other/app.js']) {
    t.equal(assetName(bad), null, `refused: ${bad}`);
  }
});

t.test('screen serve - files with content types, ETag revalidation, redirect keeping the query, JSON 404s', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qe-screen-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>x</title>');
  writeFileSync(join(dir, 'app.js'), 'console.log(1)');
  writeFileSync(join(dir, 'app.css'), 'body{}');
  writeFileSync(join(dir, 'sub', 'x.svg'), '<svg/>');
  writeFileSync(join(dir, 'secret.txt'), 'not a served type');
  // a file outside the build that a traversal would reach
  writeFileSync(join(dir, '..', 'qe-screen-outside.json'), '{"leak":true}');
  t.teardown(() => rmSync(join(dir, '..', 'qe-screen-outside.json'), { force: true }));

  const te = await startTestEngine(t, { engine: { screenDir: false } });
  const served = serveScreen(te.engine.gateway, dir);
  t.equal(served.files, 4, 'html, js, css, svg served; .txt is not a served type');
  const base = `http://127.0.0.1:${te.engine.port}`;

  const index = await fetch(`${base}/screen/`);
  t.equal(index.status, 200);
  t.match(index.headers.get('content-type'), /^text\/html/);
  t.equal(index.headers.get('cache-control'), 'no-cache');
  t.match(index.headers.get('content-security-policy'), /connect-src 'self'/);
  t.equal(index.headers.get('x-frame-options'), 'DENY');
  t.equal(index.headers.get('referrer-policy'), 'no-referrer', 'the token in the page URL never leaks as a referrer');
  t.equal(await index.text(), '<!doctype html><title>x</title>');

  const js = await fetch(`${base}/screen/app.js`);
  t.match(js.headers.get('content-type'), /^text\/javascript/);
  t.equal(js.headers.get('x-content-type-options'), 'nosniff');
  const etag = js.headers.get('etag');
  t.match(etag, /^"[A-Za-z0-9_-]{22}"$/);
  const again = await fetch(`${base}/screen/app.js`, { headers: { 'if-none-match': etag! } });
  t.equal(again.status, 304, 'revalidation with the ETag: 304');
  t.equal((await again.text()).length, 0, 'no body on 304');
  t.match((await fetch(`${base}/screen/app.css`)).headers.get('content-type'), /^text\/css/);
  t.equal((await fetch(`${base}/screen/sub/x.svg`)).headers.get('content-type'), 'image/svg+xml');

  const redirect = await fetch(`${base}/screen?token=abc&format=json`, { redirect: 'manual' });
  t.equal(redirect.status, 302);
  t.equal(redirect.headers.get('location'), '/screen/?token=abc&format=json', 'the query (token) survives the redirect');

  for (const path of ['/screen/nope.js', '/screen/secret.txt', '/screen/%2e%2e/qe-screen-outside.json', '/screen/..%2Fqe-screen-outside.json', '/screen/sub/', '/screen/sub']) {
    const r = await fetch(`${base}${path}`);
    t.equal(r.status, 404, `404: ${path}`);
    t.match(r.headers.get('content-type'), /^application\/json/);
    t.same(((await r.json()) as { code: string }).code, 'not_found');
  }
  // fetch() normalizes literal ../ in URLs, so send the raw request line as an attacker would
  const raw = await rawGet(te.engine.port, '/screen/../qe-screen-outside.json');
  t.notMatch(raw, /leak/, 'a raw ../ path does not reach outside the build');
  t.match((await fetch(`${base}/health`)).headers.get('content-type'), /^application\/json/, 'the gateway\'s own routes still answer');
  t.equal((await fetch(`${base}/other`)).status, 404, 'other paths keep the gateway 404');
});

t.test('screen serve - a missing build answers 404 JSON, not a crash', async (t) => {
  const te = await startTestEngine(t, { engine: { screenDir: false } });
  const warned: object[] = [];
  const served = serveScreen(te.engine.gateway, join(tmpdir(), 'qe-screen-does-not-exist'), { warn: (o) => warned.push(o) });
  t.equal(served.files, 0);
  t.equal(warned.length, 1, 'logged once');
  const r = await fetch(`http://127.0.0.1:${te.engine.port}/screen/`);
  t.equal(r.status, 404);
  t.match(await r.json(), { code: 'not_found', message: /not built/ });
});

async function rawGet(port: number, path: string): Promise<string> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    let buf = '';
    s.on('data', (d) => (buf += d.toString('latin1')));
    s.on('end', () => resolve(buf));
    s.on('error', reject);
    s.setTimeout(3000, () => {
      s.destroy();
      resolve(buf);
    });
  });
}
