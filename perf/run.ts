/**
 * `npm run perf [-- options]`: tick→quote latency and fan-out of three systems under the same load,
 * one run, so the results are ratios.
 *
 *   engine   the quoting engine (startEngine, worker pricer, uWS gateway), its own process
 *   floor    the bare relay: NATS md.> → uWS publish of a quote-sized frame, no pricing
 *   natsws   the engine's NATS quote subjects fanned out by nats-server's WebSocket listener to
 *            nats.ws clients (the peer a user might pick instead of the gateway)
 *
 * Per scenario, per system, one phase:
 *   start the system (pinned to the server CPU) → open subscriber sockets → start a fresh feed
 *   (same seed) → warm-up → sample /proc, metrics → subscribers time a window by their own clock →
 *   sample again → stop the feed → collect histograms → close sockets → stop the system.
 * Systems alternate order between scenarios (and between repeats).
 *
 * Then the RFQ phase (quick and full runs; --no-rfq skips it): the engine under the quick scenario's
 * background ticks (10k/s, 500 instruments, 1 stream subscriber), a client process (rfq-proc) sending
 * `--rfq-rate` RFQs/s (default 50) from a Tier 2 and a Tier 3 client whose CRM records the engine
 * process writes first (limits that never bind), accepting every firm quote: RFQ → quote_firm and
 * accept → trade_confirm (after the JetStream PubAck) latency, and every other answer by code.
 * Under the same ticks it then times the kill switch (NATS `risk.kill` for tier 3 → the last of 50
 * watched instruments' pulled/killed frames, 10 runs quick / 30 full) and reads the engine's trade
 * booked → hedge decision histogram (lib/kill.ts).
 *
 * Options (perf/README.md): --quick | --grid | --rates/--instruments/--subscribers <a,b,c>,
 * --duration <s>, --warmup <s>, --repeat <n>, --watch <n> | --watch-fraction <x>,
 * --systems engine,floor,natsws, --no-pin, --profile, --pricer inline, --quote-bus, --modules <list>, --set <path=value>,
 * --subscriber-procs <n>, --seed <n>, --time-scale <x>, --out <dir>, --no-rfq, --rfq-rate <n>.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { cpus as osCpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mintToken } from '../engine/auth/index.js';
import { loadDefaultConfig, parseConfig, type Config } from '../engine/config.js';
import { monoUs } from '../engine/wire/market-data.js';
import { externalBroker, readVarz, startBroker, type Broker, type Varz } from './lib/broker.js';
import { request, whenReady, SystemKind, type FloorStats, type LoadgenStats, type SocketSpec, type SubscriberCollect, type RfqProcCollect } from './lib/ipc.js';
import {
  CLK_TCK, choosePinning, firstJsonLine, killAllNow, loadAverage, machineTicks, processTicks, spawnNode, stopAll, stopChild, threadCpuUs, type Pinning,
} from './lib/procs.js';
import { cdfChart, costChart, deliveredChart, markdownSummary, type RunResult, type ScenarioResult, type SystemResult } from './lib/report.js';
import {
  ALL_SYSTEMS, applyConfigSets, DEFAULT_WATCH_FRACTION, quickScenarios, perfClientId, perfConfigInput, socketPlan, subscriberProcesses, sweepScenarios, systemOrder, type Scenario,
} from './lib/scenarios.js';
import { mergeRfqCounts, RFQ_INSTRUMENTS, RFQ_RATE_PER_SEC, rfqClients, type RfqResult } from './lib/rfq.js';
import { histogramQuantilesMs, measureKillSwitch } from './lib/kill.js';
import { cdfPoints, cpuPercent, evaluateGoals, medianOfRepeats, mergeHistograms, newLatencyHistogram, parsePrometheus, ratio, ratios, summarize } from './lib/stats.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = resolve(here, '../..');

const { values: o } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    grid: { type: 'boolean', default: false },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    watch: { type: 'string' },
    'watch-fraction': { type: 'string' },
    rates: { type: 'string' },
    instruments: { type: 'string' },
    subscribers: { type: 'string' },
    systems: { type: 'string' },
    'no-pin': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    pricer: { type: 'string', default: 'worker' },
    'subscriber-procs': { type: 'string', default: '4' },
    /**
     * the engine phase with its NATS quote subjects on (nats.publishQuotes, off by default); the
     * natsws phase always has them: they are what nats-server's WebSocket listener fans out
     */
    'quote-bus': { type: 'boolean', default: false },
    /** `--set pricing.miniBatchRows=0` (repeatable): engine config overrides, for A/B runs */
    set: { type: 'string', multiple: true, default: [] },
    /** diagnostics: which engine modules the engine phases attach (all, none, or hedging,pnl,risk,regime,copilot) */
    modules: { type: 'string', default: 'all' },
    repeat: { type: 'string', default: '1' },
    seed: { type: 'string', default: '42' },
    'time-scale': { type: 'string', default: '50' },
    out: { type: 'string', default: join(repo, 'perf', 'results') },
    /** the RFQ phase: off, or its total RFQ rate */
    'no-rfq': { type: 'boolean', default: false },
    'rfq-rate': { type: 'string', default: String(RFQ_RATE_PER_SEC) },
  },
});

const list = (s: string | undefined) => (s === undefined ? undefined : s.split(',').map((v) => Number(v.trim().replace(/k$/i, '000'))));
const custom = o.rates !== undefined || o.instruments !== undefined || o.subscribers !== undefined;
const mode: RunResult['mode'] = o.quick ? 'quick' : o.grid ? 'grid' : custom ? 'custom' : 'sweep';
const fixedWatch = o.watch === undefined ? undefined : Number(o.watch);
const watchFraction = Number(o['watch-fraction'] ?? DEFAULT_WATCH_FRACTION);
const scenarios: Scenario[] = o.quick
  ? quickScenarios(fixedWatch, watchFraction)
  : sweepScenarios({ grid: o.grid || custom, rates: list(o.rates), instruments: list(o.instruments), subscribers: list(o.subscribers), watch: fixedWatch, watchFraction });
const warmupMs = Number(o.warmup ?? (o.quick ? 1 : 3)) * 1000;
const durationMs = Number(o.duration ?? (o.quick ? 4 : 10)) * 1000;
/** kill-switch runs after the RFQ window (kill, all pulled, release, all firm again) and the instruments watched */
const killRuns = o.quick ? 10 : 30;
const KILL_INSTRUMENTS = 50;
const wantedSystems = (o.systems?.split(',') ?? ALL_SYSTEMS) as SystemKind[];
const seed = Number(o.seed);
const timeScale = Number(o['time-scale']);
const maxProcs = Math.max(1, Number(o['subscriber-procs']));
const repeats = Math.max(1, Math.floor(Number(o.repeat)));
const rfqRate = Number(o['rfq-rate']);
/** the RFQ phase runs in the quick and the full runs (not in custom grids), and needs the engine */
const rfqScenario: Scenario | null =
  o['no-rfq'] || custom || !wantedSystems.includes(SystemKind.ENGINE) ? null : { ...quickScenarios(fixedWatch, watchFraction)[0], id: 'rfq-10k-500i-1s' };
// options are validated here, once: a typo should fail before any process starts
const bad: string[] = [];
for (const sys of wantedSystems) if (!ALL_SYSTEMS.includes(sys)) bad.push(`--systems: unknown system "${sys}" (engine, floor, natsws)`);
for (const [name, v] of [['--warmup', warmupMs], ['--duration', durationMs], ['--seed', seed + 1], ['--time-scale', timeScale], ['--watch-fraction', watchFraction], ['--repeat', repeats]] as const) {
  if (!(Number.isFinite(v) && v > 0)) bad.push(`${name}: must be a positive number`);
}
if (fixedWatch !== undefined && !(Number.isInteger(fixedWatch) && fixedWatch > 0)) bad.push('--watch: must be a positive integer');
for (const sc of scenarios) {
  if (!(sc.ratePerSec > 0 && sc.ratePerSec <= 1_000_000)) bad.push(`rate ${sc.ratePerSec}: must be in (0, 1e6]`);
  if (!(Number.isInteger(sc.instruments) && sc.instruments >= 1 && sc.instruments <= 20_000)) bad.push(`instruments ${sc.instruments}: must be an integer in [1, 20000]`);
  if (!(Number.isInteger(sc.subscribers) && sc.subscribers >= 1)) bad.push(`subscribers ${sc.subscribers}: must be a positive integer`);
}
if (!(Number.isFinite(rfqRate) && rfqRate > 0 && rfqRate <= 1000)) bad.push('--rfq-rate: must be in (0, 1000]');
if (!['worker', 'inline'].includes(o.pricer!)) bad.push('--pricer: worker or inline');
if (bad.length > 0) {
  process.stderr.write(`${[...new Set(bad)].join('\n')}\n`);
  process.exit(2);
}
const outDir = resolve(o.out);
const work = join(tmpdir(), `qe-perf-${process.pid}`);
mkdirSync(work, { recursive: true });
mkdirSync(outDir, { recursive: true });

const script = (name: string) => join(here, `${name}.js`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ── progress ───────────────────────────────────────────────────────────────────────────────────
const tty = process.stderr.isTTY === true;
let phaseNo = 0;
const phaseTotal = scenarios.length * wantedSystems.length * repeats + (rfqScenario ? 1 : 0);
const t0 = Date.now();
function progress(msg: string, final = false): void {
  const line = `[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] phase ${phaseNo}/${phaseTotal} ${msg}`;
  if (tty) process.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
  else if (final) process.stderr.write(`${line}\n`);
}
async function wait(ms: number, label: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    progress(`${label} ${((ms - (end - Date.now())) / 1000).toFixed(1)}/${(ms / 1000).toFixed(1)} s`);
    await sleep(Math.min(250, end - Date.now()));
  }
}

// ── cleanup: every child by pid, whatever happens ──────────────────────────────────────────────
let cleaning = false;
async function cleanup(): Promise<void> {
  if (cleaning) return;
  cleaning = true;
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.on('SIGTERM', () => void cleanup().then(() => process.exit(143)));
process.on('exit', () => killAllNow());

// ── samples around the measurement window ──────────────────────────────────────────────────────
interface Sample {
  atUs: number;
  sutTicks: number;
  sutMainUs: number;
  natsTicks: number;
  loadgenTicks: number;
  subTicks: number;
  selfUs: number;
  machine: { busy: number; total: number } | null;
  load: LoadgenStats;
  engine: Map<string, number> | null;
  floor: FloorStats | null;
  varz: Varz | null;
}

const sumMetric = (m: Map<string, number> | null, name: string, label?: string): number => {
  if (m === null) return NaN;
  let s = 0;
  for (const [k, v] of m) {
    if (k === name || (k.startsWith(`${name}{`) && (label === undefined || k.includes(label)))) s += v;
  }
  return s;
};

interface Ctx {
  broker: Broker;
  pin: Pinning;
  loadgen: ChildProcess;
  subs: ChildProcess[];
  /** the RFQ client process (null without an RFQ phase) */
  rfq: ChildProcess | null;
  secret: string;
}

async function sample(ctx: Ctx, sut: ChildProcess, system: SystemKind, port: number): Promise<Sample> {
  const pid = sut.pid!;
  const [load, engine, floor, varz] = await Promise.all([
    request<LoadgenStats>(ctx.loadgen, { cmd: 'stats' }),
    system !== SystemKind.FLOOR ? fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).then(parsePrometheus) : Promise.resolve(null),
    system === SystemKind.FLOOR ? request<FloorStats>(sut, { cmd: 'stats' }) : Promise.resolve(null),
    readVarz(ctx.broker.monitorUrl),
  ]);
  const cpu = process.cpuUsage();
  return {
    atUs: monoUs(),
    sutTicks: processTicks(pid),
    sutMainUs: threadCpuUs(pid),
    natsTicks: ctx.broker.pid === null ? NaN : processTicks(ctx.broker.pid),
    loadgenTicks: processTicks(ctx.loadgen.pid!),
    subTicks: ctx.subs.reduce((a, c) => a + processTicks(c.pid!), 0),
    selfUs: cpu.user + cpu.system,
    machine: machineTicks(),
    load,
    engine,
    floor,
    varz,
  };
}

/**
 * The first /metrics scrape of an engine's life runs prom-client's formatting cold (10–25 ms on
 * its main thread, measured): done once during the warm-up, it is not the stall that opens the
 * window. The window's own scrape (3–4 ms warm) is followed by SETTLE_MS before timing starts.
 */
async function primeSample(ctx: Ctx, sut: ChildProcess, system: SystemKind, port: number): Promise<void> {
  await sample(ctx, sut, system, port);
}
const SETTLE_MS = 100;

// ── one phase: one system under one scenario ───────────────────────────────────────────────────
async function runPhase(ctx: Ctx, sc: Scenario, config: Config, configPathAll: string, system: SystemKind): Promise<SystemResult> {
  const isFloor = system === SystemKind.FLOOR;
  const withBus = system === SystemKind.NATSWS || (system === SystemKind.ENGINE && o['quote-bus']);
  const configPath = withBus ? configPathAll.replace(/\.json$/, '-bus.json') : configPathAll;
  const nodeFlags = o.profile && !isFloor ? ['--cpu-prof', `--cpu-prof-dir=${join(outDir, 'profiles')}`, `--cpu-prof-name=engine-${sc.id}-${system}.cpuprofile`] : [];
  progress(`${sc.id} · ${system} · starting`);
  const sut = isFloor
    ? spawnNode(script('floor-proc'), ['--nats', ctx.broker.url, '--config', configPath], { cpus: ctx.pin.server, ipc: true, label: 'floor' })
    : spawnNode(script('engine-proc'), ['--nats', ctx.broker.url, '--config', configPath, '--pricer', o.pricer!, '--modules', o.modules!], {
        cpus: ctx.pin.server,
        label: 'engine',
        nodeFlags,
        env: { [config.auth.secretEnv]: ctx.secret },
      });
  let feedStarted = false;
  let socketsOpen = false;
  try {
    const ready = await firstJsonLine<{ port: number; pid: number }>(sut, 120_000, system);
    // sockets: split in contiguous chunks over the subscriber processes
    const plan = socketPlan(config.instruments.map((i) => i.id), sc.subscribers, sc.watch);
    const nowSec = Math.floor(Date.now() / 1000);
    const secret = Buffer.from(ctx.secret, 'utf8');
    const specs: SocketSpec[] = plan.map((p) => ({
      tier: p.tier,
      instruments: p.instruments,
      token: system === SystemKind.ENGINE ? mintToken(secret, { sub: p.client, role: 'client' }, 3600, nowSec) : undefined,
    }));
    const nProcs = Math.min(ctx.subs.length, subscriberProcesses(sc.subscribers, ctx.subs.length));
    const procs = ctx.subs.slice(0, nProcs);
    const per = Math.ceil(specs.length / nProcs);
    const url = system === SystemKind.NATSWS ? ctx.broker.wsUrl! : `ws://127.0.0.1:${ready.port}`;
    progress(`${sc.id} · ${system} · opening ${specs.length} sockets`);
    socketsOpen = true;
    await Promise.all(
      procs.map((p, k) => request(p, { cmd: 'open', system, url, sockets: specs.slice(k * per, (k + 1) * per), quotePrefix: config.nats.quotePrefix }, 180_000)),
    );
    await request(ctx.loadgen, { cmd: 'start', configPath, ratePerSec: sc.ratePerSec, seed, timeScale });
    feedStarted = true;
    await primeSample(ctx, sut, system, ready.port);
    await wait(warmupMs, `${sc.id} · ${system} · warm-up`);

    const a = await sample(ctx, sut, system, ready.port);
    await sleep(SETTLE_MS);
    await Promise.all(procs.map((p) => request(p, { cmd: 'measure', durationMs }, 120_000)));
    await wait(durationMs, `${sc.id} · ${system} · measuring`);
    const b = await sample(ctx, sut, system, ready.port);
    // Each subscriber closed its window by its own clock; stop the load before collecting so a
    // flooded subscriber process (1,000 sockets) can drain and answer.
    await request(ctx.loadgen, { cmd: 'stop' });
    feedStarted = false;
    progress(`${sc.id} · ${system} · collecting`);
    const collects = await Promise.all(procs.map((p) => request<SubscriberCollect>(p, { cmd: 'collect' }, 300_000)));
    await Promise.all(procs.map((p) => request(p, { cmd: 'close' }, 120_000)));
    socketsOpen = false;
    return compute(system, a, b, collects);
  } finally {
    if (feedStarted) await request(ctx.loadgen, { cmd: 'stop' }).catch(() => undefined);
    if (socketsOpen) await Promise.all(ctx.subs.map((p) => request(p, { cmd: 'close' }, 120_000).catch(() => undefined)));
    await stopChild(sut, 10_000);
  }
}

// ── the RFQ phase: RFQ → firm quote and accept → confirm under background ticks ────────────────────
async function runRfqPhase(ctx: Ctx, sc: Scenario, config: Config, configPath: string): Promise<RfqResult> {
  const rfqProc = ctx.rfq!;
  const who = rfqClients();
  progress(`${sc.id} · rfq · starting`);
  const sut = spawnNode(script('engine-proc'), ['--nats', ctx.broker.url, '--config', configPath, '--pricer', o.pricer!, '--modules', o.modules!, '--rfq-clients', who.map((c) => `${c.client}:${c.tier}`).join(',')], {
    cpus: ctx.pin.server,
    label: 'engine',
    env: { [config.auth.secretEnv]: ctx.secret },
  });
  let feedStarted = false;
  let socketsOpen = false;
  try {
    const ready = await firstJsonLine<{ port: number; pid: number }>(sut, 120_000, 'engine (rfq)');
    const url = `ws://127.0.0.1:${ready.port}`;
    const nowSec = Math.floor(Date.now() / 1000);
    const secret = Buffer.from(ctx.secret, 'utf8');
    // the background stream: the scenario's subscriber socket(s), as in an engine phase
    const plan = socketPlan(config.instruments.map((i) => i.id), sc.subscribers, sc.watch);
    const specs: SocketSpec[] = plan.map((p) => ({ tier: p.tier, instruments: p.instruments, token: mintToken(secret, { sub: p.client, role: 'client' }, 3600, nowSec) }));
    const sub = ctx.subs[0];
    socketsOpen = true;
    await request(sub, { cmd: 'open', system: SystemKind.ENGINE, url, sockets: specs, quotePrefix: config.nats.quotePrefix }, 180_000);
    await request(rfqProc, {
      cmd: 'open',
      url,
      tokens: who.map((c) => mintToken(secret, { sub: c.client, role: 'client' }, 3600, nowSec)),
      instruments: config.instruments.slice(0, RFQ_INSTRUMENTS).map((i) => ({ id: i.id, minSize: i.minSize })),
      // acceptIds name trades for good (the journal and the engine's replay remember them): unique per phase and run
      acceptPrefix: `p${process.pid.toString(36)}${Date.now().toString(36)}`,
    });
    await request(ctx.loadgen, { cmd: 'start', configPath, ratePerSec: sc.ratePerSec, seed, timeScale });
    feedStarted = true;
    // RFQs start after the first ticks: before them no market is firm and every RFQ would queue
    await wait(Math.min(500, warmupMs), `${sc.id} · rfq · first ticks`);
    await request(rfqProc, { cmd: 'start', ratePerSec: rfqRate });
    await primeSample(ctx, sut, SystemKind.ENGINE, ready.port);
    await wait(Math.max(0, warmupMs - 500), `${sc.id} · rfq · warm-up`);
    const a = await sample(ctx, sut, SystemKind.ENGINE, ready.port);
    await sleep(SETTLE_MS);
    await Promise.all([request(sub, { cmd: 'measure', durationMs }), request(rfqProc, { cmd: 'measure', durationMs })]);
    await wait(durationMs, `${sc.id} · rfq · measuring`);
    const b = await sample(ctx, sut, SystemKind.ENGINE, ready.port);
    progress(`${sc.id} · rfq · draining`);
    // the ticks go on while the window's last answers arrive: the load stays what it was
    const rc = await request<RfqProcCollect>(rfqProc, { cmd: 'collect', drainMs: 3000 }, 30_000);
    // risk latencies under the same background ticks: kill switch → last quote pulled, then the
    // engine's trade → hedge decision histogram over the whole phase
    const kill = await measureKillSwitch({
      url, natsUrl: ctx.broker.url, secret, client: perfClientId(3, 0), tier: 3,
      instruments: config.instruments.slice(0, Math.min(KILL_INSTRUMENTS, config.instruments.length)).map((i) => i.id),
      runs: killRuns, progress: (s) => progress(`${sc.id} · risk · ${s}`),
    });
    const after = await fetch(`http://127.0.0.1:${ready.port}/metrics`).then((r) => r.text()).then(parsePrometheus);
    const hedgeDecision = histogramQuantilesMs(after, 'qe_hedge_decision_latency_seconds');
    kill.engineApply = histogramQuantilesMs(after, 'qe_kill_switch_apply_seconds', 'action="kill"');
    await request(ctx.loadgen, { cmd: 'stop' });
    feedStarted = false;
    const sc1 = await request<SubscriberCollect>(sub, { cmd: 'collect' }, 60_000);
    await Promise.all([request(sub, { cmd: 'close' }, 60_000), request(rfqProc, { cmd: 'close' }, 60_000)]);
    socketsOpen = false;
    const bg = compute(SystemKind.ENGINE, a, b, [sc1]);
    const booked = sumMetric(b.engine, 'qe_bookings_total', 'result="booked"') - sumMetric(a.engine, 'qe_bookings_total', 'result="booked"');
    const hq = mergeHistograms([rc.rfqToQuote]);
    const ha = mergeHistograms([rc.acceptToConfirm]);
    const r: RfqResult = {
      id: sc.id,
      ratePerSec: sc.ratePerSec,
      instruments: sc.instruments,
      subscribers: sc.subscribers,
      rfqRatePerSec: rfqRate,
      clients: who,
      rfqToQuote: summarize(hq),
      acceptToConfirm: summarize(ha),
      counts: mergeRfqCounts([rc.counts]),
      background: { ticksInPerSec: bg.server.ticksInPerSec, streamP50Us: bg.p50Us, streamP99Us: bg.p99Us, tradesJournaled: Number.isFinite(booked) ? booked : null },
      cpu: { engine: bg.cpu.sut, natsServer: bg.cpu.natsServer, other: bg.cpu.other },
      windowSec: Math.round((rc.elapsedUs / 1e6) * 100) / 100,
      kill,
      hedgeDecision,
    };
    hq.destroy();
    ha.destroy();
    return r;
  } finally {
    if (feedStarted) await request(ctx.loadgen, { cmd: 'stop' }).catch(() => undefined);
    if (socketsOpen) await Promise.all([ctx.subs[0], rfqProc].map((p) => request(p, { cmd: 'close' }, 60_000).catch(() => undefined)));
    await stopChild(sut, 10_000);
  }
}

function failedRfq(sc: Scenario, e: unknown): RfqResult {
  const empty = summarize(newLatencyHistogram());
  return {
    id: sc.id, ratePerSec: sc.ratePerSec, instruments: sc.instruments, subscribers: sc.subscribers, rfqRatePerSec: rfqRate, clients: rfqClients(),
    rfqToQuote: empty, acceptToConfirm: empty, counts: mergeRfqCounts([]),
    background: { ticksInPerSec: 0, streamP50Us: NaN, streamP99Us: NaN, tradesJournaled: null },
    cpu: { engine: NaN, natsServer: null, other: null }, windowSec: 0,
    error: e instanceof Error ? e.message : String(e),
  };
}

function compute(system: SystemKind, a: Sample, b: Sample, collects: SubscriberCollect[]): SystemResult {
  const wallUs = b.atUs - a.atUs;
  const sec = wallUs / 1e6;
  const h = mergeHistograms(collects.map((c) => c.histogram));
  const lat = summarize(h);
  const cdf = cdfPoints(h);
  h.destroy();
  const client = { frames: 0, gaps: 0, snapshots: 0, repeats: 0, slowNotices: 0, closes: 0, errors: 0 };
  let clientSec = 0;
  for (const c of collects) {
    for (const k of Object.keys(client) as Array<keyof typeof client>) client[k] += c[k];
    clientSec = Math.max(clientSec, c.elapsedUs / 1e6);
  }
  let ticksIn: number;
  let framesOut: number | null;
  let conflatedOrDropped: number;
  let slowCloses = 0;
  let regimeTransitions: number | null = null;
  let firmShare: number | null = null;
  let ticksPerBatch: number | null = null;
  let lag: SystemResult['eventLoopLagMs'] = null;
  if (system === SystemKind.FLOOR) {
    ticksIn = b.floor!.ticks - a.floor!.ticks;
    framesOut = b.floor!.frames - a.floor!.frames;
    conflatedOrDropped = b.floor!.closedAbruptly - a.floor!.closedAbruptly;
    lag = { p50: b.floor!.loopLagP50Ms, p99: b.floor!.loopLagP99Ms, max: b.floor!.loopLagMaxMs };
  } else {
    const d = (name: string, label?: string) => sumMetric(b.engine, name, label) - sumMetric(a.engine, name, label);
    ticksIn = d('qe_md_messages_total');
    framesOut = d('qe_quote_frames_total');
    conflatedOrDropped = d('qe_ws_conflations_total');
    slowCloses = d('qe_ws_slow_closes_total');
    regimeTransitions = d('qe_regime_transitions_total');
    const firm = d('qe_quote_frames_total', '_firm"');
    firmShare = framesOut > 0 ? Math.round((firm / framesOut) * 1000) / 1000 : null;
    const batches = d('qe_pricer_batches_total', 'result="ok"');
    ticksPerBatch = batches > 0 ? Math.round((ticksIn / batches) * 10) / 10 : null;
    const m = b.engine!;
    lag = {
      p50: (m.get('qe_nodejs_eventloop_lag_p50_seconds') ?? NaN) * 1000,
      p99: (m.get('qe_nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000,
      max: (m.get('qe_nodejs_eventloop_lag_max_seconds') ?? NaN) * 1000,
    };
    if (system === SystemKind.NATSWS && a.varz && b.varz) conflatedOrDropped = b.varz.slowConsumers - a.varz.slowConsumers;
  }
  const pct = (x0: number, x1: number) => cpuPercent(x0, x1, wallUs, CLK_TCK);
  const sutCpu = pct(a.sutTicks, b.sutTicks);
  const natsCpu = Number.isFinite(a.natsTicks) ? pct(a.natsTicks, b.natsTicks) : null;
  const loadgenCpu = pct(a.loadgenTicks, b.loadgenTicks);
  const subsCpu = pct(a.subTicks, b.subTicks);
  const selfCpu = Math.round(((b.selfUs - a.selfUs) / wallUs) * 1000) / 10;
  let machine: number | null = null;
  let other: number | null = null;
  if (a.machine && b.machine) {
    machine = pct(a.machine.busy, b.machine.busy);
    other = Math.max(0, Math.round((machine - sutCpu - (natsCpu ?? 0) - loadgenCpu - subsCpu - selfCpu) * 10) / 10);
  }
  const mainUs = b.sutMainUs - a.sutMainUs;
  const allUs = ((b.sutTicks - a.sutTicks) * 1e6) / CLK_TCK;
  return {
    ...lat,
    deliveredPerSec: Math.round(client.frames / (clientSec || sec)),
    deliveredPerFrame: framesOut !== null && framesOut > 0 ? Math.round((client.frames / (clientSec || sec) / (framesOut / sec)) * 1000) / 1000 : null,
    cdf,
    client,
    server: {
      ticksInPerSec: Math.round(ticksIn / sec),
      framesPublishedPerSec: framesOut === null ? null : Math.round(framesOut / sec),
      conflatedOrDropped,
      slowCloses,
      ticksPerBatch,
      regimeTransitions,
      firmShare,
    },
    load: { ticksPublishedPerSec: Math.round((b.load.published - a.load.published) / sec), shortfall: b.load.shortfall - a.load.shortfall },
    cpu: {
      sut: sutCpu,
      sutMainThread: Math.round((mainUs / wallUs) * 1000) / 10,
      natsServer: natsCpu,
      loadgen: loadgenCpu,
      subscribers: subsCpu,
      machine,
      other,
    },
    cpuUsPerTick: ticksIn > 0 ? Math.round((mainUs / ticksIn) * 100) / 100 : null,
    cpuUsPerTickAllThreads: ticksIn > 0 ? Math.round((allUs / ticksIn) * 100) / 100 : null,
    eventLoopLagMs: lag,
    windowSec: Math.round(sec * 100) / 100,
    sliceMaxUs: mergeSlices(collects.map((c) => c.sliceMaxUs)),
  };
}

/** element-wise max of each subscriber process's worst latency per slice */
function mergeSlices(all: ReadonlyArray<readonly number[] | undefined>): number[] {
  const out: number[] = [];
  for (const s of all) s?.forEach((v, k) => (out[k] = Math.max(out[k] ?? 0, v)));
  return out;
}

function failed(e: unknown): SystemResult {
  const nan = NaN;
  return {
    p50Us: nan, p90Us: nan, p99Us: nan, p999Us: nan, maxUs: nan, meanUs: nan, samples: 0,
    deliveredPerSec: 0,
    deliveredPerFrame: null,
    cdf: [],
    client: { frames: 0, gaps: 0, snapshots: 0, repeats: 0, slowNotices: 0, closes: 0, errors: 0 },
    server: { ticksInPerSec: 0, framesPublishedPerSec: null, conflatedOrDropped: 0, slowCloses: 0, ticksPerBatch: null, regimeTransitions: null, firmShare: null },
    load: { ticksPublishedPerSec: 0, shortfall: 0 },
    cpu: { sut: nan, sutMainThread: nan, natsServer: null, loadgen: nan, subscribers: nan, machine: null, other: null },
    cpuUsPerTick: null,
    cpuUsPerTickAllThreads: null,
    eventLoopLagMs: null,
    windowSec: 0,
    error: e instanceof Error ? e.message : String(e),
  };
}

// ── main ───────────────────────────────────────────────────────────────────────────────────────
async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const loadStart = loadAverage();
  const pin = choosePinning(!o['no-pin']);
  const broker = externalBroker(process.env) ?? (await startBroker(join(work, 'nats'), pin.server));
  const systems = wantedSystems.filter((s) => s !== SystemKind.NATSWS || broker.wsUrl !== null);
  if (systems.length < wantedSystems.length) process.stderr.write('NATS_URL is set without NATS_WS_URL: the nats-server WebSocket peer is skipped\n');

  const maxSubs = Math.max(...scenarios.map((s) => s.subscribers));
  const nSubProcs = subscriberProcesses(maxSubs, maxProcs);
  const loadgen = spawnNode(script('loadgen-proc'), [broker.url], { cpus: pin.client, ipc: true, label: 'loadgen' });
  const subs = Array.from({ length: nSubProcs }, (_, k) => spawnNode(script('subscriber-proc'), [], { cpus: pin.client, ipc: true, label: `subscriber-${k}` }));
  const rfqProc = rfqScenario ? spawnNode(script('rfq-proc'), [], { cpus: pin.client, ipc: true, label: 'rfq-client' }) : null;
  const ctx: Ctx = { broker, pin, loadgen, subs, rfq: rfqProc, secret: randomBytes(32).toString('base64url') };
  // each says ready once its modules are loaded (and the load generator has connected)
  await Promise.all([
    whenReady(loadgen, 30_000, 'load generator'),
    ...subs.map((c, k) => whenReady(c, 30_000, `subscriber-${k}`)),
    ...(rfqProc ? [whenReady(rfqProc, 30_000, 'rfq client')] : []),
  ]);

  const base = loadDefaultConfig();
  const results: ScenarioResult[] = [];
  for (let si = 0; si < scenarios.length; si++) {
    const sc = scenarios[si];
    const config = parseConfig(applyConfigSets(perfConfigInput(base, sc.instruments, sc.subscribers), o.set!));
    const configPath = join(work, `config-${sc.id}.json`);
    writeFileSync(configPath, JSON.stringify(config));
    writeFileSync(configPath.replace(/\.json$/, '-bus.json'), JSON.stringify({ ...config, nats: { ...config.nats, publishQuotes: true } }));
    const order = systemOrder(si, systems);
    const runs: Partial<Record<SystemKind, SystemResult[]>> = {};
    // repeats alternate the order too (A B C, C B A, …) so no system always runs first or last
    for (let rep = 0; rep < repeats; rep++) {
      for (const system of rep % 2 === 0 ? order : [...order].reverse()) {
        phaseNo++;
        let r: SystemResult;
        try {
          r = await runPhase(ctx, sc, config, configPath, system);
          progress(`${sc.id} · ${system} · p50 ${r.p50Us} µs p99 ${r.p99Us} µs · ${r.deliveredPerSec} quotes/s · ${r.samples} samples`, true);
        } catch (e) {
          r = failed(e);
          progress(`${sc.id} · ${system} · FAILED: ${(e as Error).message}`, true);
        }
        (runs[system] ??= []).push(r);
      }
    }
    const out: Partial<Record<SystemKind, SystemResult>> = {};
    for (const system of order) out[system] = medianOfRepeats(runs[system]!);
    results.push({
      id: sc.id,
      ratePerSec: sc.ratePerSec,
      instruments: sc.instruments,
      subscribers: sc.subscribers,
      tiers: 3,
      watch: sc.watch,
      order,
      systems: out,
      ratio: { ...ratios(out.engine, out.floor), fanout: ratio(out.engine?.deliveredPerFrame ?? undefined, out.floor?.deliveredPerFrame ?? undefined) },
      ratioVsNatsWs: ratios(out.engine, out.natsws),
    });
  }

  const rfqResults: RfqResult[] = [];
  if (rfqScenario) {
    const sc = rfqScenario;
    const config = parseConfig(applyConfigSets(perfConfigInput(base, sc.instruments, sc.subscribers), o.set!));
    const configPath = join(work, `config-${sc.id}.json`);
    writeFileSync(configPath, JSON.stringify(config));
    phaseNo++;
    let r: RfqResult;
    try {
      r = await runRfqPhase(ctx, sc, config, configPath);
      progress(
        `${sc.id} · rfq · RFQ→quote p50 ${r.rfqToQuote.p50Us} µs p99 ${r.rfqToQuote.p99Us} µs · accept→confirm p50 ${r.acceptToConfirm.p50Us} µs p99 ${r.acceptToConfirm.p99Us} µs · ${r.counts.confirmed}/${r.counts.rfqSent} confirmed`,
        true,
      );
    } catch (e) {
      r = failedRfq(sc, e);
      progress(`${sc.id} · rfq · FAILED: ${(e as Error).message}`, true);
    }
    rfqResults.push(r);
  }

  const natsVersion = spawnSync('nats-server', ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '?';
  const run: RunResult = {
    version: 1,
    mode,
    startedAt,
    wallSeconds: Math.round((Date.now() - t0) / 100) / 10,
    machine: {
      cpus: osCpus().length,
      cpuModel: osCpus()[0]?.model ?? '?',
      node: process.versions.node,
      natsServer: natsVersion.replace(/^nats-server:\s*/, ''),
      loadAverageStart: loadStart,
      loadAverageEnd: loadAverage(),
      pinning: pin,
    },
    settings: { repeats, warmupMs, durationMs, watch: fixedWatch ?? `${watchFraction * 100}% of the universe`, timeScale, seed, subscriberProcesses: nSubProcs, pricer: o.pricer!, quoteBus: o['quote-bus'], modules: o.modules!, sets: o.set!, tree: treeState() },
    scenarios: results,
    rfq: rfqResults,
    goals: evaluateGoals(
      results.map((s) => ({
        scenario: s.id,
        ratePerSec: s.ratePerSec,
        instruments: s.instruments,
        subscribers: s.subscribers,
        engine: s.systems.engine && !s.systems.engine.error ? s.systems.engine : undefined,
        floor: s.systems.floor && !s.systems.floor.error ? s.systems.floor : undefined,
        natsws: s.systems.natsws && !s.systems.natsws.error ? s.systems.natsws : undefined,
      })),
    ),
  };
  writeResults(run);
}

function treeState(): RunResult['settings']['tree'] {
  const git = (...a: string[]) => spawnSync('git', a, { cwd: repo, encoding: 'utf8' }).stdout?.trim() ?? '';
  const dirty = git('status', '--porcelain', '--', 'engine', 'workers').split('\n').filter((l) => l !== '').length;
  return { commit: git('rev-parse', '--short', 'HEAD') || '?', uncommittedEngineFiles: dirty };
}

function writeResults(run: RunResult): void {
  const json = JSON.stringify(run, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1);
  const stamp = run.startedAt.replace(/[:.]/g, '-');
  // write-then-rename: a reader never sees half a latest.json
  const put = (name: string, text: string) => {
    const tmp = join(outDir, `${name}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(outDir, name));
  };
  put(`${stamp}.json`, json);
  put('latest.json', json);
  put('latest.md', markdownSummary(run));
  // the newest run of each mode too, so a quick run does not hide the last full sweep
  put(`latest-${run.mode}.json`, json);
  put(`latest-${run.mode}.md`, markdownSummary(run));
  // charts are per mode and describe that mode's newest run only: drop the previous run's
  for (const f of readdirSync(outDir)) if (f.startsWith(`${run.mode}-`) && f.endsWith('.svg')) rmSync(join(outDir, f));
  for (const s of run.scenarios) put(`${run.mode}-cdf-${s.id}.svg`, cdfChart(s));
  const d = deliveredChart(run);
  if (d) put(`${run.mode}-delivered-vs-subscribers.svg`, d);
  const c = costChart(run);
  if (c) put(`${run.mode}-cost-per-tick-vs-instruments.svg`, c);
  process.stderr.write(`\nwrote ${join(outDir, 'latest.json')}, latest.md and charts (wall time ${run.wallSeconds} s)\n`);
  process.stdout.write(`${markdownSummary(run)}\n`);
}

main()
  .then(cleanup, async (e: unknown) => {
    process.stderr.write(`\nperf run failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    await cleanup();
    process.exitCode = 1;
  });
