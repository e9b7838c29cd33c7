/**
 * Validation of CRM values, shared by the KV watch (untrusted bytes from the bucket) and the
 * writers (CLI, import, scorer). Outcomes are values: `{ ok: false, reason, issues }` names each bad
 * field as `path: problem`; nothing here throws on bad input.
 */
import type { z } from 'zod';
import {
  clientRecordSchema,
  deskAxesSchema,
  relationshipScoreSchema,
  type ClientRecord,
  type DeskAxes,
  type RelationshipScore,
} from './types.js';

/** Why a value was refused; the label of `qe_crm_invalid_total{reason}`. */
export const INVALID_REASONS = ['decode', 'schema', 'key'] as const;
export type InvalidReason = (typeof INVALID_REASONS)[number];

export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: InvalidReason; readonly issues: readonly string[] };

/** A CRM value is a few KB (100 agreements at most); anything near this is garbage or an attack. */
export const MAX_VALUE_BYTES = 256 * 1024;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const utf8 = new TextDecoder('utf-8', { fatal: true });
export const CLIENT_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** Instruments and asset classes writers may refer to. Reads do not check them (see store.ts). */
export interface CrmUniverse {
  readonly instruments: ReadonlySet<string>;
  readonly assetClasses: ReadonlySet<string>;
}

function fail(reason: InvalidReason, issues: readonly string[]): Checked<never> {
  return { ok: false, reason, issues };
}

function zodIssues(error: z.ZodError, prefix = ''): string[] {
  return error.issues.map((i) => {
    const path = [prefix, ...i.path.map(String)].filter((p) => p !== '').join('.');
    return `${path || '(root)'}: ${i.message}`;
  });
}

/** bytes → JSON value: UTF-8, size-capped, no prototype-polluting keys (R29). */
export function decodeJson(bytes: Uint8Array): Checked<unknown> {
  if (bytes.length > MAX_VALUE_BYTES) return fail('decode', [`(value): ${bytes.length} bytes exceeds ${MAX_VALUE_BYTES}`]);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    // the decoder's message is generic; the outcome is reported as a value, nothing to rethrow
    return fail('decode', ['(value): not valid UTF-8']);
  }
  try {
    const value: unknown = JSON.parse(text, (k, v: unknown) => {
      if (FORBIDDEN_KEYS.has(k)) throw new SyntaxError(`forbidden key "${k}"`);
      return v;
    });
    return { ok: true, value };
  } catch (e) {
    return fail('decode', [`(value): not valid JSON: ${(e as Error).message}`]);
  }
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/** Rules the zod contract cannot say on one field. */
function clientRuleIssues(r: z.output<typeof clientRecordSchema>): string[] {
  const issues: string[] = [];
  r.agreements.forEach((a, i) => {
    if ((a.instrument === undefined) === (a.assetClass === undefined)) issues.push(`agreements.${i}: name exactly one of instrument or assetClass`);
  });
  if (r.override !== null && r.override.expiresAtMs <= r.override.setAtMs) issues.push('override.expiresAtMs: must be after setAtMs');
  return issues;
}

function referenceIssues(r: ClientRecord, u: CrmUniverse): string[] {
  const issues: string[] = [];
  for (const iid of Object.keys(r.instrumentMaxSize)) if (!u.instruments.has(iid)) issues.push(`instrumentMaxSize.${iid}: unknown instrument`);
  r.agreements.forEach((a, i) => {
    if (a.instrument !== undefined && !u.instruments.has(a.instrument)) issues.push(`agreements.${i}.instrument: unknown instrument "${a.instrument}"`);
    if (a.assetClass !== undefined && !u.assetClasses.has(a.assetClass)) issues.push(`agreements.${i}.assetClass: unknown asset class "${a.assetClass}"`);
  });
  r.naturalInterest.forEach((n, i) => {
    if (!u.instruments.has(n.instrument)) issues.push(`naturalInterest.${i}.instrument: unknown instrument "${n.instrument}"`);
  });
  return issues;
}

export function checkClient(input: unknown, universe?: CrmUniverse): Checked<ClientRecord> {
  const r = clientRecordSchema.safeParse(input);
  if (!r.success) return fail('schema', zodIssues(r.error));
  const issues = clientRuleIssues(r.data);
  if (universe) issues.push(...referenceIssues(r.data, universe));
  if (issues.length) return fail('schema', issues);
  return { ok: true, value: deepFreeze(r.data) };
}

export function checkAxes(input: unknown, universe?: CrmUniverse): Checked<DeskAxes> {
  const r = deskAxesSchema.safeParse(input);
  if (!r.success) return fail('schema', zodIssues(r.error));
  const issues: string[] = [];
  const seen = new Set<string>();
  r.data.axes.forEach((a, i) => {
    if (seen.has(a.instrument)) issues.push(`axes.${i}.instrument: duplicate axe on "${a.instrument}" (one side per instrument)`);
    seen.add(a.instrument);
    if (universe && !universe.instruments.has(a.instrument)) issues.push(`axes.${i}.instrument: unknown instrument "${a.instrument}"`);
  });
  if (issues.length) return fail('schema', issues);
  return { ok: true, value: deepFreeze(r.data) };
}

export function checkScore(input: unknown): Checked<RelationshipScore> {
  const r = relationshipScoreSchema.safeParse(input);
  if (!r.success) return fail('schema', zodIssues(r.error));
  return { ok: true, value: deepFreeze(r.data) };
}

/** Prefix every issue with `<where>.` (e.g. `[3]` for the 4th record of an import). */
export function prefixIssues(where: string, issues: readonly string[]): string[] {
  return issues.map((i) => (i.startsWith('(root)') ? `${where}${i.slice(6)}` : `${where}.${i}`));
}
