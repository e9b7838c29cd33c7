/** The pnl / positions request kinds and the throttled push, without sockets. */
import t from 'tap';
import { ManualClock } from '../../engine/clock.js';
import { loadDefaultConfig } from '../../engine/config.js';
import type { OutboundMessage, Session } from '../../engine/gateway/index.js';
import { pnlConfigSchema } from '../../engine/pnl/config.js';
import { RiskLedger, referenceData } from '../../engine/pnl/ledger.js';
import { PnlBook } from '../../engine/pnl/pnl.js';
import { PnlService, type PnlOut } from '../../engine/pnl/service.js';

function rig() {
  const config = loadDefaultConfig();
  const clock = new ManualClock(Date.UTC(2026, 10, 25, 12));
  const refs = referenceData(config, clock.nowMs());
  const mids = new Map<number, number>();
  const cfg = pnlConfigSchema.parse({ recentTrades: 50, pushTrades: 2 });
  const book = new PnlBook({ ids: refs.map((r) => r.id), scale: refs.map((r) => r.priceScale * r.ccyRate), recentTrades: cfg.recentTrades, dayStart: cfg.dayStart, rollUtcMinute: 0, liveMid: (i) => mids.get(i) ?? NaN });
  const pos = new Float64Array(refs.length);
  const svc = new PnlService(book, new RiskLedger(refs, pos, (i) => book.mark(i)), cfg, clock);
  const sent: Array<{ to: string; msg: OutboundMessage }> = [];
  const sessions: Session[] = [];
  const out: PnlOut = {
    sendTo: (s, msg) => (sent.push({ to: s.client, msg }), true),
    sendToRole: (role, msg) => {
      let n = 0;
      for (const s of sessions) if (s.role === role) (sent.push({ to: s.client, msg }), n++);
      return n;
    },
  };
  const session = (client: string, role: Session['role']): Session => {
    const s = { client, role, tier: 1 as const, closed: false };
    sessions.push(s);
    return s;
  };
  const iid = (id: string) => refs.findIndex((r) => r.id === id);
  return { svc, book, clock, mids, sent, out, session, iid, pos };
}

t.test('pnl service - trader and admin read pnl and positions; client and rm are refused', async (t) => {
  const r = rig();
  const eur = r.iid('EURUSD');
  r.svc.onTrade({ tradeId: 'T1', clientId: 'atlas', tier: 3, iid: eur, deskQty: 1e6, price: 1.08, mid: 1.0801, ts: r.clock.nowMs() });
  r.pos[eur] = 1e6;
  r.mids.set(eur, 1.0811);
  const desk = r.session('desk', 'trader');
  t.equal(r.svc.handle(desk, { t: 'pnl', id: 7, trades: 5 }, r.out), undefined);
  const pnl = r.sent.pop()!.msg as any;
  t.match(pnl, { t: 'pnl', id: 7, currency: 'USD', desk: { trades: 1 }, byClient: [{ clientId: 'atlas' }], byTier: [{ tier: 3 }], byInstrument: [{ instrument: 'EURUSD' }] });
  t.ok(Math.abs(pnl.desk.spread - 100) < 1e-6, 'spread 1M × 0.0001');
  t.ok(Math.abs(pnl.desk.inventory - 1000) < 1e-6, 'inventory 1M × 0.0010');
  t.ok(Math.abs(pnl.deskTotal - 1100) < 1e-6, 'total');
  t.equal(pnl.trades.length, 1);
  t.equal(pnl.dayStartMs, Date.UTC(2026, 10, 25), 'the day started at UTC midnight');
  t.ok(Math.abs(r.svc.deskPnlToday() - 1100) < 1e-6, 'PnlSource.deskPnlToday');
  r.svc.handle(r.session('boss', 'admin'), { t: 'positions', id: 'p' }, r.out);
  const positions = r.sent.pop()!.msg as any;
  t.match(positions, { t: 'positions', id: 'p', instruments: [{ instrument: 'EURUSD', position: 1e6, mark: 1.0811, measure: 'FX01' }], byAssetClass: [{ bucket: 'fx', net: 1e6 }] });
  for (const role of ['client', 'rm'] as const) {
    for (const kind of ['pnl', 'positions']) {
      t.equal(r.svc.handle(r.session('atlas', role), { t: kind, id: 'x' }, r.out), undefined);
      t.match(r.sent.pop()!.msg, { t: 'rejected', code: 'QE_RFQ_NOT_ENTITLED', id: 'x' }, `${role} refused ${kind}`);
    }
  }
});

t.test('pnl service - malformed requests are refused as bad messages', async (t) => {
  const r = rig();
  const desk = r.session('desk', 'trader');
  for (const msg of [{ t: 'pnl', trades: -1 }, { t: 'pnl', trades: 51 }, { t: 'pnl', trades: 1.5 }, { t: 'pnl', trades: '3' }, { t: 'pnl', extra: 1 }, { t: 'positions', all: 'yes' }, { t: 'pnl', id: { x: 1 } }, { t: 'positions', id: 'x'.repeat(65) }]) {
    t.match(r.svc.handle(desk, msg, r.out), { code: 'QE_WS_BAD_MESSAGE' }, JSON.stringify(msg));
  }
  t.equal(r.sent.length, 0, 'nothing answered besides the refusal');
});

t.test('pnl service - the push goes to trader and admin sessions only when something changed', async (t) => {
  const r = rig();
  r.session('desk', 'trader');
  r.session('boss', 'admin');
  r.session('atlas', 'client');
  t.equal(r.svc.pushIfChanged(r.out), 2, 'first push: trader + admin');
  t.match(r.sent[0].msg, { t: 'pnl', push: true });
  t.equal(r.svc.pushIfChanged(r.out), 0, 'nothing changed');
  const eur = r.iid('EURUSD');
  for (let i = 0; i < 3; i++) r.svc.onTrade({ tradeId: `T${i}`, clientId: 'atlas', tier: 3, iid: eur, deskQty: 1e6, price: 1.08, mid: 1.08, ts: r.clock.nowMs() });
  t.equal(r.svc.pushIfChanged(r.out), 2, 'a trade');
  t.equal((r.sent.at(-1)!.msg as any).trades.length, 2, 'pushTrades trades in the push');
  r.mids.set(eur, 1.08 + 1e-9);
  t.equal(r.svc.pushIfChanged(r.out), 0, 'a move worth less than a cent is not pushed');
  r.mids.set(eur, 1.081);
  t.equal(r.svc.pushIfChanged(r.out), 2, 'a mark move is');
  t.ok(r.sent.every((s) => s.to !== 'atlas'), 'never to a client');
});
