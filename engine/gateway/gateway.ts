/**
 * WebSocket gateway (uWebSockets.js): auth at the upgrade, server-side entitlements, one topic per
 * (tier, instrument, format), snapshot-then-deltas, conflation of slow clients, /health, /metrics.
 * docs/protocol.md § WebSocket is the client-facing contract.
 *
 * Fan-out path (hot):  engine ──publishBinary(tier, iid, bytes)──► app.publish(topic) ──► sockets
 *   the frame is encoded once by the engine; uWS copies it into each subscriber's buffer. No
 *   per-socket JS runs per quote, and topic strings are built once here.
 *
 * Entitlement (R17): a socket's tier comes from `tierOf` (config.clients, keyed by the token's
 * sub), never from the client. Clients name instruments; the gateway maps them to topics of the
 * socket's own tier, so no request can reach another tier's topic.
 *
 * Backpressure (R26, STYLE 11), per socket, every `sweepMs`:
 *
 *    buffered ≤ soft ─────────────► live (subscribed to its quote topics)
 *    buffered > soft ─────────────► conflated: unsubscribed, one {t:'slow'} sent
 *    conflated, buffered < soft/4 ► live again: resubscribed + one snapshot per instrument
 *                                   (a frame replaces the whole ladder, so the newest frame
 *                                   is all the client missed: that is the conflation)
 *    conflated ≥ slowClientCloseMs ► closed 4008
 *    (uWS queues publishes per subscriber until the end of the loop iteration; frames published
 *    before the conflating sweep are still delivered after it, ahead of the notice: one burst)
 *    buffered would pass the hard cap (uWS maxBackpressure) ► closed by uWS at once
 *
 * Extension point (RFQ and trading, engine/rfq): frames whose `t` is in `requests.kinds` are handed,
 * decoded but otherwise untouched, to `requests.handle(session, msg)`; the handler answers through
 * `sendTo(session)`, `sendToClient(clientId)` and `sendToRole(role)`. The gateway knows nothing
 * of RFQs; the handler knows nothing of sockets.
 *
 * uWS rules this file relies on: a WebSocket may not be touched after its close handler ran (it
 * throws), so `Conn.closed` is checked before any call from timers; message ArrayBuffers are
 * neutered when the handler returns, so they are decoded inside it; an exception escaping a uWS
 * callback takes the process down, so every callback is wrapped.
 */
import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket, us_socket, us_socket_context_t } from 'uWebSockets.js';
import type { Decoder } from '@msgpack/msgpack';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { Tier, Universe } from '../config.js';
import { EngineError, ErrorCode, InfrastructureError } from '../errors.js';
import { HotCounter, readGauge } from '../metrics.js';
import { CLIENT_LIMITS, encodeShared, makeDecoder } from '../wire/codec.js';
import { MIN_SECRET_BYTES, isExpired, verifyToken, type Role } from '../auth/token.js';
import { parseClientMessage, rejectForbiddenKeys, type RequestId, type ServerMessage } from './messages.js';
import { readCounter } from './metrics.js';

/** The current frame of one (tier, instrument) with `sn: 1`, in the socket's format; null before the first quote. */
export interface QuoteSnapshotSource {
  snapshot(tier: Tier, iid: number, json: boolean): Uint8Array | string | null;
  /** The frame of (tier, instrument) forced to pulled with reason `reason` (a client-level kill switch), sn: 1. */
  pulledSnapshot?(tier: Tier, iid: number, json: boolean, reason: string): Uint8Array | string | null;
}

/** An HTTP GET handler added by a module (e.g. the trader screen's static assets). Runs inside uWS's callback. */
export type HttpGetHandler = (res: HttpResponse, req: HttpRequest) => void;

/** A connected socket as a request handler sees it (read-only; the tier follows re-tiering). */
export interface Session {
  readonly client: string;
  readonly role: Role;
  readonly tier: Tier;
  readonly closed: boolean;
}

/** Any server → client control message (the RFQ service defines its own kinds). */
export interface OutboundMessage {
  readonly t: string;
  readonly [field: string]: unknown;
}

/** A request the handler refused as malformed: answered with `{t:'error'}` and counted as a bad frame. */
export interface RequestRefusal {
  readonly code: typeof ErrorCode.WS_BAD_MESSAGE | typeof ErrorCode.WS_NOT_ENTITLED | typeof ErrorCode.WS_DECODE;
  readonly message: string;
  readonly id?: RequestId;
}

/** Handles client message kinds the gateway does not know itself (e.g. rfq, accept, trade). */
export interface RequestHandler {
  readonly kinds: ReadonlySet<string>;
  /** `msg` is a decoded plain object with `t` in `kinds`; never throws for bad input (returns a refusal). */
  handle(session: Session, msg: Record<string, unknown>): RequestRefusal | void;
}

/** The subset of pino the gateway uses. */
export interface GatewayLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface HealthReport {
  readonly ok: boolean;
  readonly detail: object;
}

export interface GatewayOptions {
  readonly universe: Universe;
  /** HMAC-SHA256 key for tokens, at least 32 bytes */
  readonly secret: Buffer;
  readonly clock: Clock;
  readonly registry: Registry;
  readonly snapshots: QuoteSnapshotSource;
  readonly log?: GatewayLog;
  readonly healthCheck?: () => HealthReport;
}

/** WebSocket close codes the gateway sends (1009 also comes from uWS for frames far above the cap). */
export const CloseCode = {
  GOING_AWAY: 1001,
  TOO_LARGE: 1009,
  TOKEN_EXPIRED: 4001,
  SLOW_CONSUMER: 4008,
  RATE_LIMITED: 4029,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Counts since construction (connections: current). Read-only to callers. */
export interface GatewayStats {
  connections: number;
  opened: number;
  closed: number;
  /** upgrades refused (any code) */
  rejected: number;
  messagesIn: number;
  /** inbound messages refused with an error reply or a close (any code) */
  badFrames: number;
  conflations: number;
  recoveries: number;
  /** closed for being slow: 4008 after slowClientCloseMs, plus hard-cap closes */
  slowCloses: number;
  /** abrupt closes of sockets that were conflated or had a backlog at the last sweep (uWS hard cap) */
  hardCapCloses: number;
  expiredCloses: number;
  rateLimitCloses: number;
  oversizeCloses: number;
  internalErrors: number;
  /** backpressure/expiry sweeps run (lets tests wait for one instead of sleeping) */
  sweeps: number;
}

export interface ConnectionInfo {
  readonly client: string;
  readonly tier: Tier;
  readonly role: Role;
  readonly format: 'msgpack' | 'json';
  readonly subscriptions: number;
  readonly conflated: boolean;
  /** getBufferedAmount() at the last sweep */
  readonly bufferedBytes: number;
  readonly tokenExp: number;
}

/** Browsers get the token through Sec-WebSocket-Protocol and must be answered with a protocol they offered. */
export const SUBPROTOCOL = 'qe.v1';
const BEARER_PROTOCOL_PREFIX = 'bearer.';
/** Rate-limit drops are counted over this window; more than one second's allowance in it closes the socket. */
const ABUSE_WINDOW_MS = 5_000;
const UWS_TOO_BIG_REASON = 'Received too big message';
/** message kinds the gateway answers itself: no request handler may take them */
const GATEWAY_KINDS: ReadonlySet<string> = new Set(['ping', 'sub', 'unsub']);
const ALL_TIERS: readonly Tier[] = [1, 2, 3];
const STATUS_TOPIC_BIN = 'status/b';
const STATUS_TOPIC_JSON = 'status/j';

const REJECT_CODES = [
  ErrorCode.WS_AUTH_MISSING,
  ErrorCode.WS_AUTH_INVALID,
  ErrorCode.WS_AUTH_EXPIRED,
  ErrorCode.WS_ORIGIN,
  ErrorCode.WS_UNKNOWN_CLIENT,
  ErrorCode.WS_BAD_MESSAGE,
  ErrorCode.INTERNAL,
] as const;
const BAD_FRAME_CODES = [
  ErrorCode.WS_DECODE,
  ErrorCode.WS_BAD_MESSAGE,
  ErrorCode.WS_UNKNOWN_INSTRUMENT,
  ErrorCode.WS_NOT_ENTITLED,
  ErrorCode.WS_RATE_LIMITED,
  ErrorCode.WS_TOO_MANY_SUBSCRIPTIONS,
  ErrorCode.WS_FRAME_TOO_LARGE,
  ErrorCode.INTERNAL,
] as const;

/** Per-socket state. Kept behind one property because uWS copies userData's own fields onto the socket. */
class Conn implements Session {
  ws!: WebSocket<ConnData>;
  closed = false;
  /** close code the gateway initiated, 0 if none */
  closing = 0;
  readonly subs = new Set<number>();
  conflated = false;
  conflatedAtMs = 0;
  lastBuffered = 0;
  tokens: number;
  refillAtMs: number;
  dropWindowAtMs = Number.NEGATIVE_INFINITY;
  drops = 0;
  /** client-level kill switch: not subscribed to quote topics, pulled frames sent instead */
  pulled: string | null = null;
  constructor(
    readonly client: string,
    public tier: Tier,
    readonly role: Role,
    readonly json: boolean,
    readonly exp: number,
    nowMs: number,
    burst: number,
  ) {
    this.tokens = burst;
    this.refillAtMs = nowMs;
  }
}
interface ConnData {
  readonly c: Conn;
}

type Upgrade =
  | { readonly ok: true; readonly conn: Conn; readonly protocol: string }
  | { readonly ok: false; readonly status: string; readonly code: (typeof REJECT_CODES)[number]; readonly message: string };

const noopLog: GatewayLog = { info() {}, warn() {}, error() {} };

export class Gateway {
  private readonly cfg: Universe['config']['gateway'];
  private readonly skewSec: number;
  private readonly n: number;
  private readonly ids: readonly string[];
  /** tick size per instrument, parallel to `ids` (hello.ticks) */
  private readonly ticks: readonly number[];
  private readonly index: ReadonlyMap<string, number>;
  /** topic of (tier, iid) at [(tier - 1) * n + iid] */
  private readonly binTopics: string[];
  private readonly jsonTopics: string[];
  /** open sockets in JSON format */
  private jsonConns = 0;
  private readonly tierOf: Map<string, Tier>;
  private readonly allowedOrigins: ReadonlySet<string>;
  private readonly conns = new Set<Conn>();
  private readonly byClient = new Map<string, Set<Conn>>();
  private readonly app: TemplatedApp;
  private readonly decoder: Decoder;
  private readonly log: GatewayLog;
  private readonly s: GatewayStats = {
    connections: 0, opened: 0, closed: 0, rejected: 0, messagesIn: 0, badFrames: 0, conflations: 0, recoveries: 0,
    slowCloses: 0, hardCapCloses: 0, expiredCloses: 0, rateLimitCloses: 0, oversizeCloses: 0, internalErrors: 0, sweeps: 0,
  };
  private readonly rejectedTotal: HotCounter;
  private readonly badFramesTotal: HotCounter;
  private readonly publishedTotal: HotCounter;
  private readonly limits: { maxPayloadBytes: number; inboundRatePerSec: number; maxSubscriptions: number };
  private listenSocket: us_listen_socket | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private shutDown = false;
  /** RFQ / trading requests; set before listen() */
  requests: RequestHandler | undefined;
  /** further handlers by kind (addRequestHandler) */
  private readonly handlers = new Map<string, RequestHandler>();
  /** clients whose streams are pulled (client-level kill switch), with the reason */
  private readonly pulledClients = new Map<string, string>();

  constructor(private readonly opts: GatewayOptions) {
    if (opts.secret.length < MIN_SECRET_BYTES) {
      throw new EngineError(ErrorCode.CONFIG_INVALID, `gateway auth secret must be at least ${MIN_SECRET_BYTES} bytes`);
    }
    const config = opts.universe.config;
    this.cfg = config.gateway;
    this.skewSec = config.auth.clockSkewSec;
    this.log = opts.log ?? noopLog;
    this.ids = config.instruments.map((ins) => ins.id);
    this.ticks = config.instruments.map((ins) => ins.tickSize);
    this.index = opts.universe.instrumentIndex;
    const n = (this.n = this.ids.length);
    this.binTopics = new Array<string>(3 * n);
    this.jsonTopics = new Array<string>(3 * n);
    for (let tier = 1; tier <= 3; tier++) {
      for (let iid = 0; iid < n; iid++) {
        this.binTopics[(tier - 1) * n + iid] = `q/${tier}/${iid}/b`;
        this.jsonTopics[(tier - 1) * n + iid] = `q/${tier}/${iid}/j`;
      }
    }
    this.tierOf = new Map(config.clients.map((c) => [c.id, c.tier as Tier]));
    this.allowedOrigins = new Set(this.cfg.allowedOrigins.map((o) => o.toLowerCase()));
    this.decoder = makeDecoder(CLIENT_LIMITS);
    this.limits = {
      maxPayloadBytes: this.cfg.maxPayloadBytes,
      inboundRatePerSec: this.cfg.inboundRatePerSec,
      maxSubscriptions: this.cfg.maxSubscriptions,
    };

    const r = opts.registry;
    readGauge(r, 'qe_ws_connections', 'Open WebSocket connections', () => this.s.connections);
    readGauge(r, 'qe_ws_conflated_connections', 'WebSocket connections currently conflated (slow)', () => this.conflatedCount());
    this.rejectedTotal = new HotCounter(r, 'qe_ws_rejected_total', 'WebSocket upgrades refused, by code', 'code', REJECT_CODES);
    this.badFramesTotal = new HotCounter(r, 'qe_ws_bad_frames_total', 'Inbound WebSocket messages refused, by code', 'code', BAD_FRAME_CODES);
    this.publishedTotal = new HotCounter(r, 'qe_quotes_published_total', 'Quote frames published to WebSocket topics, by tier', 'tier', ['1', '2', '3']);
    readCounter(r, 'qe_ws_conflations_total', 'Sockets that entered conflation (slow consumer)', () => this.s.conflations);
    readCounter(r, 'qe_ws_recoveries_total', 'Conflated sockets resubscribed with snapshots', () => this.s.recoveries);
    readCounter(r, 'qe_ws_slow_closes_total', 'Sockets closed for being slow (4008 or hard backpressure cap)', () => this.s.slowCloses);
    readCounter(r, 'qe_ws_messages_in_total', 'Inbound WebSocket messages', () => this.s.messagesIn);
    readCounter(r, 'qe_ws_internal_errors_total', 'Exceptions caught in gateway handlers (QE_INTERNAL)', () => this.s.internalErrors);

    this.app = uWS.App();
    this.app.get('/health', (res) => this.guardHttp(res, 'health', () => this.onHealth(res)));
    this.app.get('/metrics', (res) => this.guardHttp(res, 'metrics', () => this.onMetrics(res)));
    this.app.ws<ConnData>('/*', {
      compression: uWS.DISABLED,
      // Headroom above the cap so a frame just over it gets a real 1009 close from onMessage;
      // beyond 2× uWS drops the connection without a close frame (see docs/protocol.md).
      maxPayloadLength: 2 * this.cfg.maxPayloadBytes,
      maxBackpressure: this.cfg.maxBackpressureBytes,
      closeOnBackpressureLimit: 1,
      idleTimeout: this.cfg.idleTimeoutSec,
      sendPingsAutomatically: true,
      maxLifetime: 0,
      upgrade: (res, req, ctx) => {
        try {
          this.onUpgrade(res, req, ctx);
        } catch (e) {
          this.internal('upgrade', e);
          this.respondRefusal(res, '500 Internal Server Error', ErrorCode.INTERNAL, 'internal error');
        }
      },
      open: (ws) => {
        try {
          this.onOpen(ws);
        } catch (e) {
          this.internal('open', e);
        }
      },
      message: (ws, message, isBinary) => {
        const c = ws.getUserData().c;
        try {
          this.onMessage(c, message, isBinary);
        } catch (e) {
          this.internal('message', e);
          try {
            this.refuseFrame(c, ErrorCode.INTERNAL, 'internal error');
          } catch (e2) {
            this.internal('message', e2);
          }
        }
      },
      drain: (ws) => {
        try {
          const c = ws.getUserData().c;
          if (c.conflated && !c.closed && ws.getBufferedAmount() < this.cfg.softBackpressureBytes / 4) this.recover(c);
        } catch (e) {
          this.internal('drain', e);
        }
      },
      close: (ws, code, message) => {
        try {
          this.onClose(ws.getUserData().c, code, message);
        } catch (e) {
          this.internal('close', e);
        }
      },
    });
    this.app.any('/*', (res) => this.guardHttp(res, 'any', () => this.respondJson(res, '404 Not Found', { code: 'not_found' })));
  }

  get stats(): Readonly<GatewayStats> {
    return this.s;
  }

  listen(): Promise<number> {
    const { host, port } = this.cfg;
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (ls) => {
        if (ls === false) {
          reject(new InfrastructureError(ErrorCode.GATEWAY_LISTEN, `gateway cannot listen on ${host}:${port}`));
          return;
        }
        this.listenSocket = ls;
        const bound = uWS.us_socket_local_port(ls as unknown as us_socket);
        this.sweepTimer = setInterval(() => this.sweep(), this.cfg.sweepMs);
        this.sweepTimer.unref();
        this.log.info({ host, port: bound }, 'gateway listening');
        resolve(bound);
      });
    });
  }

  /** Closes every socket with 1001, then the listen socket and idle HTTP keep-alive connections. */
  async close(): Promise<void> {
    if (this.shutDown) return;
    this.shutDown = true;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const c of [...this.conns]) this.end(c, CloseCode.GOING_AWAY, 'server shutdown');
    // app.close() (present in this uWS build, absent from its typings) also closes HTTP keep-alive
    // sockets, which would otherwise hold the process open for uWS's 10 s HTTP idle timeout.
    const app = this.app as unknown as { close?: () => void };
    if (typeof app.close === 'function') app.close();
    else if (this.listenSocket !== null) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    this.log.info({}, 'gateway closed');
  }

  // ── hot path ─────────────────────────────────────────────────────────────────────────────────

  /** One copy into every subscriber of (tier, iid); `frame` may be a shared encoder view. */
  publishBinary(tier: Tier, iid: number, frame: Uint8Array): void {
    this.app.publish(this.binTopics[(tier - 1) * this.n + iid], frame, true, false);
    this.publishedTotal.inc(tier - 1);
  }

  /** Whether any socket, of either format, is subscribed to (tier, iid) now. Cold path (overlays). */
  hasSubscribers(tier: Tier, iid: number): boolean {
    const k = (tier - 1) * this.n + iid;
    return this.app.numSubscribers(this.binTopics[k]) > 0 || (this.jsonConns > 0 && this.app.numSubscribers(this.jsonTopics[k]) > 0);
  }

  /** Whether any live JSON socket wants (tier, iid): lets the engine skip JSON.stringify when none does. */
  wantsJson(tier: Tier, iid: number): boolean {
    // most deployments have no JSON sockets at all: skip the uWS topic lookup per frame then
    return this.jsonConns > 0 && this.app.numSubscribers(this.jsonTopics[(tier - 1) * this.n + iid]) > 0;
  }

  publishJson(tier: Tier, iid: number, frame: string): void {
    this.app.publish(this.jsonTopics[(tier - 1) * this.n + iid], frame, false, false);
  }

  // ── cold control surface ─────────────────────────────────────────────────────────────────────

  /** `{t:'status', ...status, serverTime}` to every socket, conflated ones included. */
  broadcastStatus(status: object): void {
    const msg: Record<string, unknown> = { t: 'status', ...status, serverTime: this.clock().nowMs() };
    msg.t = 'status';
    this.app.publish(STATUS_TOPIC_BIN, encodeShared(msg), true, false);
    if (this.app.numSubscribers(STATUS_TOPIC_JSON) > 0) this.app.publish(STATUS_TOPIC_JSON, JSON.stringify(msg), false, false);
  }

  /**
   * Moves `clientId` to `tier`: future connections get it, and connected sockets are moved from
   * the old tier's topics to the new one's, told with `{t:'status', tier}` and sent snapshots.
   * Returns the number of sockets moved. Throws for a client the gateway does not know.
   */
  retier(clientId: string, tier: Tier): number {
    if (!this.tierOf.has(clientId)) throw new EngineError(ErrorCode.WS_UNKNOWN_CLIENT, `retier: unknown client ${clientId}`);
    if (tier !== 1 && tier !== 2 && tier !== 3) throw new EngineError(ErrorCode.CONFIG_INVALID, `retier: bad tier ${String(tier)}`);
    this.tierOf.set(clientId, tier);
    let moved = 0;
    for (const c of this.byClient.get(clientId) ?? []) {
      if (c.closed || c.tier === tier) continue;
      const ws = c.ws;
      ws.cork(() => {
        if (!c.conflated && c.pulled === null) for (const iid of c.subs) this.unsubTopics(c, iid);
        c.tier = tier;
        this.send(c, { t: 'status', tier, serverTime: this.clock().nowMs() });
        if (!c.conflated) {
          if (c.pulled === null) for (const iid of c.subs) this.subTopics(c, iid);
          for (const iid of c.subs) this.sendSnapshot(c, iid);
        }
      });
      moved++;
    }
    this.log.info({ client: clientId, tier, sockets: moved }, 'client re-tiered');
    return moved;
  }

  /** The server-side tier of a client, or undefined if unknown. */
  tierOfClient(clientId: string): Tier | undefined {
    return this.tierOf.get(clientId);
  }

  connections(): ConnectionInfo[] {
    return [...this.conns].map((c) => ({
      client: c.client,
      tier: c.tier,
      role: c.role,
      format: c.json ? 'json' : 'msgpack',
      subscriptions: c.subs.size,
      conflated: c.conflated,
      bufferedBytes: c.lastBuffered,
      tokenExp: c.exp,
    }));
  }

  // ── upgrade ──────────────────────────────────────────────────────────────────────────────────

  private onUpgrade(res: HttpResponse, req: HttpRequest, ctx: us_socket_context_t): void {
    // HttpRequest is stack-allocated by uWS: read everything before anything else.
    const key = req.getHeader('sec-websocket-key');
    const protocols = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const origin = req.getHeader('origin');
    const host = req.getHeader('host');
    const authorization = req.getHeader('authorization');
    // uWS returns undefined, not '', for an absent query parameter.
    const queryToken = req.getQuery('token') ?? '';
    const format = req.getQuery('format') ?? '';
    const u = this.authorize(origin, format, authorization, protocols, queryToken, host);
    if (!u.ok) {
      this.s.rejected++;
      this.rejectedTotal.incLabel(u.code);
      this.respondRefusal(res, u.status, u.code, u.message);
      return;
    }
    res.upgrade<ConnData>({ c: u.conn }, key, u.protocol, extensions, ctx);
  }

  private authorize(origin: string, format: string, authorization: string, protocols: string, queryToken: string, host = ''): Upgrade {
    // same origin (the trader screen served by this server) or an allowlisted one
    const sameOrigin = host !== '' && (origin.toLowerCase() === `http://${host.toLowerCase()}` || origin.toLowerCase() === `https://${host.toLowerCase()}`);
    if (origin !== '' && !sameOrigin && !this.allowedOrigins.has(origin.toLowerCase())) {
      return { ok: false, status: '403 Forbidden', code: ErrorCode.WS_ORIGIN, message: `origin ${origin.slice(0, 100)} is not allowed` };
    }
    let json: boolean;
    if (format === '' || format === 'msgpack') json = false;
    else if (format === 'json') json = true;
    else return { ok: false, status: '400 Bad Request', code: ErrorCode.WS_BAD_MESSAGE, message: 'format must be msgpack or json' };

    const offered = protocols === '' ? [] : protocols.split(',').map((p) => p.trim());
    const bearer = offered.find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
    const protocol = offered.includes(SUBPROTOCOL) ? SUBPROTOCOL : (bearer ?? '');
    let token: string;
    if (authorization !== '') {
      const m = /^Bearer +(\S+)$/i.exec(authorization);
      if (m === null) return { ok: false, status: '401 Unauthorized', code: ErrorCode.WS_AUTH_INVALID, message: 'Authorization must be "Bearer <token>"' };
      token = m[1];
    } else if (bearer !== undefined) token = bearer.slice(BEARER_PROTOCOL_PREFIX.length);
    else token = queryToken;
    if (token === '') return { ok: false, status: '401 Unauthorized', code: ErrorCode.WS_AUTH_MISSING, message: 'no token' };

    const now = this.clock().nowMs();
    const v = verifyToken(this.opts.secret, token, now / 1000, this.skewSec);
    if (!v.ok) {
      const code = v.code === ErrorCode.WS_AUTH_EXPIRED ? ErrorCode.WS_AUTH_EXPIRED : ErrorCode.WS_AUTH_INVALID;
      return { ok: false, status: '401 Unauthorized', code, message: v.reason };
    }
    const tier = this.tierOf.get(v.claims.sub);
    if (tier === undefined) return { ok: false, status: '403 Forbidden', code: ErrorCode.WS_UNKNOWN_CLIENT, message: 'unknown client' };
    const conn = new Conn(v.claims.sub, tier, v.claims.role, json, v.claims.exp, now, this.cfg.inboundRatePerSec);
    conn.pulled = this.pulledClients.get(v.claims.sub) ?? null;
    return { ok: true, conn, protocol };
  }

  private respondRefusal(res: HttpResponse, status: string, code: ErrorCode, message: string): void {
    res.cork(() => {
      res.writeStatus(status).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store');
      if (status.startsWith('401')) res.writeHeader('www-authenticate', 'Bearer');
      // closeConnection: a refused upgrade gets no second try on the same TCP connection
      res.end(JSON.stringify({ code, message }), true);
    });
  }

  // ── socket lifecycle ─────────────────────────────────────────────────────────────────────────

  private onOpen(ws: WebSocket<ConnData>): void {
    const c = ws.getUserData().c;
    c.ws = ws;
    this.conns.add(c);
    if (c.json) this.jsonConns++;
    let set = this.byClient.get(c.client);
    if (set === undefined) this.byClient.set(c.client, (set = new Set()));
    set.add(c);
    this.s.connections++;
    this.s.opened++;
    ws.subscribe(c.json ? STATUS_TOPIC_JSON : STATUS_TOPIC_BIN);
    this.send(c, {
      t: 'hello',
      v: 1,
      client: c.client,
      tier: c.tier,
      role: c.role,
      tiers: this.tiersOf(c),
      format: c.json ? 'json' : 'msgpack',
      instruments: this.ids,
      ticks: this.ticks,
      serverTime: this.clock().nowMs(),
      exp: c.exp,
      limits: this.limits,
    });
  }

  private onClose(c: Conn, code: number, message: ArrayBuffer): void {
    if (c.closed) return;
    c.closed = true;
    if (this.conns.delete(c) && c.json) this.jsonConns--;
    const set = this.byClient.get(c.client);
    if (set !== undefined) {
      set.delete(c);
      if (set.size === 0) this.byClient.delete(c.client);
    }
    this.s.connections--;
    this.s.closed++;
    if (c.closing !== 0 || code !== 1006) return;
    // An abrupt close we did not ask for: uWS's payload cap names itself; its backpressure cap
    // does not (this build has no `dropped` event), so a socket that was slow when last seen is
    // counted as a hard-cap close. A reader vanishing mid-backlog is counted the same way.
    if (message.byteLength > 0 && Buffer.from(message).toString('latin1') === UWS_TOO_BIG_REASON) {
      this.s.oversizeCloses++;
      this.s.badFrames++;
      this.badFramesTotal.incLabel(ErrorCode.WS_FRAME_TOO_LARGE);
    } else if (c.conflated || c.lastBuffered > 0) {
      this.s.hardCapCloses++;
      this.s.slowCloses++;
    }
  }

  /** Graceful close; uWS runs the close handler synchronously inside end(). */
  private end(c: Conn, code: CloseCode, reason: string): void {
    if (c.closed || c.closing !== 0) return;
    c.closing = code;
    c.ws.end(code, reason);
  }

  // ── extension: messages for request handlers ─────────────────────────────────────────────────

  /** Sends `msg` to one session (a socket of this gateway). False if it is closed or closing. */
  sendTo(session: Session, msg: OutboundMessage): boolean {
    const c = session as Conn;
    if (!this.conns.has(c) || c.closed || c.closing !== 0) return false;
    this.send(c, msg);
    return true;
  }

  /** Sends `msg` to every open socket of `clientId`; returns how many. */
  sendToClient(clientId: string, msg: OutboundMessage): number {
    const set = this.byClient.get(clientId);
    if (set === undefined) return 0;
    let n = 0;
    for (const c of set) if (this.sendTo(c, msg)) n++;
    return n;
  }

  /** Sends `msg` to every open socket whose token carries `role`; returns how many. */
  sendToRole(role: Role, msg: OutboundMessage): number {
    let n = 0;
    for (const c of this.conns) if (c.role === role && this.sendTo(c, msg)) n++;
    return n;
  }

  /**
   * Sends `msg` to every open socket; returns how many. Encoded once per format and published on
   * the status topics every socket joins when it opens (a regime change reaches hundreds of
   * sockets: one encode each was the engine's longest stall in the perf run, perf/README.md).
   */
  sendToAll(msg: OutboundMessage): number {
    let n = 0;
    for (const c of this.conns) if (!c.closed && c.closing === 0) n++;
    if (n === 0) return 0;
    this.app.publish(STATUS_TOPIC_BIN, encodeShared(msg), true, false);
    if (this.jsonConns > 0) this.app.publish(STATUS_TOPIC_JSON, JSON.stringify(msg), false, false);
    return n;
  }

  /**
   * Sends `msg` about instrument `iid` to the sockets it concerns: every desk socket (trader, rm,
   * admin) and each client socket subscribed to `iid`; returns how many. Encoded at most once per
   * format. A client streaming 1,000 of 10,000 instruments is not told about the other 9,000 (in
   * the perf run, regime changes for all of them flooded 100 sockets: perf/README.md finding 9).
   */
  sendToInstrument(iid: number, msg: OutboundMessage): number {
    let bin: Uint8Array | null = null;
    let json: string | null = null;
    let n = 0;
    for (const c of this.conns) {
      if (c.closed || c.closing !== 0 || (c.role === 'client' && !c.subs.has(iid))) continue;
      if (c.json) c.ws.send((json ??= JSON.stringify(msg)), false, false);
      else c.ws.send((bin ??= encodeShared(msg)), true, false);
      n++;
    }
    return n;
  }

  /**
   * Routes client messages of `h.kinds` to `h` (besides `requests`). A kind may have one handler:
   * a second registration, or a kind the gateway handles itself, throws.
   */
  addRequestHandler(h: RequestHandler): void {
    for (const k of h.kinds) {
      if (this.handlers.has(k) || this.requests?.kinds.has(k) || GATEWAY_KINDS.has(k)) {
        throw new EngineError(ErrorCode.CONFIG_INVALID, `request kind "${k}" already has a handler`);
      }
    }
    for (const k of h.kinds) this.handlers.set(k, h);
  }

  /** GET route served by this server (e.g. `/screen/*`); the handler is guarded like every HTTP handler. */
  addHttpGet(pattern: string, handler: HttpGetHandler): void {
    this.app.get(pattern, (res, req) => this.guardHttp(res, pattern, () => handler(res, req)));
  }

  /**
   * Client-level kill switch (engine/risk/ports.ts ClientStreams): every socket of `clientId`
   * leaves its quote topics and gets, per subscribed instrument, an explicit pulled frame with
   * `rs = reason`; new sockets of the client start pulled. Returns the sockets affected.
   */
  pullClient(clientId: string, reason: string): number {
    this.pulledClients.set(clientId, reason);
    let n = 0;
    for (const c of this.byClient.get(clientId) ?? []) {
      if (c.closed || c.closing !== 0) continue;
      const ws = c.ws;
      ws.cork(() => {
        if (c.pulled === null && !c.conflated) for (const iid of c.subs) this.unsubTopics(c, iid);
        c.pulled = reason;
        for (const iid of c.subs) this.sendSnapshot(c, iid);
      });
      n++;
    }
    this.log.warn({ client: clientId, reason, sockets: n }, 'client streams pulled');
    return n;
  }

  /** Undoes pullClient: resubscribes and sends fresh snapshots. Returns the sockets affected. */
  resumeClient(clientId: string): number {
    if (!this.pulledClients.delete(clientId)) return 0;
    let n = 0;
    for (const c of this.byClient.get(clientId) ?? []) {
      if (c.closed || c.closing !== 0 || c.pulled === null) continue;
      c.pulled = null;
      const ws = c.ws;
      ws.cork(() => {
        if (!c.conflated) {
          for (const iid of c.subs) this.subTopics(c, iid);
          for (const iid of c.subs) this.sendSnapshot(c, iid);
        }
      });
      n++;
    }
    this.log.warn({ client: clientId, sockets: n }, 'client streams resumed');
    return n;
  }

  /** Whether the client's streams are pulled (client-level kill switch). */
  isClientPulled(clientId: string): boolean {
    return this.pulledClients.has(clientId);
  }

  // ── inbound ──────────────────────────────────────────────────────────────────────────────────

  private onMessage(c: Conn, message: ArrayBuffer, isBinary: boolean): void {
    this.s.messagesIn++;
    if (message.byteLength > this.cfg.maxPayloadBytes) {
      this.s.badFrames++;
      this.s.oversizeCloses++;
      this.badFramesTotal.incLabel(ErrorCode.WS_FRAME_TOO_LARGE);
      this.end(c, CloseCode.TOO_LARGE, 'frame too large');
      return;
    }
    const now = this.clock().nowMs();
    if (!this.admit(c, now)) return;
    let raw: unknown;
    try {
      raw = isBinary
        ? this.decoder.decode(new Uint8Array(message))
        : JSON.parse(Buffer.from(message).toString('utf8'), rejectForbiddenKeys);
    } catch (e) {
      this.refuseFrame(c, ErrorCode.WS_DECODE, `undecodable ${isBinary ? 'msgpack' : 'JSON'} frame: ${String((e as Error).message).slice(0, 120)}`);
      return;
    }
    if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
      const t = (raw as Record<string, unknown>).t;
      const h = typeof t !== 'string' ? undefined : this.requests?.kinds.has(t) ? this.requests : this.handlers.get(t);
      if (h !== undefined) {
        let r: RequestRefusal | void;
        try {
          r = h.handle(c, raw as Record<string, unknown>);
        } catch (e) {
          this.internal('request', e);
          this.refuseFrame(c, ErrorCode.INTERNAL, 'internal error while handling the request');
          return;
        }
        if (r) this.refuseFrame(c, r.code, r.message, r.id);
        return;
      }
    }
    const m = parseClientMessage(raw);
    switch (m.t) {
      case 'invalid':
        this.refuseFrame(c, m.code, m.message, m.id);
        return;
      case 'ping':
        this.send(c, { t: 'pong', id: m.id, serverTime: now });
        return;
      case 'sub':
        this.subscribe(c, m.i, m.id);
        return;
      case 'unsub':
        this.unsubscribe(c, m.i, m.id);
        return;
    }
  }

  /**
   * Token bucket (burst = rate). The first drop in a window gets one error reply, later drops are
   * silent (replying to a flood would amplify it); more than a second's allowance dropped within
   * ABUSE_WINDOW_MS closes with 4029.
   */
  private admit(c: Conn, now: number): boolean {
    const rate = this.cfg.inboundRatePerSec;
    const elapsed = now - c.refillAtMs;
    if (elapsed > 0) {
      c.tokens = Math.min(rate, c.tokens + (elapsed * rate) / 1000);
      c.refillAtMs = now;
    }
    if (c.tokens >= 1) {
      c.tokens -= 1;
      return true;
    }
    this.s.badFrames++;
    this.badFramesTotal.incLabel(ErrorCode.WS_RATE_LIMITED);
    if (now - c.dropWindowAtMs >= ABUSE_WINDOW_MS) {
      c.dropWindowAtMs = now;
      c.drops = 0;
      this.send(c, { t: 'error', code: ErrorCode.WS_RATE_LIMITED, message: `more than ${rate} messages/s: messages are being dropped` });
    }
    if (++c.drops > rate) {
      this.s.rateLimitCloses++;
      this.end(c, CloseCode.RATE_LIMITED, 'rate limit exceeded');
    }
    return false;
  }

  private refuseFrame(c: Conn, code: (typeof BAD_FRAME_CODES)[number], message: string, id?: RequestId): void {
    this.s.badFrames++;
    this.badFramesTotal.incLabel(code);
    this.send(c, { t: 'error', code, message, id });
  }

  /** Instrument names → dense ids, de-duplicated; null (after an error reply) if any is unknown. */
  private resolve(c: Conn, names: readonly string[], id: RequestId | undefined, verb: string): number[] | null {
    const iids: number[] = [];
    const seen = new Set<number>();
    let unknown: string[] | null = null;
    for (const name of names) {
      const iid = this.index.get(name);
      if (iid === undefined) (unknown ??= []).push(name);
      else if (!seen.has(iid)) {
        seen.add(iid);
        iids.push(iid);
      }
    }
    if (unknown === null) return iids;
    const shown = unknown.slice(0, 5).map((s) => JSON.stringify(s.slice(0, 40))).join(', ');
    const more = unknown.length > 5 ? ` and ${unknown.length - 5} more` : '';
    this.refuseFrame(c, ErrorCode.WS_UNKNOWN_INSTRUMENT, `unknown instrument ${shown}${more}: nothing was ${verb}`, id);
    return null;
  }

  private subscribe(c: Conn, names: readonly string[], id: RequestId | undefined): void {
    const iids = this.resolve(c, names, id, 'subscribed');
    if (iids === null) return;
    let added = 0;
    for (const iid of iids) if (!c.subs.has(iid)) added++;
    if (c.subs.size + added > this.cfg.maxSubscriptions) {
      this.refuseFrame(c, ErrorCode.WS_TOO_MANY_SUBSCRIPTIONS, `at most ${this.cfg.maxSubscriptions} subscriptions per connection: nothing was subscribed`, id);
      return;
    }
    const ws = c.ws;
    // Subscribe, then read the snapshot, in one synchronous turn: no publish can fall between
    // them, so the snapshot's sq is the one the first delta follows (snapshot-then-deltas, no gap).
    ws.cork(() => {
      for (const iid of iids) {
        if (c.subs.has(iid)) continue;
        c.subs.add(iid);
        if (!c.conflated && c.pulled === null) this.subTopics(c, iid);
      }
      this.send(c, { t: 'subscribed', id, i: iids.map((k) => this.ids[k]) });
      // A conflated socket gets its snapshots when it recovers.
      if (!c.conflated) for (const iid of iids) this.sendSnapshot(c, iid);
    });
  }

  private unsubscribe(c: Conn, names: readonly string[], id: RequestId | undefined): void {
    const iids = this.resolve(c, names, id, 'unsubscribed');
    if (iids === null) return;
    const ws = c.ws;
    ws.cork(() => {
      for (const iid of iids) if (c.subs.delete(iid) && !c.conflated && c.pulled === null) this.unsubTopics(c, iid);
      this.send(c, { t: 'unsubscribed', id, i: iids.map((k) => this.ids[k]) });
    });
  }

  // ── outbound helpers ─────────────────────────────────────────────────────────────────────────

  private topic(c: Conn, iid: number, tier: Tier = c.tier): string {
    return (c.json ? this.jsonTopics : this.binTopics)[(tier - 1) * this.n + iid];
  }

  /**
   * A client socket streams its own tier only. Desk sockets (trader, rm, admin) see every tier's
   * ladder of an instrument they subscribe to — the trader screen's quote board; frames carry `tr`.
   */
  private tiersOf(c: Conn): readonly Tier[] {
    return c.role === 'client' ? [c.tier] : ALL_TIERS;
  }

  private subTopics(c: Conn, iid: number): void {
    for (const t of this.tiersOf(c)) c.ws.subscribe(this.topic(c, iid, t));
  }

  private unsubTopics(c: Conn, iid: number): void {
    for (const t of this.tiersOf(c)) c.ws.unsubscribe(this.topic(c, iid, t));
  }

  /** Control message in the socket's format (cold path: one encode per socket is fine here). */
  private send(c: Conn, msg: ServerMessage | OutboundMessage): void {
    if (c.closed || c.closing !== 0) return;
    if (c.json) c.ws.send(JSON.stringify(msg), false, false);
    else c.ws.send(encodeShared(msg), true, false);
  }

  private sendSnapshot(c: Conn, iid: number): void {
    if (c.closed || c.closing !== 0) return;
    for (const tier of this.tiersOf(c)) {
      let frame: Uint8Array | string | null;
      try {
        const src = this.opts.snapshots;
        frame = c.pulled !== null && src.pulledSnapshot ? src.pulledSnapshot(tier, iid, c.json, c.pulled) : src.snapshot(tier, iid, c.json);
      } catch (e) {
        // one broken instrument must not cost the client the others' snapshots
        this.internal('snapshot', e);
        continue;
      }
      if (frame !== null) c.ws.send(frame, typeof frame !== 'string', false);
    }
  }

  // ── backpressure and expiry sweep ────────────────────────────────────────────────────────────

  private sweep(): void {
    this.s.sweeps++;
    const now = this.clock().nowMs();
    const nowSec = now / 1000;
    const soft = this.cfg.softBackpressureBytes;
    for (const c of this.conns) {
      try {
        if (c.closed) continue;
        if (isExpired(c.exp, nowSec, this.skewSec)) {
          this.s.expiredCloses++;
          this.end(c, CloseCode.TOKEN_EXPIRED, 'token expired');
          continue;
        }
        const buffered = (c.lastBuffered = c.ws.getBufferedAmount());
        if (!c.conflated) {
          if (buffered > soft) this.conflate(c, buffered, now);
        } else if (buffered < soft / 4) this.recover(c);
        else if (now - c.conflatedAtMs >= this.cfg.slowClientCloseMs) {
          this.s.slowCloses++;
          this.end(c, CloseCode.SLOW_CONSUMER, 'slow consumer');
        }
      } catch (e) {
        this.internal('sweep', e);
      }
    }
  }

  private conflate(c: Conn, buffered: number, now: number): void {
    c.conflated = true;
    c.conflatedAtMs = now;
    this.s.conflations++;
    const ws = c.ws;
    ws.cork(() => {
      if (c.pulled === null) for (const iid of c.subs) this.unsubTopics(c, iid);
      this.send(c, {
        t: 'slow',
        code: ErrorCode.WS_SLOW_CONSUMER,
        bufferedBytes: buffered,
        softLimitBytes: this.cfg.softBackpressureBytes,
        closeAfterMs: this.cfg.slowClientCloseMs,
        serverTime: now,
      });
    });
  }

  private recover(c: Conn): void {
    c.conflated = false;
    this.s.recoveries++;
    const ws = c.ws;
    ws.cork(() => {
      if (c.pulled === null) for (const iid of c.subs) this.subTopics(c, iid);
      for (const iid of c.subs) this.sendSnapshot(c, iid);
    });
  }

  private conflatedCount(): number {
    let k = 0;
    for (const c of this.conns) if (c.conflated) k++;
    return k;
  }

  // ── HTTP ─────────────────────────────────────────────────────────────────────────────────────

  private onHealth(res: HttpResponse): void {
    let report: HealthReport;
    try {
      report = this.opts.healthCheck ? this.opts.healthCheck() : { ok: true, detail: {} };
    } catch (e) {
      this.internal('healthCheck', e);
      report = { ok: false, detail: { error: ErrorCode.INTERNAL } };
    }
    const ok = report.ok === true;
    const body = { ok, detail: report.detail, gateway: { connections: this.s.connections, conflated: this.conflatedCount() } };
    this.respondJson(res, ok ? '200 OK' : '503 Service Unavailable', body);
  }

  private onMetrics(res: HttpResponse): void {
    // Responding happens after an await: uWS requires onAborted, and the response must not be
    // touched once aborted.
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    this.opts.registry.metrics().then(
      (text) => {
        if (aborted) return;
        this.guardHttp(res, 'metrics', () => {
          res.cork(() => {
            res.writeStatus('200 OK').writeHeader('content-type', this.opts.registry.contentType).end(text);
          });
        });
      },
      (e: unknown) => {
        this.internal('metrics', e);
        if (aborted) return;
        this.guardHttp(res, 'metrics', () => this.respondJson(res, '500 Internal Server Error', { code: ErrorCode.INTERNAL }));
      },
    );
  }

  private respondJson(res: HttpResponse, status: string, body: object): void {
    res.cork(() => {
      res.writeStatus(status).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store').end(JSON.stringify(body));
    });
  }

  /** Runs an HTTP handler; an exception becomes a 500 (if the response is still ours) instead of a crash. */
  private guardHttp(res: HttpResponse, where: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.internal(where, e);
      try {
        this.respondJson(res, '500 Internal Server Error', { code: ErrorCode.INTERNAL });
      } catch {
        // the response was already ended or aborted; nothing left to tell the client
      }
    }
  }

  private internal(where: string, err: unknown): void {
    this.s.internalErrors++;
    try {
      this.log.error({ err, where, code: ErrorCode.INTERNAL }, 'gateway handler failed');
    } catch {
      // a failing logger must not turn a handled error into a crash inside uWS
    }
  }

  private clock(): Clock {
    return this.opts.clock;
  }
}
