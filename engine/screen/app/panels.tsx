/**
 * Panels whose messages come from other modules (P&L, hedging, risk, regime, co-pilot axes) and
 * the CRM scores. Each shows its data with its age, "not available to this seat or engine" when the engine
 * refused the request kind, or "no data yet" — never a blank box.
 */
import { useState } from 'preact/hooks';
import type { Connection } from './conn.js';
import { ActionLog } from './rfq.js';
import { TRADED_STATES, type Msg, type Store } from './store.js';
import { Generic, KindView, Panel, RecordTable, Signed, fmtNum } from './ui.js';

function newest(s: Store, kinds: readonly string[]): number | null {
  let at = 0;
  for (const k of kinds) at = Math.max(at, s.kinds.get(k)?.at ?? 0);
  return at === 0 ? null : at;
}

function kindsStartingWith(s: Store, prefix: string): string[] {
  return [...s.kinds.keys()].filter((k) => k.startsWith(prefix));
}

interface AxePosition {
  i: string;
  positionNotional: number;
  deskSide: string;
  clientSide: 'buy' | 'sell';
  size: number;
  source: string;
  note: string;
  candidates: Array<{ clientId: string; name: string; score: number; reasons: string[] }>;
}

/** The desk's positions to work and the likely takers of each; trader/admin can show the axe (a shaded price) to those clients. */
export function AxesPanel(p: { store: Store; conn: Connection; canAct: boolean }) {
  const s = p.store;
  const e = s.kinds.get('axes');
  const positions = (Array.isArray(e?.msg.positions) ? e!.msg.positions : null) as AxePosition[] | null;
  return (
    <Panel id="axes" title="Axes" at={newest(s, ['axes'])} staleMs={30_000}>
      {positions === null ? (
        <KindView kind="axes" entry={e} unsupported={s.unsupported.get('axes')} />
      ) : positions.length === 0 ? (
        <p class="muted" data-empty="axes">no position to work</p>
      ) : (
        <table class="grid" data-axes>
          <thead><tr><th>instrument</th><th>desk position</th><th>to work</th><th>likely {`takers`}</th><th /></tr></thead>
          <tbody>
            {positions.map((a) => (
              <tr key={`${a.i}|${a.clientSide}`} data-instrument={a.i}>
                <td title={a.note}>{a.i} <span class="muted small">{a.source}</span></td>
                <td class="num"><Signed v={a.positionNotional} /></td>
                <td>clients {a.clientSide} {fmtNum(a.size, 0)}</td>
                <td class="wrap">
                  {a.candidates.length === 0
                    ? <span class="muted">none found</span>
                    : a.candidates.map((c) => <div key={c.clientId} title={c.reasons.join('; ')}>{c.name} <span class="muted">{fmtNum(c.score, 2)} · {c.reasons.join('; ')}</span></div>)}
                </td>
                <td>
                  {p.canAct && a.candidates.length > 0 && (
                    <button type="button" data-action="axe_show"
                      onClick={() => p.conn.request({ t: 'axe_show', i: a.i, side: a.clientSide, clients: a.candidates.map((c) => c.clientId) }, `show the ${a.i} axe to ${a.candidates.length} client(s)`)}>
                      show
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {s.kinds.has('axe_shown') && <p class="small">last shown: <Generic msg={s.kinds.get('axe_shown')!.msg} /></p>}
      <ActionLogFor store={s} prefix="show the " />
    </Panel>
  );
}

/** The action log lines of one panel's actions. */
function ActionLogFor(p: { store: Store; prefix: string }) {
  const lines = p.store.log.filter((l) => l.text.startsWith(p.prefix)).slice(0, 3);
  if (lines.length === 0) return null;
  return <ul class="log">{lines.map((l, n) => <li key={n} class={l.level} data-code={l.code ?? ''}>{l.text}</li>)}</ul>;
}

/** RFQ trades seen by this screen; the desk takes the client's other side. */
function sessionTrades(s: Store) {
  return [...s.rfqs.values()].filter((r) => TRADED_STATES.has(r.state)).sort((a, b) => b.createdMs - a.createdMs).slice(0, 20);
}

export function PositionsPanel(p: { store: Store }) {
  const s = p.store;
  const trades = sessionTrades(s);
  return (
    <Panel id="positions" title="Positions and P&L" at={newest(s, ['positions', 'pnl'])} staleMs={15_000}>
      <h3>P&amp;L</h3>
      {s.kinds.get('pnl') !== undefined ? <PnlView msg={s.kinds.get('pnl')!.msg} /> : <KindView kind="pnl" entry={undefined} unsupported={s.unsupported.get('pnl')} />}
      <h3>Positions</h3>
      {s.kinds.get('positions') !== undefined ? <PositionsView msg={s.kinds.get('positions')!.msg} /> : <KindView kind="positions" entry={undefined} unsupported={s.unsupported.get('positions')} />}
      <h3>RFQ trades while this screen was open</h3>
      {trades.length === 0 ? (
        <p class="muted" data-empty="blotter">none yet</p>
      ) : (
        <table class="grid" data-blotter>
          <thead><tr><th>client</th><th>instrument</th><th>client side</th><th>desk qty</th><th>price</th><th>state</th></tr></thead>
          <tbody>
            {trades.map((r) => {
              const q = r.quoteSize ?? r.size;
              const desk = r.side === 'buy' ? -q : q;
              return (
                <tr key={r.rfqId} data-rfq={r.rfqId} data-state={r.state} data-instrument={r.i}>
                  <td>{r.client}</td><td>{r.i}</td><td class={r.side}>{r.side}</td>
                  <td class="num" data-desk-qty={desk}><Signed v={desk} /></td>
                  <td class="num">{fmtNum(r.price, 7)}</td><td>{r.state.replace('_', ' ')}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Panel>
  );
}

type Split = { spread: number; hedgeCost: number; markout: number; inventory: number; total: number; trades: number; hedgeFills: number };
const SPLIT_KEYS = ['spread', 'hedgeCost', 'markout', 'inventory', 'total', 'trades', 'hedgeFills'] as const;

/** The P&L split (docs/pnl.md): desk, unattributed, by tier / client / instrument, one row each. */
function PnlView(p: { msg: Msg }) {
  const m = p.msg as Record<string, any>;
  const rows: Array<[string, Split]> = [];
  if (m.desk) rows.push(['desk', m.desk]);
  if (m.unattributed) rows.push(['unattributed hedges', m.unattributed]);
  for (const r of (m.byTier ?? []) as Array<Split & { tier: number }>) rows.push([`tier ${r.tier}`, r]);
  for (const r of (m.byClient ?? []) as Array<Split & { clientId: string }>) rows.push([r.clientId, r]);
  for (const r of (m.byInstrument ?? []) as Array<Split & { instrument: string }>) rows.push([r.instrument, r]);
  return (
    <div data-pnl>
      <p>
        desk total today <b data-desk-total={m.deskTotal}><Signed v={m.deskTotal} /></b> {String(m.currency ?? '')}
        {typeof m.dayStartMs === 'number' && <span class="muted"> · day from {new Date(m.dayStartMs).toLocaleString()}</span>}
      </p>
      <table class="grid">
        <thead><tr><th /> {SPLIT_KEYS.map((k) => <th key={k} class="num">{k}</th>)}</tr></thead>
        <tbody>
          {rows.map(([name, r]) => (
            <tr key={name}><td>{name}</td>{SPLIT_KEYS.map((k) => <td key={k} class="num">{k === 'trades' || k === 'hedgeFills' ? fmtNum(r[k], 0) : <Signed v={r[k]} />}</td>)}</tr>
          ))}
        </tbody>
      </table>
      {Array.isArray(m.trades) && m.trades.length > 0 && (
        <details><summary>recent trades ({m.trades.length})</summary><RecordTable rows={m.trades} /></details>
      )}
    </div>
  );
}

/** The risk ledger (docs/pnl.md): per instrument, then buckets. */
function PositionsView(p: { msg: Msg }) {
  const m = p.msg as Record<string, any>;
  const ins = (m.instruments ?? []) as Array<Record<string, any>>;
  return (
    <div data-positions>
      {ins.length === 0 ? <p class="muted">flat</p> : (
        <table class="grid">
          <thead><tr><th>instrument</th><th class="num">position</th><th class="num">mark</th><th class="num">value</th><th>measure</th><th class="num">risk</th><th>proxy</th></tr></thead>
          <tbody>
            {ins.map((r) => (
              <tr key={String(r.instrument)} data-instrument={r.instrument} data-position={r.position}>
                <td>{String(r.instrument)}</td><td class="num"><Signed v={r.position} /></td><td class="num">{fmtNum(r.mark, 6)}</td>
                <td class="num"><Signed v={r.value} /></td><td>{String(r.measure ?? '')}</td><td class="num"><Signed v={r.risk} /></td><td>{r.proxy ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <details><summary>by asset class, issuer, proxy</summary><Generic msg={{ byAssetClass: m.byAssetClass, byIssuer: m.byIssuer, byProxy: m.byProxy }} depth={1} /></details>
    </div>
  );
}

/**
 * Working hedges (docs/protocol.md § Hedging): the router's working plans with their child orders,
 * and its newest decisions (the `hedges` answer, plus `hedge_decision` pushes, newest first).
 */
export function HedgesPanel(p: { store: Store }) {
  const s = p.store;
  const e = s.kinds.get('hedges');
  const kinds = ['hedges', 'hedge_decision'];
  if (e === undefined) {
    return (
      <Panel id="hedges" title="Working hedges" at={newest(s, kinds)} staleMs={15_000}>
        <KindView kind="hedges" entry={undefined} unsupported={s.unsupported.get('hedges')} />
      </Panel>
    );
  }
  const plans = (e.msg.plans ?? []) as Array<Record<string, any>>;
  // pushed decisions newer than the last answer come first
  const pushed = s.hedgeDecisions.filter((d) => (d.ts ?? 0) > Math.max(0, ...((e.msg.decisions ?? []) as Array<Record<string, any>>).map((x) => x.ts ?? 0)));
  const decisions = [...pushed, ...((e.msg.decisions ?? []) as Array<Record<string, any>>)].slice(0, 10);
  return (
    <Panel id="hedges" title={`Working hedges · ${plans.length} plan${plans.length === 1 ? '' : 's'}`} at={newest(s, kinds)} staleMs={15_000}>
      <div data-hedges>
        {plans.length === 0 ? <p class="muted" data-empty="plans">no working plan</p> : (
          <table class="grid">
            <thead><tr><th>instrument</th><th>option</th><th>hedge in</th><th>side</th><th class="num">qty</th><th class="num">filled</th><th>slices</th><th>state</th><th>children</th></tr></thead>
            <tbody>
              {plans.map((pl) => (
                <tr key={String(pl.planId)} data-plan={pl.planId} title={String(pl.planId)}>
                  <td>{String(pl.instrument)}</td><td>{String(pl.option)}</td><td>{String(pl.hedgeInstrument ?? '—')}</td><td>{String(pl.side ?? '—')}</td>
                  <td class="num">{fmtNum(pl.qty, 0)}</td><td class="num">{fmtNum(pl.filled, 0)}</td><td>{fmtNum(pl.nextSlice, 0)}/{fmtNum(pl.slices, 0)}</td>
                  <td>{String(pl.state)}{typeof pl.holdUntilMs === 'number' ? ` until ${new Date(pl.holdUntilMs).toLocaleTimeString()}` : ''}</td>
                  <td class="wrap">{((pl.children ?? []) as Array<Record<string, any>>).map((c) => `${c.venue} ${c.side} ${fmtNum(c.size, 0)} ${c.state}${c.filled ? ` (${fmtNum(c.filled, 0)} filled)` : ''}`).join('; ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <h3>Decisions</h3>
        {decisions.length === 0 ? <p class="muted" data-empty="decisions">none yet</p> : (
          <table class="grid">
            <thead><tr><th>time</th><th>instrument</th><th>kind</th><th>choice</th><th class="num">residual</th><th>why</th></tr></thead>
            <tbody>
              {decisions.map((d) => (
                <tr key={String(d.planId)} data-decision={d.instrument}>
                  <td>{typeof d.ts === 'number' ? new Date(d.ts).toLocaleTimeString() : '—'}</td><td>{String(d.instrument)}</td><td>{String(d.kind)}</td><td>{String(d.choice)}</td>
                  <td class="num"><Signed v={d.residualNotional} /></td><td class="wrap small">{String(d.reasonText ?? '')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </Panel>
  );
}

interface ScoreRow {
  clientId: string;
  name: string;
  tier: number;
  effectiveTier: number | null;
  override: { tier: number; expiresAtMs: number; reason?: string } | null;
  score: { score: number; components: Record<string, number>; proposedTier: number; trades: number } | null;
}

export function ClientsPanel(p: { store: Store; role: string; conn: Connection }) {
  const s = p.store;
  const e = s.kinds.get('scores');
  const rows = (e?.msg.clients ?? []) as ScoreRow[];
  const [client, setClient] = useState('');
  const [tier, setTier] = useState('1');
  const [days, setDays] = useState('7');
  const [why, setWhy] = useState('');
  // docs/protocol.md § Trader messages: crm_override, rm and admin roles; the answer re-tiers the client live
  const override = (clear: boolean) => {
    const id = client.trim();
    const msg: Record<string, unknown> = clear
      ? { t: 'crm_override', clientId: id, tier: null }
      : { t: 'crm_override', clientId: id, tier: Number(tier), reason: why.trim(), expiresAtMs: Date.now() + Math.round(Number(days) * 86_400_000) };
    if (p.conn.request(msg, `${clear ? 'clear override of' : `override to tier ${tier} for`} ${id}`)) p.conn.request({ t: 'scores' }, 'reload client scores', undefined, true);
  };
  return (
    <Panel id="clients" title="Clients" at={e?.at ?? null} staleMs={30_000}>
      {e === undefined ? (
        <KindView kind="scores" entry={undefined} unsupported={s.unsupported.get('scores')} />
      ) : (
        <table class="grid" data-clients>
          <thead>
            <tr><th>client</th><th>score</th><th title="volume · profitability · flow quality · diversification (0–1)">vol · prof · flow · div</th><th>trades</th><th>record tier</th><th>proposed</th><th>effective</th><th>override</th></tr>
          </thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.clientId} data-client={c.clientId}>
                <td title={c.clientId}>{c.name}</td>
                <td class="num">{c.score === null ? <span class="muted">no trades yet</span> : fmtNum(c.score.score, 1)}</td>
                <td class="num">{c.score === null ? '—' : ['volume', 'profitability', 'flowQuality', 'diversification'].map((k) => fmtNum(c.score!.components[k], 2)).join(' · ')}</td>
                <td class="num">{c.score?.trades ?? 0}</td>
                <td class="num">{c.tier}</td>
                <td class="num">{c.score?.proposedTier ?? '—'}</td>
                <td class={c.effectiveTier !== c.tier ? 'num changed' : 'num'}>{c.effectiveTier ?? '—'}</td>
                <td>{c.override === null ? '—' : `T${c.override.tier} until ${new Date(c.override.expiresAtMs).toLocaleString()}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {p.role === 'rm' || p.role === 'admin' ? (
        <form class="actions" data-override onSubmit={(ev) => { ev.preventDefault(); override(false); }}>
          <label>
            client
            <select name="override-client" value={client} onChange={(ev) => setClient((ev.target as HTMLSelectElement).value)}>
              <option value="">—</option>
              {rows.map((c) => <option key={c.clientId} value={c.clientId}>{c.clientId}</option>)}
            </select>
          </label>
          <label>
            tier
            <select name="override-tier" value={tier} onChange={(ev) => setTier((ev.target as HTMLSelectElement).value)}>
              {['1', '2', '3'].map((t) => <option key={t} value={t}>{t}</option>)}
            </select>
          </label>
          <label>
            days
            <input name="override-days" value={days} size={3} onInput={(ev) => setDays((ev.target as HTMLInputElement).value)} />
          </label>
          <label>
            reason
            <input name="override-reason" value={why} onInput={(ev) => setWhy((ev.target as HTMLInputElement).value)} />
          </label>
          <button type="submit" data-action="override" disabled={client === ''}>Override</button>
          <button type="button" data-action="clear-override" disabled={client === ''} onClick={() => override(true)}>Clear</button>
        </form>
      ) : null}
    </Panel>
  );
}

const LEVELS = ['global', 'tier', 'instrument', 'client'] as const;

export function ControlsPanel(p: { store: Store; conn: Connection }) {
  const s = p.store;
  const [level, setLevel] = useState<(typeof LEVELS)[number]>('client');
  const [target, setTarget] = useState('');
  const [reason, setReason] = useState('');
  // risk_ack answers a command (shown in the action log); risk_state is the state it leads to
  const kinds = ['risk_state', 'regimes', 'regime', ...kindsStartingWith(s, 'throttle')];
  const act = (t: 'kill' | 'release') => {
    // docs/protocol.md § Risk controls: {t, scope:{level, target?}, reason}; the reason is audited
    const scope: Record<string, unknown> = level === 'global' ? { level } : { level, target: target.trim() };
    const why = reason.trim() === '' ? `${t} from the trader screen` : reason.trim();
    p.conn.request({ t, scope, reason: why }, `${t} ${level}${level === 'global' ? '' : ' ' + target.trim()}`);
  };
  return (
    <Panel id="controls" title="Controls" at={newest(s, kinds)} staleMs={15_000}>
      <form class="actions" onSubmit={(e) => e.preventDefault()}>
        <label>
          level
          <select name="level" value={level} onChange={(e) => setLevel((e.target as HTMLSelectElement).value as (typeof LEVELS)[number])}>
            {LEVELS.map((l) => <option key={l} value={l}>{l}</option>)}
          </select>
        </label>
        <label>
          target
          <input name="target" value={target} disabled={level === 'global'} placeholder="tier 1–3, instrument or client id" onInput={(e) => setTarget((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          reason
          <input name="kill-reason" value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
        </label>
        <button type="button" class="danger" data-action="kill" onClick={() => act('kill')}>Kill</button>
        <button type="button" data-action="release" onClick={() => act('release')}>Release</button>
      </form>
      <ActionLog store={s} />
      {kinds.filter((k) => s.kinds.has(k) || k === 'risk_state' || k === 'regimes').map((k) => (
        <div key={k}>
          <h3>{k}</h3>
          <KindView kind={k} entry={s.kinds.get(k)} unsupported={s.unsupported.get(k === 'risk_state' ? 'risk_status' : k)} />
        </div>
      ))}
    </Panel>
  );
}

/** One line per message kind the screen does not place in a panel: nothing the engine says is hidden. */
export function OtherPanel(p: { store: Store; placed: ReadonlySet<string> }) {
  const s = p.store;
  const rest = [...s.kinds.entries()].filter(([k]) => !p.placed.has(k) && !k.startsWith('hedge') && !k.startsWith('throttle'));
  if (rest.length === 0) return null;
  return (
    <Panel id="other" title="Other engine messages" at={Math.max(...rest.map(([, e]) => e.at))}>
      {rest.map(([k, e]) => (
        <details key={k}>
          <summary>{k}</summary>
          <RecordTable rows={[e.msg as Msg]} />
        </details>
      ))}
    </Panel>
  );
}
