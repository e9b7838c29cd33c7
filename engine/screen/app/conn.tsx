/**
 * The screen's one WebSocket: the same protocol and entitlements as any client (docs/protocol.md).
 * The token travels as the `bearer.<token>` subprotocol (browsers cannot set headers), never in
 * the socket URL, so it stays out of access logs. msgpack by default (the engine encodes each
 * quote frame once for every msgpack socket; a JSON socket costs it a stringify per frame);
 * `?format=json` on the page URL switches to JSON for debugging in the browser's network tab.
 */
import { decode, encode } from '@msgpack/msgpack';
import type { Hello, Msg, QuoteFrame, RfqView, Store } from './store.js';

/** Kinds other modules add (co-pilot, P&L, hedging, risk, regime). Asked for once at connect; a refusal marks the panel "not available". */
export const OPTIONAL_REQUESTS: readonly string[] = ['positions', 'pnl', 'axes', 'hedges', 'risk_status', 'regimes'];
const TRADER_ROLES: ReadonlySet<string> = new Set(['trader', 'admin']);
const PING_EVERY_MS = 2_000;
/** no frame at all for this long on an open socket → shown as stalled (pings are answered within ms) */
const STALL_AFTER_MS = 5_000;
const REFRESH_EVERY_MS = 5_000;

interface Pending {
  readonly kind: string;
  readonly rfqId?: string;
  readonly what: string;
  /** a refusal is expected and not worth a log line (e.g. asking the co-pilot for an RFQ it has nothing for) */
  readonly quiet: boolean;
}

export class Connection {
  private ws: WebSocket | null = null;
  private seq = 0;
  private backoffMs = 500;
  private readonly pending = new Map<string, Pending>();
  private timers: number[] = [];
  private lastPingAt = 0;
  /** request kinds that answered (re-asked every REFRESH_EVERY_MS as a fallback to pushes) */
  private readonly refreshable = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly url: string,
    private readonly token: string,
    private readonly json: boolean,
  ) {}

  start(): void {
    this.open();
    this.timers.push(window.setInterval(() => this.heartbeat(), PING_EVERY_MS));
    this.timers.push(window.setInterval(() => this.refresh(), REFRESH_EVERY_MS));
  }

  /** Sends a request with a fresh id; its answer or refusal is matched back by that id. Returns false when not connected. */
  request(msg: Record<string, unknown>, what: string, rfqId?: string, quiet = false): boolean {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) {
      this.store.addLog({ level: 'error', text: `${what}: not sent, not connected`, rfqId });
      return false;
    }
    const id = `s${++this.seq}`;
    this.pending.set(id, { kind: String(msg.t), rfqId, what, quiet });
    if (this.pending.size > 500) this.pending.delete(this.pending.keys().next().value as string);
    this.send({ ...msg, id });
    return true;
  }

  private send(msg: Record<string, unknown>): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return;
    ws.send(this.json ? JSON.stringify(msg) : encode(msg));
  }

  private open(): void {
    const s = this.store;
    s.conn.state = 'connecting';
    s.conn.attempts++;
    s.dirty = true;
    const ws = new WebSocket(this.url + (this.json ? '?format=json' : ''), ['qe.v1', `bearer.${this.token}`]);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      this.backoffMs = 500;
      s.conn = { ...s.conn, state: 'open', code: 0, reason: '', since: Date.now(), lastMsgAt: Date.now() };
      s.dirty = true;
    };
    ws.onmessage = (e: MessageEvent) => {
      let m: Msg;
      try {
        m = (typeof e.data === 'string' ? JSON.parse(e.data) : decode(new Uint8Array(e.data as ArrayBuffer))) as Msg;
      } catch {
        // an undecodable frame is a server bug; counting it is all the screen can do
        s.addLog({ level: 'error', text: 'undecodable frame from the engine' });
        return;
      }
      this.onMessage(m);
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      s.resetLive();
      // 4001: the token expired; retrying with the same token cannot work
      const expired = e.code === 4001;
      s.conn = { ...s.conn, state: expired ? 'expired' : 'closed', code: e.code, reason: e.reason, since: Date.now() };
      s.dirty = true;
      if (!expired) {
        window.setTimeout(() => this.open(), this.backoffMs);
        this.backoffMs = Math.min(this.backoffMs * 2, 15_000);
      }
    };
    // the error event carries nothing useful in browsers; close follows
    ws.onerror = () => undefined;
  }

  private onMessage(m: Msg): void {
    const s = this.store;
    const now = Date.now();
    s.conn.lastMsgAt = now;
    if (s.conn.state === 'stalled') s.conn.state = 'open';
    switch (m.t) {
      case 'q':
        s.onQuote(m as unknown as QuoteFrame, now);
        return;
      case 'hello': {
        const h = m as unknown as Hello;
        s.hello = h;
        s.offsetMs = h.serverTime - now;
        s.dirty = true;
        if (h.role === 'client') return; // the screen is for desk roles; nothing to subscribe
        this.send({ t: 'sub', i: [...h.instruments], id: 'sub' });
        if (TRADER_ROLES.has(h.role)) {
          this.request({ t: 'rfqs' }, 'load the RFQ queue');
          this.request({ t: 'scores' }, 'load client scores');
        }
        for (const k of OPTIONAL_REQUESTS) if (!s.unsupported.has(k)) this.request({ t: k }, `load ${k}`);
        return;
      }
      case 'pong':
        if (this.lastPingAt > 0) s.conn.rttMs = now - this.lastPingAt;
        if (typeof m.serverTime === 'number') s.offsetMs = m.serverTime - now;
        return;
      case 'rfqs': {
        this.answered(m);
        for (const v of (m.rfqs as RfqView[]) ?? []) s.onRfq(v, now);
        s.rfqsAt = now;
        return;
      }
      case 'rfq_queue':
        s.onRfq(m.rfq as RfqView, now);
        return;
      case 'copilot': {
        const rfqId = typeof m.rfqId === 'string' ? m.rfqId : '';
        this.answered(m);
        s.copilot.set(rfqId, m);
        s.copilotAt = now;
        s.dirty = true;
        return;
      }
      case 'hedge_decision': {
        const d = m.decision as Record<string, unknown> | undefined;
        if (d !== undefined && d !== null && typeof d === 'object') {
          s.hedgeDecisions.unshift(d);
          if (s.hedgeDecisions.length > 20) s.hedgeDecisions.length = 20;
        }
        s.kinds.set(m.t, { msg: m, at: now });
        s.dirty = true;
        // a decision changes the working plans, which are only answered on request
        if (!s.unsupported.has('hedges')) this.request({ t: 'hedges' }, 'load hedges');
        return;
      }
      case 'regimes':
        // the full picture: every instrument not normal now
        s.regimes.clear();
        for (const r of (m.instruments as Array<{ i: string; regime: string; reason: string; since: number }>) ?? []) s.regimes.set(r.i, { regime: r.regime, reason: r.reason, since: r.since });
        this.answered(m);
        s.kinds.set(m.t, { msg: m, at: now });
        s.dirty = true;
        return;
      case 'regime':
        if (typeof m.i === 'string') {
          if (m.regime === 'normal') s.regimes.delete(m.i);
          else s.regimes.set(m.i, { regime: String(m.regime), reason: String(m.reason ?? ''), since: typeof m.serverTime === 'number' ? m.serverTime : s.serverNow() });
        }
        s.kinds.set(m.t, { msg: m, at: now });
        s.dirty = true;
        return;
      case 'copilot_closed': {
        // the co-pilot says how a co-piloted RFQ ended (booked included, which rfq_queue may not push)
        const v = typeof m.rfqId === 'string' ? s.rfqs.get(m.rfqId) : undefined;
        if (v !== undefined && typeof m.state === 'string') s.onRfq({ ...v, state: m.state }, now);
        return;
      }
      case 'rfq_taken':
        if (typeof m.rfqId === 'string') s.taken.set(m.rfqId, String(m.by ?? '?'));
        this.answered(m);
        s.dirty = true;
        return;
      case 'rejected':
      case 'error':
        this.refused(m);
        return;
      case 'status':
        s.status = { ...s.status, ...m };
        if (typeof m.tier === 'number' && s.hello !== null) s.hello = { ...s.hello, tier: m.tier };
        s.dirty = true;
        return;
      case 'slow':
        s.addLog({ level: 'error', text: 'the engine paused this screen (slow consumer); snapshots follow', code: String(m.code) });
        return;
      case 'subscribed':
      case 'unsubscribed':
        return;
      default:
        this.answered(m);
        s.kinds.set(m.t, { msg: m, at: now });
        s.dirty = true;
    }
  }

  /** A reply to one of our requests: the request worked; note it so the panel keeps refreshing. */
  private answered(m: Msg): void {
    const id = typeof m.id === 'string' ? m.id : undefined;
    if (id === undefined) return;
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    if (p.what.startsWith('load ')) {
      if (p.kind === m.t) this.refreshable.add(p.kind);
    } else if (!p.quiet && p.kind !== m.t) {
      // an action answered by another kind (risk_ack, axe_shown, rfq_taken…): say it was done
      this.store.addLog({ level: 'info', text: `${p.what}: done`, rfqId: p.rfqId });
    }
  }

  private refused(m: Msg): void {
    const s = this.store;
    const id = typeof m.id === 'string' ? m.id : undefined;
    const p = id === undefined ? undefined : this.pending.get(id);
    const code = String(m.code ?? '');
    if (p !== undefined) {
      this.pending.delete(id!);
      if (p.what.startsWith('load ')) {
        s.unsupported.set(p.kind, code);
        s.dirty = true;
        return;
      }
      if (p.quiet) return;
    }
    const rfqId = p?.rfqId ?? (typeof m.rfqId === 'string' ? m.rfqId : undefined);
    s.addLog({ level: 'error', code, text: `${p?.what ?? m.t}: ${code} ${String(m.message ?? '')}`, rfqId });
  }

  private heartbeat(): void {
    const s = this.store;
    if (this.ws === null || this.ws.readyState !== WebSocket.OPEN) return;
    if (s.conn.state === 'open' && Date.now() - s.conn.lastMsgAt > STALL_AFTER_MS) {
      s.conn.state = 'stalled';
      s.dirty = true;
    }
    this.lastPingAt = Date.now();
    this.send({ t: 'ping', id: 'hb' });
  }

  private refresh(): void {
    // pushes keep most panels current; re-asking covers kinds that are only answered on request
    for (const k of this.refreshable) if (k !== 'rfqs') this.request({ t: k }, `load ${k}`);
  }
}
