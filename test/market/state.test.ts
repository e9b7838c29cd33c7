import t from 'tap';
import { ManualClock } from '../../engine/clock.js';
import { buildUniverse, parseConfig, type Universe } from '../../engine/config.js';
import { MdResult } from '../../engine/errors.js';
import { MdKind, newMdRecord } from '../../engine/wire/market-data.js';
import {
  InstrumentStatus,
  MarketState,
  TRADING_SECONDS_PER_YEAR,
  VenueState,
} from '../../engine/market/index.js';

// Venues TWB=0 MKX=1 BBG=2 EBS=3. AAA trades on TWB/MKX/BBG; BBB on all four; CCC on MKX/EBS.
const TWB = 0;
const MKX = 1;
const BBG = 2;
const EBS = 3;
const AAA = 0;
const BBB = 1;
const CCC = 2;

function universe(market: Record<string, unknown>, withCcc: boolean): Universe {
  const ins = (id: string, venues: string[], initialVolBpsAnnual: number) => ({
    id,
    assetClass: 'fx',
    tickSize: 0.0001,
    minSize: 100_000,
    maxSize: 10_000_000,
    lotSize: 1000,
    liquidityClass: 'high',
    refPrice: 100,
    baseSpreadBps: 1,
    hedgeCostBps: 0.1,
    initialVolBpsAnnual,
    sizeBands: [1_000_000],
    venues,
  });
  const tier = { spreadMult: 1, maxSize: 1e7, maxBands: 1, signalWeight: 0, onStale: 'pulled', onQuarantine: 'pulled', onThin: 'pulled', onDisconnect: 'pulled' };
  const liq = { arrivalA: 1, kappaPerBp: 0.1, impactCoef: 0 };
  return buildUniverse(
    parseConfig({
      venues: ['TWB', 'MKX', 'BBG', 'EBS'],
      // CCC can only exist while minVenues ≤ 2 (parseConfig refuses an instrument that could never be firm).
      instruments: [ins('AAA', ['TWB', 'MKX', 'BBG'], 800), ins('BBB', ['TWB', 'MKX', 'BBG', 'EBS'], 400), ...(withCcc ? [ins('CCC', ['MKX', 'EBS'], 800)] : [])],
      liquidity: { high: liq, medium: liq, low: liq },
      market: { staleAfterMs: 500, minVenues: 2, outlierBps: 50, recoveryTicks: 3, volFastHalfLifeMs: 5000, volSlowHalfLifeMs: 300_000, ...market },
      tiers: { '1': tier, '2': tier, '3': tier },
      clients: [{ id: 'c1', name: 'Client', tier: 1 }],
    }),
  );
}

/** A state plus a driver that reuses one record, as the ingest path does. */
function setup(market: Record<string, unknown> = {}) {
  const clock = new ManualClock();
  const minVenues = market.minVenues;
  const s = new MarketState(universe(market, minVenues === undefined || (minVenues as number) <= 2), clock);
  const rec = newMdRecord();
  let ingest = 0;
  const book = (iid: number, vid: number, seq: number, bid: number, ask: number, bidSize = 1, askSize = 1): MdResult => {
    rec.kind = MdKind.BOOK;
    rec.iid = iid;
    rec.vid = vid;
    rec.seq = seq;
    rec.srcTsMs = clock.nowMs() - 1;
    rec.bid = bid;
    rec.ask = ask;
    rec.bidSize = bidSize;
    rec.askSize = askSize;
    rec.side = 0;
    rec.pubMonoUs = 1000 + seq;
    return s.applyBook(rec, ++ingest);
  };
  const trade = (iid: number, vid: number, seq: number, px: number, side: 1 | -1): MdResult => {
    rec.kind = MdKind.TRADE;
    rec.iid = iid;
    rec.vid = vid;
    rec.seq = seq;
    rec.srcTsMs = clock.nowMs() - 1;
    rec.bid = px;
    rec.ask = px;
    rec.bidSize = 1_000_000;
    rec.askSize = 0;
    rec.side = side;
    rec.pubMonoUs = 0;
    return s.applyTrade(rec, ++ingest);
  };
  const sweep = () => {
    const changed: number[] = [];
    const n = s.sweep(clock.nowMs(), (iid) => changed.push(iid));
    return { n, changed };
  };
  return { clock, s, rec, book, trade, sweep, ingest: () => ingest };
}

const close = (a: number, b: number, eps = 1e-9) => Math.abs(a - b) <= eps * Math.max(1, Math.abs(b));

t.test('market - composite is the mean of venue mids with best bid/ask, half-spread and imbalance', async (t) => {
  const { s, book } = setup();
  t.equal(s.status[AAA], InstrumentStatus.NO_DATA);
  t.ok(Number.isNaN(s.mid[AAA]));
  t.equal(book(AAA, TWB, 1, 99.9, 100.1, 5, 1), MdResult.OK);
  t.equal(book(AAA, MKX, 1, 99.95, 100.15, 2, 2), MdResult.OK);
  t.equal(book(AAA, BBG, 1, 99.8, 100.0, 1, 3), MdResult.OK);
  t.ok(close(s.mid[AAA], (100 + 100.05 + 99.9) / 3));
  t.equal(s.compBid[AAA], 99.95);
  t.equal(s.compAsk[AAA], 100.0);
  t.ok(close(s.halfSpreadBps[AAA], ((0.1 + 0.1 + 0.1) / 3 / s.mid[AAA]) * 1e4));
  t.ok(close(s.imbalance[AAA], (8 - 6) / 14));
  t.equal(s.liveVenues[AAA], 3);
  t.equal(s.status[AAA], InstrumentStatus.FIRM);
  t.match(s.statusReason(AAA), /^firm: 3 venues/);
  // Other instruments untouched.
  t.equal(s.status[BBB], InstrumentStatus.NO_DATA);
  t.ok(Number.isNaN(s.mid[BBB]));
});

t.test('market - a repeated identical book is OK_NO_CHANGE, a size change is OK', async (t) => {
  const { s, book } = setup();
  book(AAA, TWB, 1, 99.9, 100.1);
  book(AAA, MKX, 1, 99.9, 100.1);
  t.equal(book(AAA, TWB, 2, 99.9, 100.1), MdResult.OK_NO_CHANGE);
  t.equal(s.changed, false);
  t.equal(book(AAA, TWB, 3, 99.9, 100.1, 3, 1), MdResult.OK);
  t.equal(s.changed, true);
  t.ok(close(s.imbalance[AAA], (4 - 2) / 6));
});

t.test('market - lastTickSeq, lastSrcTsMs and lastPubMonoUs follow accepted messages only', async (t) => {
  const { s, book, trade, clock } = setup();
  book(AAA, TWB, 7, 99.9, 100.1);
  t.equal(s.lastTickSeq[AAA], 1);
  t.equal(s.lastSrcTsMs[AAA], clock.nowMs() - 1);
  t.equal(s.lastPubMonoUs[AAA], 1007);
  clock.advance(10);
  t.equal(book(AAA, TWB, 7, 99.9, 100.1), MdResult.DUPLICATE);
  t.equal(s.lastTickSeq[AAA], 1, 'dropped message does not touch it');
  t.equal(trade(AAA, MKX, 1, 100, 1), MdResult.OK_NO_CHANGE);
  t.equal(s.lastTickSeq[AAA], 3);
  t.equal(s.lastSrcTsMs[AAA], clock.nowMs() - 1);
  t.equal(s.lastTickSeq[BBB], -1);
});

t.test('market - a venue older than staleAfterMs leaves the composite on sweep; all stale → STALE, mid NaN', async (t) => {
  const { s, book, clock, sweep } = setup();
  book(AAA, TWB, 1, 99.9, 100.1);
  book(AAA, MKX, 1, 99.8, 100.0);
  book(AAA, BBG, 1, 99.7, 99.9);
  clock.advance(300);
  book(AAA, TWB, 2, 99.9, 100.1);
  book(AAA, MKX, 2, 99.8, 100.0);
  const before = s.mid[AAA];

  clock.advance(200); // BBG exactly staleAfterMs old: still fresh
  t.same(sweep(), { n: 0, changed: [] });
  t.equal(s.liveVenues[AAA], 3);

  clock.advance(1);
  t.same(sweep(), { n: 1, changed: [AAA] });
  t.equal(s.liveVenues[AAA], 2);
  t.equal(s.venueState[AAA * s.venueCount + BBG], VenueState.STALE);
  t.ok(close(s.mid[AAA], 99.95));
  t.not(s.mid[AAA], before);
  t.equal(s.status[AAA], InstrumentStatus.FIRM);
  t.same(sweep(), { n: 0, changed: [] }, 'nothing changed since the last sweep');

  clock.advance(300); // TWB and MKX now 501 ms old
  t.same(sweep(), { n: 1, changed: [AAA] });
  t.equal(s.status[AAA], InstrumentStatus.STALE);
  t.ok(Number.isNaN(s.mid[AAA]));
  t.ok(Number.isNaN(s.compBid[AAA]));
  t.equal(s.liveVenues[AAA], 0);
  t.match(s.statusReason(AAA), /^stale: no venue book within 500 ms/);

  t.equal(book(AAA, TWB, 3, 99.9, 100.1), MdResult.OK, 'a fresh book revives it');
  t.equal(s.status[AAA], InstrumentStatus.THIN);
  t.equal(s.mid[AAA], 100);
});

t.test('market - a book applied after venues went stale excludes them without waiting for sweep', async (t) => {
  const { s, book, clock } = setup();
  book(AAA, TWB, 1, 99.9, 100.1);
  book(AAA, MKX, 1, 99.8, 100.0);
  clock.advance(500);
  t.equal(book(AAA, BBG, 1, 99.85, 100.05), MdResult.OK);
  t.equal(s.liveVenues[AAA], 3, 'exactly staleAfterMs old is still fresh');
  clock.advance(1);
  t.equal(book(AAA, BBG, 2, 99.85, 100.05), MdResult.OK);
  t.equal(s.liveVenues[AAA], 1);
  t.equal(s.status[AAA], InstrumentStatus.THIN);
  t.ok(close(s.mid[AAA], 99.95));
});

t.test('market - crossed and locked books return CROSSED, leave the composite, and a sane book restores', async (t) => {
  const { s, book } = setup();
  book(AAA, TWB, 1, 99.9, 100.1);
  book(AAA, MKX, 1, 99.9, 100.1);
  book(AAA, BBG, 1, 100.0, 100.2);
  t.equal(s.liveVenues[AAA], 3);

  t.equal(book(AAA, BBG, 2, 100.3, 100.2), MdResult.CROSSED);
  t.equal(s.changed, true);
  t.equal(s.liveVenues[AAA], 2);
  t.equal(s.venueState[AAA * s.venueCount + BBG], VenueState.CROSSED);
  t.equal(s.mid[AAA], 100);
  t.equal(s.status[AAA], InstrumentStatus.FIRM, 'crossed alone does not quarantine');

  t.equal(book(AAA, TWB, 2, 100.0, 100.0), MdResult.CROSSED, 'locked');
  t.equal(s.liveVenues[AAA], 1);
  t.equal(s.status[AAA], InstrumentStatus.THIN);

  t.equal(book(AAA, BBG, 3, 100.0, 100.2), MdResult.OK, 'seq advanced on the crossed message: 3 is in order');
  t.equal(s.status[AAA], InstrumentStatus.FIRM);
  t.equal(s.liveVenues[AAA], 2);
  t.ok(close(s.mid[AAA], 100.05));

  t.equal(book(AAA, MKX, 2, 100, 100), MdResult.CROSSED);
  t.equal(book(AAA, BBG, 4, 100.2, 100.1), MdResult.CROSSED);
  t.equal(s.liveVenues[AAA], 0);
  t.equal(s.status[AAA], InstrumentStatus.THIN, 'fresh but no sane venue');
  t.ok(Number.isNaN(s.mid[AAA]));
});

t.test('market - a crossed book after a gap reports SEQ_GAP, quarantines and still leaves the composite', async (t) => {
  const { s, book } = setup();
  book(AAA, TWB, 1, 99.9, 100.1);
  book(AAA, MKX, 1, 99.9, 100.1);
  t.equal(book(AAA, TWB, 5, 100.2, 100.1), MdResult.SEQ_GAP);
  t.equal(s.status[AAA], InstrumentStatus.QUARANTINED);
  t.equal(s.venueState[AAA * s.venueCount + TWB], VenueState.CROSSED);
  t.equal(s.liveVenues[AAA], 1);
  t.equal(s.venueBookSeq[AAA * s.venueCount + TWB], 5);
});

t.test('market - a book whose mid rounds onto its bid or ask is treated as locked', async (t) => {
  const { s, book } = setup();
  const bid = 100;
  const ask = bid + Number.EPSILON * 64; // the next double above 100
  t.equal(book(AAA, TWB, 1, bid, ask), MdResult.CROSSED);
  t.ok(Number.isNaN(s.mid[AAA]));
});

t.test('market - mid stays strictly inside the books when the float mean of equal mids rounds below them', async (t) => {
  const { s, book } = setup();
  // x = 100.000000008: (x + x + x) / 3 rounds to the double below x. Books one ulp either side of
  // x have mid exactly x, so an unclamped mean would land on the bid.
  const f = new Float64Array(1);
  const bits = new BigInt64Array(f.buffer);
  const step = (x: number, ulps: number) => {
    f[0] = x;
    bits[0] += BigInt(ulps);
    return f[0];
  };
  const x = 100.000000008;
  const bid = step(x, -1);
  const ask = step(x, 1);
  t.equal((x + x + x) / 3, bid, 'precondition: the naive mean is the bid');
  book(AAA, TWB, 1, bid, ask);
  book(AAA, MKX, 1, bid, ask);
  book(AAA, BBG, 1, bid, ask);
  t.equal(s.liveVenues[AAA], 3);
  t.equal(s.mid[AAA], x);
});

t.test('market - a venue mid far from the median is dropped as an outlier', async (t) => {
  const { s, book } = setup();
  book(BBB, TWB, 1, 99.9, 100.1);
  book(BBB, MKX, 1, 99.95, 100.15);
  book(BBB, BBG, 1, 99.85, 100.05);
  // mid 101, ~97 bps from the median 100.025: dropped, so the composite does not move at all.
  t.equal(book(BBB, EBS, 1, 100.9, 101.1), MdResult.OK_NO_CHANGE);
  t.equal(s.liveVenues[BBB], 3);
  t.equal(s.venueState[BBB * s.venueCount + EBS], VenueState.OUTLIER);
  t.ok(close(s.mid[BBB], 100));
  t.equal(s.compAsk[BBB], 100.05);
  t.equal(s.status[BBB], InstrumentStatus.FIRM);
  // Within outlierBps (mid 100.3 is ~28 bps away): included.
  t.equal(book(BBB, EBS, 2, 100.2, 100.4), MdResult.OK);
  t.equal(s.liveVenues[BBB], 4);
  t.ok(close(s.mid[BBB], (100 + 100.05 + 99.95 + 100.3) / 4));
});

t.test('market - two venues that disagree by more than 2 × outlierBps are both dropped', async (t) => {
  const { s, book } = setup();
  book(CCC, MKX, 1, 99.9, 100.1);
  t.equal(book(CCC, EBS, 1, 100.4, 100.6), MdResult.OK); // 0.5% apart: each ~25 bps from the median
  t.equal(s.liveVenues[CCC], 2);
  t.equal(s.status[CCC], InstrumentStatus.FIRM);
  t.equal(book(CCC, EBS, 2, 101.4, 101.6), MdResult.OK); // 1.5% apart: each ~74 bps from the median
  t.equal(s.liveVenues[CCC], 0);
  t.equal(s.status[CCC], InstrumentStatus.THIN);
  t.ok(Number.isNaN(s.mid[CCC]));
});

t.test('market - fewer than minVenues surviving → THIN with the mid of what remains', async (t) => {
  const { s, book } = setup({ minVenues: 3 });
  book(AAA, TWB, 1, 99.9, 100.1);
  t.equal(s.status[AAA], InstrumentStatus.THIN);
  t.equal(s.mid[AAA], 100);
  book(AAA, MKX, 1, 99.8, 100.0);
  t.equal(s.status[AAA], InstrumentStatus.THIN);
  t.ok(close(s.mid[AAA], 99.95));
  t.match(s.statusReason(AAA), /^thin: 2 of 3 required venues \(TWB live, MKX live, BBG no data\)/);
  t.equal(book(AAA, BBG, 1, 99.85, 100.05), MdResult.OK);
  t.equal(s.status[AAA], InstrumentStatus.FIRM);
});

t.test('market - seq gap applies the book, quarantines, and lifts after recoveryTicks in-order books', async (t) => {
  const { s, book } = setup();
  book(AAA, TWB, 10, 99.9, 100.1);
  book(AAA, MKX, 1, 99.9, 100.1);
  t.equal(book(AAA, TWB, 11, 99.9, 100.1), MdResult.OK_NO_CHANGE);
  t.equal(book(AAA, TWB, 14, 100.0, 100.2), MdResult.SEQ_GAP);
  t.equal(s.changed, true);
  t.equal(s.status[AAA], InstrumentStatus.QUARANTINED);
  t.ok(close(s.mid[AAA], 100.05), 'the gap book is applied: composite still maintained');
  t.equal(s.statusReason(AAA), 'quarantined: seq gap on TWB (expected 12, got 14); in-order books still needed: TWB 3');

  t.equal(book(AAA, MKX, 2, 99.9, 100.1), MdResult.OK_NO_CHANGE, 'other venues do not count toward recovery');
  t.equal(book(AAA, TWB, 15, 100.0, 100.2), MdResult.OK_NO_CHANGE);
  t.equal(book(AAA, TWB, 16, 100.0, 100.2), MdResult.OK_NO_CHANGE);
  t.equal(s.status[AAA], InstrumentStatus.QUARANTINED);
  t.equal(book(AAA, TWB, 17, 100.0, 100.2), MdResult.OK, 'status change is observable');
  t.equal(s.status[AAA], InstrumentStatus.FIRM);
});

t.test('market - a second fault while recovering restarts the count; every faulting venue must recover', async (t) => {
  const { s, book } = setup({ recoveryTicks: 2 });
  book(AAA, TWB, 1, 99.9, 100.1);
  book(AAA, MKX, 1, 99.9, 100.1);
  book(AAA, TWB, 3, 99.9, 100.1); // gap on TWB
  book(AAA, TWB, 4, 99.9, 100.1); // 1 of 2
  t.equal(book(AAA, TWB, 6, 99.9, 100.1), MdResult.SEQ_GAP); // restart
  t.equal(book(AAA, MKX, 1, 99.9, 100.1), MdResult.DUPLICATE); // MKX now owes 2 as well
  t.equal(s.venueRecovery[AAA * s.venueCount + TWB], 2);
  t.equal(s.venueRecovery[AAA * s.venueCount + MKX], 2);
  book(AAA, TWB, 7, 99.9, 100.1);
  book(AAA, TWB, 8, 99.9, 100.1);
  t.equal(s.status[AAA], InstrumentStatus.QUARANTINED, 'TWB recovered, MKX has not');
  t.match(s.statusReason(AAA), /in-order books still needed: MKX 2$/);
  book(AAA, MKX, 2, 99.9, 100.1);
  t.equal(s.status[AAA], InstrumentStatus.QUARANTINED);
  t.equal(book(AAA, MKX, 3, 99.9, 100.1), MdResult.OK);
  t.equal(s.status[AAA], InstrumentStatus.FIRM);
});

t.test('market - duplicate and out-of-order books are dropped and quarantine the instrument', async (t) => {
  const { s, book } = setup();
  book(AAA, TWB, 5, 99.9, 100.1);
  book(AAA, MKX, 5, 99.9, 100.1);
  const mid = s.mid[AAA];
  t.equal(book(AAA, TWB, 5, 98.0, 98.2), MdResult.DUPLICATE);
  t.equal(s.changed, true);
  t.equal(s.status[AAA], InstrumentStatus.QUARANTINED);
  t.equal(s.mid[AAA], mid, 'dropped: composite unchanged');
  t.equal(s.venueBid[AAA * s.venueCount + TWB], 99.9);
  t.equal(s.venueBookSeq[AAA * s.venueCount + TWB], 5);
  t.equal(s.statusReason(AAA), 'quarantined: duplicate on TWB (expected 6, got 5); in-order books still needed: TWB 3');

  t.equal(book(AAA, MKX, 3, 98.0, 98.2), MdResult.OUT_OF_ORDER);
  t.equal(s.changed, false, 'already quarantined: nothing observable changed');
  t.equal(s.mid[AAA], mid);
  t.match(s.statusReason(AAA), /^quarantined: out of order on MKX \(expected 6, got 3\)/);
  t.equal(s.venueBookSeq[AAA * s.venueCount + MKX], 5);
});

t.test('market - quarantine outranks stale', async (t) => {
  const { s, book, clock, sweep } = setup();
  book(AAA, TWB, 1, 99.9, 100.1);
  book(AAA, TWB, 3, 99.9, 100.1);
  clock.advance(501);
  sweep();
  t.equal(s.status[AAA], InstrumentStatus.QUARANTINED);
  t.ok(Number.isNaN(s.mid[AAA]));
});

t.test('market - trades do not move the mid; their gaps and duplicates do not quarantine', async (t) => {
  const { s, book, trade } = setup();
  book(AAA, TWB, 1, 99.9, 100.1);
  book(AAA, MKX, 1, 99.9, 100.1);
  t.equal(trade(AAA, TWB, 1, 101, 1), MdResult.OK_NO_CHANGE);
  t.equal(s.changed, false);
  t.equal(s.mid[AAA], 100);
  t.equal(s.lastTradePx[AAA], 101);
  t.equal(s.lastTradeSide[AAA], 1);
  t.equal(trade(AAA, TWB, 4, 99, -1), MdResult.SEQ_GAP);
  t.equal(s.lastTradePx[AAA], 99, 'a print after a gap is still a print');
  t.equal(s.lastTradeSide[AAA], -1);
  t.equal(trade(AAA, TWB, 4, 98, 1), MdResult.DUPLICATE);
  t.equal(trade(AAA, TWB, 2, 97, 1), MdResult.OUT_OF_ORDER);
  t.equal(s.lastTradePx[AAA], 99, 'repeated and older prints dropped');
  t.equal(s.status[AAA], InstrumentStatus.FIRM);
  t.equal(s.mid[AAA], 100);
  t.equal(s.venueBookSeq[AAA * s.venueCount + TWB], 1, 'trade seq is its own stream');
  t.equal(book(AAA, TWB, 2, 99.9, 100.1), MdResult.OK_NO_CHANGE);
});

t.test('market - vol starts from the configured annual figure over a 252 × 6.5 h year', async (t) => {
  const { s } = setup();
  t.equal(TRADING_SECONDS_PER_YEAR, 5_896_800);
  t.ok(close(s.volFastBps[AAA], 800 / Math.sqrt(5_896_800)));
  t.ok(close(s.volSlowBps[AAA], 800 / Math.sqrt(5_896_800)));
  t.ok(close(s.volFastBps[BBB], 400 / Math.sqrt(5_896_800)));
});

t.test('market - vol: a jump raises fast vol more than slow, by the time-decayed EWMA', async (t) => {
  const { s, book, clock } = setup({ staleAfterMs: 5000 }); // books 1 s apart must stay fresh
  const v0 = 800 / Math.sqrt(TRADING_SECONDS_PER_YEAR) / 1e4; // per √s, as a fraction
  book(AAA, TWB, 1, 99.9, 100.1);
  book(AAA, MKX, 1, 99.9, 100.1);
  book(AAA, BBG, 1, 99.9, 100.1);
  t.ok(close(s.volFastBps[AAA], v0 * 1e4), 'first firm mid seeds, no update');

  clock.advance(1000);
  book(AAA, TWB, 2, 100.9, 101.1); // outlier against 100, 100: mid holds
  t.equal(s.mid[AAA], 100);
  t.ok(close(s.volFastBps[AAA], v0 * 1e4), 'no mid change, no vol update');
  book(AAA, MKX, 2, 100.9, 101.1); // majority moved: mid jumps 1%
  t.equal(s.mid[AAA], 101);

  const r = Math.log(101 / 100);
  const ewma = (halfLifeSec: number) => {
    const a = 1 - Math.exp((-Math.LN2 * 1) / halfLifeSec);
    return Math.sqrt((1 - a) * v0 * v0 + (a * r * r) / 1) * 1e4;
  };
  t.ok(close(s.volFastBps[AAA], ewma(5)), `fast ${s.volFastBps[AAA]} vs ${ewma(5)}`);
  t.ok(close(s.volSlowBps[AAA], ewma(300)), `slow ${s.volSlowBps[AAA]} vs ${ewma(300)}`);
  t.ok(s.volFastBps[AAA] > 2 * s.volSlowBps[AAA]);
  t.ok(s.volSlowBps[AAA] > v0 * 1e4);
});

t.test('market - vol ignores mids from fewer than minVenues and floors dt at 1 ms', async (t) => {
  const { s, book, clock } = setup();
  const v0 = s.volFastBps[CCC];
  book(CCC, MKX, 1, 99.9, 100.1);
  clock.advance(1000);
  book(CCC, MKX, 2, 100.9, 101.1);
  t.equal(s.status[CCC], InstrumentStatus.THIN);
  t.equal(s.volFastBps[CCC], v0, 'thin mids do not feed vol');
  book(CCC, EBS, 1, 100.9, 101.1); // first firm mid: seed
  t.equal(s.volFastBps[CCC], v0);
  book(CCC, MKX, 3, 100.91, 101.11);
  book(CCC, EBS, 2, 100.91, 101.11); // same millisecond
  const r1 = Math.log(101.005 / 101);
  const r2 = Math.log(101.01 / 101.005);
  const a = 1 - Math.exp((-Math.LN2 * 0.001) / 5);
  const var1 = (1 - a) * (v0 / 1e4) ** 2 + (a * r1 * r1) / 0.001;
  const var2 = (1 - a) * var1 + (a * r2 * r2) / 0.001;
  t.ok(close(s.volFastBps[CCC], Math.sqrt(var2) * 1e4, 1e-6), `${s.volFastBps[CCC]} vs ${Math.sqrt(var2) * 1e4}`);
});

t.test('market - a venue the instrument does not list is rejected as UNKNOWN_VENUE', async (t) => {
  const { s, book, trade } = setup();
  t.equal(book(AAA, EBS, 1, 99.9, 100.1), MdResult.UNKNOWN_VENUE);
  t.equal(trade(CCC, TWB, 1, 100, 1), MdResult.UNKNOWN_VENUE);
  t.equal(book(AAA, 9, 1, 99.9, 100.1), MdResult.UNKNOWN_VENUE);
  t.equal(book(AAA, -1, 1, 99.9, 100.1), MdResult.UNKNOWN_VENUE);
  t.equal(book(7, TWB, 1, 99.9, 100.1), MdResult.UNKNOWN_INSTRUMENT);
  t.equal(s.status[AAA], InstrumentStatus.NO_DATA);
  t.equal(s.venueBookSeq[AAA * s.venueCount + EBS], -1);
  t.equal(s.lastTickSeq[AAA], -1);
});

t.test('market - NaN, Infinity or non-positive inputs are refused and never become a mid', async (t) => {
  const { s, book } = setup();
  for (const [bid, ask] of [
    [NaN, 100],
    [99, NaN],
    [99, Infinity],
    [0, 100],
    [-1, 100],
  ]) {
    t.equal(book(AAA, TWB, 1, bid, ask), MdResult.SCHEMA, `${bid}/${ask}`);
  }
  t.equal(book(AAA, TWB, 1, 99.9, 100.1, NaN, 1), MdResult.SCHEMA);
  t.equal(book(AAA, TWB, NaN, 99.9, 100.1), MdResult.SCHEMA);
  t.equal(book(AAA, TWB, 1.5, 99.9, 100.1), MdResult.SCHEMA);
  t.equal(s.status[AAA], InstrumentStatus.NO_DATA);
  t.ok(Number.isNaN(s.mid[AAA]));
  t.equal(book(AAA, TWB, 1, 99.9, 100.1), MdResult.OK, 'the refused messages left no seq behind');
});

t.test('market - applyBook on a trade record is a bug and throws', async (t) => {
  const { s, rec } = setup();
  rec.kind = MdKind.TRADE;
  rec.iid = AAA;
  rec.vid = TWB;
  t.throws(() => s.applyBook(rec, 1), { code: 'QE_INTERNAL' });
  rec.kind = MdKind.BOOK;
  t.throws(() => s.applyTrade(rec, 1), { code: 'QE_INTERNAL' });
});

t.test('market - sweep leaves instruments with nothing expiring alone and reports each change once', async (t) => {
  const { s, book, clock, sweep } = setup();
  book(AAA, TWB, 1, 99.9, 100.1);
  book(AAA, MKX, 1, 99.9, 100.1);
  book(CCC, MKX, 1, 99.9, 100.1);
  book(CCC, EBS, 1, 99.9, 100.1);
  clock.advance(400);
  book(CCC, MKX, 2, 99.9, 100.1);
  book(CCC, EBS, 2, 99.9, 100.1);
  clock.advance(101);
  t.same(sweep(), { n: 1, changed: [AAA] });
  t.equal(s.status[CCC], InstrumentStatus.FIRM);
  t.equal(s.status[BBB], InstrumentStatus.NO_DATA);
  clock.advance(400);
  t.same(sweep(), { n: 1, changed: [CCC] });
  t.equal(s.status[CCC], InstrumentStatus.STALE);
});
