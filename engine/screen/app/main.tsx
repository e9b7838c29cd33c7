/**
 * Trader screen entry: reads the token from the page URL (then removes it from the address bar),
 * opens the one WebSocket and renders the panels. Rendering is decoupled from the socket: the
 * store is mutated per frame, the view refreshes at most every REFRESH_MS when something changed
 * (and every AGE_MS anyway, so ages and countdowns move). That is what keeps the screen smooth at
 * 10k ticks/s: the cost per tick is one Map.set.
 */
import 'uplot/dist/uPlot.min.css';
import './app.css';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Chart, QuoteBoard } from './board.js';
import { Connection } from './conn.js';
import { AxesPanel, ClientsPanel, ControlsPanel, HedgesPanel, OtherPanel, PositionsPanel } from './panels.js';
import { RfqPanel, activeRfqs, defaultTicket, sendAction, type Ticket } from './rfq.js';
import { Store } from './store.js';
import { fmtAge } from './ui.js';

const REFRESH_MS = 100;
const AGE_MS = 500;
/** kinds placed in a named panel; the rest go to "Other engine messages" */
const PLACED: ReadonlySet<string> = new Set(['scores', 'crm_override', 'axes', 'positions', 'pnl', 'hedges', 'risk_state', 'risk_ack', 'regimes', 'regime', 'axe_shown', 'copilot_closed', 'rfq_taken', 'hedges', 'hedge_decision']);

const params = new URLSearchParams(location.search);
const token = params.get('token') ?? sessionStorage.getItem('qe.token') ?? '';
if (params.has('token')) {
  // keep it for reloads of this tab only, and out of the address bar, history and screenshots
  sessionStorage.setItem('qe.token', token);
  params.delete('token');
  const q = params.toString();
  history.replaceState(null, '', location.pathname + (q === '' ? '' : `?${q}`) + location.hash);
}
const json = params.get('format') === 'json';
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;

const store = new Store();
/** view refreshes since load (exposed for the browser test: it must stay ~10/s whatever the tick rate) */
let renders = 0;
(window as unknown as { qeScreen: object }).qeScreen = { renders: () => renders, frames: () => store.frames };
const conn = new Connection(store, wsUrl, token, json);

function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  return t !== null && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA');
}

function App() {
  const [version, setVersion] = useState(0);
  const [filter, setFilter] = useState('');
  const [chartI, setChartI] = useState<string | null>(null);
  const [selRfq, setSelRfq] = useState<string | null>(null);
  const [ticket, setTicket] = useState<Ticket | null>(null);
  const [help, setHelp] = useState(false);
  const priceRef = useRef<HTMLInputElement>(null);
  const reasonRef = useRef<HTMLInputElement>(null);
  const filterRef = useRef<HTMLInputElement>(null);
  const asked = useRef(new Set<string>());
  /** RFQs whose ticket the trader edited: co-pilot updates no longer overwrite it */
  const touched = useRef(new Set<string>());

  useEffect(() => {
    let last = 0;
    const id = window.setInterval(() => {
      const now = Date.now();
      if (store.dirty || now - last >= AGE_MS) {
        store.dirty = false;
        last = now;
        renders++;
        setVersion((v) => v + 1);
      }
    }, REFRESH_MS);
    return () => window.clearInterval(id);
  }, []);

  const role = store.hello?.role ?? '';
  const active = activeRfqs(store);
  // keep a selection: the oldest open RFQ when none (or the selected one finished)
  const selected = selRfq !== null && active.some((r) => r.rfqId === selRfq) ? selRfq : (active[0]?.rfqId ?? null);
  const selView = selected === null ? undefined : store.rfqs.get(selected);
  useEffect(() => {
    if (selView === undefined) return;
    if (ticket === null || ticket.rfqId !== selView.rfqId) setTicket(defaultTicket(store, selView));
    // the co-pilot pushes its figures; ask once in case this screen connected after the push
    if (!store.copilot.has(selView.rfqId) && !asked.current.has(selView.rfqId) && (role === 'trader' || role === 'admin')) {
      asked.current.add(selView.rfqId);
      conn.request({ t: 'copilot', rfqId: selView.rfqId }, `co-pilot for ${selView.rfqId}`, undefined, true);
    }
  }, [selected, version]);
  // a ticket the trader has not touched follows the co-pilot when its figures arrive
  const cpAt = selView === undefined ? undefined : store.copilot.get(selView.rfqId);
  useEffect(() => {
    if (selView !== undefined && ticket !== null && ticket.rfqId === selView.rfqId && !touched.current.has(selView.rfqId)) setTicket(defaultTicket(store, selView));
  }, [cpAt]);
  useEffect(() => {
    if (chartI === null && store.hello !== null && store.hello.instruments.length > 0) setChartI(store.hello.instruments[0]);
  }, [version]);

  const canTrade = role === 'trader' || role === 'admin';

  const send = (kind: 'quote' | 'reject' | 'take', asIs = false) => {
    if (selView === undefined || ticket === null || !canTrade) return;
    sendAction(store, conn, selView, ticket, kind, asIs);
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        if (selView !== undefined) setTicket(defaultTicket(store, selView));
        (document.activeElement as HTMLElement | null)?.blur();
        setHelp(false);
        return;
      }
      if (isTyping(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      const ids = active.map((r) => r.rfqId);
      const at = selected === null ? -1 : ids.indexOf(selected);
      const ins = store.hello?.instruments ?? [];
      // letters work with or without Shift (a, A); the README writes them in capitals
      switch (e.key.length === 1 ? e.key.toLowerCase() : e.key) {
        case 'ArrowDown':
        case 'j':
          if (ids.length > 0) setSelRfq(ids[Math.min(ids.length - 1, at + 1)]);
          break;
        case 'ArrowUp':
        case 'k':
          if (ids.length > 0) setSelRfq(ids[Math.max(0, at - 1)]);
          break;
        case 'Enter':
          send('quote', true);
          break;
        case 'a':
          // the trader is adjusting: later co-pilot figures no longer overwrite the ticket
          if (selected !== null) touched.current.add(selected);
          priceRef.current?.focus();
          priceRef.current?.select();
          break;
        case 'r':
          if (selected !== null) touched.current.add(selected);
          reasonRef.current?.focus();
          break;
        case 't':
          send('take');
          break;
        case '/':
          filterRef.current?.focus();
          break;
        case '[':
        case ']': {
          if (ins.length === 0) break;
          const k = chartI === null ? 0 : ins.indexOf(chartI);
          setChartI(ins[(k + (e.key === ']' ? 1 : ins.length - 1)) % ins.length]);
          break;
        }
        case '?':
          setHelp((h) => !h);
          break;
        default:
          return;
      }
      e.preventDefault();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  });

  if (token === '') {
    return <main class="fatal"><h1>Trader screen</h1><p>No token. Open <code>/screen/?token=&lt;trader token&gt;</code> (mint one with <code>npm run token -- --client desk --role trader</code>).</p></main>;
  }
  if (role === 'client') {
    return <main class="fatal"><h1>Trader screen</h1><p data-refused>This is a client token: the trader screen is for trader, rm and admin tokens.</p><ConnBar /></main>;
  }
  return (
    <main data-role={role} data-version={version}>
      <ConnBar />
      <div class="toolbar">
        <input ref={filterRef} class="filter" placeholder="filter instruments ( / )" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => { if (e.key === 'Enter') (e.target as HTMLInputElement).blur(); }} />
        <button type="button" onClick={() => setHelp((h) => !h)}>shortcuts <kbd>?</kbd></button>
      </div>
      {help && <Shortcuts />}
      <div class="layout">
        <div class="col">
          <QuoteBoard store={store} filter={filter} selected={chartI} onSelect={setChartI} />
          <Chart store={store} instrument={chartI} version={version} />
        </div>
        <div class="col">
          {role !== 'rm' && (
            <RfqPanel store={store} conn={conn} selected={selected} onSelect={setSelRfq} ticket={ticket} setTicket={(tk) => { touched.current.add(tk.rfqId); setTicket(tk); }}
              priceRef={priceRef} reasonRef={reasonRef} canAct={canTrade} send={send} />
          )}
          <AxesPanel store={store} conn={conn} canAct={canTrade} />
          {role !== 'rm' && <PositionsPanel store={store} />}
          {role !== 'rm' && <HedgesPanel store={store} />}
          <ClientsPanel store={store} role={role} conn={conn} />
          {role === 'admin' && <ControlsPanel store={store} conn={conn} />}
          <OtherPanel store={store} placed={PLACED} />
        </div>
      </div>
    </main>
  );
}

function ConnBar() {
  const c = store.conn;
  const h = store.hello;
  const now = Date.now();
  const text =
    c.state === 'open' ? `connected · rtt ${c.rttMs < 0 ? '—' : `${c.rttMs} ms`}` :
    c.state === 'stalled' ? `stalled: nothing received for ${fmtAge(now - c.lastMsgAt)}` :
    c.state === 'expired' ? 'token expired (4001): reload with a fresh token' :
    c.state === 'closed' ? `disconnected (${c.code}${c.reason ? ` ${c.reason}` : ''}) ${fmtAge(now - c.since)} ago · reconnecting` :
    c.attempts > 3 ? `connecting (attempt ${c.attempts}; a refused token or origin also looks like this)` : 'connecting';
  const expIn = h === null ? null : h.exp * 1000 - store.serverNow();
  return (
    <div class={`connbar ${c.state}`} data-conn={c.state} data-frames={store.frames}>
      <span class="dot" />
      <span>{text}</span>
      {h !== null && <span class="who">{h.client} · {h.role} · tier {h.tier}</span>}
      {expIn !== null && <span class={expIn < 15 * 60_000 ? 'urgent' : 'muted'}>token {expIn > 0 ? `expires in ${fmtAge(expIn)}` : 'expired'}</span>}
      <span class="muted">{store.frames.toLocaleString()} frames</span>
      {store.status.nats === 'disconnected' && <span class="urgent">engine's broker disconnected: prices pulled</span>}
    </div>
  );
}

function Shortcuts() {
  const rows: Array<[string, string]> = [
    ['↑ ↓ / k j', 'select an RFQ'],
    ['Enter', 'send the recommendation (or the streamed price) as is'],
    ['a', 'adjust: price field (↑ ↓ one tick), Tab to size, Enter sends'],
    ['r', 'reject: reason field, Enter sends'],
    ['t', 'take over (hold the RFQ)'],
    ['Esc', 'leave a field, reset the ticket'],
    ['/', 'filter the quote board'],
    ['[ ]', 'chart the previous / next instrument'],
    ['?', 'this help'],
  ];
  return (
    <table class="grid help" data-help>
      <tbody>{rows.map(([k, v]) => <tr key={k}><td><kbd>{k}</kbd></td><td>{v}</td></tr>)}</tbody>
    </table>
  );
}

conn.start();
const root = document.getElementById('app')!;
root.textContent = ''; // the static "loading" line; Preact would render next to it
render(<App />, root);
