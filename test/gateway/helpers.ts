/**
 * Gateway test rig: a real Gateway on port 0, real `ws` clients, and a fake engine that keeps
 * the QuoteSnapshotSource contract (the snapshot is the newest published frame with sn = 1).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { encode } from '@msgpack/msgpack';
import type { Test } from 'tap';
import WebSocket from 'ws';
import { mintToken, type Role } from '../../engine/auth/token.js';
import { ManualClock, systemClock, type Clock } from '../../engine/clock.js';
import { buildUniverse, parseConfig, type Tier, type Universe } from '../../engine/config.js';
import { Gateway, type GatewayLog, type HealthReport, type QuoteSnapshotSource } from '../../engine/gateway/index.js';
import { makeRegistry } from '../../engine/metrics.js';
import { FrameRecorder, type Frame } from '../helpers/client.js';
import { encodeShared } from '../../engine/wire/codec.js';

export const SECRET = Buffer.from('gateway-test-secret-0123456789abcdef');
export const SKEW_SEC = 5;
const RAW = JSON.parse(readFileSync(new URL('../../../engine/default-config.json', import.meta.url), 'utf8'));

export type GatewayOverrides = Partial<Record<keyof Universe['config']['gateway'], unknown>>;

export function testUniverse(gateway: GatewayOverrides = {}): Universe {
  return buildUniverse(parseConfig({ ...RAW, gateway: { ...RAW.gateway, port: 0, ...gateway }, auth: { ...RAW.auth, clockSkewSec: SKEW_SEC } }));
}

export type { Frame };

/** Publishes like the engine: one frame per (tier, instrument), sq +1 each, snapshot = newest. */
export class FakeEngine implements QuoteSnapshotSource {
  private readonly last = new Map<string, Frame>();
  private readonly sq = new Map<string, number>();
  snapshotCalls = 0;
  /** set to make snapshot() throw for this instrument */
  throwFor = -1;
  constructor(private readonly u: Universe, private gw: Gateway | null = null) {}
  attach(gw: Gateway): void {
    this.gw = gw;
  }
  iid(instrument: string): number {
    const i = this.u.instrumentIndex.get(instrument);
    if (i === undefined) throw new Error(`no instrument ${instrument}`);
    return i;
  }
  emit(tier: Tier, instrument: string, extra: Record<string, unknown> = {}): Frame {
    const key = `${tier}/${instrument}`;
    const sq = (this.sq.get(key) ?? 0) + 1;
    this.sq.set(key, sq);
    const f: Frame = { t: 'q', i: instrument, tr: tier, st: 'firm', rs: '', sq, sn: 0, ts: Date.now(), mid: 1 + sq / 1e4, l: [[1e6, 1, 1.0002]], ...extra };
    this.last.set(key, f);
    const iid = this.iid(instrument);
    this.gw!.publishBinary(tier, iid, encodeShared(f));
    if (this.gw!.wantsJson(tier, iid)) this.gw!.publishJson(tier, iid, JSON.stringify(f));
    return f;
  }
  lastSq(tier: Tier, instrument: string): number {
    return this.sq.get(`${tier}/${instrument}`) ?? 0;
  }
  pulledSnapshot(tier: Tier, iid: number, json: boolean, reason: string): Uint8Array | string | null {
    const f = this.last.get(`${tier}/${this.u.config.instruments[iid].id}`) ?? { t: 'q', i: this.u.config.instruments[iid].id, tr: tier, sq: 0, ts: 0, mid: 0 };
    const snap = { ...f, sn: 1, st: 'pulled', rs: reason, l: [] };
    return json ? JSON.stringify(snap) : encodeShared(snap);
  }
  snapshot(tier: Tier, iid: number, json: boolean): Uint8Array | string | null {
    this.snapshotCalls++;
    if (iid === this.throwFor) throw new Error('snapshot source failure (test)');
    const f = this.last.get(`${tier}/${this.u.config.instruments[iid].id}`);
    if (f === undefined) return null;
    const snap = { ...f, sn: 1 };
    return json ? JSON.stringify(snap) : encodeShared(snap);
  }
}

export interface Rig {
  gw: Gateway;
  engine: FakeEngine;
  universe: Universe;
  clock: Clock;
  port: number;
  url: string;
  registry: ReturnType<typeof makeRegistry>;
  logged: Array<{ level: string; obj: object; msg?: string }>;
  token(client: string, opts?: { ttlSec?: number; role?: Role; secret?: Buffer }): string;
  connect(client: string, opts?: ConnectOptions): Promise<Client>;
  metrics(): Promise<string>;
}

export async function startRig(
  t: Test,
  opts: { gateway?: GatewayOverrides; clock?: Clock; healthCheck?: () => HealthReport } = {},
): Promise<Rig> {
  const universe = testUniverse(opts.gateway);
  const clock = opts.clock ?? systemClock;
  const registry = makeRegistry();
  const logged: Rig['logged'] = [];
  const log: GatewayLog = {
    info: (obj, msg) => logged.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => logged.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => logged.push({ level: 'error', obj, msg }),
  };
  const engine = new FakeEngine(universe);
  const gw = new Gateway({ universe, secret: SECRET, clock, registry, snapshots: engine, log, healthCheck: opts.healthCheck });
  engine.attach(gw);
  const port = await gw.listen();
  const url = `ws://127.0.0.1:${port}`;
  const clients: Client[] = [];
  t.teardown(async () => {
    for (const c of clients) c.terminate();
    await gw.close();
  });
  const rig: Rig = {
    gw,
    engine,
    universe,
    clock,
    port,
    url,
    registry,
    logged,
    token: (client, o = {}) => mintToken(o.secret ?? SECRET, { sub: client, role: o.role ?? 'client' }, o.ttlSec ?? 600, clock.nowMs() / 1000),
    async connect(client, o = {}) {
      const c = await Client.connect(url, { token: rig.token(client), ...o });
      clients.push(c);
      return c;
    },
    metrics: async () => (await httpGet(port, '/metrics')).body,
  };
  return rig;
}

export interface ConnectOptions {
  token?: string | null;
  json?: boolean;
  /** where the token goes: query (default), header or subprotocol */
  via?: 'query' | 'header' | 'protocol';
  protocols?: string[];
  headers?: Record<string, string>;
  query?: Record<string, string>;
}

function buildRequest(url: string, o: ConnectOptions): { href: string; protocols: string[]; headers: Record<string, string> } {
  const q = new URLSearchParams(o.query ?? {});
  const headers = { ...(o.headers ?? {}) };
  const protocols = [...(o.protocols ?? [])];
  if (o.token) {
    if ((o.via ?? 'query') === 'query') q.set('token', o.token);
    else if (o.via === 'header') headers.authorization = `Bearer ${o.token}`;
    else protocols.push(`bearer.${o.token}`);
  }
  if (o.json) q.set('format', 'json');
  const qs = q.toString();
  return { href: `${url}/${qs ? '?' + qs : ''}`, protocols, headers };
}

/** The gateway tests' client: the shared frame recorder plus token placement options, barriers and pausing. */
export class Client extends FrameRecorder {
  private constructor(ws: WebSocket) {
    super(ws);
  }

  static async connect(url: string, o: ConnectOptions = {}): Promise<Client> {
    const r = buildRequest(url, o);
    const ws = new WebSocket(r.href, r.protocols, { headers: r.headers, perMessageDeflate: false });
    const c = new Client(ws);
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('unexpected-response', (_req, resp) => rej(Object.assign(new Error(`HTTP ${resp.statusCode}`), { status: resp.statusCode })));
      ws.once('error', rej);
    });
    await c.waitFor((f) => f.t === 'hello', 3000, 'hello');
    return c;
  }

  get protocol(): string {
    return this.ws.protocol;
  }

  send(msg: unknown): void {
    this.ws.send(encode(msg));
  }
  sendJson(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }
  sendRaw(data: Buffer | string, binary: boolean): void {
    this.ws.send(data, { binary });
  }

  private pingSeq = 0;
  /** Round trip: every frame the server sent before answering is in `frames` afterwards. */
  async barrier(): Promise<void> {
    const id = `b${++this.pingSeq}`;
    this.send({ t: 'ping', id });
    await this.next((f) => f.t === 'pong' && f.id === id, 5000, `pong ${id}`);
  }

  /** Sends `msg` and waits for the reply carrying the same id. */
  async request(msg: Record<string, unknown>): Promise<Frame> {
    const p = this.next((f) => f.id === msg.id && f.t !== 'q', 5000, `reply to ${JSON.stringify(msg).slice(0, 80)}`);
    this.send(msg);
    return p;
  }

  /** Stops reading from the TCP socket: the server's send buffer fills as for a stuck client. */
  pauseReading(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }
  resumeReading(): void {
    (this.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** Attempts an upgrade that is expected to be refused; resolves with the HTTP status and JSON body. */
export function refusedUpgrade(url: string, o: ConnectOptions): Promise<{ status: number; body: any }> {
  const r = buildRequest(url, o);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(r.href, r.protocols, { headers: r.headers, perMessageDeflate: false });
    ws.on('error', () => undefined);
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('upgrade unexpectedly accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch (e) {
          reject(e as Error);
        }
      });
    });
  });
}

/** GET without keep-alive, so nothing holds the gateway open after the test. */
export function httpGet(port: number, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** Value of one sample in Prometheus text, 0 if absent. */
export function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}} ` : `${name} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Polls `cond` on a short timer (for state that has no event, e.g. the gateway's sweep). */
export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves after `n` more gateway sweeps have run. */
export function sweeps(gw: Gateway, n = 2, timeoutMs = 3000): Promise<void> {
  const target = gw.stats.sweeps + n;
  return until(() => gw.stats.sweeps >= target, timeoutMs, `${n} sweeps`);
}

export { ManualClock };
