/**
 * Serves the built trader screen (dist/screen, see build.ts) from the gateway's own uWS server:
 * same origin as the WebSocket, so the gateway's Origin check lets the page in without an
 * allowlist entry, and no second port or process.
 *
 *   GET /screen            → 302 /screen/ (query kept: it carries ?token=)
 *   GET /screen/           → index.html
 *   GET /screen/<file>     → that file of the build, or 404 {code:'not_found'} like the rest of the gateway
 *
 * Files are read once, at registration, into a map keyed by their path inside the build: a URL
 * is looked up in that map and never joined onto the file system, so no path (`..`, encoded
 * `%2e%2e`, backslashes, absolute) can reach outside the build. Names are not content-hashed, so
 * every response is `no-cache` with a strong ETag: the browser revalidates (304, no body) and
 * a rebuilt screen is picked up by the next load after `reload()` or an engine restart.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';

/** The part of the gateway this needs (Gateway.addHttpGet). */
export interface ScreenHost {
  addHttpGet(pattern: string, handler: (res: HttpResponse, req: HttpRequest) => void): void;
}

export interface ScreenServer {
  /** files served (0 when the screen is not built) */
  readonly files: number;
  /** re-reads `dir` (after a rebuild) */
  reload(): void;
}

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};
/** a build is a handful of small files; anything past these is not ours */
const MAX_FILES = 200;
const MAX_FILE_BYTES = 8 * 1024 * 1024;
/**
 * The page talks only to its own origin ('self' covers ws:/wss: to the same host in CSP 3);
 * uPlot and Preact set styles through the CSSOM, which style-src does not restrict.
 */
const CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export function serveScreen(gateway: ScreenHost, dir: string, log?: { warn(obj: object, msg?: string): void }): ScreenServer {
  let assets = new Map<string, Asset>();
  const load = () => {
    assets = readBuild(dir);
    if (assets.size === 0) log?.warn({ dir }, 'trader screen not built: /screen answers 404 (npm run build)');
  };
  load();

  gateway.addHttpGet('/screen', (res, req) => {
    const q = req.getQuery() ?? '';
    res.cork(() => {
      res.writeStatus('302 Found').writeHeader('location', `/screen/${q === '' ? '' : `?${q}`}`).writeHeader('cache-control', 'no-store').end();
    });
  });
  gateway.addHttpGet('/screen/*', (res, req) => {
    const url = req.getUrl();
    const inm = req.getHeader('if-none-match');
    const name = assetName(url);
    const a = name === null ? undefined : assets.get(name);
    if (a === undefined) {
      res.cork(() => {
        res.writeStatus('404 Not Found').writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store')
          .end(JSON.stringify({ code: 'not_found', message: assets.size === 0 ? 'the trader screen is not built' : 'no such file' }));
      });
      return;
    }
    res.cork(() => {
      res.writeStatus(inm === a.etag ? '304 Not Modified' : '200 OK')
        .writeHeader('cache-control', 'no-cache')
        .writeHeader('etag', a.etag)
        .writeHeader('x-content-type-options', 'nosniff')
        .writeHeader('referrer-policy', 'no-referrer');
      if (a.type.startsWith('text/html')) res.writeHeader('content-security-policy', CSP).writeHeader('x-frame-options', 'DENY');
      if (inm === a.etag) res.end();
      else res.writeHeader('content-type', a.type).end(a.body);
    });
  });

  return {
    get files() {
      return assets.size;
    },
    reload: load,
  };
}

/**
 * `/screen/<path>` → the key of a build file, or null. Only plain relative names survive:
 * percent-decoded once, no empty, `.` or `..` segments, no backslash or NUL.
 */
export function assetName(url: string): string | null {
  if (!url.startsWith('/screen/')) return null;
  let rest: string;
  try {
    rest = decodeURIComponent(url.slice('/screen/'.length));
  } catch {
    return null; // malformed %-escape
  }
  if (rest === '') return 'index.html';
  if (rest.includes('\\') || rest.includes('\0')) return null;
  const segs = rest.split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..')) return null;
  return segs.join('/');
}

function readBuild(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  if (!existsSync(dir)) return out;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && out.size < MAX_FILES) {
        const type = CONTENT_TYPES[extname(e.name).toLowerCase()];
        if (type === undefined || statSync(p).size > MAX_FILE_BYTES) continue;
        const body = readFileSync(p);
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
        out.set(relative(dir, p).split(sep).join('/'), { body, type, etag });
      }
    }
  };
  walk(dir);
  return out;
}
