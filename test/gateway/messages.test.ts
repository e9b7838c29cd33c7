import t from 'tap';
import fc from 'fast-check';
import { encode } from '@msgpack/msgpack';
import { parseClientMessage, rejectForbiddenKeys } from '../../engine/gateway/messages.js';
import { CLIENT_LIMITS, makeDecoder } from '../../engine/wire/codec.js';

t.test('gateway - well-formed requests parse to typed messages', async (t) => {
  t.same(parseClientMessage({ t: 'sub', i: ['EURUSD'], id: 3 }), { t: 'sub', i: ['EURUSD'], id: 3 });
  t.same(parseClientMessage({ t: 'unsub', i: ['A', 'B'] }), { t: 'unsub', i: ['A', 'B'] });
  t.same(parseClientMessage({ t: 'ping' }), { t: 'ping' });
  t.same(parseClientMessage({ t: 'ping', id: 'x'.repeat(64) }), { t: 'ping', id: 'x'.repeat(64) });
  t.same(parseClientMessage(Object.assign(Object.create(null), { t: 'ping' })), { t: 'ping' }, 'null-prototype objects are plain');
});

t.test('gateway - each malformed shape gets its own code and keeps a valid id', async (t) => {
  const cases: Array<[unknown, string, RegExp, unknown?]> = [
    [null, 'QE_WS_BAD_MESSAGE', /map\/object/],
    [[{ t: 'ping' }], 'QE_WS_BAD_MESSAGE', /map\/object/],
    ['ping', 'QE_WS_BAD_MESSAGE', /map\/object/],
    [new Date(), 'QE_WS_BAD_MESSAGE', /map\/object/],
    [{ t: 7 }, 'QE_WS_BAD_MESSAGE', /t must be a string/],
    [{ t: 'SUB', i: ['A'], id: 1 }, 'QE_WS_BAD_MESSAGE', /unknown message type "SUB"/, 1],
    [{ t: 'ping', id: 1.5 }, 'QE_WS_BAD_MESSAGE', /id must be/],
    [{ t: 'ping', id: 'x'.repeat(65) }, 'QE_WS_BAD_MESSAGE', /id must be/],
    [{ t: 'ping', id: 2 ** 60 }, 'QE_WS_BAD_MESSAGE', /id must be/],
    [{ t: 'ping', i: ['A'], id: 'p' }, 'QE_WS_BAD_MESSAGE', /unknown field "i" in ping/, 'p'],
    [{ t: 'sub', id: 'n' }, 'QE_WS_BAD_MESSAGE', /non-empty array/, 'n'],
    [{ t: 'sub', i: new Array(CLIENT_LIMITS.maxArrayLength + 1).fill('A') }, 'QE_WS_BAD_MESSAGE', /at most 1024/],
    [{ t: 'sub', i: ['A', ''] }, 'QE_WS_BAD_MESSAGE', /i\[1\]/],
    [{ t: 'sub', i: ['A', null] }, 'QE_WS_BAD_MESSAGE', /i\[1\]/],
    [{ t: 'sub', i: [['A']] }, 'QE_WS_BAD_MESSAGE', /i\[0\]/],
    [{ t: 'sub', i: ['A'], tier: 1, id: 9 }, 'QE_WS_NOT_ENTITLED', /assigned by the server/, 9],
    [{ t: 'unsub', i: ['A'], topic: 'q/1/0/b' }, 'QE_WS_NOT_ENTITLED', /"topic"/],
    [JSON.parse('{"t":"ping","__proto__":1}'), 'QE_WS_DECODE', /__proto__/],
    [{ t: 'ping', constructor: 1 }, 'QE_WS_DECODE', /constructor/],
  ];
  for (const [input, code, message, id] of cases) {
    const r = parseClientMessage(input);
    t.equal(r.t, 'invalid', JSON.stringify(input)?.slice(0, 60));
    if (r.t === 'invalid') {
      t.equal(r.code, code);
      t.match(r.message, message);
      t.equal(r.id, id);
    }
  }
});

t.test('gateway - JSON and msgpack refuse forbidden keys at any depth', async (t) => {
  const dec = makeDecoder(CLIENT_LIMITS);
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    const text = `{"t":"sub","i":["A"],"x":{"y":[{"${key}":{}}]}}`;
    t.throws(() => JSON.parse(text, rejectForbiddenKeys), { message: new RegExp(key) });
    t.throws(() => dec.decode(encode(JSON.parse(text))), { message: new RegExp(key) });
  }
  t.same(JSON.parse('{"t":"ping","id":"constructor"}', rejectForbiddenKeys), { t: 'ping', id: 'constructor' }, 'values are not keys');
});

t.test('gateway - the parser never throws and never accepts what it should not (property)', async (t) => {
  let accepted = 0;
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 3 }), (v) => {
      const r = parseClientMessage(v);
      if (r.t === 'invalid') return typeof r.code === 'string' && r.code.startsWith('QE_WS_');
      accepted++;
      const o = v as Record<string, unknown>;
      return r.t === o.t && Object.keys(o).every((k) => k === 't' || k === 'id' || k === 'i');
    }),
    { numRuns: 3000 },
  );
  // hand-made valid messages so the property's accept branch is exercised too
  fc.assert(
    fc.property(fc.constantFrom('sub', 'unsub'), fc.array(fc.string({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 20 }), (kind, i) => {
      const r = parseClientMessage({ t: kind, i });
      if (r.t !== 'invalid') accepted++;
      return r.t === kind;
    }),
    { numRuns: 500 },
  );
  t.ok(accepted >= 500);
});
