/**
 * The CRM: client records, desk axes and relationship scores in a JetStream KV bucket, served
 * from memory.
 *
 *   KV bucket `crm` ──watch (ordered consumer, last value per key, then every change)──► apply()
 *                                                                                        │ validate (zod + rules)
 *            putClient / patchClient / setOverride / putAxes / putScore / importClients  │ good → memory, listeners
 *            (validated first; read-modify-write uses the key's revision)                │ bad  → counted, logged, old value kept
 *
 * One watch does both the initial load and the live updates, so there is no window between
 * "read everything" and "subscribe" in which a change could be missed. Reads (`get`,
 * `effectiveTier`, …) are synchronous map lookups: the RFQ and pricing paths may call them.
 *
 * Writers do not touch memory themselves: they write to KV and wait until the watch has applied
 * their revision, so every process (engine, CLI, a second engine) sees a change the same way.
 *
 * Values in the bucket are untrusted bytes (anyone with access to the account may write them):
 * decoding and validation never throw, a rejected value leaves the previous good one in place.
 * Writers, in contrast, refuse bad input with a coded CrmError before anything is written.
 */
import type { KV, KvEntry, NatsConnection, QueuedIterator } from 'nats';
import { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { CrmError, ErrorCode } from '../errors.js';
import { HotCounter, readGauge } from '../metrics.js';
import type { CrmBook } from './book.js';
import type { ClientDirectory, ClientRecord, ClientRecordInput, DeskAxes, RelationshipScore } from './types.js';
import {
  CLIENT_ID,
  INVALID_REASONS,
  MAX_VALUE_BYTES,
  checkAxes,
  checkClient,
  checkScore,
  decodeJson,
  prefixIssues,
  type Checked,
  type CrmUniverse,
  type InvalidReason,
} from './validate.js';

export interface CrmLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const CRM_BUCKET = 'crm';
export const CLIENT_PREFIX = 'client.';
export const SCORE_PREFIX = 'score.';
export const AXES_KEY = 'desk.axes';
/** Overrides are temporary (RELIABILITY R10): none may last longer than this by default. */
export const DEFAULT_MAX_OVERRIDE_MS = 90 * 86_400_000;
const KV_HISTORY = 10;
/** setTimeout's delay is a signed 32-bit ms count; longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const CAS_ATTEMPTS = 5;
const WATCH_RETRY_MS = 1_000;

export type ChangeKey = { kind: 'client' | 'score' | 'axes'; clientId?: string };
export type TierSource = 'override' | 'score' | 'record';

export interface CrmStoreOptions {
  readonly bucket?: typeof CRM_BUCKET;
  /** a client's proposed tier (relationship score) applies when no unexpired override exists */
  readonly autoTier: boolean;
  readonly log: CrmLogger;
  readonly clock: Clock;
  /** metrics registry (the engine's); a private one otherwise */
  readonly registry?: Registry;
  /** when given, writers refuse references to instruments / asset classes outside it */
  readonly universe?: CrmUniverse;
  readonly maxOverrideMs?: number;
  /** open() fails with QE_CRM_UNAVAILABLE when the initial load takes longer */
  readonly openTimeoutMs?: number;
  /** a writer's call returns once its change is applied here, or after this long (logged) */
  readonly applyTimeoutMs?: number;
}

/** What `setOverride` takes; author and setAtMs are filled in by the store. */
export interface OverrideInput {
  readonly tier: 1 | 2 | 3;
  readonly reason: string;
  readonly expiresAtMs: number;
}

/** Fields `patchClient` may change. */
export type ClientPatch = Partial<Pick<ClientRecordInput, 'name' | 'tier' | 'creditLimit' | 'maxOrderSize' | 'instrumentMaxSize' | 'agreements' | 'naturalInterest'>>;

const EMPTY_AXES: DeskAxes = Object.freeze({ axes: Object.freeze([]) as unknown as DeskAxes['axes'], updatedAtMs: 0 });
const enc = new TextEncoder();

function isWrongLastSequence(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string } | null;
  return e?.api_error?.err_code === 10071 || /wrong last sequence/i.test(e?.message ?? '');
}

function checkAuthor(author: unknown): string {
  if (typeof author !== 'string' || author.trim().length === 0 || author.length > 80) {
    throw new CrmError(ErrorCode.CRM_INVALID, 'invalid author', ['author: must be 1-80 characters']);
  }
  return author;
}

function refuse<T>(c: Checked<T>, what: string): T {
  if (!c.ok) throw new CrmError(ErrorCode.CRM_INVALID, `invalid ${what}`, c.issues);
  return c.value;
}

export class CrmStore implements ClientDirectory {
  private readonly clients = new Map<string, ClientRecord>();
  private readonly scores = new Map<string, RelationshipScore>();
  private deskAxes: DeskAxes = EMPTY_AXES;
  private listCache: readonly ClientRecord[] | null = null;
  private readonly listeners: Array<(key: ChangeKey) => void> = [];
  /** any client key ever seen, deletes included: seedIfEmpty never resurrects a deleted book */
  private sawClientKey = false;
  private sawAxesKey = false;
  /** highest stream sequence applied (valid or not); writers wait for their own */
  private revision = 0;
  private waiters: Array<{ rev: number; done: (applied: boolean) => void }> = [];
  /** overrides unexpired at the last look, by client: the expiry timer re-tiers these */
  private readonly activeOverrides = new Map<string, number>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private iter: QueuedIterator<KvEntry> | undefined;
  private statusIter: { stop(): void } | undefined;
  /** set on reconnect: re-watch at once instead of after WATCH_RETRY_MS */
  private rewatchNow = false;
  private closed = false;
  private readonly invalid: HotCounter;
  private readonly updates: HotCounter;
  private readonly maxOverrideMs: number;
  private readonly applyTimeoutMs: number;

  private constructor(
    private readonly kv: KV,
    private readonly opts: CrmStoreOptions,
  ) {
    const registry = opts.registry ?? new Registry();
    this.invalid = new HotCounter(registry, 'qe_crm_invalid_total', 'CRM values refused from the KV bucket, by reason (the previous good value is kept)', 'reason', INVALID_REASONS);
    this.updates = new HotCounter(registry, 'qe_crm_updates_total', 'CRM changes applied in memory, by kind', 'kind', ['client', 'score', 'axes']);
    readGauge(registry, 'qe_crm_clients', 'Client records held by the CRM', () => this.clients.size);
    this.maxOverrideMs = opts.maxOverrideMs ?? DEFAULT_MAX_OVERRIDE_MS;
    this.applyTimeoutMs = opts.applyTimeoutMs ?? 5_000;
  }

  /** Creates or binds the bucket, loads every key, and keeps watching. */
  static async open(nc: NatsConnection, opts: CrmStoreOptions): Promise<CrmStore> {
    const bucket = opts.bucket ?? CRM_BUCKET;
    let kv: KV;
    try {
      // maxValueSize applies when this call creates the bucket: the broker then refuses oversized
      // values itself (an existing bucket is bound as it is; decodeJson still caps what is read)
      kv = await nc.jetstream().views.kv(bucket, { history: KV_HISTORY, maxValueSize: MAX_VALUE_BYTES });
    } catch (cause) {
      throw new CrmError(ErrorCode.CRM_UNAVAILABLE, `cannot open KV bucket "${bucket}" (is JetStream enabled?): ${(cause as Error).message}`, [], { cause });
    }
    const store = new CrmStore(kv, opts);
    const timeoutMs = opts.openTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve, reject) => store.runWatch(resolve, reject)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new CrmError(ErrorCode.CRM_UNAVAILABLE, `CRM bucket "${bucket}" did not load within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (e) {
      await store.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    store.followReconnects(nc);
    store.scheduleExpiry();
    opts.log.info({ bucket, clients: store.clients.size, scores: store.scores.size, axes: store.deskAxes.axes.length, revision: store.revision }, 'crm loaded');
    return store;
  }

  // ── read side (ClientDirectory) ─────────────────────────────────────────────────────────────

  get(clientId: string): ClientRecord | undefined {
    return this.clients.get(clientId);
  }

  effectiveTier(clientId: string, nowMs: number): 1 | 2 | 3 | undefined {
    return this.explainTier(clientId, nowMs)?.tier;
  }

  /** The effective tier and where it came from (CLI, co-pilot). */
  explainTier(clientId: string, nowMs: number): { tier: 1 | 2 | 3; source: TierSource } | undefined {
    const r = this.clients.get(clientId);
    if (r === undefined) return undefined;
    // an override applies while nowMs < expiresAtMs; at expiresAtMs it has expired
    if (r.override !== null && r.override.expiresAtMs > nowMs) return { tier: r.override.tier, source: 'override' };
    if (this.opts.autoTier) {
      const s = this.scores.get(clientId);
      if (s !== undefined) return { tier: s.proposedTier, source: 'score' };
    }
    return { tier: r.tier, source: 'record' };
  }

  score(clientId: string): RelationshipScore | undefined {
    return this.scores.get(clientId);
  }

  scoresList(): readonly RelationshipScore[] {
    return [...this.scores.values()].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  }

  axes(): DeskAxes {
    return this.deskAxes;
  }

  list(): readonly ClientRecord[] {
    if (this.listCache === null) {
      this.listCache = Object.freeze([...this.clients.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
    }
    return this.listCache;
  }

  onChange(listener: (key: ChangeKey) => void): void {
    this.listeners.push(listener);
  }

  get autoTier(): boolean {
    return this.opts.autoTier;
  }

  /** Values refused from the bucket (all reasons, or one). */
  invalidCount(reason?: InvalidReason): number {
    return reason === undefined ? INVALID_REASONS.reduce((s, r) => s + this.invalid.get(r), 0) : this.invalid.get(reason);
  }

  // ── write side ──────────────────────────────────────────────────────────────────────────────

  /**
   * Writes a whole record. `override` absent keeps the current override (an import from the RM
   * system must not silently drop a risk override); `override: null` clears it.
   */
  async putClient(record: ClientRecordInput, author: string): Promise<ClientRecord> {
    checkAuthor(author);
    const rec = this.prepareClient(record, author, '');
    const rev = await this.kv.put(CLIENT_PREFIX + rec.id, enc.encode(JSON.stringify(rec)));
    await this.waitApplied(rev);
    return this.clients.get(rec.id) ?? rec;
  }

  /** Changes some fields of an existing client (read-modify-write on the key's revision). */
  async patchClient(clientId: string, patch: ClientPatch, author: string): Promise<ClientRecord> {
    checkAuthor(author);
    // undefined means "leave as is", not "clear"
    const defined = Object.fromEntries(Object.entries(patch ?? {}).filter(([, v]) => v !== undefined));
    if ('id' in defined || 'override' in defined) throw new CrmError(ErrorCode.CRM_INVALID, 'invalid patch', ['(root): id and override cannot be patched (use setOverride)']);
    return this.modifyClient(clientId, (cur) => ({ ...cur, ...defined, updatedAtMs: this.nowInt(), updatedBy: author }));
  }

  /** Sets (or with null clears) the relationship manager's tier override. */
  async setOverride(clientId: string, override: OverrideInput | null, author: string): Promise<ClientRecord> {
    checkAuthor(author);
    if (override !== null) {
      const now = this.nowInt();
      const issues: string[] = [];
      const exp = override.expiresAtMs;
      if (typeof exp !== 'number' || !Number.isInteger(exp) || exp <= now) issues.push('override.expiresAtMs: must be an integer epoch ms in the future');
      else if (exp - now > this.maxOverrideMs) issues.push(`override.expiresAtMs: an override may last at most ${this.maxOverrideMs / 86_400_000} days`);
      if (issues.length) throw new CrmError(ErrorCode.CRM_INVALID, 'invalid override', issues);
    }
    return this.modifyClient(clientId, (cur) => {
      const now = this.nowInt();
      return {
        ...cur,
        override: override === null ? null : { tier: override.tier, reason: override.reason, expiresAtMs: override.expiresAtMs, author, setAtMs: now },
        updatedAtMs: now,
        updatedBy: author,
      };
    });
  }

  /**
   * Validates every record first (all or nothing: one bad record refuses the file, naming it by
   * index), then writes them. Keys are written independently: a broker failure part-way leaves
   * the ones already written (re-running the import is idempotent).
   */
  async importClients(records: readonly unknown[], author: string): Promise<readonly ClientRecord[]> {
    checkAuthor(author);
    if (!Array.isArray(records)) throw new CrmError(ErrorCode.CRM_INVALID, 'invalid import', ['(root): must be an array of client records']);
    const prepared: ClientRecord[] = [];
    const issues: string[] = [];
    const ids = new Set<string>();
    records.forEach((r, i) => {
      try {
        const rec = this.prepareClient(r as ClientRecordInput, author, `[${i}]`);
        if (ids.has(rec.id)) issues.push(`[${i}].id: duplicate client "${rec.id}" in the import`);
        ids.add(rec.id);
        prepared.push(rec);
      } catch (e) {
        if (e instanceof CrmError) issues.push(...e.issues);
        else throw e;
      }
    });
    if (issues.length) throw new CrmError(ErrorCode.CRM_INVALID, `invalid import (${records.length} records, nothing written)`, issues);
    const revs = await Promise.all(prepared.map((rec) => this.kv.put(CLIENT_PREFIX + rec.id, enc.encode(JSON.stringify(rec)))));
    if (revs.length) await this.waitApplied(Math.max(...revs));
    return prepared.map((r) => this.clients.get(r.id) ?? r);
  }

  async putAxes(axes: unknown): Promise<DeskAxes> {
    const input = axes !== null && typeof axes === 'object' ? { ...(axes as object), updatedAtMs: this.nowInt() } : axes;
    const value = refuse(checkAxes(input, this.opts.universe), 'desk axes');
    const rev = await this.kv.put(AXES_KEY, enc.encode(JSON.stringify(value)));
    await this.waitApplied(rev);
    return this.deskAxes;
  }

  async putScore(score: unknown): Promise<RelationshipScore> {
    const value = refuse(checkScore(score), 'relationship score');
    const rev = await this.kv.put(SCORE_PREFIX + value.clientId, enc.encode(JSON.stringify(value)));
    await this.waitApplied(rev);
    return this.scores.get(value.clientId) ?? value;
  }

  /**
   * Writes the book's clients (and axes) when the bucket has never held a client key (a book
   * whose clients were all deleted is not re-seeded). `create` makes two engines starting
   * together safe: only one write per key wins, the other is skipped.
   */
  async seedIfEmpty(book: CrmBook): Promise<{ clients: number; axes: boolean }> {
    let clients = 0;
    let axes = false;
    if (!this.sawClientKey) {
      const recs = book.clients.map((r, i) => this.prepareClient(r, 'seed', `[${i}]`));
      const revs = await Promise.all(recs.map((r) => this.createKey(CLIENT_PREFIX + r.id, r)));
      clients = revs.filter((r) => r > 0).length;
      if (clients) await this.waitApplied(Math.max(...revs));
    }
    if (!this.sawAxesKey && book.axes !== null) {
      const rev = await this.createKey(AXES_KEY, refuse(checkAxes({ ...book.axes, updatedAtMs: this.nowInt() }, this.opts.universe), 'desk axes'));
      axes = rev > 0;
      if (axes) await this.waitApplied(rev);
    }
    if (clients || axes) this.opts.log.info({ clients, axes }, 'crm seeded from the default book');
    return { clients, axes };
  }

  /** Stops watching and the expiry timer. The connection belongs to the caller. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.expiryTimer);
    this.iter?.stop();
    this.statusIter?.stop();
    for (const w of this.waiters) w.done(false);
    this.waiters = [];
  }

  /**
   * Re-tiers clients whose override has expired by now (fires onChange for each). Called by the
   * expiry timer; public so an engine on a manual clock can drive it.
   */
  sweepExpiries(): void {
    const now = this.opts.clock.nowMs();
    for (const [id, exp] of [...this.activeOverrides]) {
      if (exp <= now) {
        this.activeOverrides.delete(id);
        this.emit({ kind: 'client', clientId: id });
      }
    }
    this.scheduleExpiry();
  }

  // ── internals ───────────────────────────────────────────────────────────────────────────────

  private nowInt(): number {
    return Math.floor(this.opts.clock.nowMs());
  }

  private prepareClient(input: ClientRecordInput, author: string, where: string): ClientRecord {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      throw new CrmError(ErrorCode.CRM_INVALID, 'invalid client record', [`${where || '(root)'}: must be an object`]);
    }
    const withMeta: Record<string, unknown> = { ...input, updatedAtMs: this.nowInt(), updatedBy: author };
    if (!('override' in input) || input.override === undefined) {
      const cur = typeof input.id === 'string' ? this.clients.get(input.id) : undefined;
      withMeta.override = cur?.override ?? null;
    }
    const c = checkClient(withMeta, this.opts.universe);
    if (!c.ok) throw new CrmError(ErrorCode.CRM_INVALID, 'invalid client record', where ? prefixIssues(where, c.issues) : c.issues);
    // an override given with the record obeys the same ceiling as setOverride (R10: temporary)
    const o = c.value.override;
    if (o !== null && 'override' in input && input.override !== undefined && o.expiresAtMs - this.nowInt() > this.maxOverrideMs) {
      const issue = `override.expiresAtMs: an override may last at most ${this.maxOverrideMs / 86_400_000} days`;
      throw new CrmError(ErrorCode.CRM_INVALID, 'invalid client record', [where ? `${where}.${issue}` : issue]);
    }
    return c.value;
  }

  private async modifyClient(clientId: string, change: (cur: ClientRecord) => ClientRecordInput): Promise<ClientRecord> {
    if (typeof clientId !== 'string' || !CLIENT_ID.test(clientId)) throw new CrmError(ErrorCode.CRM_INVALID, 'invalid client id', ['id: must be 1-32 characters of A-Z a-z 0-9 _ -']);
    const key = CLIENT_PREFIX + clientId;
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const e = await this.kv.get(key);
      if (e === null || e.operation !== 'PUT') throw new CrmError(ErrorCode.CRM_UNKNOWN_CLIENT, `unknown client "${clientId}"`);
      // the stored value may be one the watch refused; then the last good value is the base
      const d = decodeJson(e.value);
      const stored = d.ok ? checkClient(d.value) : d;
      const base = stored.ok && stored.value.id === clientId ? stored.value : this.clients.get(clientId);
      if (base === undefined) throw new CrmError(ErrorCode.CRM_UNKNOWN_CLIENT, `client "${clientId}" has no valid record to change`);
      const next = refuse(checkClient(change(base), this.opts.universe), 'client record');
      try {
        const rev = await this.kv.update(key, enc.encode(JSON.stringify(next)), e.revision);
        await this.waitApplied(rev);
        return this.clients.get(clientId) ?? next;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
        // someone else wrote the key between our get and update: read again and re-apply
      }
    }
    throw new CrmError(ErrorCode.CRM_CONFLICT, `client "${clientId}" kept changing under us (${CAS_ATTEMPTS} attempts); try again`);
  }

  /** 0 when the key already holds a value (another writer won). */
  private async createKey(key: string, value: unknown): Promise<number> {
    try {
      return await this.kv.create(key, enc.encode(JSON.stringify(value)));
    } catch (err) {
      if (isWrongLastSequence(err)) return 0;
      throw err;
    }
  }

  private waitApplied(rev: number): Promise<boolean> {
    if (this.revision >= rev || this.closed) return Promise.resolve(this.revision >= rev);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        this.opts.log.warn({ revision: rev, applied: this.revision }, 'crm write not yet seen by the watch; it is stored and will apply when the watch catches up');
        resolve(false);
      }, this.applyTimeoutMs);
      const waiter = {
        rev,
        done: (applied: boolean) => {
          clearTimeout(timer);
          resolve(applied);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /**
   * The watch loop (not a hot path: CRM changes are rare, so an async iterator is fine). Resolves
   * `loaded` once the initial values are in; if the watch ever ends while open (stream deleted,
   * consumer lost), it is re-established from the next revision after a pause.
   */
  private runWatch(loaded: () => void, failed: (e: unknown) => void): void {
    let initial = true;
    const loop = async () => {
      while (!this.closed) {
        try {
          const iter = await this.kv.watch({
            resumeFromRevision: this.revision > 0 ? this.revision + 1 : undefined,
            initializedFn: () => {
              if (initial) {
                initial = false;
                loaded();
              }
            },
          });
          this.iter = iter;
          if (this.closed) iter.stop();
          for await (const e of iter) this.apply(e, !initial);
        } catch (err) {
          if (initial) {
            failed(new CrmError(ErrorCode.CRM_UNAVAILABLE, `cannot watch the CRM bucket: ${(err as Error).message}`, [], { cause: err }));
            return;
          }
          this.opts.log.error({ err: (err as Error).message }, 'crm watch failed');
        }
        if (this.closed) return;
        if (this.rewatchNow) {
          this.rewatchNow = false;
          this.opts.log.info({ revision: this.revision }, 'crm re-watching after a reconnect');
        } else {
          this.opts.log.warn({ revision: this.revision }, 'crm watch ended; re-watching');
          await new Promise((r) => setTimeout(r, WATCH_RETRY_MS).unref());
        }
      }
    };
    void loop();
  }

  /**
   * After a reconnect (e.g. the broker restarted) the watch's ordered consumer would only notice
   * it is gone after two missed idle heartbeats (~10 s), and changes made meanwhile would wait as
   * long. Stopping the watch on reconnect makes the loop above re-watch at once from the next
   * revision, so nothing written during or after the outage is missed.
   */
  private followReconnects(nc: NatsConnection): void {
    const it = nc.status();
    this.statusIter = it as unknown as { stop(): void };
    void (async () => {
      for await (const s of it) {
        if (this.closed) return;
        if (s.type === 'reconnect') {
          this.rewatchNow = true;
          this.iter?.stop();
        }
      }
    })();
  }

  private reject(key: string, revision: number, reason: InvalidReason, issues: readonly string[]): void {
    this.invalid.incLabel(reason);
    this.opts.log.warn({ key, revision, reason, issues }, 'crm value rejected; previous value kept');
  }

  /** Applies one KV entry; `notify` is false during the initial load. Never throws. */
  private apply(e: KvEntry, notify: boolean): void {
    if (e.revision > this.revision) this.revision = e.revision;
    try {
      this.applyEntry(e, notify);
    } catch (err) {
      // a bug, not bad input (validation returns values): keep the watch alive, say so loudly
      this.opts.log.error({ key: e.key, err: (err as Error).stack }, 'crm apply failed');
    }
    if (this.waiters.length) {
      const ready = this.waiters.filter((w) => w.rev <= this.revision);
      if (ready.length) {
        this.waiters = this.waiters.filter((w) => w.rev > this.revision);
        for (const w of ready) w.done(true);
      }
    }
  }

  private applyEntry(e: KvEntry, notify: boolean): void {
    const key = e.key;
    const deleted = e.operation !== 'PUT';
    if (key.startsWith(CLIENT_PREFIX)) {
      const id = key.slice(CLIENT_PREFIX.length);
      this.sawClientKey = true;
      if (!CLIENT_ID.test(id)) return this.reject(key, e.revision, 'key', ['(key): not a valid client id']);
      if (deleted) {
        if (!this.clients.delete(id)) return;
      } else {
        const d = decodeJson(e.value);
        if (!d.ok) return this.reject(key, e.revision, d.reason, d.issues);
        const c = checkClient(d.value);
        if (!c.ok) return this.reject(key, e.revision, c.reason, c.issues);
        if (c.value.id !== id) return this.reject(key, e.revision, 'key', [`id: "${c.value.id}" stored under the key of "${id}"`]);
        this.clients.set(id, c.value);
      }
      this.listCache = null;
      this.trackOverride(id);
      if (notify) this.scheduleExpiry();
      this.changed({ kind: 'client', clientId: id }, notify);
    } else if (key.startsWith(SCORE_PREFIX)) {
      const id = key.slice(SCORE_PREFIX.length);
      if (!CLIENT_ID.test(id)) return this.reject(key, e.revision, 'key', ['(key): not a valid client id']);
      if (deleted) {
        if (!this.scores.delete(id)) return;
      } else {
        const d = decodeJson(e.value);
        if (!d.ok) return this.reject(key, e.revision, d.reason, d.issues);
        const c = checkScore(d.value);
        if (!c.ok) return this.reject(key, e.revision, c.reason, c.issues);
        if (c.value.clientId !== id) return this.reject(key, e.revision, 'key', [`clientId: "${c.value.clientId}" stored under the key of "${id}"`]);
        this.scores.set(id, c.value);
      }
      this.changed({ kind: 'score', clientId: id }, notify);
    } else if (key === AXES_KEY) {
      this.sawAxesKey = true;
      if (deleted) this.deskAxes = EMPTY_AXES;
      else {
        const d = decodeJson(e.value);
        if (!d.ok) return this.reject(key, e.revision, d.reason, d.issues);
        const c = checkAxes(d.value);
        if (!c.ok) return this.reject(key, e.revision, c.reason, c.issues);
        this.deskAxes = c.value;
      }
      this.changed({ kind: 'axes' }, notify);
    } else {
      this.reject(key, e.revision, 'key', ['(key): not client.<id>, score.<id> or desk.axes']);
    }
  }

  private changed(key: ChangeKey, notify: boolean): void {
    this.updates.incLabel(key.kind);
    if (notify) this.emit(key);
  }

  private emit(key: ChangeKey): void {
    for (const l of this.listeners) {
      try {
        l(key);
      } catch (err) {
        // one failing listener must not stop the others or the watch (the CRM would freeze)
        this.opts.log.error({ key, err: (err as Error).stack }, 'crm listener threw');
      }
    }
  }

  private trackOverride(id: string): void {
    const o = this.clients.get(id)?.override;
    if (o && o.expiresAtMs > this.opts.clock.nowMs()) this.activeOverrides.set(id, o.expiresAtMs);
    else this.activeOverrides.delete(id);
  }

  /** One timer for the earliest unexpired override (not one per client). */
  private scheduleExpiry(): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    if (this.closed || this.activeOverrides.size === 0) return;
    let next = Infinity;
    for (const exp of this.activeOverrides.values()) if (exp < next) next = exp;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - this.opts.clock.nowMs()));
    this.expiryTimer = setTimeout(() => this.sweepExpiries(), delay);
    this.expiryTimer.unref();
  }
}
