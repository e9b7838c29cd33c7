import t from 'tap';
import fc from 'fast-check';
import { buildUniverse, loadDefaultConfig, parseConfig, type Config } from '../../engine/config.js';
import { MdResult } from '../../engine/errors.js';
import { encodeShared, makeDecoder, MD_LIMITS } from '../../engine/wire/codec.js';
import { decodeMd, MdKind, newMdRecord } from '../../engine/wire/market-data.js';
import { SyntheticMarket, type SyntheticOptions } from '../../feeds/synthetic.js';
import { generateUniverse } from '../../feeds/universe.js';

const START = 1_700_000_000_000;
const config = loadDefaultConfig();

interface Book {
  kind: 'book';
  stream: number;
  tm: number; // nowMs of the generate() call that produced it
  i: string;
  v: string;
  s: number;
  ts: number;
  b: number;
  a: number;
  bs: number;
  as: number;
}
interface Trade {
  kind: 'trade';
  stream: number;
  tm: number;
  i: string;
  v: string;
  s: number;
  ts: number;
  p: number;
  q: number;
  sd: 'b' | 's';
}
type Msg = Book | Trade;

/** Drives `m` with `steps` calls of `perStep` messages, `stepMs` apart; copies every reused record. */
function run(m: SyntheticMarket, steps: number, stepMs: number, perStep: number): Msg[] {
  const out: Msg[] = [];
  let tm = START;
  const sink = {
    book: (x: { i: string; v: string; s: number; ts: number; b: number; a: number; bs: number; as: number }, stream: number) =>
      out.push({ kind: 'book', stream, tm, i: x.i, v: x.v, s: x.s, ts: x.ts, b: x.b, a: x.a, bs: x.bs, as: x.as }),
    trade: (x: { i: string; v: string; s: number; ts: number; p: number; q: number; sd: 'b' | 's' }, stream: number) =>
      out.push({ kind: 'trade', stream, tm, i: x.i, v: x.v, s: x.s, ts: x.ts, p: x.p, q: x.q, sd: x.sd }),
  };
  for (let k = 0; k < steps; k++) {
    m.generate(tm, perStep, sink);
    tm += stepMs;
  }
  return out;
}

const market = (opts: Partial<SyntheticOptions> = {}, cfg: Config = config) =>
  new SyntheticMarket(cfg, { seed: 42, scenario: 'normal', ...opts });

const key = (m: Msg) => JSON.stringify(m);
const firstMismatch = (a: Msg[], b: Msg[]) => {
  for (let k = 0; k < Math.max(a.length, b.length); k++) if (!a[k] || !b[k] || key(a[k]) !== key(b[k])) return k;
  return -1;
};
const instrumentOf = (id: string) => config.instruments.find((ins) => ins.id === id)!;

t.test('feeds - same seed and nowMs sequence give identical messages; another seed does not', async (t) => {
  for (const scenario of ['normal', 'stressed'] as const) {
    const opts = { scenario, stress: { startAfterMs: 200, durationMs: 600 } };
    const ma = market(opts);
    const a = run(ma, 100, 10, 100);
    const b = run(market(opts), 100, 10, 100);
    t.equal(a.length + ma.counters.quietSkips, 10_000, `${scenario}: 10k picks, emitted or swallowed by a quiet venue`);
    t.ok(a.length > 9_900, `${scenario}: ${a.length} messages`);
    t.equal(firstMismatch(a, b), -1, `${scenario}: same seed, identical messages`);
    const c = run(market({ ...opts, seed: 43 }), 100, 10, 100);
    let differ = 0;
    for (let k = 0; k < a.length; k++) if (key(a[k]) !== key(c[k])) differ++;
    t.ok(differ > 9_900, `${scenario}: another seed changes (nearly) every message (${differ})`);
  }
});

t.test('feeds - books are never crossed, sit on the tick grid, sizes within limits, source time before publish time (faults off)', async (t) => {
  const check = (msgs: Msg[]): string | null => {
    for (const m of msgs) {
      const ins = instrumentOf(m.i);
      if (!(m.ts < m.tm && m.ts > m.tm - 100)) return `ts ${m.ts} not in (${m.tm - 100}, ${m.tm})`;
      if (m.kind === 'trade') {
        if (!(m.p > 0 && m.q > 0 && m.q <= ins.maxSize)) return `bad trade ${key(m)}`;
        continue;
      }
      if (!(m.b > 0 && m.b < m.a)) return `crossed or non-positive ${key(m)}`;
      for (const px of [m.b, m.a]) {
        const k = px / ins.tickSize;
        if (Math.abs(k - Math.round(k)) > 1e-6) return `off tick ${key(m)}`;
      }
      for (const q of [m.bs, m.as]) if (!(q >= ins.minSize && q <= ins.maxSize)) return `size out of [min, max] ${key(m)}`;
    }
    return null;
  };
  t.equal(check(run(market({ scenario: 'stressed', stress: { startAfterMs: 500, durationMs: 3000 } }), 400, 10, 100)), null, 'stressed run');
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.constantFrom('normal' as const, 'stressed' as const),
      fc.constantFrom(1, 1e4, 1e7),
      (seed, scenario, timeScale) => {
        const m = new SyntheticMarket(config, { seed, scenario, timeScale, stress: { startAfterMs: 100, durationMs: 1000 } });
        return check(run(m, 40, 50, 50)) === null;
      },
    ),
    { numRuns: 30 },
  );
});

t.test('feeds - seq starts at 1 and rises by one per (instrument, venue, kind) stream', async (t) => {
  const msgs = run(market({ scenario: 'stressed', stress: { startAfterMs: 100, durationMs: 2000 } }), 300, 10, 100);
  const last = new Map<string, number>();
  let bad = 0;
  for (const m of msgs) {
    const k = `${m.kind}|${m.i}|${m.v}`;
    if (m.s !== (last.get(k) ?? 0) + 1) bad++;
    last.set(k, m.s);
  }
  t.equal(bad, 0, 'no gap, duplicate or restart');
  const kinds = new Set([...last.keys()].map((k) => k.split('|')[0]));
  t.same([...kinds].sort(), ['book', 'trade'], 'books and trades both seen');
  const streams = config.instruments.reduce((n, ins) => n + ins.venues.length, 0);
  t.equal([...last.keys()].filter((k) => k.startsWith('book|')).length, streams, 'every (instrument, venue) published a book');
});

t.test('feeds - every message decodes against the config with the engine decoder', async (t) => {
  const u = buildUniverse(config);
  const decoder = makeDecoder(MD_LIMITS);
  const rec = newMdRecord();
  let n = 0;
  const failures: string[] = [];
  const check = (x: { i: string; v: string; s: number; ts: number; pt: number | undefined }, kind: number, px: number) => {
    x.pt = 123_456_789;
    const r = decodeMd(decoder, encodeShared(x), u.instrumentIndex, u.venueIndex, rec);
    n++;
    if (r !== MdResult.OK) failures.push(`result ${r} for ${JSON.stringify(x)}`);
    else if (rec.kind !== kind || config.instruments[rec.iid].id !== x.i || config.venues[rec.vid] !== x.v || rec.seq !== x.s || rec.srcTsMs !== x.ts || rec.bid !== px || rec.pubMonoUs !== 123_456_789)
      failures.push(`round trip changed ${JSON.stringify(x)}`);
  };
  const m = market({ scenario: 'stressed', stress: { startAfterMs: 100, durationMs: 1000 }, faults: { crossedProb: 0.05, gapProb: 0.05, duplicateProb: 0.05, outlierProb: 0.05 } });
  let tm = START;
  for (let k = 0; k < 200; k++, tm += 10) {
    m.generate(tm, 100, { book: (b) => check(b, MdKind.BOOK, b.b), trade: (x) => check(x, MdKind.TRADE, x.p) });
  }
  t.equal(n + m.counters.quietSkips, 20_000);
  t.same(failures.slice(0, 5), [], 'all decode OK with fields intact (faulted books included: they are well-formed)');
});

t.test('feeds - stressed: prices fall, spreads widen, venues go quiet in the sell-off, then a partial recovery', async (t) => {
  const S = 2000;
  const D = 10_000;
  const m = market({ scenario: 'stressed', stress: { startAfterMs: S, durationMs: D, quietMinMs: 2500, quietMaxMs: 3500 } });
  const msgs = run(m, 1400, 10, 50); // 14 s at 5k msgs/s
  const books = msgs.filter((x): x is Book => x.kind === 'book');
  const rel = (x: Msg) => x.tm - START;
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const mid = (x: Book) => (x.b + x.a) / 2;
  const window = (id: string, from: number, to: number) => books.filter((x) => x.i === id && rel(x) >= from && rel(x) < to);
  const pre = (id: string) => window(id, 0, S);
  const dislocated = (id: string) => window(id, S + 0.25 * D, S + 0.6 * D);
  const after = (id: string) => window(id, S + D, Infinity);

  t.equal(m.phaseAt(START + S - 1), 'pre');
  t.equal(m.phaseAt(START + S + 0.1 * D), 'selloff');
  t.equal(m.phaseAt(START + S + 0.4 * D), 'dislocated');
  t.equal(m.phaseAt(START + S + 0.8 * D), 'recovery');
  t.equal(m.phaseAt(START + S + D + 1), 'after');

  for (const ins of config.instruments.filter((x) => x.assetClass === 'corporate_bond' || x.assetClass === 'cds_index')) {
    const p0 = mean(pre(ins.id).map(mid));
    const p1 = mean(dislocated(ins.id).map(mid));
    const p2 = mean(after(ins.id).map(mid));
    t.ok(p1 / p0 - 1 < -0.02, `${ins.id} falls more than 2% (${((p1 / p0 - 1) * 100).toFixed(2)}%)`);
    t.ok(p2 > p1 && p2 < p0, `${ins.id} recovers part of the drop`);
  }
  for (const id of ['UST-10Y', 'ZN', 'EURUSD', 'AUDUSD', 'USDJPY']) {
    t.ok(mean(dislocated(id).map(mid)) < mean(pre(id).map(mid)), `${id} sells off (rates up / risk-off FX)`);
  }
  t.ok(mean(dislocated('EURGBP').map(mid)) > mean(pre('EURGBP').map(mid)), 'EURGBP rises: GBP is the riskier currency');

  const relSpread = (xs: Book[]) => median(xs.map((x) => (x.a - x.b) / mid(x)));
  const widening = config.instruments.map((ins) => relSpread(dislocated(ins.id)) / relSpread(pre(ins.id)));
  t.ok(Math.min(...widening) > 1.5, `every instrument's venue spreads widen more than 1.5× (tick-bound books least) (min ${Math.min(...widening).toFixed(2)})`);
  t.ok(median(widening) > 3, `median widening ${median(widening).toFixed(2)}× (configured 4×)`);

  // Live venues per instrument per 1 s bucket.
  const live = new Map<string, Set<string>>();
  for (const x of books) {
    const k = `${x.i}|${Math.floor(rel(x) / 1000)}`;
    if (!live.has(k)) live.set(k, new Set());
    live.get(k)!.add(x.v);
  }
  const venuesIn = (id: string, sec: number) => live.get(`${id}|${sec}`)?.size ?? 0;
  const preThin = config.instruments.filter((ins) => [0, 1].some((sec) => venuesIn(ins.id, sec) < ins.venues.length));
  t.same(preThin.map((x) => x.id), [], 'before the sell-off every venue publishes every second');
  const thin = new Set<string>();
  for (const ins of config.instruments) for (let sec = 2; sec < 12; sec++) if (venuesIn(ins.id, sec) < 2) thin.add(ins.id);
  t.ok(thin.size >= 5, `${thin.size} instruments fall below 2 live venues for at least a second`);
  const silentAfter = m.streams.filter((s) => !books.some((x) => x.i === s.instrument && x.v === s.venue && rel(x) >= S + D));
  t.same(silentAfter, [], 'every quiet venue comes back');

  const credit = new Set(config.instruments.filter((x) => x.assetClass !== 'fx').map((x) => x.id));
  const stressTrades = msgs.filter((x): x is Trade => x.kind === 'trade' && credit.has(x.i) && rel(x) >= S && rel(x) < S + 0.6 * D);
  const sellShare = stressTrades.filter((x) => x.sd === 's').length / stressTrades.length;
  t.ok(sellShare > 0.65, `sellers dominate the sell-off (${(sellShare * 100).toFixed(0)}% of ${stressTrades.length} prints)`);
});

t.test('feeds - fault injection: crossed, gap, duplicate, outlier at roughly the configured rate, clean path unchanged', async (t) => {
  const faults = { crossedProb: 0.01, gapProb: 0.02, duplicateProb: 0.03, outlierProb: 0.015 };
  const clean = run(market(), 200, 10, 100);
  const fm = market({ faults });
  const dirty = run(fm, 200, 10, 100);
  t.equal(dirty.length, clean.length);
  const seen = { crossed: 0, gaps: 0, duplicates: 0, outliers: 0, other: 0 };
  const prevSent = new Map<number, Book>();
  let books = 0;
  for (let k = 0; k < clean.length; k++) {
    const c = clean[k];
    const d = dirty[k];
    if (c.kind === 'trade' || d.kind === 'trade') {
      const same = c.kind === d.kind && c.i === d.i && c.v === d.v && key({ ...c, s: 0 }) === key({ ...d, s: 0 });
      if (!same) seen.other++;
      continue;
    }
    books++;
    const prev = prevSent.get(d.stream);
    if (prev && d.s === prev.s) {
      if (d.b === prev.b && d.a === prev.a && d.bs === prev.bs && d.as === prev.as && d.ts === prev.ts) seen.duplicates++;
      else seen.other++;
      continue;
    }
    prevSent.set(d.stream, d);
    if (d.s > (prev?.s ?? 0) + 1) {
      seen.gaps++;
      if (d.b !== c.b || d.a !== c.a) seen.other++;
    } else if (d.b > d.a) {
      if (d.b === c.a && d.a === c.b) seen.crossed++;
      else seen.other++;
    } else if (Math.abs((d.b + d.a) / (c.b + c.a) - 1) > 0.02) {
      seen.outliers++;
    } else if (d.b !== c.b || d.a !== c.a || d.bs !== c.bs || d.as !== c.as) {
      seen.other++;
    }
  }
  t.equal(seen.other, 0, 'every difference from the clean run is one of the four faults; trades identical');
  for (const [name, p] of [['crossed', faults.crossedProb], ['gaps', faults.gapProb], ['duplicates', faults.duplicateProb], ['outliers', faults.outlierProb]] as const) {
    const expected = p * books;
    t.ok(Math.abs(seen[name] - expected) < 0.3 * expected, `${name}: ${seen[name]} ≈ ${expected.toFixed(0)} expected`);
    t.equal(fm.counters[name], seen[name], `${name}: counter agrees`);
  }
  t.equal(market().counters.crossed + market().counters.gaps, 0, 'default faults are off');
});

t.test('feeds - options and instrument subsets are validated at the edge', async (t) => {
  const m = market({ instruments: ['EURUSD', 'UST-10Y'] });
  t.same([...new Set(m.streams.map((s) => s.instrument))], ['EURUSD', 'UST-10Y']);
  const msgs = run(m, 10, 10, 50);
  t.same([...new Set(msgs.map((x) => x.i))].sort(), ['EURUSD', 'UST-10Y'], 'only the subset publishes');
  t.throws(() => market({ instruments: ['NOPE'] }), { code: 'QE_CONFIG_INVALID', message: /instruments\.0: unknown instrument "NOPE"/ });
  t.throws(() => market({ instruments: [] }), { code: 'QE_CONFIG_INVALID' });
  t.throws(() => market({ faults: { gapProb: -0.1 } }), { message: /faults\.gapProb/ });
  t.throws(() => market({ faults: { gapProb: 0.6, crossedProb: 0.6 } }), { message: /add up to more than 1/ });
  t.throws(() => market({ stress: { durationMs: 0 } }), { message: /stress\.durationMs/ });
  t.throws(() => market({ seed: 1.5 }), { message: /seed/ });
  t.throws(() => market({ timeScale: 0 }), { message: /timeScale/ });
  t.throws(() => market({ scenario: 'calm' as 'normal' }), { message: /scenario/ });
});

t.test('feeds - timeScale speeds the price path up', async (t) => {
  const drift = (timeScale: number) => {
    const m = market({ timeScale, seed: 5 });
    run(m, 600, 100, 100); // 60 s
    return m.instruments.reduce((s, ins, i) => s + Math.abs(Math.log(m.trueMid(i) / ins.refPrice)), 0) / m.instruments.length;
  };
  const slow = drift(1);
  const fast = drift(1e4);
  t.ok(slow > 0 && slow < 5e-4, `real time: mean |move| over a minute ${(slow * 1e4).toFixed(2)} bp`);
  t.ok(fast > 20 * slow, `timeScale 1e4: ${(fast * 1e4).toFixed(1)} bp (√1e4 = 100× the diffusion)`);
});

t.test('feeds - generated universes pass parseConfig with unique, valid ids', async (t) => {
  for (const n of [100, 1000, 10_000]) {
    const c = parseConfig(generateUniverse(config, n));
    t.equal(c.instruments.length, n);
    const ids = c.instruments.map((x) => x.id);
    t.equal(new Set(ids).size, n, `${n}: ids unique`);
    t.ok(ids.every((id) => /^[A-Za-z0-9_-]{1,32}$/.test(id)), `${n}: ids valid`);
    t.same(ids.slice(0, config.instruments.length), config.instruments.map((x) => x.id), `${n}: base ids kept`);
  }
  const small = parseConfig(generateUniverse(config, 5));
  t.ok(small.instruments.every((x) => x.hedgeProxy === null), 'proxies outside a small universe are dropped');
  const long = parseConfig({ ...generateUniverse(config, 1), instruments: [{ ...config.instruments[12], id: 'X'.repeat(32) }] });
  const grown = parseConfig(generateUniverse(long, 3));
  t.same(grown.instruments.map((x) => x.id.length), [32, 32, 32], 'suffixes fit in 32 characters');
  t.throws(() => generateUniverse(config, 0), RangeError);
  t.throws(() => generateUniverse(config, 20_001), RangeError);
  const m = new SyntheticMarket(parseConfig(generateUniverse(config, 1000)), { seed: 1, scenario: 'normal' });
  t.equal(m.streamCount, 3000);
  const msgs = run(m, 20, 10, 500);
  t.ok(new Set(msgs.map((x) => x.i)).size > 900, 'a large universe spreads messages over most instruments');
});
