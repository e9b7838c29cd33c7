/** Shared bits of the CRM tests: a capturing logger, waiting for a change, a plain record. */
import type { Clock } from '../../engine/clock.js';
import { systemClock } from '../../engine/clock.js';
import { loadDefaultConfig } from '../../engine/config.js';
import { crmUniverse } from '../../engine/crm/book.js';
import type { ChangeKey, CrmLogger, CrmStore } from '../../engine/crm/store.js';
import type { ClientRecordInput } from '../../engine/crm/types.js';

export const config = loadDefaultConfig();
export const universe = crmUniverse(config);

export function captureLog(): CrmLogger & { lines: { level: string; msg: string; obj: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, msg: msg ?? '', obj: obj as Record<string, unknown> });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

/** Resolves with the first change matching `pred` (or rejects after timeoutMs). */
export function nextChange(store: CrmStore, pred: (k: ChangeKey) => boolean, timeoutMs = 1_000): Promise<{ key: ChangeKey; afterMs: number }> {
  const t0 = performance.now();
  const p = new Promise<{ key: ChangeKey; afterMs: number }>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new Error(`no matching CRM change within ${timeoutMs} ms`));
    }, timeoutMs);
    store.onChange((k) => {
      if (done || !pred(k)) return;
      done = true;
      clearTimeout(timer);
      resolve({ key: k, afterMs: performance.now() - t0 });
    });
  });
  // the caller awaits it later (after making the change): do not report it as unhandled meanwhile
  p.catch(() => undefined);
  return p;
}

export function record(id: string, patch: Partial<ClientRecordInput> = {}): ClientRecordInput {
  return { id, name: `Client ${id}`, tier: 3, creditLimit: 10_000_000, maxOrderSize: 1_000_000, ...patch };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function storeOpts(log: CrmLogger, clock: Clock = systemClock, autoTier = false) {
  return { autoTier, log, clock, universe };
}
