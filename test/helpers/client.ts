/** A real `ws` client that decodes frames and lets a test wait for one that matches. */
import { decode, encode } from '@msgpack/msgpack';
import WebSocket from 'ws';
import { mintToken } from '../../engine/auth/token.js';

export interface Frame { t: string; [k: string]: any }

/**
 * A real `ws` socket that decodes and records every frame (msgpack binary or JSON text), with waits on
 * frames and on close. The engine tests' TestClient and the gateway tests' Client both build on it.
 */
export class FrameRecorder {
  readonly frames: Frame[] = [];
  /** isBinary of each frame, parallel to `frames` */
  readonly binary: boolean[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  private closeWaiters: Array<(c: { code: number; reason: string }) => void> = [];

  protected constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const f = (isBinary ? decode(data as Buffer) : JSON.parse(String(data))) as Frame;
      this.frames.push(f);
      this.binary.push(isBinary);
      this.waiters = this.waiters.filter((w) => (w.pred(f) ? (w.resolve(f), false) : true));
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      for (const w of this.closeWaiters) w(this.closed);
    });
    // the error is surfaced through 'close'; an unhandled 'error' would crash the test process
    ws.on('error', () => undefined);
  }

  /** Resolves with the first frame (already received or future) matching `pred`. */
  waitFor(pred: (f: Frame) => boolean, timeoutMs = 5000, what = 'frame'): Promise<Frame> {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return this.next(pred, timeoutMs, what);
  }

  /** Resolves with the next frame *from now on* matching `pred`. */
  next(pred: (f: Frame) => boolean, timeoutMs = 5000, what = 'frame'): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last frames: ${JSON.stringify(this.frames.slice(-4))}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (f) => { clearTimeout(timer); resolve(f); } });
    });
  }

  waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.closeWaiters.push((c) => { clearTimeout(timer); resolve(c); });
    });
  }

  quotes(instrument?: string): Frame[] {
    return this.frames.filter((f) => f.t === 'q' && (instrument === undefined || f.i === instrument));
  }

  close(): void {
    this.ws.close();
  }
}

export class TestClient extends FrameRecorder {
  private constructor(ws: WebSocket) {
    super(ws);
  }

  static async connect(url: string, token: string | null, opts: { json?: boolean; headers?: Record<string, string> } = {}): Promise<TestClient> {
    const q = new URLSearchParams();
    if (token) q.set('token', token);
    if (opts.json) q.set('format', 'json');
    const ws = new WebSocket(`${url}/?${q}`, { headers: opts.headers, perMessageDeflate: false });
    const c = new TestClient(ws);
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('unexpected-response', (_req, resp) => rej(Object.assign(new Error(`HTTP ${resp.statusCode}`), { status: resp.statusCode })));
      ws.once('error', rej);
    });
    return c;
  }

  static token(secret: Buffer, client: string, ttlSec = 600, role: 'client' | 'trader' | 'rm' | 'admin' = 'client'): string {
    return mintToken(secret, { sub: client, role }, ttlSec, Math.floor(Date.now() / 1000));
  }

  send(msg: object, json = false): void {
    this.ws.send(json ? JSON.stringify(msg) : encode(msg));
  }
}
