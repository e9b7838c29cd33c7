/**
 * Risk latencies of the RFQ phase (issue 6 "Done when"), measured while the background ticks run:
 *
 *  kill switch → last affected quote pulled: a tier-level kill sent as a NATS request on
 *    `risk.kill` (admin token) at t0 = monoUs(); a client socket of that tier subscribed to
 *    `instruments` records, per instrument, when the first frame with `st:'pulled', rs:'killed'`
 *    arrives; one sample per run = the last of them − t0. Then `risk.release` and a wait until every
 *    instrument is firm again before the next run. monoUs() is comparable across processes of a host.
 *
 *  trade booked → hedge decision: read from the engine's own histogram
 *    `qe_hedge_decision_latency_seconds` (engine/hedging/router.ts) at the end of the phase;
 *    quantiles are interpolated inside Prometheus buckets, so they are as coarse as the buckets.
 */
import { Decoder } from '@msgpack/msgpack';
import { connect, type NatsConnection } from 'nats';
import WebSocket from 'ws';
import { monoUs } from '../../engine/wire/market-data.js';
import { mintToken } from '../../engine/auth/token.js';
import { newLatencyHistogram, summarize, type LatencySummary } from './stats.js';

export interface KillResult {
  readonly runs: number;
  readonly failures: number;
  readonly tier: number;
  readonly instruments: number;
  /** per run: last affected quote pulled − command sent, µs */
  readonly lastPulled: LatencySummary;
  /** per run: command sent → NATS reply (the engine applied and audited it), µs */
  readonly reply: LatencySummary;
  /** the engine's own `qe_kill_switch_apply_seconds{action="kill"}`: command received → pulled frames published */
  engineApply?: HedgeDecisionResult | null;
  readonly error?: string;
}

export interface HedgeDecisionResult {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
}

interface QFrame {
  t?: string;
  i?: string;
  tr?: number;
  st?: string;
  rs?: string;
}

export async function measureKillSwitch(o: {
  url: string;
  natsUrl: string;
  secret: Buffer;
  client: string;
  tier: 1 | 2 | 3;
  instruments: readonly string[];
  runs: number;
  timeoutMs?: number;
  progress?: (s: string) => void;
}): Promise<KillResult> {
  const timeoutMs = o.timeoutMs ?? 5_000;
  const nowSec = Math.floor(Date.now() / 1000);
  const admin = mintToken(o.secret, { sub: 'perf-risk', role: 'admin' }, 3600, nowSec);
  const token = mintToken(o.secret, { sub: o.client, role: 'client' }, 3600, nowSec);
  const decoder = new Decoder();
  const state = new Map<string, string>();
  let armedAt = -1;
  const pulledAt = new Map<string, number>();
  const hLast = newLatencyHistogram();
  const hReply = newLatencyHistogram();
  let failures = 0;
  let nc: NatsConnection | undefined;
  const ws = new WebSocket(`${o.url}/?token=${encodeURIComponent(token)}`, { perMessageDeflate: false });
  ws.on('message', (data: Buffer) => {
    const at = monoUs();
    let f: QFrame;
    try {
      f = decoder.decode(data) as QFrame;
    } catch {
      return;
    }
    if (f.t !== 'q' || f.i === undefined) return;
    state.set(f.i, f.st === 'pulled' ? `pulled:${f.rs}` : String(f.st));
    if (armedAt >= 0 && f.st === 'pulled' && f.rs === 'killed' && !pulledAt.has(f.i)) pulledAt.set(f.i, at);
  });
  ws.on('error', () => undefined);
  const until = async (cond: () => boolean, ms: number): Promise<boolean> => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 2));
    }
    return true;
  };
  const command = async (action: 'kill' | 'release') => {
    const body = JSON.stringify({ token: admin, scope: { level: 'tier', target: String(o.tier) }, reason: `perf: kill-switch latency (${action})` });
    const r = await nc!.request(`risk.${action}`, new TextEncoder().encode(body), { timeout: timeoutMs });
    const reply = JSON.parse(new TextDecoder().decode(r.data)) as { ok: boolean; code?: string; message?: string };
    if (!reply.ok) throw new Error(`risk.${action}: ${reply.code} ${reply.message}`);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    nc = await connect({ servers: o.natsUrl, name: 'perf-kill', maxReconnectAttempts: -1 });
    ws.send(JSON.stringify({ t: 'sub', i: o.instruments, id: 'kill' }));
    const allFirm = () => o.instruments.every((i) => state.get(i) === 'firm');
    if (!(await until(allFirm, timeoutMs * 2))) throw new Error(`not every watched instrument was firm within ${timeoutMs * 2} ms before the first kill`);
    for (let r = 0; r < o.runs; r++) {
      o.progress?.(`kill switch ${r + 1}/${o.runs}`);
      pulledAt.clear();
      const t0 = monoUs();
      armedAt = t0;
      try {
        await command('kill');
        hReply.recordValue(Math.max(1, Math.round(monoUs() - t0)));
        if (!(await until(() => pulledAt.size === o.instruments.length, timeoutMs))) {
          failures++;
        } else {
          let last = 0;
          for (const at of pulledAt.values()) last = Math.max(last, at);
          hLast.recordValue(Math.max(1, Math.round(last - t0)));
        }
      } finally {
        armedAt = -1;
        await command('release');
      }
      // the next run starts from a firm stream, or it would measure nothing
      if (!(await until(allFirm, timeoutMs * 2))) failures++;
    }
    return { runs: o.runs, failures, tier: o.tier, instruments: o.instruments.length, lastPulled: summarize(hLast), reply: summarize(hReply) };
  } catch (e) {
    return { runs: o.runs, failures: failures + 1, tier: o.tier, instruments: o.instruments.length, lastPulled: summarize(hLast), reply: summarize(hReply), error: (e as Error).message };
  } finally {
    hLast.destroy();
    hReply.destroy();
    ws.terminate();
    await nc?.close().catch(() => undefined);
  }
}

/** Quantiles of a Prometheus histogram (seconds) from its cumulative buckets, linear inside a bucket; ms. */
export function histogramQuantilesMs(metrics: Map<string, number>, name: string, label?: string): HedgeDecisionResult | null {
  const buckets: Array<[number, number]> = [];
  let count = 0;
  let sum = 0;
  for (const [k, v] of metrics) {
    if (label !== undefined && !k.includes(label)) continue;
    if (k.startsWith(`${name}_bucket{`)) {
      const m = /le="([^"]+)"/.exec(k);
      if (m) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), v]);
    } else if (k === `${name}_count` || k.startsWith(`${name}_count{`)) count += v;
    else if (k === `${name}_sum` || k.startsWith(`${name}_sum{`)) sum += v;
  }
  if (count === 0 || buckets.length === 0) return null;
  // several label sets: add their cumulative counts per bound
  const byLe = new Map<number, number>();
  for (const [le, c] of buckets) byLe.set(le, (byLe.get(le) ?? 0) + c);
  const les = [...byLe.keys()].sort((a, b) => a - b);
  const q = (p: number) => {
    const want = p * count;
    let prevLe = 0;
    let prevC = 0;
    for (const le of les) {
      const c = byLe.get(le)!;
      if (c >= want) {
        if (!Number.isFinite(le)) return prevLe * 1000;
        const frac = c === prevC ? 1 : (want - prevC) / (c - prevC);
        return (prevLe + (le - prevLe) * frac) * 1000;
      }
      prevLe = le;
      prevC = c;
    }
    return prevLe * 1000;
  };
  return { count, p50Ms: q(0.5), p99Ms: q(0.99), meanMs: (sum / count) * 1000 };
}

const us = (v: number) => (!Number.isFinite(v) ? '–' : v >= 10_000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v)));
const ms = (v: number) => (!Number.isFinite(v) ? '–' : v.toFixed(v < 10 ? 2 : 1));

/** The risk section of latest.md. */
export function riskMarkdown(kill: KillResult | undefined, hedge: HedgeDecisionResult | null | undefined, scenario: string): string[] {
  if (kill === undefined && hedge === undefined) return [];
  const L: string[] = ['## Risk latencies under background ticks', ''];
  if (kill !== undefined) {
    L.push(
      `Kill switch → last affected quote pulled (${scenario}): a tier-${kill.tier} kill sent on NATS \`risk.kill\` with an admin token; a tier-${kill.tier} client socket subscribed to ${kill.instruments} instruments ` +
        `times the last of their \`pulled/killed\` frames; released and back to firm between runs. Goal: p99 ≤ 5 ms at 10k ticks/s.`,
    );
    L.push('');
    L.push('| measure | p50 µs | p90 µs | p99 µs | max µs | runs |');
    L.push('|---|---|---|---|---|---|');
    L.push(`| command → last affected quote pulled | ${us(kill.lastPulled.p50Us)} | ${us(kill.lastPulled.p90Us)} | ${us(kill.lastPulled.p99Us)} | ${us(kill.lastPulled.maxUs)} | ${kill.lastPulled.samples} |`);
    L.push(`| command → NATS reply (applied and audited) | ${us(kill.reply.p50Us)} | ${us(kill.reply.p90Us)} | ${us(kill.reply.p99Us)} | ${us(kill.reply.maxUs)} | ${kill.reply.samples} |`);
    L.push('');
    if (kill.engineApply) {
      L.push(`Inside the engine (\`qe_kill_switch_apply_seconds{action="kill"}\`, ${kill.engineApply.count} commands, bucket-interpolated): command received → pulled frames published p50 ${ms(kill.engineApply.p50Ms)} ms, p99 ${ms(kill.engineApply.p99Ms)} ms; the rest is the broker hop in, the queue behind the engine's tick work, and the frames' way out.`, '');
    }
    if (kill.failures > 0 || kill.error) L.push(`Failed runs: ${kill.failures}${kill.error ? ` (${kill.error})` : ''}.`, '');
  }
  if (hedge !== undefined) {
    L.push(
      hedge === null
        ? 'Trade booked → hedge decision: no decision recorded in the phase.'
        : `Trade booked → hedge decision (the engine's \`qe_hedge_decision_latency_seconds\`, ${hedge.count} decisions, quantiles interpolated in its buckets): p50 ${ms(hedge.p50Ms)} ms, p99 ${ms(hedge.p99Ms)} ms, mean ${ms(hedge.meanMs)} ms.`,
    );
    L.push('');
  }
  return L;
}

