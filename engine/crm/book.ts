/**
 * A client book file: what `seedIfEmpty` writes on first start (engine/default-crm.json) and what
 * `npm run crm -- import` reads. Either `{ "clients": [ClientRecord…], "axes": DeskAxes? }` or a
 * bare array of client records.
 */
import { readFileSync } from 'node:fs';
import { ASSET_CLASSES, type Config } from '../config.js';
import { CrmError, ErrorCode } from '../errors.js';
import type { ClientRecord, DeskAxes } from './types.js';
import { checkAxes, checkClient, decodeJson, prefixIssues, type CrmUniverse } from './validate.js';

export interface CrmBook {
  readonly clients: readonly ClientRecord[];
  readonly axes: DeskAxes | null;
}

/** Path of the default client book (dist/ and source layouts both resolve). */
export const DEFAULT_CRM_URL = new URL('../../../engine/default-crm.json', import.meta.url);

/** Validates a parsed book; throws QE_CRM_INVALID naming every bad field (`clients[3].creditLimit: …`). */
export function parseBook(json: unknown, universe?: CrmUniverse): CrmBook {
  const obj = Array.isArray(json) ? { clients: json } : json;
  if (obj === null || typeof obj !== 'object') throw new CrmError(ErrorCode.CRM_INVALID, 'invalid client book', ['(root): must be an array of clients or { clients, axes? }']);
  const issues: string[] = [];
  const o = obj as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'clients' && k !== 'axes') issues.push(`${k}: unknown key (expected clients, axes)`);
  const clients: ClientRecord[] = [];
  if (!Array.isArray(o.clients)) issues.push('clients: must be an array');
  else {
    const ids = new Set<string>();
    o.clients.forEach((c, i) => {
      const r = checkClient(c, universe);
      if (!r.ok) issues.push(...prefixIssues(`clients[${i}]`, r.issues));
      else {
        if (ids.has(r.value.id)) issues.push(`clients[${i}].id: duplicate client "${r.value.id}"`);
        ids.add(r.value.id);
        clients.push(r.value);
      }
    });
  }
  let axes: DeskAxes | null = null;
  if (o.axes !== undefined) {
    const a = checkAxes(o.axes, universe);
    if (!a.ok) issues.push(...prefixIssues('axes', a.issues));
    else axes = a.value;
  }
  if (issues.length) throw new CrmError(ErrorCode.CRM_INVALID, 'invalid client book', issues);
  return Object.freeze({ clients: Object.freeze(clients), axes });
}

export function loadBookFile(path: string, universe?: CrmUniverse): CrmBook {
  const d = decodeJson(readBytes(path));
  if (!d.ok) throw new CrmError(ErrorCode.CRM_INVALID, `cannot parse ${path}`, d.issues);
  return parseBook(d.value, universe);
}

/** An axes file: `{ "axes": [...] }` or a bare array of axes. */
export function loadAxesFile(path: string, universe?: CrmUniverse): DeskAxes {
  const d = decodeJson(readBytes(path));
  if (!d.ok) throw new CrmError(ErrorCode.CRM_INVALID, `cannot parse ${path}`, d.issues);
  const a = checkAxes(Array.isArray(d.value) ? { axes: d.value } : d.value, universe);
  if (!a.ok) throw new CrmError(ErrorCode.CRM_INVALID, `invalid desk axes in ${path}`, a.issues);
  return a.value;
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new CrmError(ErrorCode.CRM_INVALID, `cannot read ${path}: ${(cause as Error).message}`, [], { cause });
  }
}

export function loadDefaultBook(universe?: CrmUniverse): CrmBook {
  return loadBookFile(DEFAULT_CRM_URL.pathname, universe);
}

/** What writers may refer to in this engine's universe: its instruments and the asset classes. */
export function crmUniverse(config: Pick<Config, 'instruments'>): CrmUniverse {
  return { instruments: new Set(config.instruments.map((i) => i.id)), assetClasses: new Set<string>(ASSET_CLASSES) };
}
