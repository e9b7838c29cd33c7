/**
 * Terminal rendering of a client's live ladder for `npm run watch`. Pure: state in, text out,
 * so it is tested without a terminal. Formatting lives here, at the edge, never in the engine.
 */

export interface LadderRow {
  readonly instrument: string;
  st: string;
  rs: string;
  mid: number;
  /** [size, bid, ask] per band */
  levels: ReadonlyArray<readonly [number, number, number]>;
  /** engine pricing time, epoch ms */
  ts: number;
  sq: number;
  tr: number;
}

export interface LadderView {
  readonly client: string;
  readonly tier: number;
  readonly url: string;
  readonly instruments: readonly string[];
  readonly rows: ReadonlyMap<string, LadderRow>;
  /** last status / slow / error line, shown under the table */
  readonly notice: string;
  readonly connected: boolean;
}

const ESC = '\x1b[';
const C = { reset: `${ESC}0m`, dim: `${ESC}2m`, bold: `${ESC}1m`, green: `${ESC}32m`, yellow: `${ESC}33m`, red: `${ESC}31m` };

export function formatSize(n: number): string {
  if (n >= 1e9) return `${+(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** The client is not told tick sizes; enough decimals for FX (1.08421), JPY (151.370) and bonds (101.234). */
export function formatPrice(p: number): string {
  if (!Number.isFinite(p) || p === 0) return '-';
  const a = Math.abs(p);
  return p.toFixed(a >= 100 ? 3 : a >= 10 ? 4 : 5);
}

export function formatAge(ms: number): string {
  if (ms < 0) return '0ms';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.round(ms / 60_000)}m`;
}

const pad = (s: string, w: number) => (s.length >= w ? s.slice(0, w) : s + ' '.repeat(w - s.length));
const lpad = (s: string, w: number) => (s.length >= w ? s.slice(0, w) : ' '.repeat(w - s.length) + s);

/**
 * One screen. With `ansi`, colours by state and dims rows older than 2 s; each line ends with
 * erase-to-end-of-line so redrawing over the previous frame (cursor home, no clear) never flickers.
 */
export function renderLadder(v: LadderView, nowMs: number, opts: { ansi: boolean; bands?: number }): string {
  const bands = opts.bands ?? 4;
  const paint = (s: string, color: string) => (opts.ansi ? color + s + C.reset : s);
  const eol = opts.ansi ? `${ESC}K` : '';
  const lines: string[] = [];
  const conn = v.connected ? paint('connected', C.green) : paint('disconnected', C.red);
  lines.push(`${paint(`${v.client} (tier ${v.tier})`, C.bold)}  ${v.url}  ${conn}  ${new Date(nowMs).toISOString().slice(11, 23)}Z`);
  let header = `${pad('instrument', 11)}${pad('state', 18)}${lpad('mid', 11)}`;
  for (let b = 0; b < bands; b++) header += `  ${lpad(`size${b + 1}`, 7)} ${lpad('bid', 10)} ${lpad('ask', 10)}`;
  header += `  ${lpad('age', 7)}`;
  lines.push(paint(header, C.dim));
  for (const id of v.instruments) {
    const r = v.rows.get(id);
    if (r === undefined) {
      lines.push(`${pad(id, 11)}${paint(pad('waiting', 18), C.dim)}`);
      continue;
    }
    const color = r.st === 'firm' ? C.green : r.st === 'indicative' ? C.yellow : C.red;
    const state = pad(r.rs ? `${r.st}:${r.rs}` : r.st, 18);
    let line = `${pad(id, 11)}${paint(state, color)}${lpad(formatPrice(r.mid), 11)}`;
    for (let b = 0; b < bands; b++) {
      const l = r.levels[b];
      line += l ? `  ${lpad(formatSize(l[0]), 7)} ${lpad(formatPrice(l[1]), 10)} ${lpad(formatPrice(l[2]), 10)}` : `  ${' '.repeat(29)}`;
    }
    const ageMs = nowMs - r.ts;
    const age = lpad(formatAge(ageMs), 7);
    line += `  ${ageMs > 2000 ? paint(age, C.dim) : age}`;
    lines.push(line);
  }
  lines.push('');
  lines.push(v.notice);
  return lines.map((l) => l + eol).join('\n') + '\n';
}
