/**
 * RFQ, accept, streamed trades and booking end to end: real nats-server with JetStream, the engine
 * (worker pricer, uWS gateway), `ws` clients, an in-memory CRM (ClientDirectory).
 */
import t from 'tap';
import { encode } from '@msgpack/msgpack';
import { ManualClock } from '../../engine/clock.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { demoDirectory } from '../helpers/directory.js';
import { accept, rfq, rfqConfig, startRfqRig } from '../helpers/rfq.js';
import { readJournal } from '../helpers/trades.js';

const firmQ = (tier: number, i: string) => (f: Frame) => f.t === 'q' && f.i === i && f.tr === tier && f.st === 'firm';

t.test('rfq - Tier 3 round trip: RFQ → firm quote from the pricer → accept → confirmed after the journal → inventory and the stream re-skew', async (t) => {
  const rig = await startRfqRig(t);
  const c = await rig.client('atlas');
  c.send({ t: 'sub', i: ['EURUSD'] });
  const before = await c.waitFor(firmQ(3, 'EURUSD'), 5000, 'firm tier-3 quote');
  const q = await rfq(c, 'EURUSD', 'buy', 5e6);
  t.equal(q.t, 'quote_firm', JSON.stringify(q));
  t.match(q, { i: 'EURUSD', side: 'buy', size: 5e6, by: 'auto' });
  t.match(q.quoteId, /^Q-/);
  t.equal(q.validUntil, q.ts + rig.te.config.rfq.ttlMs, 'validUntil = quote time + rfq.ttlMs, on the server clock');
  t.ok(q.ts <= q.serverTime, 'quote time ≤ send time');
  t.equal(q.bd.length, 6, 'breakdown: base, vol, hedge, skew, signal, shading');
  const band = before.l.find((l: number[]) => l[0] >= 5e6);
  t.ok(band, 'the tier-3 ladder has a band for 5M');
  const iid = rig.te.config.instruments.findIndex((i) => i.id === 'EURUSD');
  const pos0 = rig.te.engine.inventory.position[iid];
  const conf = await accept(c, q.quoteId, 'atlas-1');
  t.equal(conf.t, 'trade_confirm', JSON.stringify(conf));
  t.match(conf, { acceptId: 'atlas-1', quoteId: q.quoteId, rfqId: q.rfqId, i: 'EURUSD', side: 'buy', size: 5e6, price: q.price });
  t.match(conf.tradeId, /^T[0-9a-f]{32}$/);
  t.ok(conf.seq >= 1, 'carries the journal sequence');
  const journal = await readJournal(rig.te.pub);
  t.equal(journal.length, 1);
  t.equal(journal[0].msgId, conf.tradeId, 'journaled under Nats-Msg-Id = trade id');
  t.equal(rig.te.engine.inventory.position[iid], pos0 - 5e6, 'the desk sold 5M');
  // the desk is now short: its stream skews up (it wants to buy back) on the next batch, same mid
  const after = await c.waitFor((f) => f.t === 'q' && f.i === 'EURUSD' && f.st === 'firm' && f.sq > before.sq && f.bd[3] !== before.bd[3], 3000, 're-skewed frame');
  t.equal(after.mid, before.mid, 'no market move: the inventory alone moved the quote');
  t.ok(after.l[0][1] + after.l[0][2] > before.l[0][1] + before.l[0][2], `ladder centre moved up (${after.l[0][1]}/${after.l[0][2]} vs ${before.l[0][1]}/${before.l[0][2]})`);
  t.ok(after.bd[3] > 0, 'skew in the breakdown is positive');
});

t.test('rfq - Tier 2 round trip with the CRM agreement shading; a limit price the quote breaches goes to a trader', async (t) => {
  const dir = demoDirectory({ meridian: { agreements: [{ instrument: 'UST-10Y', shadingBps: 3 }] } });
  const rig = await startRfqRig(t, { dir });
  const c = await rig.client('meridian');
  c.send({ t: 'sub', i: ['UST-10Y'] });
  const s = await c.waitFor(firmQ(2, 'UST-10Y'));
  const q = await rfq(c, 'UST-10Y', 'sell', 1e6);
  t.equal(q.t, 'quote_firm');
  t.ok(q.price > s.l[0][1], `the shaded bid ${q.price} is above the streamed bid ${s.l[0][1]}`);
  t.ok(q.bd[5] > 0, 'shading shown in the breakdown');
  const conf = await accept(c, q.quoteId, 'm-1');
  t.equal(conf.t, 'trade_confirm');
  const lim = await rfq(c, 'UST-10Y', 'sell', 1e6, { limit: q.price + 1 });
  t.match(lim, { t: 'rfq', state: 'queued', reason: 'limit_price' });
});

t.test('rfq - Tier 1 goes to the trader queue; the trader sees it, quotes it, the client accepts; a trader can also reject', async (t) => {
  const rig = await startRfqRig(t);
  const c = await rig.client('northwind');
  const desk = await rig.client('desk', 'trader');
  const q = await rfq(c, 'CDX-IG', 'buy', 1e7);
  t.match(q, { t: 'rfq', state: 'queued', reason: 'tier1' });
  const pushed = await desk.waitFor((f) => f.t === 'rfq_queue' && f.rfq.rfqId === q.rfqId, 3000, 'queue push');
  t.match(pushed.rfq, { client: 'northwind', tier: 1, i: 'CDX-IG', side: 'buy', size: 1e7, state: 'queued', reason: 'tier1' });
  desk.send({ t: 'rfqs', id: 'l1' });
  const list = await desk.waitFor((f) => f.t === 'rfqs' && f.id === 'l1');
  t.ok(list.rfqs.some((r: any) => r.rfqId === q.rfqId), 'listed');
  desk.send({ t: 'quote', rfqId: q.rfqId, price: 60.0125, size: 1e7, id: 'tq' });
  const fq = await c.waitFor((f) => f.t === 'quote_firm' && f.rfqId === q.rfqId, 3000, 'trader quote at the client');
  t.match(fq, { price: 60.0125, size: 1e7, by: 'trader' });
  const conf = await accept(c, fq.quoteId, 'nw-1');
  t.match(conf, { t: 'trade_confirm', price: 60.0125, size: 1e7 });

  const q2 = await rfq(c, 'CDX-IG', 'sell', 1e7);
  desk.send({ t: 'quote', rfqId: q2.rfqId, price: 60.01251, size: 1e7, id: 'off-tick' });
  const offTick = await desk.waitFor((f) => f.t === 'rejected' && f.id === 'off-tick');
  t.equal(offTick.code, 'QE_RFQ_BAD_PRICE', 'trader prices must be on the tick grid');
  desk.send({ t: 'quote', rfqId: q2.rfqId, price: 90, size: 1e7, id: 'collar' });
  t.equal((await desk.waitFor((f) => f.t === 'rejected' && f.id === 'collar')).code, 'QE_RFQ_BAD_PRICE', 'and inside the collar');
  desk.send({ t: 'reject', rfqId: q2.rfqId, reason: 'no axe today' });
  const rej = await c.waitFor((f) => f.t === 'rejected' && f.rfqId === q2.rfqId);
  t.match(rej, { code: 'QE_RFQ_TRADER_REJECTED', message: 'no axe today', id: q2.id });
});

t.test('rfq - firm-quote expiry at TTL ± 1 ms on the server clock (manual clock)', async (t) => {
  const clock = new ManualClock(Date.now());
  const config = rfqConfig((c) => (c.rfq = { ttlMs: 200, queueTtlMs: 1000 }));
  const rig = await startRfqRig(t, { config, clock, tickEveryMs: 0 });
  const c = await rig.client('pinecrest');
  const at = async (ms: number) => {
    clock.set(ms);
    await rig.tick(); // fresh books at the new time: the market stays firm
  };
  const q1 = await rfq(c, 'EURUSD', 'buy', 1e6);
  t.equal(q1.validUntil, clock.nowMs() + 200, 'validUntil = the manual clock + ttl');
  t.equal(q1.ts, clock.nowMs());
  await at(q1.validUntil - 1);
  t.equal((await accept(c, q1.quoteId, 'ttl-1')).t, 'trade_confirm', 'TTL − 1 ms: booked');

  const q2 = await rfq(c, 'EURUSD', 'buy', 1e6);
  await at(q2.validUntil);
  t.equal((await accept(c, q2.quoteId, 'ttl0')).t, 'trade_confirm', 'TTL exactly (validUntil is inclusive): booked');

  const q3 = await rfq(c, 'EURUSD', 'buy', 1e6);
  await at(q3.validUntil + 1);
  const late = await accept(c, q3.quoteId, 'ttl+1');
  t.match(late, { t: 'rejected', code: 'QE_RFQ_EXPIRED', quoteId: q3.quoteId }, 'TTL + 1 ms: expired');

  const q4 = await rfq(c, 'EURUSD', 'sell', 1e6);
  await at(q4.validUntil);
  rig.te.engine.rfq.sweep();
  t.equal(rig.te.engine.rfq.state(q4.rfqId)?.kind, 'quoted', 'still quoted at validUntil');
  await at(q4.validUntil + 1);
  rig.te.engine.rfq.sweep();
  const exp = await c.waitFor((f) => f.t === 'rfq' && f.rfqId === q4.rfqId && f.state === 'expired');
  t.equal(exp.code, 'QE_RFQ_EXPIRED', 'unanswered: expired and rejected at TTL');

  const big = await rfq(c, 'EURUSD', 'buy', 2e7);
  t.match(big, { state: 'queued', reason: 'oversize' });
  await at(clock.nowMs() + 1000 + 1);
  rig.te.engine.rfq.sweep();
  const qexp = await c.waitFor((f) => f.t === 'rfq' && f.rfqId === big.rfqId && f.state === 'expired');
  t.equal(qexp.code, 'QE_RFQ_EXPIRED', 'the trader queue times out too (R17)');
  const journal = await readJournal(rig.te.pub);
  t.equal(journal.length, 2, 'only the two in-time accepts were booked');
});

t.test('rfq - 100 concurrent duplicate accepts (two sockets) → one booking, 100 identical answers; a replay after reconnect gets the same trade', async (t) => {
  const rig = await startRfqRig(t);
  const a = await rig.client('orbit');
  const b = await rig.client('orbit');
  const q = await rfq(a, 'ACME-27', 'buy', 1e6);
  t.equal(q.t, 'quote_firm');
  const iid = rig.te.config.instruments.findIndex((i) => i.id === 'ACME-27');
  const pos0 = rig.te.engine.inventory.position[iid];
  const answers = (c: TestClient) => c.frames.filter((f) => f.acceptId === 'dup' && (f.t === 'trade_confirm' || f.t === 'rejected'));
  for (let k = 0; k < 50; k++) {
    a.send({ t: 'accept', quoteId: q.quoteId, acceptId: 'dup' });
    b.send({ t: 'accept', quoteId: q.quoteId, acceptId: 'dup' });
  }
  await a.waitFor(() => answers(a).length >= 50, 5000, '50 answers on socket a');
  await b.waitFor(() => answers(b).length >= 50, 5000, '50 answers on socket b');
  const all = [...answers(a), ...answers(b)];
  t.equal(all.length, 100);
  t.ok(all.every((f) => f.t === 'trade_confirm'), 'every duplicate got the confirmation');
  t.equal(new Set(all.map((f) => f.tradeId)).size, 1, 'one trade id');
  t.equal(new Set(all.map((f) => f.seq)).size, 1, 'one journal sequence');
  const journal = await readJournal(rig.te.pub);
  t.equal(journal.length, 1, 'booked once');
  t.equal(rig.te.engine.booking.count('booked'), 1, 'published once');
  t.equal(rig.te.engine.inventory.position[iid], pos0 - 1e6, 'inventory moved once');
  a.close();
  b.close();
  const c = await rig.client('orbit');
  const replay = await accept(c, q.quoteId, 'dup');
  t.match(replay, { t: 'trade_confirm', tradeId: all[0].tradeId, seq: all[0].seq }, 'replay after reconnect');
  const reuse = await accept(c, 'Q-other', 'dup');
  t.match(reuse, { t: 'trade_confirm', tradeId: all[0].tradeId }, 'an acceptId names one trade for good');
});

t.test('rfq - concurrent accepts never take a client past its credit limit (property, real engine and journal)', async (t) => {
  const fc = (await import('fast-check')).default;
  const rig = await startRfqRig(t);
  const c = await rig.client('cedar');
  let run = 0;
  let booked = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom('EURUSD', 'UST-10Y'), fc.constantFrom('buy' as const, 'sell' as const), fc.integer({ min: 1, max: 8 })), { minLength: 2, maxLength: 8 }),
      fc.integer({ min: 1, max: 20 }),
      async (reqs, limitM) => {
        run++;
        const credit = rig.te.engine.rfq.credit.of('cedar');
        // each run gets `limitM` million of headroom over whatever earlier runs left open
        rig.dir.set({ ...rig.dir.get('cedar')!, creditLimit: credit.exposure() + limitM * 1e6 });
        const limit = rig.dir.get('cedar')!.creditLimit;
        const quotes: Frame[] = [];
        for (const [i, side, m] of reqs) {
          const q = await rfq(c, i, side, m * 1e6);
          if (q.t === 'quote_firm') quotes.push(q);
        }
        const results = await Promise.all(quotes.map((q, k) => accept(c, q.quoteId, `cr-${run}-${k}`)));
        for (const r of results) {
          if (r.t === 'trade_confirm') booked++;
          else if (r.code === 'QE_RFQ_CREDIT_LIMIT') refused++;
          else return false;
        }
        return credit.exposure() <= limit + 1e-6;
      },
    ),
    { numRuns: 15, seed: 5 },
  );
  t.ok(booked > 0 && refused > 0, `both outcomes (booked ${booked}, refused for credit ${refused})`);
  // the journal agrees with the engine: the net per instrument the engine holds is the journal's
  const journal = await readJournal(rig.te.pub);
  const net = new Map<string, number>();
  for (const e of journal) if (typeof e.trade !== 'string') net.set(e.trade.instrument, (net.get(e.trade.instrument) ?? 0) + (e.trade.side === 'buy' ? e.trade.size : -e.trade.size));
  const credit = rig.te.engine.rfq.credit.of('cedar');
  for (const [i, v] of net) t.equal(credit.net(rig.te.config.instruments.findIndex((x) => x.id === i)), v, `${i} net = journal`);
});

t.test('rfq - last look decides a +δ and a −δ market move the same way', async (t) => {
  const config = rfqConfig((c) => (c.rfq = { lastLookToleranceBps: 2 }));
  const rig = await startRfqRig(t, { config, tickEveryMs: 0 });
  const c = await rig.client('meridian');
  const results: Record<string, string> = {};
  for (const bps of [0.5, 1.5, 2.5, 4]) {
    for (const sign of [1, -1]) {
      rig.mid.EURUSD = 1.08;
      await rig.tick();
      const q = await rfq(c, 'EURUSD', 'buy', 1e6);
      t.equal(q.t, 'quote_firm');
      rig.mid.EURUSD = 1.08 * (1 + (sign * bps) / 1e4);
      await rig.tick();
      const r = await accept(c, q.quoteId, `ll-${bps}-${sign}`);
      results[`${sign > 0 ? '+' : '-'}${bps}`] = r.t === 'trade_confirm' ? 'booked' : r.code;
    }
    t.equal(results[`+${bps}`], results[`-${bps}`], `±${bps} bp: ${results[`+${bps}`]}`);
  }
  t.equal(results['+0.5'], 'booked');
  t.equal(results['+4'], 'QE_RFQ_PRICE_MOVED');
});

t.test("rfq - a client never sees another client's RFQs or quotes, and cannot use trader actions", async (t) => {
  const rig = await startRfqRig(t);
  const atlas = await rig.client('atlas');
  const spy = await rig.client('meridian');
  const trader = await rig.client('desk', 'trader');
  const q = await rfq(atlas, 'EURUSD', 'buy', 1e6);
  const queued = await rfq(atlas, 'EURUSD', 'buy', 2e7);
  t.equal(queued.state, 'queued');
  await trader.waitFor((f) => f.t === 'rfq_queue' && f.rfq.rfqId === queued.rfqId);
  const stolen = await accept(spy, q.quoteId, 'steal');
  t.match(stolen, { t: 'rejected', code: 'QE_RFQ_UNKNOWN_QUOTE' }, "another client's quoteId is an unknown quote");
  for (const [m, id] of [[{ t: 'rfqs', id: 'x1' }, 'x1'], [{ t: 'quote', rfqId: queued.rfqId, price: 1.08, size: 1e6, id: 'x2' }, 'x2'], [{ t: 'reject', rfqId: queued.rfqId, reason: 'x', id: 'x3' }, 'x3']] as const) {
    spy.send(m);
    const r = await spy.waitFor((f) => f.t === 'rejected' && f.id === id);
    t.equal(r.code, 'QE_RFQ_NOT_ENTITLED', `${m.t} needs the trader role`);
  }
  trader.send({ t: 'rfq', id: 'tr', i: 'EURUSD', side: 'buy', size: 1e6 });
  t.equal((await trader.waitFor((f) => f.t === 'rejected' && f.id === 'tr')).code, 'QE_RFQ_NOT_ENTITLED', 'a trader token cannot request quotes as a client');
  spy.send({ t: 'rfq', id: 'imp', i: 'EURUSD', side: 'buy', size: 1e6, client: 'atlas' });
  t.equal((await spy.waitFor((f) => f.t === 'error' && f.id === 'imp')).code, 'QE_WS_NOT_ENTITLED', 'a client cannot name another client');
  await new Promise((r) => setTimeout(r, 100));
  const leaked = spy.frames.filter((f) => ['quote_firm', 'rfq', 'rfq_queue', 'trade_confirm'].includes(f.t));
  t.same(leaked, [], 'meridian saw none of atlas\'s RFQ traffic');
  t.equal(atlas.frames.filter((f) => f.t === 'rfq_queue').length, 0, 'clients get no trader queue pushes');
  t.equal(rig.te.engine.rfq.state(q.rfqId)?.kind, 'quoted', 'the attempted theft changed nothing');
});

t.test('rfq - bad input gets a coded rejection and changes nothing', async (t) => {
  const rig = await startRfqRig(t);
  const c = await rig.client('bluewater');
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ i: 'NOPE', side: 'buy', size: 1e6 }, 'QE_WS_UNKNOWN_INSTRUMENT'],
    [{ i: 'EURUSD', side: 'buy', size: NaN }, 'QE_RFQ_BAD_SIZE'],
    [{ i: 'EURUSD', side: 'buy', size: -0 }, 'QE_RFQ_BAD_SIZE'],
    [{ i: 'EURUSD', side: 'buy', size: -1e6 }, 'QE_RFQ_BAD_SIZE'],
    [{ i: 'EURUSD', side: 'buy', size: Infinity }, 'QE_RFQ_BAD_SIZE'],
    [{ i: 'EURUSD', side: 'buy', size: 1e308 }, 'QE_RFQ_SIZE_LIMIT'],
    [{ i: 'EURUSD', side: 'buy', size: 1000001 }, 'QE_RFQ_BAD_SIZE'],
    [{ i: 'EURUSD', side: 'buy', size: 1e6, limit: -1 }, 'QE_RFQ_BAD_PRICE'],
  ];
  for (const [m, code] of cases) {
    const id = `bad-${code}-${String(m.size)}`;
    c.ws.send(encode({ t: 'rfq', id, ...m }));
    const r = await c.waitFor((f) => (f.t === 'rejected' || f.t === 'error') && f.id === id, 3000, id);
    t.equal(r.code, code, `${JSON.stringify(m)} → ${code}`);
  }
  const q = await rfq(c, 'EURUSD', 'buy', 1e6);
  t.match(await accept(c, 'Q-forged-1', 'f1'), { code: 'QE_RFQ_UNKNOWN_QUOTE' }, 'forged quoteId');
  c.send({ t: 'trade', i: 'EURUSD', side: 'buy', size: 1e6, price: 0.5, acceptId: 'f2' });
  t.equal((await c.waitFor((f) => f.acceptId === 'f2')).code, 'QE_RFQ_PRICE_MISMATCH', 'a streamed trade at a price never quoted');
  t.match(await accept(c, q.quoteId, 'f2'), { code: 'QE_RFQ_ACCEPT_ID_REUSED' }, 'an acceptId that was answered cannot be reused for another quote');
  t.equal(rig.te.engine.rfq.state(q.rfqId)?.kind, 'quoted', 'the quote is untouched');
  c.send({ t: 'accept', quoteId: q.quoteId, acceptId: 'x', tier: 1 });
  t.equal((await c.waitFor((f) => f.t === 'error' && /tier/.test(f.message))).code, 'QE_WS_NOT_ENTITLED');
  t.equal((await readJournal(rig.te.pub)).length, 0, 'nothing booked');
  t.ok([...rig.te.engine.inventory.position].every((p) => p === 0), 'inventory unchanged');
  t.equal(c.closed, null, 'socket still open');
});

t.test('rfq - trading on a streamed quote: the price of the frame the client saw, under the same checks', async (t) => {
  const config = rfqConfig((c) => (c.rfq = { streamHistory: 4 }));
  const rig = await startRfqRig(t, { config });
  const c = await rig.client('meridian');
  c.send({ t: 'sub', i: ['UST-10Y'] });
  const f = await c.waitFor(firmQ(2, 'UST-10Y'));
  const [size, bid, ask] = f.l[0];
  c.send({ t: 'trade', i: 'UST-10Y', side: 'buy', size, price: ask, sq: f.sq, acceptId: 's-1' });
  const conf = await c.waitFor((x) => x.acceptId === 's-1');
  t.match(conf, { t: 'trade_confirm', price: ask, size, side: 'buy' }, JSON.stringify(conf));
  c.send({ t: 'trade', i: 'UST-10Y', side: 'sell', size, price: bid + 1, sq: f.sq, acceptId: 's-2' });
  t.equal((await c.waitFor((x) => x.acceptId === 's-2')).code, 'QE_RFQ_PRICE_MISMATCH');
  c.send({ t: 'trade', i: 'UST-10Y', side: 'sell', size: 1e9, price: bid, acceptId: 's-3' });
  t.equal((await c.waitFor((x) => x.acceptId === 's-3')).code, 'QE_RFQ_SIZE_LIMIT');
  // the buy re-skewed the stream: wait until the frame we traded on has left the history
  const cur = () => rig.te.engine.hot.streamedQuote(2, rig.te.config.instruments.findIndex((i) => i.id === 'UST-10Y'))!.sq;
  const deadline = Date.now() + 5000;
  while (cur() < f.sq + 5 && Date.now() < deadline) {
    rig.mid['UST-10Y'] += 0.01;
    await rig.tick();
  }
  c.send({ t: 'trade', i: 'UST-10Y', side: 'sell', size, price: bid, sq: f.sq, acceptId: 's-4' });
  t.equal((await c.waitFor((x) => x.acceptId === 's-4')).code, 'QE_RFQ_STALE_QUOTE', 'a frame older than rfq.streamHistory');
  const now = await c.waitFor((x) => x.t === 'q' && x.i === 'UST-10Y' && x.sq === cur() && x.st === 'firm');
  c.send({ t: 'trade', i: 'UST-10Y', side: 'sell', size: now.l[0][0], price: now.l[0][1], acceptId: 's-5' });
  t.match(await c.waitFor((x) => x.acceptId === 's-5'), { t: 'trade_confirm', price: now.l[0][1] }, 'without sq: the current frame');
  c.send({ t: 'trade', i: 'UST-10Y', side: 'sell', size: now.l[0][0], price: now.l[0][1], acceptId: 's-5' });
  t.match(await c.next((x) => x.acceptId === 's-5'), { t: 'trade_confirm' }, 'a duplicate streamed trade: the same confirmation');
  t.equal((await readJournal(rig.te.pub)).length, 2);
});
