/** Building blocks shared by the panels: the panel frame with its data age, formatting, and a generic view of any message. */
import type { ComponentChildren } from 'preact';
import type { Msg } from './store.js';

/** Every panel says how old its data is; past `staleMs` the age turns red. Never blank: "no data yet". */
export function Panel(p: { id: string; title: string; at: number | null; staleMs?: number; extra?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="panel" data-panel={p.id}>
      <header>
        <h2>{p.title}</h2>
        {p.extra}
        <Age at={p.at} staleMs={p.staleMs ?? 10_000} />
      </header>
      <div class="body">{p.children}</div>
    </section>
  );
}

export function Age(p: { at: number | null; staleMs: number }) {
  if (p.at === null || p.at === 0) return <span class="age none" data-age="none">no data yet</span>;
  const ms = Math.max(0, Date.now() - p.at);
  return (
    <span class={ms > p.staleMs ? 'age stale' : 'age'} data-age={ms > p.staleMs ? 'stale' : 'fresh'} title="time since the last update">
      {ms < 1000 ? 'live' : `${fmtAge(ms)} ago`}
    </span>
  );
}

export function fmtAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** Decimals that show a price on the instrument's grid (from the inferred tick), 2–7. */
export function decimalsFor(tick: number): number {
  if (!(tick > 0)) return 5;
  for (let d = 0; d <= 7; d++) if (Math.abs(Math.round(tick * 10 ** d) - tick * 10 ** d) < 1e-9) return Math.max(2, d);
  return 7;
}

export function fmtPx(n: unknown, decimals: number): string {
  return typeof n === 'number' && Number.isFinite(n) ? n.toFixed(decimals) : '—';
}

export function fmtSize(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  if (a >= 1e9) return `${+(n / 1e9).toFixed(2)}B`;
  if (a >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(+n.toFixed(2));
}

export function fmtNum(n: unknown, d = 2): string {
  return typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: 0 }) : '—';
}

/** Signed money/P&L with the sign colour class. */
export function Signed(p: { v: unknown; d?: number }) {
  if (typeof p.v !== 'number' || !Number.isFinite(p.v)) return <span>—</span>;
  return <span class={p.v > 0 ? 'pos' : p.v < 0 ? 'neg' : ''}>{fmtNum(p.v, p.d ?? 0)}</span>;
}

const HIDDEN_KEYS = new Set(['t', 'id', 'serverTime']);

/**
 * Any message rendered as it is: arrays of records as tables, records as key/value lists. Panels
 * whose messages another module defines use it, so new fields show up without a screen release.
 */
export function Generic(p: { msg: Msg | Record<string, unknown>; depth?: number }) {
  const depth = p.depth ?? 0;
  const entries = Object.entries(p.msg).filter(([k]) => depth > 0 || !HIDDEN_KEYS.has(k));
  if (entries.length === 0) return <span class="muted">empty</span>;
  return (
    <dl class="kv">
      {entries.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>
            <Value v={v} depth={depth + 1} name={k} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

/** epoch-ms fields by naming convention (docs/protocol.md: times are epoch ms; names carry units) */
const TIME_KEY = /(Ms|At|AtMs|since|Since|^ts|Time)$/;

function Value(p: { v: unknown; depth: number; name?: string }) {
  const v = p.v;
  if (v === null || v === undefined) return <span class="muted">—</span>;
  if (typeof v === 'number' && p.name !== undefined && TIME_KEY.test(p.name) && v > 1e12 && v < 1e14) {
    const d = new Date(v);
    return <span title={d.toISOString()}>{d.toLocaleString()}</span>;
  }
  if (typeof v === 'number') return <span>{fmtNum(v, 6)}</span>;
  if (typeof v !== 'object') return <span>{String(v)}</span>;
  if (p.depth > 3) return <code>{JSON.stringify(v).slice(0, 200)}</code>;
  if (Array.isArray(v)) {
    if (v.length === 0) return <span class="muted">none</span>;
    if (v.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x))) return <RecordTable rows={v as Record<string, unknown>[]} depth={p.depth} />;
    return <span>{v.map((x) => (typeof x === 'number' ? fmtNum(x, 6) : typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ')}</span>;
  }
  return <Generic msg={v as Record<string, unknown>} depth={p.depth} />;
}

export function RecordTable(p: { rows: Record<string, unknown>[]; depth?: number }) {
  const cols: string[] = [];
  for (const r of p.rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  return (
    <table class="grid">
      <thead>
        <tr>{cols.map((c) => <th key={c}>{c}</th>)}</tr>
      </thead>
      <tbody>
        {p.rows.slice(0, 100).map((r, n) => (
          <tr key={n}>
            {cols.map((c) => (
              <td key={c}>
                <Value v={r[c]} depth={(p.depth ?? 0) + 1} name={c} />
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A panel body for a message kind another module provides: the data, "not available" (with the refusal code), or "no data yet". */
export function KindView(p: { kind: string; entry: { msg: Msg; at: number } | undefined; unsupported: string | undefined }) {
  return (
    <div class="kind" data-kind={p.kind} data-has={p.entry !== undefined ? 'yes' : 'no'}>
      {p.entry !== undefined ? (
        <Generic msg={p.entry.msg} />
      ) : p.unsupported !== undefined ? (
        <p class="muted" data-empty={p.kind}>
          <code>{p.kind}</code>: not available to this seat or engine ({p.unsupported})
        </p>
      ) : (
        <p class="muted" data-empty={p.kind}>
          <code>{p.kind}</code>: no data yet
        </p>
      )}
    </div>
  );
}
