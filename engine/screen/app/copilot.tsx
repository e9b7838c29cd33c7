/**
 * The co-pilot's recommendation for one RFQ (docs/protocol.md § Co-pilot; the models in
 * docs/copilot.md). Every figure keeps the inputs it came from one click away ("inputs"), so the
 * trader can see why before sending. Fields the message lacks show as "—"; a new field still
 * appears under "all fields".
 */
import type { ComponentChildren } from 'preact';
import type { Msg } from './store.js';
import { Generic, RecordTable, Signed, fmtNum, fmtPx, fmtSize } from './ui.js';

type Rec = Record<string, any>;

function Inputs(p: { of: Rec | undefined }) {
  const inputs = p.of?.inputs as Record<string, unknown> | undefined;
  if (inputs === undefined || inputs === null || typeof inputs !== 'object') return null;
  return (
    <details class="inputs">
      <summary>inputs</summary>
      <Generic msg={inputs} depth={1} />
    </details>
  );
}

function Row(p: { label: string; of?: Rec; children: ComponentChildren }) {
  return (
    <tr>
      <th>{p.label}</th>
      <td>
        {p.children}
        <Inputs of={p.of} />
      </td>
    </tr>
  );
}

const pct = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : '—');
const bp = (x: unknown, d = 2) => (typeof x === 'number' && Number.isFinite(x) ? `${fmtNum(x, d)} bp` : '—');

export function CopilotView(p: { msg: Msg; decimals: number }) {
  const rec = (p.msg.rec ?? {}) as Rec;
  const d = p.decimals;
  const takenBy = typeof p.msg.takenBy === 'string' ? p.msg.takenBy : null;
  if (rec.ok === false) {
    return (
      <div data-copilot="none">
        <p class="muted">no recommendation: {String(rec.why ?? 'unavailable')} — price by hand</p>
        {takenBy !== null && <p class="urgent">taken over by {takenBy}</p>}
      </div>
    );
  }
  const c = (rec.client ?? {}) as Rec;
  return (
    <div data-copilot="rec">
      <p class="rec">
        recommended <b data-rec-price>{fmtPx(rec.price?.value, d)}</b> for <b data-rec-size>{fmtSize(rec.size?.value)}</b>
        {rec.size?.partial === true && <span class="urgent"> partial of {fmtSize(rec.requestedSize)}</span>}
        <span class="muted"> · {bp(rec.price?.distanceBps)} from mid{typeof rec.computedMs === 'number' ? ` · computed ${new Date(rec.computedMs).toLocaleTimeString()}` : ''}</span>
        {rec.price?.withinLimit === false && <span class="urgent"> · outside the client's limit</span>}
        {takenBy !== null && <span class="urgent"> · taken over by {takenBy}</span>}
      </p>
      <table class="grid copilot-figures">
        <tbody>
          <Row label="price" of={rec.price}>{fmtPx(rec.price?.value, d)} · half-spread {bp(rec.price?.halfSpreadBps)}</Row>
          <Row label="size" of={rec.size}>{fmtSize(rec.size?.value)}{rec.size?.partial ? ' (partial fill)' : ''}</Row>
          <Row label="confidence" of={rec.ci}>{fmtPx(rec.ci?.low, d)} – {fmtPx(rec.ci?.high, d)} (±{bp(rec.ci?.halfWidthBps)})</Row>
          <Row label="hedge impact" of={rec.impact}>{bp(rec.impact?.bps)} · cost <Signed v={rec.impact?.cost} /></Row>
          <Row label="hedge" of={rec.hedge}>
            {String(rec.hedge?.option ?? '—')} {rec.hedge?.side ?? ''} {fmtSize(rec.hedge?.residualNotional)} · cost {bp(rec.hedge?.expectedCostBps)} · risk {bp(rec.hedge?.riskBps)} · {fmtNum(rec.hedge?.horizonSec, 0)} s
            {rec.hedge?.reason !== undefined && <div class="muted small">{String(rec.hedge.reason)}</div>}
          </Row>
          <Row label="axe" of={rec.axe}>
            <span class={rec.axe?.withAxe ? 'pos' : 'neg'}>{rec.axe?.label === undefined ? '—' : `${rec.axe.label} the desk's axe`}</span>
          </Row>
          <Row label="P&L" of={rec.pnl}>
            spread <Signed v={rec.pnl?.spread} /> · hedge cost {fmtNum(rec.pnl?.hedgeCost, 0)} · at markout <Signed v={rec.pnl?.expectedAtMarkout} /> · inventory risk {fmtNum(rec.pnl?.inventoryRiskBefore, 0)} → {fmtNum(rec.pnl?.inventoryRiskAfter, 0)}
          </Row>
          <Row label="win probability" of={rec.win}>
            {pct(rec.win?.atRecommended)} at the recommendation ({String(rec.win?.model ?? '—')}, n={fmtNum(rec.win?.n, 0)})
            {Array.isArray(rec.win?.points) && (
              <span class="muted small"> · {(rec.win.points as Rec[]).map((w) => `${fmtPx(w.price, d)}: ${pct(w.p)}`).join(' · ')}</span>
            )}
          </Row>
          <Row label="scenarios" of={rec.scenarios}>
            {Array.isArray(rec.scenarios?.rows) ? (
              <table class="grid scenarios">
                <thead><tr><th>move</th><th>bp</th><th>unhedged</th><th>hedged</th></tr></thead>
                <tbody>
                  {(rec.scenarios.rows as Rec[]).map((r) => (
                    <tr key={String(r.name)}><td>{String(r.name)}</td><td class="num">{fmtNum(r.moveBps, 1)}</td><td class="num"><Signed v={r.pnlUnhedged} /></td><td class="num"><Signed v={r.pnlHedged} /></td></tr>
                  ))}
                </tbody>
              </table>
            ) : '—'}
          </Row>
          <Row label="client">
            {String(c.name ?? c.clientId ?? '—')} · T{String(c.tier ?? '?')}{c.effectiveTier != null && c.effectiveTier !== c.tier ? ` (effective T${c.effectiveTier})` : ''}
            {' '}· score {c.score ? fmtNum(c.score.score, 1) : '—'} · hit {pct(c.hitRatio)} of {fmtNum(c.quotedRfqs, 0)} · markout {bp(c.markoutBps, 1)}
            {c.override ? <span class="urgent"> · override T{c.override.tier}: {String(c.override.reason)}</span> : null}
            {Array.isArray(c.naturalInterest) && c.naturalInterest.length > 0 && (
              <div class="small">interest: {(c.naturalInterest as Rec[]).map((n) => `${n.side} ${n.instrument}${n.note ? ` (${n.note})` : ''}`).join('; ')}</div>
            )}
            {Array.isArray(c.agreements) && c.agreements.length > 0 && (
              <div class="small">agreements: {(c.agreements as Rec[]).map((a) => `${a.instrument ?? a.assetClass ?? 'all'} ${fmtNum(a.shadingBps, 2)} bp`).join('; ')}</div>
            )}
            {Array.isArray(c.recentTrades) && c.recentTrades.length > 0 && (
              <details class="inputs"><summary>recent trades ({c.recentTrades.length})</summary><RecordTable rows={c.recentTrades as Rec[]} /></details>
            )}
          </Row>
        </tbody>
      </table>
      <details class="inputs">
        <summary>all fields</summary>
        <Generic msg={rec} depth={1} />
      </details>
    </div>
  );
}
