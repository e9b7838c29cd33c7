import t from 'tap';
import fc from 'fast-check';
import { decode } from '@msgpack/msgpack';
import { QuoteFrameWriter, MAX_LEVELS, QuoteState, QuoteReason } from '../../engine/wire/quote.js';

const num = fc.oneof(
  fc.double({ noNaN: false }),
  fc.integer({ min: -1000, max: 1000 }),
  fc.constantFrom(0, -0, 127, 128, 1e308, -1e-308, 2 ** 53, Number.MAX_SAFE_INTEGER, Infinity, -Infinity, 1.0842, 97.515625),
);

t.test('wire - the hand-written quote encoder decodes exactly like the generic msgpack encoder (property)', async (t) => {
  const w = new QuoteFrameWriter();
  let checked = 0;
  fc.assert(
    fc.property(
      fc.stringMatching(/^[A-Za-z0-9_-]{1,32}$/),
      fc.constantFrom(...Object.values(QuoteState)),
      fc.constantFrom(...Object.values(QuoteReason)),
      fc.integer({ min: 0, max: MAX_LEVELS }),
      fc.array(num, { minLength: 3 * MAX_LEVELS + 12, maxLength: 3 * MAX_LEVELS + 12 }),
      fc.constantFrom(0 as const, 1 as const),
      (id, st, rs, n, xs, sn) => {
        const f = w.frame;
        f.i = id; f.st = st; f.rs = rs; f.sn = sn;
        f.tr = xs[0]; f.sq = xs[1]; f.ts = xs[2]; f.mid = xs[3]; f.tk = xs[4]; f.tts = xs[5]; f.tpt = xs[6];
        for (let b = 0; b < 5; b++) f.bd[b] = xs[7 + b];
        const lv = w.setLevels(n);
        for (let k = 0; k < n; k++) for (let j = 0; j < 3; j++) lv[k][j] = xs[12 + 3 * k + j];
        const mine = decode(w.encodeBinary().slice());
        const ref = decode(w.encodeGeneric().slice());
        // Object.is-level equality (NaN, -0) through tap's strict deep equality
        if (!Object.is(JSON.stringify(mine, (_k, v) => (Object.is(v, -0) ? '-0' : Number.isNaN(v) ? 'NaN' : v)), JSON.stringify(ref, (_k, v) => (Object.is(v, -0) ? '-0' : Number.isNaN(v) ? 'NaN' : v)))) {
          throw new Error(`differs:\n${JSON.stringify(mine)}\n${JSON.stringify(ref)}`);
        }
        checked++;
      },
    ),
    { numRuns: 3000 },
  );
  t.equal(checked, 3000);
});

t.test('wire - a full 8-level frame with a 32-character id fits and round-trips', async (t) => {
  const w = new QuoteFrameWriter();
  w.frame.i = 'X'.repeat(32);
  const lv = w.setLevels(MAX_LEVELS);
  lv.forEach((l, k) => { l[0] = 1e6 * (k + 1); l[1] = 100 - k * 0.01; l[2] = 100 + k * 0.01; });
  const bytes = w.encodeBinary();
  t.ok(bytes.length < 1024, `${bytes.length} bytes`);
  const f = decode(bytes) as any;
  t.equal(f.i, 'X'.repeat(32));
  t.equal(f.l.length, MAX_LEVELS);
  t.same(f.l[7], [8e6, 100 - 7 * 0.01, 100 + 7 * 0.01]);
});
