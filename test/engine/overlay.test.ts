/**
 * Quote overlays in the hot path (engine/risk/ports.ts QuoteOverlay): kill switch, regime and loss
 * limit force (instrument, tier) streams to indicative or pulled with their own reason, and shrink
 * size / widen spread; the most severe source wins and clearing one source leaves the others.
 */
import { encode } from '@msgpack/msgpack';
import t from 'tap';
import { systemClock } from '../../engine/clock.js';
import { buildUniverse } from '../../engine/config.js';
import { HotPath } from '../../engine/hotpath.js';
import { Inventory } from '../../engine/inventory/index.js';
import { MarketState } from '../../engine/market/index.js';
import { makeRegistry } from '../../engine/metrics.js';
import { createInlinePricer } from '../../engine/pricing/pool.js';
import { quietLog, testConfig } from '../helpers/engine.js';

async function rig() {
  const config = testConfig();
  const u = buildUniverse(config);
  const market = new MarketState(u, systemClock);
  const hot = new HotPath({ universe: u, clock: systemClock, market, inventory: new Inventory(config), pricer: createInlinePricer(config), registry: makeRegistry(), log: quietLog });
  const ins = config.instruments.find((i) => i.id === 'EURUSD')!;
  const iid = u.instrumentIndex.get('EURUSD')!;
  let seq = 0;
  const tick = () => {
    seq++;
    for (const v of ins.venues) hot.onMarketData(encode({ i: 'EURUSD', v, s: seq, ts: Date.now(), b: 1.0999, a: 1.1001, bs: 5e6, as: 5e6 }));
  };
  const settle = async () => {
    for (let k = 0; k < 50 && (k < 2 || hot.busy); k++) await new Promise((r) => setImmediate(r));
  };
  return { hot, iid, ins, tick, settle };
}

t.test('overlay - kill pulls with reason killed, regime shrinks and widens, clear restores', async (t) => {
  const { hot, iid, ins, tick, settle } = await rig();
  tick();
  tick();
  await settle();
  const base = hot.published(2, iid);
  t.equal(base.state, 'firm', 'firm before any overlay');
  t.ok(base.levels.length > 0);

  hot.overlay.set('regime', { mode: null, reason: 'regime', sizeMult: 0.5, spreadMult: 2 }, iid, 2);
  await settle();
  const wide = hot.published(2, iid);
  t.equal(wide.state, 'firm', 'multipliers alone keep the stream firm');
  const [s0, b0, a0] = base.levels[0];
  const [s1, b1, a1] = wide.levels[0];
  t.equal(s1, Math.floor((s0 * 0.5) / ins.lotSize) * ins.lotSize, 'size halved, whole lots');
  t.ok(a1 - b1 > (a0 - b0) * 1.9, `spread widened (${a0 - b0} → ${a1 - b1})`);
  t.same(hot.published(3, iid).levels[0], hot.published(3, iid).levels[0], 'other tiers untouched');
  t.equal(hot.published(3, iid).state, 'firm');

  hot.overlay.set('kill', { mode: 'pulled', reason: 'killed' });
  t.match(hot.published(3, iid), { state: 'pulled', reason: 'killed', levels: [] }, 'a pull is published at once, before any pricing batch');
  const seqAtPull = hot.published(3, iid).seq;
  await settle();
  t.equal(hot.published(3, iid).seq, seqAtPull, 'the batch that follows publishes nothing more');
  for (const tier of [1, 2, 3]) t.match(hot.published(tier, iid), { state: 'pulled', reason: 'killed', levels: [] }, `tier ${tier} killed`);
  t.match(hot.overlayOf(2, iid), { mode: 'pulled', reason: 'killed', sizeMult: 0.5, spreadMult: 2 });

  hot.overlay.set('loss', { mode: 'indicative', reason: 'risk_limit' }, iid, 1);
  hot.overlay.clear('kill');
  await settle();
  t.match(hot.published(1, iid), { state: 'indicative', reason: 'risk_limit' }, 'the loss limit remains after the kill is released');
  t.match(hot.published(3, iid), { state: 'firm', reason: '' });
  t.equal(hot.published(2, iid).state, 'firm');
  t.equal(hot.published(2, iid).levels[0][0], s1, 'the regime multipliers remain');

  hot.overlay.clear('regime');
  hot.overlay.clear('loss');
  tick();
  await settle();
  t.same(hot.published(2, iid).levels[0], base.levels[0], 'back to the base ladder');
  t.equal(hot.published(1, iid).state, 'firm');
  hot.close();
});

t.test('overlay - bad settings are refused with a code and change nothing', async (t) => {
  const { hot, iid } = await rig();
  t.throws(() => hot.overlay.set('kill', { mode: 'pulled', reason: 'killed', sizeMult: 0 }), { code: 'QE_CONFIG_INVALID' });
  t.throws(() => hot.overlay.set('kill', { mode: 'pulled', reason: 'killed', spreadMult: 0.5 }), { code: 'QE_CONFIG_INVALID' });
  t.throws(() => hot.overlay.set('kill', { mode: 'pulled', reason: 'killed', sizeMult: NaN }), { code: 'QE_CONFIG_INVALID' });
  t.throws(() => hot.overlay.set('kill', { mode: 'pulled', reason: 'killed' }, 999), { code: 'QE_CONFIG_INVALID' });
  t.throws(() => hot.overlay.set('kill', { mode: 'pulled', reason: 'killed' }, iid, 4 as 1), { code: 'QE_CONFIG_INVALID' });
  t.throws(() => hot.overlay.set('nope' as 'kill', { mode: 'pulled', reason: 'killed' }), { code: 'QE_CONFIG_INVALID' });
  t.equal(hot.overlayOf(1, iid).mode, null, 'nothing was set');
  hot.close();
});

t.test('overlay - a pull is published at once only where a socket is subscribed; the rest follows with the next batch', async (t) => {
  const { hot, iid, tick, settle } = await rig();
  const published: string[] = [];
  hot.sink = {
    publishBinary: (tier, i) => void published.push(`${tier}/${i}`),
    wantsJson: () => false,
    publishJson: () => undefined,
    hasSubscribers: (tier) => tier === 3,
  };
  tick();
  tick();
  await settle();
  published.length = 0;
  hot.overlay.set('kill', { mode: 'pulled', reason: 'killed' }, iid);
  t.same(published, [`3/${iid}`], 'only the subscribed stream (tier 3) is published inside the command');
  t.equal(hot.published(2, iid).state, 'firm', 'tier 2 (no subscriber) not yet');
  await settle();
  for (const tier of [1, 2, 3]) t.match(hot.published(tier, iid), { state: 'pulled', reason: 'killed' }, `tier ${tier} pulled after the batch`);
  t.equal(published.filter((p) => p === `3/${iid}`).length, 1, 'the subscribed stream is not published twice');
  hot.close();
});
