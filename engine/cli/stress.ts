#!/usr/bin/env node
/**
 * npm run stress -- [--seed 42] [--watch ACME-27] [--time-scale 50] [--rate 2000]
 *                   [--stress-start-ms 5000] [--stress-duration-ms 20000] [--max-ms 120000] [--no-trades]
 *
 * The stressed demo in one command: an engine started as `main.ts --demo` starts it (embedded
 * nats-server unless NATS_URL is set, the same startEngine), fed by the synthetic feed in its
 * `stressed` scenario with the venue simulator, and watched from the outside, over the same
 * protocols a desk would use:
 *
 *   NATS   regime.>            every regime change (instrument and asset class) with its signals
 *          hedge.decision.>    each hedge decision with its reason
 *   WS     a tier-1, tier-2 and tier-3 client subscribed to one instrument: state / sizes / spread per tier
 *          the tier-1 client sends RFQs (before, during, after): queued for a human, the regime stated
 *          the tier-2 client sells on automatic quotes every few seconds (so the hedger has trades)
 *          a trader seat sees the queued RFQs with the regime note
 *
 * It prints those in the order they happen and exits once the watched instrument is back to
 * normal after the episode (or at --max-ms, or on Ctrl-C). Everything runs in this process except
 * the broker; the auth secret and the broker's store are temporary.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { connect, type NatsConnection } from 'nats';
import { pino } from 'pino';
import WebSocket from 'ws';
import { mintToken } from '../auth/token.js';
import { loadConfigFile, loadDefaultConfig, type Config, type Tier } from '../config.js';
import { startEngine, type Engine, type EngineOptions } from '../engine.js';
import { EngineError, ErrorCode } from '../errors.js';
import type { Logger } from '../hotpath.js';
import { startEmbeddedNats, type EmbeddedNats } from '../nats/embedded.js';
import type { RegimeService } from '../risk/regime-service.js';
import { runFeed, type RunningFeed } from '../../feeds/cli.js';
import type { SyntheticMarket } from '../../feeds/synthetic.js';

type Frame = Record<string, any>;

export interface StressDemoOptions {
  readonly config: Config;
  /** connect to this broker; otherwise an embedded one in a temporary directory */
  readonly natsUrl?: string;
  readonly seed: number;
  readonly ratePerSec: number;
  readonly timeScale: number;
  readonly stressStartMs: number;
  readonly stressDurationMs: number;
  /** instrument id to watch per tier; default the first one whose venues never go quiet in the episode */
  readonly watch?: string;
  /** give up (exit 1) if the watched instrument is not normal again by then */
  readonly maxMs: number;
  /** the tier-2 client sells on automatic quotes this often (0 = no trades, so no hedge decisions) */
  readonly tradeEveryMs: number;
  readonly hedgeSubject: string;
  /** passed to startEngine as is (tests: an in-memory client directory) */
  readonly engine?: Partial<EngineOptions>;
  /** the engine's own log (default: warnings and errors to stderr) */
  readonly log?: Logger;
  /** one line of output */
  readonly out: (line: string) => void;
  /** stops the demo early (Ctrl-C) */
  readonly signal?: AbortSignal;
}

export interface StressDemoResult {
  readonly recovered: boolean;
  readonly watched: string;
  /** instruments not normal at the end */
  readonly stillAbnormal: readonly string[];
}

const fmtSize = (n: number) => (n >= 1e6 ? `${+(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : String(n));

/** One line per tier: what that client sees of the watched instrument. */
export function describeQuote(f: Frame | undefined): string {
  if (f === undefined) return 'no quote yet';
  const st = String(f.st).padEnd(10);
  const rs = f.rs ? `(${f.rs})`.padEnd(12) : ''.padEnd(12);
  if (!Array.isArray(f.l) || f.l.length === 0 || !(f.mid > 0)) return `${st} ${rs} no prices`;
  const sizes = f.l.map((l: number[]) => fmtSize(l[0])).join('/');
  const halfBps = ((f.l[0][2] - f.l[0][1]) / 2 / f.mid) * 1e4;
  return `${st} ${rs} sizes ${sizes.padEnd(18)} band-0 half-spread ${halfBps.toFixed(2)} bp`;
}

/** The first instrument none of whose venues goes quiet during the episode (regime by market, not by silence). */
function defaultWatched(market: SyntheticMarket, config: Config, episodeMs: number): string {
  const quiet = new Set<number>();
  const t0 = market.startedAtMs;
  market.streams.forEach((st, s) => {
    for (let x = t0; x < t0 + episodeMs; x += 100) if (market.isQuiet(s, x)) quiet.add(st.instrumentIndex);
  });
  const i = config.instruments.findIndex((_, k) => !quiet.has(k));
  return config.instruments[i >= 0 ? i : 0].id;
}

class Seat {
  readonly frames: Frame[] = [];
  private waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame | undefined) => void; timer: NodeJS.Timeout }> = [];
  onFrame: (f: Frame) => void = () => undefined;
  private constructor(readonly ws: WebSocket, readonly name: string) {
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Frame;
      if (f.t !== 'q' && f.t !== 'pong') this.frames.push(f);
      this.onFrame(f);
      this.waiters = this.waiters.filter((w) => (w.pred(f) ? (clearTimeout(w.timer), w.resolve(f), false) : true));
    });
    // surfaced through 'close'; an unhandled 'error' would end the demo
    ws.on('error', () => undefined);
  }
  static async open(url: string, token: string, name: string): Promise<Seat> {
    const ws = new WebSocket(`${url}/?token=${encodeURIComponent(token)}&format=json`, { perMessageDeflate: false });
    const s = new Seat(ws, name);
    // waiting from before the upgrade: hello can arrive in the same read as the upgrade response
    const hello = s.next((f) => f.t === 'hello', 5_000);
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    if ((await hello) === undefined) throw new EngineError(ErrorCode.INTERNAL, `${name}: no hello from the engine`);
    return s;
  }
  send(m: Frame): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }
  /** a frame already received (not quotes) matching `pred`, else the next one, or undefined after timeoutMs */
  find(pred: (f: Frame) => boolean, timeoutMs: number): Promise<Frame | undefined> {
    const seen = this.frames.find(pred);
    return seen !== undefined ? Promise.resolve(seen) : this.next(pred, timeoutMs);
  }
  /** the next frame matching `pred`, or undefined after timeoutMs */
  next(pred: (f: Frame) => boolean, timeoutMs: number): Promise<Frame | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.push({ pred, resolve, timer });
    });
  }
  close(): void {
    this.ws.close();
  }
}

export async function runStressDemo(o: StressDemoOptions): Promise<StressDemoResult> {
  const { config, out } = o;
  const t0 = Date.now();
  const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
  const say = (what: string, text: string) => out(`${stamp()} ${what.padEnd(8)} ${text}`);
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    // ── broker, engine, feed: as main.ts --demo does ─────────────────────────────────────────
    let natsUrl = o.natsUrl;
    if (!natsUrl) {
      const dir = mkdtempSync(join(tmpdir(), 'qe-stress-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const embedded: EmbeddedNats = await startEmbeddedNats({ dataDir: dir });
      cleanups.push(() => embedded.stop());
      natsUrl = embedded.url;
    }
    const secret = randomBytes(32);
    const log = o.log ?? pino({ name: 'engine', level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2));
    const engine: Engine = await startEngine({ config, natsUrl, secret, log, port: 0, ...o.engine });
    cleanups.push(() => engine.stop());
    const url = `ws://${config.gateway.host}:${engine.port}`;
    const nc: NatsConnection = await connect({ servers: natsUrl, name: 'qe-stress-demo' });
    cleanups.push(() => nc.close());

    const regimePrefix = config.regime.subjectPrefix;
    let watched = o.watch ?? '';
    const regimeOfWatched: string[] = [];
    nc.subscribe(`${regimePrefix}.>`, {
      callback: (_e, m) => {
        const c = JSON.parse(new TextDecoder().decode(m.data)) as Frame;
        const mark = c.id === watched ? '*' : ' ';
        say('regime', `${mark}${c.scope === 'asset_class' ? 'class ' : ''}${c.id}: ${c.from} → ${c.to}  (${c.reason})`);
        if (c.id === watched) regimeOfWatched.push(c.to);
      },
    });
    nc.subscribe(o.hedgeSubject, {
      callback: (_e, m) => {
        const d = JSON.parse(new TextDecoder().decode(m.data)) as Frame;
        const q = typeof d.residualNotional === 'number' ? ` residual ${fmtSize(Math.abs(d.residualNotional))}` : '';
        // the reason's first part is the decision; the rest (every option's estimate) is in the record
        const why = String(d.reasonText ?? d.reason ?? JSON.stringify(d)).split(' Model: ')[0];
        say('hedge', `${d.instrument ?? m.subject}: ${d.choice ?? d.kind ?? '?'}${q}${d.regime ? ` [${d.regime}]` : ''} — ${why.length > 240 ? why.slice(0, 239) + '…' : why}`);
      },
    });
    await nc.flush();

    const feed: RunningFeed = await runFeed({
      nc, config, seed: o.seed, scenario: 'stressed', ratePerSec: o.ratePerSec, timeScale: o.timeScale,
      stress: { startAfterMs: o.stressStartMs, durationMs: o.stressDurationMs }, venueSim: {},
    });
    cleanups.push(() => feed.close());
    const episodeEnd = o.stressStartMs + o.stressDurationMs;
    for (let k = 0; k < 200 && Number.isNaN(feed.market.startedAtMs); k++) await new Promise((r) => setTimeout(r, 10));
    if (!watched) watched = defaultWatched(feed.market, config, episodeEnd + 10_000);
    const ins = config.instruments.find((i) => i.id === watched);
    if (ins === undefined) throw new EngineError(ErrorCode.CONFIG_INVALID, `--watch: unknown instrument ${watched}`);
    out(`Stressed scenario: seed ${o.seed}, ${o.ratePerSec} msgs/s, sell-off after ${o.stressStartMs / 1000} s, episode ${o.stressDurationMs / 1000} s. Watching ${watched} (* in the regime lines).`);
    out(`Engine ws ${url}  broker ${natsUrl}`);

    // ── seats: one client per tier, a trader ─────────────────────────────────────────────────
    const clientOfTier = (t: Tier) => config.clients.find((c) => c.tier === t && (c.role ?? 'client') === 'client');
    const seats = new Map<Tier, Seat>();
    const last = new Map<Tier, Frame>();
    const printed = new Map<Tier, string>();
    const nowSec = Math.floor(Date.now() / 1000);
    for (const t of [1, 2, 3] as const) {
      const c = clientOfTier(t);
      if (c === undefined) continue;
      const seat = await Seat.open(url, mintToken(secret, { sub: c.id, role: 'client' }, 3600, nowSec), c.id);
      cleanups.push(() => seat.close());
      let printedAt = 0;
      seat.onFrame = (f) => {
        if (f.t !== 'q' || f.i !== watched) return;
        last.set(t, f);
        // A change of state or of the smallest size is news; a spread moving with the market, or
        // bands above the first coming and going at the price gate, is not. At most one line a
        // second per tier: each regime change prints every tier's current line anyway.
        const key = `${f.st}|${f.rs}|${f.l?.[0]?.[0] ?? ''}`;
        const now = Date.now();
        if (printed.get(t) !== key && now - printedAt >= 1_000) {
          printed.set(t, key);
          printedAt = now;
          say(`tier ${t}`, `${c.id.padEnd(10)} ${watched} ${describeQuote(f)}`);
        }
      };
      seat.send({ t: 'sub', i: [watched] });
      seats.set(t, seat);
    }
    const traderCfg = config.clients.find((c) => c.role === 'trader' || c.role === 'admin');
    const trader = traderCfg ? await Seat.open(url, mintToken(secret, { sub: traderCfg.id, role: traderCfg.role as 'trader' }, 3600, nowSec), traderCfg.id) : undefined;
    if (trader) cleanups.push(() => trader.close());

    const tiersNow = (why: string) => {
      for (const t of [1, 2, 3] as const) if (seats.has(t)) say(`tier ${t}`, `${seats.get(t)!.name.padEnd(10)} ${watched} ${describeQuote(last.get(t))}  ← ${why}`);
    };

    let rfqN = 0;
    const tier1Rfq = async (why: string) => {
      const s = seats.get(1);
      if (!s) return;
      const id = `stress-${++rfqN}`;
      const answer = s.next((f) => f.id === id && (f.t === 'rfq' || f.t === 'quote_firm' || f.t === 'rejected' || f.t === 'error'), 5_000);
      s.send({ t: 'rfq', id, i: watched, side: 'sell', size: ins.minSize });
      const a = await answer;
      if (a === undefined) return say('rfq', `tier-1 RFQ ${id}: no answer`);
      if (a.t !== 'rfq') return say('rfq', `tier-1 RFQ (${why}) → ${a.t} ${a.code ?? ''} ${a.message ?? ''}`);
      const view = trader ? await trader.find((f) => f.t === 'rfq_queue' && f.rfq?.rfqId === a.rfqId, 2_000) : undefined;
      const note = view?.rfq?.regime ? ` — trader sees "${view.rfq.regime}"` : '';
      say('rfq', `tier-1 ${s.name} sells ${fmtSize(ins.minSize)} ${watched} (${why}) → ${a.state} for a trader, reason ${a.reason}${note}`);
    };

    let acceptN = 0;
    const tier2Trade = async () => {
      const s = seats.get(2);
      if (!s) return;
      const id = `stress-t2-${++rfqN}`;
      const answer = s.next((f) => f.id === id && (f.t === 'rfq' || f.t === 'quote_firm' || f.t === 'rejected' || f.t === 'error'), 5_000);
      s.send({ t: 'rfq', id, i: watched, side: 'sell', size: ins.minSize });
      const a = await answer;
      if (a?.t !== 'quote_firm') return say('trade', `tier-2 ${s.name} RFQ → ${a ? `${a.t} ${a.reason ?? a.code ?? ''}` : 'no answer'} (no trade)`);
      const acceptId = `stress-acc-${t0}-${++acceptN}`;
      const conf = s.next((f) => f.acceptId === acceptId && (f.t === 'trade_confirm' || f.t === 'rejected' || f.t === 'trade_unknown'), 5_000);
      s.send({ t: 'accept', quoteId: a.quoteId, acceptId });
      const c = await conf;
      say('trade', c?.t === 'trade_confirm' ? `tier-2 ${s.name} sold ${fmtSize(c.size)} ${watched} @ ${c.price} (booked, journal seq ${c.seq})` : `tier-2 accept → ${c ? `${c.t} ${c.code ?? ''}` : 'no answer'}`);
    };

    // ── the run ────────────────────────────────────────────────────────────────────────────
    const svc = engine.services.regime as RegimeService | undefined;
    let lastPhase = '';
    let calmRfqDone = false;
    let stressedRfqs = 0;
    let recoveredAt = 0;
    let nextTradeAt = Date.now() + 1_000;
    let seenWatched = 0;
    const deadline = Date.now() + o.maxMs;
    while (Date.now() < deadline && !o.signal?.aborted) {
      await new Promise((r) => setTimeout(r, 100));
      const phase = feed.market.phaseAt(Date.now());
      if (phase !== lastPhase) {
        lastPhase = phase;
        say('market', `phase ${phase}`);
      }
      const elapsed = Date.now() - feed.market.startedAtMs;
      if (!calmRfqDone && elapsed > Math.min(2_000, o.stressStartMs / 2) && last.has(1)) {
        calmRfqDone = true;
        tiersNow('calm');
        await tier1Rfq('calm market');
      }
      for (; seenWatched < regimeOfWatched.length; seenWatched++) {
        const to = regimeOfWatched[seenWatched];
        await new Promise((r) => setTimeout(r, 300)); // let the repriced frames arrive
        tiersNow(`${watched} ${to}`);
        if (to !== 'normal' && stressedRfqs < 2) {
          stressedRfqs++;
          await tier1Rfq(`${watched} ${to}`);
        }
        if (to === 'normal' && elapsed > episodeEnd && recoveredAt === 0) {
          recoveredAt = Date.now();
          await tier1Rfq('recovered');
        }
      }
      if (o.tradeEveryMs > 0 && Date.now() >= nextTradeAt) {
        nextTradeAt = Date.now() + o.tradeEveryMs;
        await tier2Trade();
      }
      if (recoveredAt > 0 && Date.now() - recoveredAt > 1_500) break;
    }
    const stillAbnormal = svc ? svc.abnormal().instruments.map((x) => `${x.i} ${x.regime}`) : [];
    const recovered = recoveredAt > 0;
    out(
      recovered
        ? `Recovered: ${watched} is normal again and quoted firm to every tier.${stillAbnormal.length ? ` Still degraded: ${stillAbnormal.join(', ')}.` : ' Every instrument is normal.'}`
        : o.signal?.aborted ? 'Stopped.' : `${watched} was not normal again within ${o.maxMs / 1000} s.`,
    );
    return { recovered, watched, stillAbnormal };
  } finally {
    await cleanup();
  }
}

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
  return n;
};
const num = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number ≥ ${min}`);
  return n;
};

export function buildProgram(): Command {
  return new Command()
    .name('stress')
    .description('The engine on the stressed sell-off scenario: regime changes, each tier degrading, tier-1 RFQs to a trader, hedge decisions, recovery')
    .option('--config <path>', 'engine config file (default: the shipped default config, or $QE_CONFIG)')
    .option('--seed <n>', 'synthetic feed seed', int('seed', 0), 42)
    .option('--watch <instrument>', 'instrument shown per tier (default: the first whose venues never go quiet)')
    .option('--rate <msgsPerSec>', 'synthetic feed messages per second', num('rate', 1), 2000)
    .option('--time-scale <x>', 'market time runs this many times faster (price path variance)', num('time-scale', 1e-6), 50)
    .option('--stress-start-ms <ms>', 'the sell-off starts this long after the feed', int('stress-start-ms', 0), 5_000)
    .option('--stress-duration-ms <ms>', 'sell-off + dislocation + recovery', int('stress-duration-ms', 1_000), 20_000)
    .option('--max-ms <ms>', 'give up after this long', int('max-ms', 1_000), 120_000)
    .option('--trade-every-ms <ms>', 'the tier-2 client sells on an automatic quote this often (0 = never)', int('trade-every-ms', 0), 3_000)
    .option('--hedge-subject <subject>', 'NATS subject of hedge decisions', 'hedge.decision.>');
}

async function main(argv: string[]): Promise<number> {
  const p = buildProgram().parse(argv);
  const a = p.opts<{ config?: string; seed: number; watch?: string; rate: number; timeScale: number; stressStartMs: number; stressDurationMs: number; maxMs: number; tradeEveryMs: number; hedgeSubject: string }>();
  const path = a.config ?? (process.env.QE_CONFIG || undefined);
  const config = path ? loadConfigFile(path) : loadDefaultConfig();
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  // a closed stdout (`npm run stress | head`) ends the demo cleanly too: its broker and engine are stopped
  process.stdout.on('error', () => ac.abort());
  const r = await runStressDemo({
    config, natsUrl: process.env.NATS_URL || undefined, seed: a.seed, ratePerSec: a.rate, timeScale: a.timeScale, stressStartMs: a.stressStartMs,
    stressDurationMs: a.stressDurationMs, watch: a.watch, maxMs: a.maxMs, tradeEveryMs: a.tradeEveryMs, hedgeSubject: a.hedgeSubject,
    out: (l) => {
      if (!ac.signal.aborted) process.stdout.write(`${l}\n`);
    },
    signal: ac.signal,
  });
  return r.recovered || ac.signal.aborted ? 0 : 1;
}

const isMain = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    // argv[1] unreadable (e.g. stdin script): this module was imported, not run
    return false;
  }
})();
if (isMain) {
  main(process.argv).then(
    (code) => process.exit(code),
    (err) => {
      const code = err instanceof EngineError ? err.code : 'QE_INTERNAL';
      process.stderr.write(`stress demo failed [${code}]: ${err?.message ?? err}\n`);
      process.exit(1);
    },
  );
}
