/**
 * Hand-written SVG line charts (no plotting dependency): a latency CDF per system and the
 * delivered-quotes and cost-per-tick curves. Pure string building, so it is tested directly.
 *
 *   ┌ title ───────────────────────────────┐
 *   │ y ticks │ plot area (W−L−R × H−T−B)  │ legend on the right of the plot
 *   │         └──────────── x ticks ────── │
 *   └──────────────── x label ─────────────┘
 */

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly color?: string;
  /** draw a dot on every point (few points: sweeps) */
  readonly markers?: boolean;
}

export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly xLog?: boolean;
  readonly yLog?: boolean;
  /** fixed y range (e.g. [0, 1] for a CDF); default from the data */
  readonly yRange?: readonly [number, number];
  readonly width?: number;
  readonly height?: number;
  readonly xFormat?: (v: number) => string;
  readonly yFormat?: (v: number) => string;
  /** horizontal guide lines, e.g. the p50 and p99 levels of a CDF */
  readonly yGuides?: ReadonlyArray<{ readonly y: number; readonly label: string }>;
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

const M = { left: 70, right: 170, top: 36, bottom: 50 };

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Compact number: 1200 → 1.2k, 3400000 → 3.4M, 0.25 → 0.25. */
export function compact(v: number): string {
  const a = Math.abs(v);
  const r = (x: number) => String(Math.round(x * 10) / 10);
  if (a >= 1e9) return `${r(v / 1e9)}G`;
  if (a >= 1e6) return `${r(v / 1e6)}M`;
  if (a >= 1e3) return `${r(v / 1e3)}k`;
  if (a >= 1 || a === 0) return r(v);
  return String(Math.round(v * 1000) / 1000);
}

/** Ticks of a log axis: 1-2-5 per decade when the range spans ≤ 3 decades, powers of 10 otherwise. */
export function logTicks(lo: number, hi: number): number[] {
  const d0 = Math.floor(Math.log10(lo));
  const d1 = Math.ceil(Math.log10(hi));
  const steps = d1 - d0 <= 3 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let d = d0; d <= d1; d++) for (const s of steps) {
    const v = s * 10 ** d;
    if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
  }
  return out;
}

/** "Nice" linear ticks (1, 2, 2.5, 5 × 10^k) covering [lo, hi], about `n` of them. */
export function linearTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 720;
  const H = o.height ?? 400;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const pts = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.xLog || x > 0) && (!o.yLog || y > 0));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(o.title)}</text>`);
  if (pts.length === 0) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text></svg>`);
    return parts.join('\n');
  }
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = o.yRange ? [o.yRange[0], o.yRange[1]] : [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (o.xLog) [x0, x1] = [10 ** Math.floor(Math.log10(x0)), 10 ** Math.ceil(Math.log10(x1))];
  else if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (o.yLog) [y0, y1] = [10 ** Math.floor(Math.log10(y0)), 10 ** Math.ceil(Math.log10(y1))];
  else if (!o.yRange) {
    y0 = Math.min(0, y0);
    y1 = y1 === y0 ? y0 + 1 : y1 * 1.05;
  }
  const fx = o.xLog ? (v: number) => (Math.log10(v) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0)) : (v: number) => (v - x0) / (x1 - x0);
  const fy = o.yLog ? (v: number) => (Math.log10(v) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0)) : (v: number) => (v - y0) / (y1 - y0);
  const X = (v: number) => (M.left + fx(v) * pw).toFixed(1);
  const Y = (v: number) => (M.top + ph - fy(v) * ph).toFixed(1);
  const xf = o.xFormat ?? compact;
  const yf = o.yFormat ?? compact;

  // grid and ticks
  const xt = o.xLog ? logTicks(x0, x1) : linearTicks(x0, x1);
  const yt = o.yLog ? logTicks(y0, y1) : linearTicks(y0, y1);
  for (const v of xt) {
    parts.push(`<line x1="${X(v)}" y1="${M.top}" x2="${X(v)}" y2="${M.top + ph}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${X(v)}" y="${M.top + ph + 16}" text-anchor="middle">${escapeXml(xf(v))}</text>`);
  }
  for (const v of yt) {
    parts.push(`<line x1="${M.left}" y1="${Y(v)}" x2="${M.left + pw}" y2="${Y(v)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${M.left - 6}" y="${Y(v)}" text-anchor="end" dominant-baseline="middle">${escapeXml(yf(v))}</text>`);
  }
  for (const g of o.yGuides ?? []) {
    if (g.y < y0 || g.y > y1) continue;
    parts.push(`<line x1="${M.left}" y1="${Y(g.y)}" x2="${M.left + pw}" y2="${Y(g.y)}" stroke="#999" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${M.left + 4}" y="${Number(Y(g.y)) - 3}" fill="#666">${escapeXml(g.label)}</text>`);
  }
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);

  // series and legend
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const ok = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.xLog || x > 0) && (!o.yLog || y > 0));
    if (ok.length > 0) {
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${ok.map(([x, y]) => `${X(x)},${Y(y)}`).join(' ')}"/>`);
      if (s.markers) for (const [x, y] of ok) parts.push(`<circle cx="${X(x)}" cy="${Y(y)}" r="3" fill="${color}"/>`);
    }
    const ly = M.top + 10 + i * 18;
    parts.push(`<line x1="${M.left + pw + 12}" y1="${ly}" x2="${M.left + pw + 32}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${M.left + pw + 38}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
