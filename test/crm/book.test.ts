import t from 'tap';
import { loadDefaultBook, parseBook } from '../../engine/crm/book.js';
import { markoutOptionsFrom, parseCrmConfig, scorerOptionsFrom, storeOptionsFrom } from '../../engine/crm/options.js';
import { CrmError, ConfigError } from '../../engine/errors.js';
import { config, record, universe } from './helpers.js';

t.test('crm - the default book has the configured clients and tiers, and refers only to real instruments', async (t) => {
  const book = loadDefaultBook(universe); // throws if any instrument / asset class is unknown
  t.same(
    book.clients.map((c) => [c.id, c.tier]),
    config.clients.filter((c) => c.role === 'client').map((c) => [c.id, c.tier]),
  );
  for (const c of book.clients) {
    t.ok(c.creditLimit > 0 && c.maxOrderSize > 0 && c.maxOrderSize <= c.creditLimit, `${c.id}: limits`);
    t.ok(c.maxOrderSize <= config.tiers[String(c.tier) as '1'].maxSize, `${c.id}: max order within its tier's ladder`);
    for (const [iid, cap] of Object.entries(c.instrumentMaxSize)) t.ok(cap < c.maxOrderSize, `${c.id}: ${iid} cap tightens maxOrderSize`);
    t.equal(c.override, null, 'no override ships in a static file');
  }
  const by = new Map(book.clients.map((c) => [c.id, c]));
  t.match(by.get('meridian')!.agreements, [{ instrument: 'UST-10Y', shadingBps: 0.5 }]);
  t.match(by.get('halcyon')!.naturalInterest, [
    { instrument: 'ACME-33', side: 'buy' },
    { instrument: 'UMBR-28', side: 'buy' },
  ]);
  t.ok(by.get('northwind')!.naturalInterest.some((n) => n.side === 'sell' && /sell-off/.test(n.note)));
  // the axes agree with the desk's starting inventory in the default config
  for (const a of book.axes!.axes) {
    const pos = config.instruments.find((i) => i.id === a.instrument)!.initialPosition;
    t.equal(a.side, pos > 0 ? 'sell' : 'buy', `${a.instrument}: position ${pos}, axed to ${a.side}`);
    t.equal(a.size, Math.abs(pos));
  }
  t.match(book.axes!.axes, [{ instrument: 'UMBR-28', side: 'sell', size: 3e6 }]);
});

t.test('crm - parseBook takes a bare array or { clients, axes } and names every bad field', async (t) => {
  t.equal(parseBook([record('a'), record('b')]).clients.length, 2);
  t.equal(parseBook({ clients: [] }).axes, null);
  const e = (() => {
    try {
      parseBook({ clients: [record('a'), record('a'), { ...record('c'), tier: 0 }], axes: { axes: [{ instrument: 'NOPE', side: 'buy', size: 1 }] }, extra: 1 }, universe);
    } catch (err) {
      return err as CrmError;
    }
    return null;
  })();
  t.type(e, CrmError);
  t.equal(e!.code, 'QE_CRM_INVALID');
  t.same(
    e!.issues.map((i) => i.split(':')[0]),
    ['extra', 'clients[1].id', 'clients[2].tier', 'axes.axes.0.instrument'],
  );
  t.throws(() => parseBook('nope'), { code: 'QE_CRM_INVALID' });
});

t.test('crm - the crm config section: defaults, and bad weights / cut-offs / horizons named by path', async (t) => {
  const d = parseCrmConfig({});
  t.same(d.score.weights, { volume: 0.25, profitability: 0.35, flowQuality: 0.3, diversification: 0.1 });
  t.same(d.score.tierCuts, { tier1: 70, tier2: 40 });
  t.same(d.markout.horizonsMs, [1_000, 10_000, 60_000]);
  t.equal(d.autoTier, false);
  t.ok(Object.isFrozen(d.score.weights));
  const c = parseCrmConfig({ autoTier: true, maxOverrideDays: 30, score: { windowDays: 180, refreshMs: 5_000 }, markout: { horizonsMs: [500, 5_000] } });
  t.same(storeOptionsFrom(c), { autoTier: true, maxOverrideMs: 30 * 86_400_000 });
  t.match(scorerOptionsFrom(c), { score: { windowMs: 180 * 86_400_000, markoutClipBps: 100 }, refreshMs: 5_000, debounceMs: 500 });
  t.same(markoutOptionsFrom(c).horizonsMs, [500, 5_000]);
  const bad = (input: unknown, re: RegExp) => {
    try {
      parseCrmConfig(input);
      t.fail(`accepted ${JSON.stringify(input)}`);
    } catch (e) {
      t.type(e, ConfigError);
      t.match((e as ConfigError).issues.join('\n'), re);
    }
  };
  bad({ score: { weights: { volume: 0.5, profitability: 0.5, flowQuality: 0.5, diversification: 0 } } }, /crm\.score\.weights: must sum to 1/);
  bad({ score: { tierCuts: { tier1: 30, tier2: 60 } } }, /crm\.score\.tierCuts\.tier2: must not exceed/);
  bad({ markout: { horizonsMs: [1000, 1000] } }, /crm\.markout\.horizonsMs: horizons must be distinct/);
  bad({ autoTeir: true }, /crm: .*autoTeir/i);
});
