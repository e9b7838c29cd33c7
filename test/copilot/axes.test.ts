import t from 'tap';
import { AxeBook } from '../../engine/copilot/axes.js';
import { demoDirectory } from '../helpers/directory.js';
import { cfg, config } from './helpers.js';

const iid = config.instruments.findIndex((i) => i.id === 'ACME-27');

function book() {
  const dir = demoDirectory({
    halcyon: { naturalInterest: [{ instrument: 'ACME-27', side: 'buy', note: 'index rebalancing' }] },
    cedar: { naturalInterest: [{ instrument: 'ACME-27', side: 'sell' }] },
  });
  return { dir, axes: new AxeBook(config, () => dir, cfg.axes) };
}

t.test('copilot axes - desk long: natural buyers and recent buyers ranked first, with reasons; sellers and the desk are not listed', async (t) => {
  const { axes } = book();
  const now = 10_000_000;
  axes.onTrade({ clientId: 'meridian', instrument: 'ACME-27', side: 'buy', size: 1e6, ts: now - 1000 });
  axes.onTrade({ clientId: 'meridian', instrument: 'ACME-27', side: 'buy', size: 2e6, ts: now - 500 });
  axes.onTrade({ clientId: 'atlas', instrument: 'ACME-33', side: 'buy', size: 1e6, ts: now - 500 });
  axes.onTrade({ clientId: 'orbit', instrument: 'ACME-27', side: 'sell', size: 1e6, ts: now - 500 });
  axes.onTrade({ clientId: 'pinecrest', instrument: 'ACME-27', side: 'buy', size: 1e6, ts: now - cfg.axes.flowWindowMs - 1 });
  const pos = new Float64Array(config.instruments.length);
  pos[iid] = 5e6;
  const ps = axes.positions(pos, now, 'ACME-27');
  t.equal(ps.length, 1);
  const p = ps[0];
  t.match(p, { i: 'ACME-27', deskSide: 'sell', clientSide: 'buy', size: 5e6, source: 'inventory' });
  t.same(p.candidates.map((c) => c.clientId), ['halcyon', 'meridian', 'atlas'], 'natural buyer, then recent buyer, then same-class buyer');
  t.match(p.candidates[0].reasons[0], /natural buyer of ACME-27 \(index rebalancing\)/);
  t.match(p.candidates[1].reasons[0], /bought ACME-27 2×/);
  t.notOk(p.candidates.some((c) => c.clientId === 'cedar' || c.clientId === 'orbit' || c.clientId === 'pinecrest'), 'sellers and stale flow left out');
});

t.test('copilot axes - workable size, shaded price, one use, expiry', async (t) => {
  const { axes } = book();
  t.equal(axes.workable(iid, 'buy', 5e6), 5e6, 'desk long: clients may buy it');
  t.equal(axes.workable(iid, 'sell', 5e6), 0, 'nothing to work the other way');
  const mid = 101.2;
  const p1 = axes.axePrice(iid, 'buy', 1, mid, 1)!;
  const p0 = axes.axePrice(iid, 'buy', 1, mid, 0)!;
  t.ok(p1 > mid && p1 < p0, 'a shade lowers the client buy price, still above mid');
  t.equal(axes.axePrice(iid, 'buy', 1, NaN, 1), null, 'no mid, no price');
  axes.show({ clientId: 'halcyon', iid, i: 'ACME-27', side: 'buy', size: 5e6, price: p1, validUntil: 2000, by: 'desk', shownMs: 1000 });
  t.equal(axes.shownFor('meridian', iid, 'buy', 1500), null, 'only the client it was shown to');
  t.equal(axes.shownFor('halcyon', iid, 'sell', 1500), null, 'only that side');
  t.equal(axes.adjust('halcyon', iid, 'buy', p1 + 0.01, 1500), p1, 'the next automatic price takes the axe when better');
  t.equal(axes.adjust('halcyon', iid, 'buy', p1 + 0.01, 1600), p1 + 0.01, 'used once');
  axes.show({ clientId: 'halcyon', iid, i: 'ACME-27', side: 'buy', size: 5e6, price: p1, validUntil: 2000, by: 'desk', shownMs: 1000 });
  t.equal(axes.adjust('halcyon', iid, 'buy', p1 - 0.01, 1500), p1 - 0.01, 'a better automatic price stays');
  axes.show({ clientId: 'halcyon', iid, i: 'ACME-27', side: 'buy', size: 5e6, price: p1, validUntil: 2000, by: 'desk', shownMs: 1000 });
  t.equal(axes.shownFor('halcyon', iid, 'buy', 2001), null, 'expired');
});
