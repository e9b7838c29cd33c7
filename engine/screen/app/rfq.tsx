/**
 * RFQ queue, co-pilot and the trader's ticket. Keyboard-first (docs/trader-screen.md):
 *   ↑/↓ or k/j select · Enter send the recommendation as is · a adjust (price field; Enter sends)
 *   r reject (reason field; Enter sends) · t take over · Esc leave a field
 * The screen never decides: every action is a protocol request, and a refusal comes back as a
 * coded `rejected` shown in the action log under the ticket.
 */
import type { Ref } from 'preact';
import type { Connection } from './conn.js';
import { ACTIONABLE_STATES, type Msg, type RfqView, type Store } from './store.js';
import { CopilotView } from './copilot.js';
import { Panel, decimalsFor, fmtAge, fmtPx, fmtSize } from './ui.js';

export interface Ticket {
  rfqId: string;
  price: string;
  size: string;
  reason: string;
}

export function activeRfqs(s: Store): RfqView[] {
  return [...s.rfqs.values()].filter((r) => ACTIONABLE_STATES.has(r.state)).sort((a, b) => a.createdMs - b.createdMs);
}

/** Accepted, being booked, or finished: shown, not selectable. */
function recentRfqs(s: Store): RfqView[] {
  return [...s.rfqs.values()].filter((r) => !ACTIONABLE_STATES.has(r.state)).sort((a, b) => b.createdMs - a.createdMs).slice(0, 8);
}

/** The co-pilot's recommended price and size (`rec.price.value`, `rec.size.value`; docs/protocol.md § Co-pilot). */
export function recommendation(cp: Msg | undefined): { price?: number; size?: number } {
  if (cp === undefined) return {};
  const rec = cp.rec as Record<string, any> | undefined;
  if (rec === undefined || rec === null || typeof rec !== 'object' || rec.ok === false) return {};
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  return { price: num(rec.price?.value ?? rec.price), size: num(rec.size?.value ?? rec.size) };
}

/** Without a co-pilot figure: the streamed price for the band covering the size, on the client's side. */
export function ladderPrice(s: Store, r: RfqView): number | undefined {
  // the client's own tier's ladder (a desk socket streams every tier), else this seat's
  const f = s.frame(r.i, r.tier) ?? s.frame(r.i, s.hello?.tier ?? 1);
  if (f === undefined || f.l.length === 0) return undefined;
  const band = f.l.find(([sz]) => sz >= r.size) ?? f.l[f.l.length - 1];
  return r.side === 'buy' ? band[2] : band[1];
}

export function defaultTicket(s: Store, r: RfqView): Ticket {
  const rec = recommendation(s.copilot.get(r.rfqId));
  const d = decimalsFor(s.tickOf(r.i, r.tier));
  const px = rec.price ?? ladderPrice(s, r);
  return { rfqId: r.rfqId, price: px === undefined ? '' : px.toFixed(d), size: String(rec.size ?? r.size), reason: '' };
}

export function RfqPanel(p: {
  store: Store;
  conn: Connection;
  selected: string | null;
  onSelect: (id: string) => void;
  ticket: Ticket | null;
  setTicket: (t: Ticket) => void;
  priceRef: Ref<HTMLInputElement>;
  reasonRef: Ref<HTMLInputElement>;
  canAct: boolean;
  send: (kind: 'quote' | 'reject' | 'take', asIs?: boolean) => void;
}) {
  const s = p.store;
  const now = s.serverNow();
  const active = activeRfqs(s);
  const sel = p.selected === null ? undefined : s.rfqs.get(p.selected);
  return (
    <Panel id="rfq" title={`RFQ queue · ${active.length} open`} at={s.rfqsAt || null} staleMs={60_000}>
      {!p.canAct && <p class="muted">this role cannot work RFQs (trader or admin only)</p>}
      {active.length === 0 ? (
        <p class="muted" data-empty="rfq">{s.rfqsAt === 0 ? 'no data yet' : 'queue empty'}</p>
      ) : (
        <table class="grid rfqs">
          <thead>
            <tr><th>client</th><th>T</th><th>side</th><th>size</th><th>instrument</th><th>state</th><th>expires in</th><th>price</th></tr>
          </thead>
          <tbody>
            {active.map((r) => {
              const until = r.state === 'quoted' ? r.validUntil : r.deadlineMs;
              const left = until === null ? null : until - now;
              return (
                <tr key={r.rfqId} data-rfq={r.rfqId} data-state={r.state} class={r.rfqId === p.selected ? 'sel' : ''} onClick={() => p.onSelect(r.rfqId)}>
                  <td>{r.client}</td>
                  <td>{r.tier}</td>
                  <td class={r.side}>{r.side}</td>
                  <td class="num">{fmtSize(r.size)}</td>
                  <td>{r.i}</td>
                  <td title={r.regime ?? undefined}>{r.state}{r.reason !== null && <span class="reason"> {r.reason}</span>}{s.taken.has(r.rfqId) && <span class="urgent"> held by {s.taken.get(r.rfqId)}</span>}</td>
                  <td class={left !== null && left < 5_000 ? 'num urgent' : 'num'} data-countdown>{left === null ? '—' : left <= 0 ? 'expiring' : fmtAge(left)}</td>
                  <td class="num">{fmtPx(r.price, decimalsFor(s.tickOf(r.i)))}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {sel !== undefined && p.ticket !== null && p.ticket.rfqId === sel.rfqId && (
        <TicketView {...p} rfq={sel} ticket={p.ticket} />
      )}
      <ActionLog store={s} />
      {recentRfqs(s).length > 0 && (
        <details class="recent" open>
          <summary>recent ({recentRfqs(s).length})</summary>
          <table class="grid">
            <tbody>
              {recentRfqs(s).map((r) => (
                <tr key={r.rfqId} data-rfq={r.rfqId} data-state={r.state}>
                  <td>{r.client}</td><td class={r.side}>{r.side}</td><td class="num">{fmtSize(r.size)}</td><td>{r.i}</td><td>{r.state}</td>
                  <td class="num">{fmtPx(r.price, decimalsFor(s.tickOf(r.i)))}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </Panel>
  );
}

function TicketView(p: Parameters<typeof RfqPanel>[0] & { rfq: RfqView; ticket: Ticket }) {
  const s = p.store;
  const r = p.rfq;
  const t = p.ticket;
  const cp = s.copilot.get(r.rfqId);
  const rec = recommendation(cp);
  const tick = s.tickOf(r.i, r.tier);
  const d = decimalsFor(tick);
  const onPriceKey = (e: KeyboardEvent) => {
    if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
      e.preventDefault();
      const v = Number(t.price);
      if (!(tick > 0) || !Number.isFinite(v)) return;
      const n = Math.round(v / tick) + (e.key === 'ArrowUp' ? 1 : -1);
      p.setTicket({ ...t, price: (n * tick).toFixed(d) });
    }
  };
  return (
    <div class="ticket" data-ticket={r.rfqId}>
      <p class="muted">
        {r.client} (T{r.tier}) {r.side === 'buy' ? 'buys' : 'sells'} {fmtSize(r.size)} {r.i}{r.limit !== null ? ` limit ${fmtPx(r.limit, d)}` : ''} · queued: {r.reason ?? '—'}
        {r.regime ? <span class="urgent"> · {r.regime}</span> : null}
      </p>
      <div class="copilot" data-panel-part="copilot">
        <h3>Co-pilot</h3>
        {cp === undefined ? (
          <p class="muted" data-empty="copilot">no data yet for this RFQ; ticket prefilled from the client's tier's streamed ladder</p>
        ) : (
          <CopilotView msg={cp} decimals={d} />
        )}
        {rec.price === undefined && cp !== undefined && <p class="muted small">ticket prefilled from the client's tier's streamed ladder</p>}
      </div>
      {p.canAct && (
        <form class="actions" onSubmit={(e) => e.preventDefault()}>
          <label>
            price
            <input ref={p.priceRef} name="price" value={t.price} inputMode="decimal" onInput={(e) => p.setTicket({ ...t, price: (e.target as HTMLInputElement).value })}
              onKeyDown={(e) => { onPriceKey(e); if (e.key === 'Enter') { e.preventDefault(); p.send('quote'); } }} />
          </label>
          <label>
            size
            <input name="size" value={t.size} inputMode="numeric" onInput={(e) => p.setTicket({ ...t, size: (e.target as HTMLInputElement).value })}
              onKeyDown={(e) => { if (e.key === 'Enter') { e.preventDefault(); p.send('quote'); } }} />
          </label>
          <button type="button" data-action="send" onClick={() => p.send('quote')}>Send <kbd>Enter</kbd></button>
          <label>
            reason
            <input ref={p.reasonRef} name="reason" value={t.reason} maxLength={200} onInput={(e) => p.setTicket({ ...t, reason: (e.target as HTMLInputElement).value })}
              onKeyDown={(e) => { if (e.key === 'Enter') { e.preventDefault(); p.send('reject'); } }} />
          </label>
          <button type="button" data-action="reject" onClick={() => p.send('reject')}>Reject <kbd>r</kbd></button>
          <button type="button" data-action="take" onClick={() => p.send('take')}>Take over <kbd>t</kbd></button>
        </form>
      )}
    </div>
  );
}

export function ActionLog(p: { store: Store }) {
  const lines = p.store.log.slice(0, 6);
  if (lines.length === 0) return null;
  return (
    <ul class="log" data-log>
      {lines.map((l, n) => (
        <li key={n} class={l.level} data-code={l.code ?? ''}>
          <span class="muted">{new Date(l.at).toLocaleTimeString()}</span> {l.text}
        </li>
      ))}
    </ul>
  );
}

export function sendAction(s: Store, conn: Connection, r: RfqView, t: Ticket, kind: 'quote' | 'reject' | 'take', asIs = false): void {
  if (kind === 'take') {
    conn.request({ t: 'rfq_take', rfqId: r.rfqId }, `take over ${r.rfqId}`, r.rfqId);
    return;
  }
  if (kind === 'reject') {
    const reason = t.reason.trim() === '' ? 'declined by the desk' : t.reason.trim();
    conn.request({ t: 'reject', rfqId: r.rfqId, reason }, `reject ${r.rfqId}`, r.rfqId);
    return;
  }
  const tk = asIs ? defaultTicket(s, r) : t;
  const price = Number(tk.price);
  const size = Number(tk.size);
  if (tk.price.trim() === '' || !Number.isFinite(price) || tk.size.trim() === '' || !Number.isFinite(size)) {
    s.addLog({ level: 'error', text: `quote ${r.rfqId}: price and size must be numbers`, rfqId: r.rfqId });
    return;
  }
  // sent as typed: the engine checks sign, lots, grid and collar and answers with a coded rejection
  if (conn.request({ t: 'quote', rfqId: r.rfqId, price, size }, `quote ${r.rfqId} ${fmtSize(size)} @ ${tk.price}`, r.rfqId)) {
    s.addLog({ level: 'info', text: `sent quote ${r.client} ${r.i} ${fmtSize(size)} @ ${tk.price}`, rfqId: r.rfqId });
  }
}
