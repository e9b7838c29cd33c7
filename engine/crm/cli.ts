/**
 * The `npm run crm` command line (entry: engine/cli/crm.ts). `runCrmCli(argv, io)` returns the exit
 * code and writes only through `io`, so tests can run the argument handling in-process; the end to
 * end tests spawn the real entry against a real broker. Usage: see engine/cli/crm.ts and docs/crm.md.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { connect, type NatsConnection } from 'nats';
import { systemClock } from '../clock.js';
import { loadConfigFile, loadDefaultConfig } from '../config.js';
import { loadAxesFile, loadBookFile, loadDefaultBook, crmUniverse } from './book.js';
import { CrmStore, type ClientPatch, type CrmLogger } from './store.js';
import type { ClientRecord, DeskAxes, RelationshipScore } from './types.js';
import { CrmError, EngineError, ErrorCode } from '../errors.js';

const INPUT_CODES: ReadonlySet<string> = new Set([ErrorCode.CRM_INVALID, ErrorCode.CRM_UNKNOWN_CLIENT, ErrorCode.CRM_SCORE_PARAMS, ErrorCode.CONFIG_INVALID]);

// ── argument parsers (commander reports their errors; exit 2) ─────────────────────────────────

function amount(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a finite number ≥ 0 (e.g. 5e7)');
  return n;
}

function tierArg(v: string): 1 | 2 | 3 {
  if (v !== '1' && v !== '2' && v !== '3') throw new InvalidArgumentError('must be 1, 2 or 3');
  return Number(v) as 1 | 2 | 3;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
function parseDurationMs(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError('must be a duration like 90m, 12h, 7d or 2w');
  const ms = Number(m[1]) * UNIT_MS[m[2]];
  if (!(ms > 0)) throw new InvalidArgumentError('must be positive');
  return ms;
}

function isoTime(v: string): number {
  const t = Date.parse(v);
  if (!/^\d{4}-\d\d-\d\d/.test(v) || !Number.isFinite(t)) throw new InvalidArgumentError('must be an ISO 8601 time, e.g. 2025-07-01T17:00:00Z');
  return t;
}

function instrumentCap(v: string, prev: Record<string, number> = {}): Record<string, number> {
  const m = /^([A-Za-z0-9_-]{1,32})=(.+)$/.exec(v);
  if (!m) throw new InvalidArgumentError('must be INSTRUMENT=SIZE, e.g. UST-10Y=2e7');
  return { ...prev, [m[1]]: amount(m[2]) };
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

// ── formatting (the edge: strings are made here, never in the engine) ────────────────────────

function fmtAmount(n: number): string {
  const a = Math.abs(n);
  const [d, s] = a >= 1e9 ? [1e9, 'B'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'K'] : [1, ''];
  const v = n / d;
  return (Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2).replace(/\.?0+$/, '')) + s;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function table(head: readonly string[], rows: readonly (readonly string[])[], right: ReadonlySet<number> = new Set()): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (right.has(i) ? c.padStart(w[i]) : c.padEnd(w[i])))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

function overrideText(r: ClientRecord, nowMs: number): string {
  const o = r.override;
  if (o === null) return '-';
  return `${o.expiresAtMs > nowMs ? '' : 'EXPIRED '}T${o.tier} until ${iso(o.expiresAtMs)} by ${o.author}`;
}

function renderList(store: CrmStore, nowMs: number): string {
  const rows = store.list().map((r) => {
    const eff = store.explainTier(r.id, nowMs)!;
    const s = store.score(r.id);
    return [r.id, r.name, String(r.tier), `${eff.tier} (${eff.source})`, overrideText(r, nowMs), fmtAmount(r.creditLimit), fmtAmount(r.maxOrderSize), s ? s.score.toFixed(1) : '-', s ? String(s.proposedTier) : '-'];
  });
  return table(['ID', 'NAME', 'TIER', 'EFFECTIVE', 'OVERRIDE', 'CREDIT', 'MAX ORDER', 'SCORE', 'PROPOSED'], rows, new Set([5, 6, 7]));
}

function renderShow(store: CrmStore, r: ClientRecord, nowMs: number): string {
  const eff = store.explainTier(r.id, nowMs)!;
  const s = store.score(r.id);
  const o = r.override;
  const lines: [string, string][] = [
    ['client', `${r.id}  ${r.name}`],
    ['tier', `${r.tier}   effective ${eff.tier} (from ${eff.source})`],
    ['override', o === null ? 'none' : `${overrideText(r, nowMs)}, set ${iso(o.setAtMs)}: "${o.reason}"`],
    ['credit limit', fmtAmount(r.creditLimit)],
    ['max order', fmtAmount(r.maxOrderSize)],
    ['instrument caps', Object.entries(r.instrumentMaxSize).map(([k, v]) => `${k} ${fmtAmount(v)}`).join(', ') || 'none'],
    ['agreements', r.agreements.map((a) => `${a.instrument ?? a.assetClass} ${a.shadingBps} bp${a.note ? ` (${a.note})` : ''}`).join('; ') || 'none'],
    ['natural interest', r.naturalInterest.map((n) => `${n.side} ${n.instrument}${n.note ? ` (${n.note})` : ''}`).join('; ') || 'none'],
    [
      'score',
      s === undefined
        ? 'none yet'
        : `${s.score.toFixed(1)} → tier ${s.proposedTier}  (volume ${s.components.volume.toFixed(2)}, profitability ${s.components.profitability.toFixed(2)}, flow quality ${s.components.flowQuality.toFixed(2)}, diversification ${s.components.diversification.toFixed(2)}; ${s.trades} trades, ${iso(s.computedAtMs)})`,
    ],
    ['updated', `${r.updatedAtMs ? iso(r.updatedAtMs) : '-'} by ${r.updatedBy}`],
  ];
  return lines.map(([k, v]) => `${k.padEnd(17)}${v}`).join('\n') + '\n';
}

function renderAxes(a: DeskAxes): string {
  if (a.axes.length === 0) return 'no axes\n';
  return table(['INSTRUMENT', 'SIDE', 'SIZE', 'NOTE'], a.axes.map((x) => [x.instrument, x.side, fmtAmount(x.size), x.note]), new Set([2]));
}

function renderScores(scores: readonly RelationshipScore[]): string {
  if (scores.length === 0) return 'no scores yet\n';
  const f = (n: number) => n.toFixed(2);
  const rows = scores.map((s) => [
    s.clientId,
    s.score.toFixed(1),
    String(s.proposedTier),
    f(s.components.volume),
    f(s.components.profitability),
    f(s.components.flowQuality),
    f(s.components.diversification),
    String(s.trades),
    s.raw ? fmtAmount(s.raw.notional) : '-',
    s.raw?.markoutBps != null ? s.raw.markoutBps.toFixed(2) : '-',
    iso(s.computedAtMs),
  ]);
  return table(['CLIENT', 'SCORE', 'PROPOSED', 'VOLUME', 'PROFIT', 'FLOW', 'DIVERS', 'TRADES', 'NOTIONAL', 'MARKOUT BP', 'COMPUTED'], rows, new Set([1, 3, 4, 5, 6, 7, 8, 9]));
}

// ── the program ───────────────────────────────────────────────────────────────────────────────

interface Globals {
  nats: string;
  config?: string;
  autoTier?: boolean;
  json?: boolean;
}

export interface CliIo {
  out(s: string): void;
  err(s: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Runs one CLI command; resolves to the exit code (0 ok, 2 bad input, 1 broker/bucket unavailable). */
export async function runCrmCli(argv: readonly string[], io: CliIo): Promise<number> {
  const out = io.out;
  const quietLog: CrmLogger = {
    info: () => undefined,
    warn: (o, msg) => io.err(`crm: warning: ${msg ?? ''} ${JSON.stringify(o)}\n`),
    error: (o, msg) => io.err(`crm: error: ${msg ?? ''} ${JSON.stringify(o)}\n`),
  };

  async function withStore<T>(g: Globals, fn: (store: CrmStore) => Promise<T>): Promise<T> {
    const config = g.config === undefined ? loadDefaultConfig() : loadConfigFile(g.config);
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: g.nats, name: 'crm-cli', timeout: 3_000, maxReconnectAttempts: 0 });
    } catch (cause) {
      throw new EngineError(ErrorCode.NATS_UNAVAILABLE, `cannot connect to ${g.nats}: ${(cause as Error).message}`, { cause });
    }
    try {
      const store = await CrmStore.open(nc, { autoTier: g.autoTier === true, log: quietLog, clock: systemClock, universe: crmUniverse(config), openTimeoutMs: 5_000 });
      try {
        return await fn(store);
      } finally {
        await store.close();
      }
    } finally {
      await nc.close();
    }
  }

  function mustGet(store: CrmStore, id: string): ClientRecord {
    const r = store.get(id);
    if (r === undefined) throw new CrmError(ErrorCode.CRM_UNKNOWN_CLIENT, `unknown client "${id}"; known: ${store.list().map((c) => c.id).join(', ') || '(none)'}`);
    return r;
  }

  const program = new Command()
    .name('crm')
    .description('Client records, tier overrides, desk axes and relationship scores in the CRM KV bucket')
    .option('--nats <url>', 'NATS server', io.env.NATS_URL ?? 'nats://127.0.0.1:4222')
    .option('--config <path>', 'engine config (instruments the CRM may refer to; default: the shipped one)')
    .option('--auto-tier', 'show effective tiers as an engine with crm.autoTier on would')
    .option('--json', 'print JSON instead of tables')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      outputError: (str, write) => write(`crm: ${ErrorCode.CRM_INVALID}: ${str.replace(/^error: /, '')}`),
    });

  const globals = (cmd: Command) => cmd.optsWithGlobals<Globals>();
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

  program
    .command('list')
    .description('all clients')
    .action(async (_o, cmd: Command) => {
      const g = globals(cmd);
      await withStore(g, async (store) => out(g.json ? json(store.list()) : renderList(store, Date.now())));
    });

  program
    .command('show <id>')
    .description('one client in full')
    .action(async (id: string, _o, cmd: Command) => {
      const g = globals(cmd);
      await withStore(g, async (store) => {
        const r = mustGet(store, id);
        const now = Date.now();
        out(g.json ? json({ record: r, effective: store.explainTier(id, now), score: store.score(id) ?? null }) : renderShow(store, r, now));
      });
    });

  program
    .command('set <id>')
    .description('change a client (a new id needs --name, --tier, --credit-limit and --max-order)')
    .option('--name <name>', 'display name')
    .option('--tier <n>', 'the tier the relationship manager sets: 1, 2 or 3', tierArg)
    .option('--credit-limit <n>', 'total open exposure allowed (notional)', amount)
    .option('--max-order <n>', 'largest single order done automatically (notional)', amount)
    .option('--instrument-max <IID=size>', 'per-instrument order cap (repeatable)', instrumentCap)
    .option('--clear-instrument-max <IID>', 'remove a per-instrument cap (repeatable)', collect)
    .option('--author <who>', 'recorded as updatedBy', io.env.USER ?? 'cli')
    .action(async (id: string, o: { name?: string; tier?: 1 | 2 | 3; creditLimit?: number; maxOrder?: number; instrumentMax?: Record<string, number>; clearInstrumentMax?: string[]; author: string }, cmd: Command) => {
      const g = globals(cmd);
      await withStore(g, async (store) => {
        const cur = store.get(id);
        let rec: ClientRecord;
        if (cur === undefined) {
          const missing = (['name', 'tier', 'creditLimit', 'maxOrder'] as const).filter((k) => o[k] === undefined);
          if (missing.length) throw new CrmError(ErrorCode.CRM_UNKNOWN_CLIENT, `unknown client "${id}": to create it give ${missing.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')}`);
          rec = await store.putClient({ id, name: o.name!, tier: o.tier!, creditLimit: o.creditLimit!, maxOrderSize: o.maxOrder!, instrumentMaxSize: o.instrumentMax ?? {} }, o.author);
        } else {
          let caps: Record<string, number> | undefined;
          if (o.instrumentMax !== undefined || o.clearInstrumentMax !== undefined) {
            caps = { ...cur.instrumentMaxSize, ...o.instrumentMax };
            for (const k of o.clearInstrumentMax ?? []) {
              if (!(k in caps)) throw new CrmError(ErrorCode.CRM_INVALID, `client "${id}" has no cap on "${k}"`);
              delete caps[k];
            }
          }
          const patch: ClientPatch = { name: o.name, tier: o.tier, creditLimit: o.creditLimit, maxOrderSize: o.maxOrder, instrumentMaxSize: caps };
          if (Object.values(patch).every((v) => v === undefined)) throw new CrmError(ErrorCode.CRM_INVALID, 'nothing to set: give at least one of --name, --tier, --credit-limit, --max-order, --instrument-max, --clear-instrument-max');
          rec = await store.patchClient(id, patch, o.author);
        }
        out(g.json ? json(rec) : renderShow(store, rec, Date.now()));
      });
    });

  program
    .command('override <id>')
    .description('temporary tier override by a relationship manager (wins over tier and score until it expires)')
    .requiredOption('--tier <n>', '1, 2 or 3', tierArg)
    .requiredOption('--reason <text>', 'why (kept with the override)')
    .requiredOption('--author <who>', 'who is setting it (e.g. rm.jane)')
    .option('--expires-in <duration>', 'e.g. 90m, 12h, 7d, 2w', parseDurationMs)
    .option('--expires-at <iso>', 'absolute expiry, ISO 8601', isoTime)
    .action(async (id: string, o: { tier: 1 | 2 | 3; reason: string; author: string; expiresIn?: number; expiresAt?: number }, cmd: Command) => {
      const g = globals(cmd);
      if ((o.expiresIn === undefined) === (o.expiresAt === undefined)) throw new CrmError(ErrorCode.CRM_INVALID, 'give exactly one of --expires-in or --expires-at');
      const expiresAtMs = Math.floor(o.expiresAt ?? Date.now() + o.expiresIn!);
      await withStore(g, async (store) => {
        mustGet(store, id);
        const rec = await store.setOverride(id, { tier: o.tier, reason: o.reason, expiresAtMs }, o.author);
        out(g.json ? json(rec) : renderShow(store, rec, Date.now()));
      });
    });

  program
    .command('clear-override <id>')
    .description('remove the tier override')
    .option('--author <who>', 'recorded as updatedBy', io.env.USER ?? 'cli')
    .action(async (id: string, o: { author: string }, cmd: Command) => {
      const g = globals(cmd);
      await withStore(g, async (store) => {
        if (mustGet(store, id).override === null) throw new CrmError(ErrorCode.CRM_INVALID, `client "${id}" has no override`);
        const rec = await store.setOverride(id, null, o.author);
        out(g.json ? json(rec) : renderShow(store, rec, Date.now()));
      });
    });

  program
    .command('import <file>')
    .description('import clients (and axes, if the file has them) from a book file; nothing is written if any record is bad')
    .option('--author <who>', 'recorded as updatedBy', 'import')
    .action(async (file: string, o: { author: string }, cmd: Command) => {
      const g = globals(cmd);
      const config = g.config === undefined ? loadDefaultConfig() : loadConfigFile(g.config);
      const book = loadBookFile(file, crmUniverse(config));
      await withStore(g, async (store) => {
        const recs = await store.importClients(book.clients, o.author);
        if (book.axes !== null) await store.putAxes(book.axes);
        if (g.json) out(json({ imported: recs.map((r) => r.id), axes: book.axes !== null }));
        else out(`imported ${recs.length} client(s)${book.axes !== null ? ' and the desk axes' : ''} from ${file}\n` + renderList(store, Date.now()));
      });
    });

  program
    .command('axes')
    .description("the desk's axes")
    .option('--set <file>', 'replace them from a JSON file: { axes: [...] } or a bare array')
    .action(async (o: { set?: string }, cmd: Command) => {
      const g = globals(cmd);
      const config = g.config === undefined ? loadDefaultConfig() : loadConfigFile(g.config);
      const replacement = o.set === undefined ? undefined : loadAxesFile(o.set, crmUniverse(config));
      await withStore(g, async (store) => {
        const axes = replacement === undefined ? store.axes() : await store.putAxes(replacement);
        out(g.json ? json(axes) : (replacement === undefined ? '' : `replaced the desk axes from ${o.set}\n`) + renderAxes(axes));
      });
    });

  program
    .command('scores')
    .description('relationship scores (written by the engine)')
    .action(async (_o, cmd: Command) => {
      const g = globals(cmd);
      await withStore(g, async (store) => out(g.json ? json(store.scoresList()) : renderScores(store.scoresList())));
    });

  program
    .command('seed')
    .description('write the default client book (engine/default-crm.json) into an empty bucket')
    .action(async (_o, cmd: Command) => {
      const g = globals(cmd);
      const config = g.config === undefined ? loadDefaultConfig() : loadConfigFile(g.config);
      const book = loadDefaultBook(crmUniverse(config));
      await withStore(g, async (store) => {
        const r = await store.seedIfEmpty(book);
        out(g.json ? json(r) : r.clients || r.axes ? `seeded ${r.clients} client(s)${r.axes ? ' and the desk axes' : ''}\n` : 'the bucket already has clients: nothing written\n');
      });
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has printed its message already; help and version are not errors
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version' ? 0 : 2;
    }
    if (e instanceof EngineError) {
      io.err(`crm: ${e.code}: ${e.message}\n`);
      return INPUT_CODES.has(e.code) ? 2 : 1;
    }
    io.err(`crm: ${ErrorCode.INTERNAL}: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
