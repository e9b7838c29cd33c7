import t from 'tap';
import { parseRfqMessage } from '../../engine/rfq/messages.js';

t.test('rfq messages - valid requests parse', async (t) => {
  t.same(parseRfqMessage({ t: 'rfq', id: 1, i: 'EURUSD', side: 'buy', size: 1e6 }), { t: 'rfq', id: 1, i: 'EURUSD', side: 'buy', size: 1e6 });
  t.same(parseRfqMessage({ t: 'rfq', i: 'EURUSD', side: 'sell', size: 1e6, limit: 1.08 }), { t: 'rfq', i: 'EURUSD', side: 'sell', size: 1e6, limit: 1.08 });
  t.same(parseRfqMessage({ t: 'accept', quoteId: 'Q-1', acceptId: 'a' }), { t: 'accept', quoteId: 'Q-1', acceptId: 'a' });
  t.same(parseRfqMessage({ t: 'trade', i: 'EURUSD', side: 'buy', size: 1e6, price: 1.08, sq: 3, acceptId: 'x' }), { t: 'trade', i: 'EURUSD', side: 'buy', size: 1e6, price: 1.08, sq: 3, acceptId: 'x' });
  t.same(parseRfqMessage({ t: 'rfqs' }), { t: 'rfqs' });
  t.same(parseRfqMessage({ t: 'quote', rfqId: 'R', price: 1, size: 2, id: 'q' }), { t: 'quote', rfqId: 'R', price: 1, size: 2, id: 'q' });
  t.same(parseRfqMessage({ t: 'reject', rfqId: 'R', reason: 'no' }), { t: 'reject', rfqId: 'R', reason: 'no' });
  // numbers that are not sane sizes still parse: they are refused later with a coded RFQ rejection
  t.equal((parseRfqMessage({ t: 'rfq', i: 'EURUSD', side: 'buy', size: NaN }) as { t: string }).t, 'rfq');
});

t.test('rfq messages - malformed requests are refused with a WebSocket code', async (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ t: 'rfq', i: 'EURUSD', side: 'hold', size: 1 }, 'QE_WS_BAD_MESSAGE'],
    [{ t: 'rfq', i: 'EURUSD', side: 'buy', size: '1' }, 'QE_WS_BAD_MESSAGE'],
    [{ t: 'rfq', i: 'EURUSD', side: 'buy' }, 'QE_WS_BAD_MESSAGE'],
    [{ t: 'rfq', i: 42, side: 'buy', size: 1 }, 'QE_WS_BAD_MESSAGE'],
    [{ t: 'rfq', i: 'EURUSD', side: 'buy', size: 1, tier: 1 }, 'QE_WS_NOT_ENTITLED'],
    [{ t: 'accept', quoteId: 'Q', acceptId: 'a', client: 'northwind' }, 'QE_WS_NOT_ENTITLED'],
    [{ t: 'accept', quoteId: 'Q' }, 'QE_WS_BAD_MESSAGE'],
    [{ t: 'accept', quoteId: 'Q', acceptId: '' }, 'QE_WS_BAD_MESSAGE'],
    [{ t: 'accept', quoteId: 'Q', acceptId: 'x'.repeat(65) }, 'QE_WS_BAD_MESSAGE'],
    [{ t: 'trade', i: 'EURUSD', side: 'buy', size: 1, price: 1, acceptId: 'a', sq: 1.5 }, 'QE_WS_BAD_MESSAGE'],
    [{ t: 'trade', i: 'EURUSD', side: 'buy', size: 1, acceptId: 'a' }, 'QE_WS_BAD_MESSAGE'],
    [{ t: 'reject', rfqId: 'R', reason: '' }, 'QE_WS_BAD_MESSAGE'],
    [{ t: 'rfqs', extra: 1 }, 'QE_WS_BAD_MESSAGE'],
    [{ t: 'quote', rfqId: 'R', price: 1 }, 'QE_WS_BAD_MESSAGE'],
  ];
  for (const [m, code] of cases) {
    const r = parseRfqMessage(m);
    t.equal(r.t, 'invalid', JSON.stringify(m).slice(0, 80));
    if (r.t === 'invalid') t.equal(r.code, code);
  }
});
