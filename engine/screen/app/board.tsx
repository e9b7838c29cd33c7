/** Quote board (one row per instrument: state, ladder, breakdown, age) and the live chart of the selected instrument. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { QuoteFrame, Store } from './store.js';
import { Panel, decimalsFor, fmtAge, fmtNum, fmtPx, fmtSize } from './ui.js';

const STATE_WORDS: Record<string, string> = {
  '': '',
  no_data: 'no data',
  stale: 'stale feed',
  thin: 'thin (too few venues)',
  quarantined: 'quarantined (sequence)',
  disconnected: 'broker disconnected',
  gate: 'final gate',
  pricer: 'pricer fault',
  killed: 'kill switch',
  regime: 'stressed regime',
  risk_limit: 'risk limit',
};
/** a firm row whose ladder is older than this is flagged: the engine re-prices on every tick, so silence means a quiet or stuck feed */
const ROW_OLD_MS = 5_000;

export function QuoteBoard(p: { store: Store; filter: string; selected: string | null; onSelect: (i: string) => void }) {
  const s = p.store;
  const ids = (s.hello?.instruments ?? []).filter((i) => p.filter === '' || i.toLowerCase().includes(p.filter.toLowerCase()));
  const tiers = s.tiers();
  const now = s.serverNow();
  return (
    <Panel
      id="board"
      title={`Quote board · tier${tiers.length > 1 ? 's' : ''} ${tiers.join(', ')}`}
      at={s.quotesAt || null}
      staleMs={3_000}
      extra={tiers.length === 1 ? <span class="muted small">this engine streams only this seat's tier to a desk socket</span> : undefined}
    >
      {s.hello === null ? (
        <p class="muted">no data yet (not connected)</p>
      ) : (
        <table class="grid board">
          <thead>
            <tr>
              <th>instrument</th>
              <th>tier</th>
              <th>state</th>
              <th>mid</th>
              <th title="band-0 breakdown, bps: base half-spread, volatility, hedge cost, inventory skew, signal">base · vol · hedge · skew · signal (bp)</th>
              <th>age</th>
              <th>ladder: size bid / ask</th>
            </tr>
          </thead>
          {ids.map((i) => (
            <tbody key={i} class={p.selected === i ? 'sel' : ''} onClick={() => p.onSelect(i)}>
              {tiers.map((tr, n) => (
                <Row key={tr} i={i} tr={tr} first={n === 0} f={s.frame(i, tr)} tick={s.tickOf(i, tr)} now={now} regime={n === 0 ? s.regimes.get(i) : undefined} />
              ))}
            </tbody>
          ))}
        </table>
      )}
    </Panel>
  );
}

function Row(p: { i: string; tr: number; first: boolean; f: QuoteFrame | undefined; tick: number; now: number; regime?: { regime: string; reason: string } }) {
  const f = p.f;
  const name = (
    <td class={p.first ? 'ins' : 'ins cont'}>
      {p.first ? p.i : ''}
      {p.regime !== undefined && <div class={`regime ${p.regime.regime}`} data-regime={p.regime.regime} title={p.regime.reason}>{p.regime.regime}</div>}
    </td>
  );
  if (f === undefined) {
    return (
      <tr data-instrument={p.i} data-tier={p.tr} data-state="none">
        {name}
        <td class="num">T{p.tr}</td>
        <td class="muted" colSpan={5}>no data yet</td>
      </tr>
    );
  }
  const d = decimalsFor(p.tick);
  const age = p.now - f.ts;
  const old = f.st === 'firm' && age > ROW_OLD_MS;
  return (
    <tr data-instrument={p.i} data-tier={p.tr} data-state={f.st} data-reason={f.rs}>
      {name}
      <td class="num">T{p.tr}</td>
      <td>
        <span class={`st ${f.st}`}>{f.st}</span>
        {f.rs !== '' && <span class="reason"> {STATE_WORDS[f.rs] ?? f.rs}</span>}
      </td>
      <td class="num">{f.mid > 0 ? fmtPx(f.mid, d + 1) : '—'}</td>
      <td class="num bd">{f.bd.map((x) => fmtNum(x, 2)).join(' · ')}</td>
      <td class={old ? 'num stale' : 'num'}>{fmtAge(Math.max(0, age))}</td>
      <td class="ladder">
        {f.l.length === 0
          ? <span class="muted">no prices</span>
          : f.l.map(([sz, b, a]) => (
              <span class="band" key={sz}>
                <b>{fmtSize(sz)}</b> {fmtPx(b, d)} / {fmtPx(a, d)}
              </span>
            ))}
      </td>
    </tr>
  );
}

const MAX_POINTS = 600;
const TIER_COLOURS = ['#4caf50', '#64b5f6', '#ffb300'];

interface Series {
  i: string | null;
  /** sq per tier at the last sample */
  sq: number[];
  x: number[];
  /** [mid, T1 bid, T1 ask, T2 bid, T2 ask, T3 bid, T3 ask] */
  ys: number[][];
}
const emptySeries = (i: string | null): Series => ({ i, sq: [-1, -1, -1], x: [], ys: [[], [], [], [], [], [], []] });

/**
 * uPlot chart of the selected instrument: composite mid and each tier's band-0 bid/ask. It
 * samples the newest frames at the view's refresh rate (≤ 10/s) instead of plotting every tick:
 * at 10k ticks/s the chart costs the same as at 10.
 */
export function Chart(p: { store: Store; instrument: string | null; version: number }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = useRef<Series>(emptySeries(null));
  /** decimals of the charted instrument's prices, read by the y axis formatter */
  const decimals = useRef(5);
  decimals.current = p.instrument === null ? 5 : decimalsFor(p.store.tickOf(p.instrument, 1)) + 1;

  useEffect(() => {
    if (el.current === null) return;
    const series: uPlot.Series[] = [{}, { label: 'mid', stroke: '#e0e0e0', width: 1.5 }];
    for (let t = 1; t <= 3; t++) {
      series.push({ label: `T${t} bid`, stroke: TIER_COLOURS[t - 1], width: 1 });
      series.push({ label: `T${t} ask`, stroke: TIER_COLOURS[t - 1], width: 1, dash: [4, 3] });
    }
    const u = new uPlot(
      {
        width: Math.max(300, el.current.clientWidth),
        height: 220,
        legend: { show: true },
        scales: { x: { time: true } },
        series,
        axes: [
          { stroke: '#aaa', grid: { stroke: '#333' } },
          { stroke: '#aaa', grid: { stroke: '#333' }, size: 90, values: (_u, splits) => splits.map((v) => v.toFixed(decimals.current)) },
        ],
      },
      [[], [], [], [], [], [], [], []],
      el.current,
    );
    plot.current = u;
    const onResize = () => el.current && u.setSize({ width: Math.max(300, el.current.clientWidth), height: 220 });
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      u.destroy();
      plot.current = null;
    };
  }, []);

  // runs on every view refresh (version), i.e. at most ~10/s
  useEffect(() => {
    if (data.current.i !== p.instrument) data.current = emptySeries(p.instrument);
    const d = data.current;
    const frames = p.instrument === null ? undefined : p.store.quotes.get(p.instrument);
    if (frames === undefined) return;
    let changed = false;
    let ts = 0;
    let mid = NaN;
    for (let t = 0; t < 3; t++) {
      const f = frames[t];
      if (f === undefined) continue;
      if (f.sq !== d.sq[t]) changed = true;
      d.sq[t] = f.sq;
      if (f.ts > ts) {
        ts = f.ts;
        mid = f.mid > 0 ? f.mid : NaN;
      }
    }
    if (!changed) return;
    d.x.push(ts / 1000);
    d.ys[0].push(mid);
    for (let t = 0; t < 3; t++) {
      const f = frames[t];
      const band = f !== undefined && f.l.length > 0 ? f.l[0] : undefined;
      d.ys[1 + 2 * t].push(band === undefined ? NaN : band[1]);
      d.ys[2 + 2 * t].push(band === undefined ? NaN : band[2]);
    }
    if (d.x.length > MAX_POINTS) for (const a of [d.x, ...d.ys]) a.splice(0, a.length - MAX_POINTS);
    plot.current?.setData([d.x, ...d.ys] as unknown as uPlot.AlignedData);
  }, [p.version, p.instrument]);

  const at = p.instrument === null ? undefined : p.store.quoteRx.get(p.instrument);
  return (
    <Panel id="chart" title={`Chart · ${p.instrument ?? 'select an instrument'}`} at={at ?? null} staleMs={3_000}
      extra={<span class="muted small">composite mid, band-0 bid/ask per tier; sampled ≤ 10/s</span>}>
      <div ref={el} class="chart" />
      {p.instrument === null && <p class="muted">no data yet: click a board row (or [ / ]) to chart it</p>}
    </Panel>
  );
}
