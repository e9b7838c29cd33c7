/**
 * Market state: the composite of many venues' top of book per instrument, written by one thread
 * only (STYLE 9), held in typed arrays sized once at startup (STYLE 7).
 *
 * Per (instrument, venue) arrays are instrument-major so one instrument's venues are adjacent:
 *
 *   slot = iid * venueCount + vid
 *   [ i0:v0 i0:v1 i0:v2 i0:v3 | i1:v0 i1:v1 i1:v2 i1:v3 | ... ]      venueCount = config.venues.length (≤ 16)
 *
 * A slot for a venue the instrument does not list stays empty (`venueListed` = 0): the waste is at
 * most 16 × 8 bytes per array per instrument and it keeps the index a multiply-add.
 *
 * Every mutation recomputes only the touched instrument (≤ 16 venues, insertion sort for the
 * median, no allocation). Time alone changes state only through `sweep()`, which skips every
 * instrument whose earliest venue expiry has not passed, so a quiet sweep is one compare per
 * instrument.
 */
import type { Clock } from '../clock.js';
import type { Universe } from '../config.js';
import { EngineError, ErrorCode, MdResult } from '../errors.js';
import { MdKind, type MdRecord } from '../wire/market-data.js';

export const InstrumentStatus = { NO_DATA: 0, FIRM: 1, STALE: 2, THIN: 3, QUARANTINED: 4 } as const;
export type InstrumentStatus = (typeof InstrumentStatus)[keyof typeof InstrumentStatus];
/** Indexed by InstrumentStatus, for logs and metrics labels. */
export const INSTRUMENT_STATUS_NAME: readonly string[] = ['no_data', 'firm', 'stale', 'thin', 'quarantined'];

/** Why a venue is or is not in an instrument's composite, as of the last recompute. */
export const VenueState = { NONE: 0, LIVE: 1, STALE: 2, CROSSED: 3, OUTLIER: 4 } as const;
export type VenueState = (typeof VenueState)[keyof typeof VenueState];
const VENUE_STATE_NAME: readonly string[] = ['no data', 'live', 'stale', 'crossed', 'outlier'];

/**
 * Trading seconds in a year: 252 trading days × 6.5 hours (the US equity session). Volatility
 * only accrues while venues tick, so an annual figure is spread over the time the market is open,
 * not over calendar seconds; a 24 h market (FX) will look more volatile per second than its
 * annual number suggests until the estimator has learnt from ticks.
 */
export const TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600;

/** σ annual (bps) → σ per √second (bps) under the trading-second year above. */
export function annualBpsToBpsPerSqrtSec(annualBps: number): number {
  return annualBps / Math.sqrt(TRADING_SECONDS_PER_YEAR);
}

/** Smallest dt used by the volatility update: two mids in the same millisecond would otherwise divide by ~0. */
const MIN_VOL_DT_SEC = 0.001;
const NO_SEQ = -1;

function same(a: number, b: number): boolean {
  // NaN is "no value" in these arrays: NaN → NaN is not a change.
  return a === b || (a !== a && b !== b);
}

export class MarketState {
  readonly size: number;
  readonly venueCount: number;

  // Per instrument, read by the pricing path.
  readonly mid: Float64Array;
  readonly compBid: Float64Array;
  readonly compAsk: Float64Array;
  readonly halfSpreadBps: Float64Array;
  readonly imbalance: Float64Array;
  readonly volFastBps: Float64Array;
  readonly volSlowBps: Float64Array;
  readonly liveVenues: Uint8Array;
  readonly status: Uint8Array;
  readonly lastTickSeq: Float64Array;
  readonly lastSrcTsMs: Float64Array;
  readonly lastPubMonoUs: Float64Array;
  readonly lastTradePx: Float64Array;
  readonly lastTradeSide: Int8Array;

  // Per slot (iid * venueCount + vid). Public for screens and tests; only this class writes them.
  readonly venueBid: Float64Array;
  readonly venueAsk: Float64Array;
  readonly venueBidSize: Float64Array;
  readonly venueAskSize: Float64Array;
  /** clock.nowMs() when the book was applied: staleness is judged on engine time, not venue time. */
  readonly venueRecvMs: Float64Array;
  /** Last accepted book / trade seq; −1 before the first message. Float64 holds any safe integer. */
  readonly venueBookSeq: Float64Array;
  readonly venueTradeSeq: Float64Array;
  /** VenueState as of the last recompute of the instrument. */
  readonly venueState: Uint8Array;
  /** In-order book messages this venue still owes before it stops holding its instrument in quarantine. */
  readonly venueRecovery: Int32Array;
  private readonly venueSane: Uint8Array;
  private readonly venueListed: Uint8Array;

  // Per instrument, internal.
  /** The instrument's venue ids, at [iid * venueCount, iid * venueCount + insVenueCount[iid]). */
  private readonly insVenues: Int32Array;
  private readonly insVenueCount: Uint8Array;
  private readonly hadData: Uint8Array;
  /** Venues with venueRecovery > 0; quarantined while non-zero. */
  private readonly recoveringVenues: Uint8Array;
  private readonly qCauseVid: Int32Array;
  private readonly qCauseResult: Uint8Array;
  private readonly qExpectedSeq: Float64Array;
  private readonly qGotSeq: Float64Array;
  /** Earliest receive time + staleAfterMs among fresh venues: sweep skips the instrument until then. */
  private readonly nextExpiryMs: Float64Array;
  /** Variance per second of log returns (not bps) and the mid/time of the last update. */
  private readonly volFastVar: Float64Array;
  private readonly volSlowVar: Float64Array;
  private readonly volPrevMid: Float64Array;
  private readonly volLastMs: Float64Array;

  // Scratch for one recompute; sized for the widest instrument.
  private readonly scratchMid: Float64Array;
  private readonly scratchSorted: Float64Array;
  private readonly scratchSlot: Int32Array;

  private readonly staleAfterMs: number;
  private readonly minVenues: number;
  private readonly outlierBps: number;
  private readonly recoveryTicks: number;
  private readonly fastHalfLifeSec: number;
  private readonly slowHalfLifeSec: number;
  private readonly venueNames: readonly string[];
  private readonly clock: Clock;
  private lastChanged = false;

  constructor(universe: Universe, clock: Clock) {
    const cfg = universe.config;
    const n = cfg.instruments.length;
    const V = cfg.venues.length;
    const slots = n * V;
    this.size = n;
    this.venueCount = V;
    this.clock = clock;
    this.venueNames = cfg.venues;
    this.staleAfterMs = cfg.market.staleAfterMs;
    this.minVenues = cfg.market.minVenues;
    this.outlierBps = cfg.market.outlierBps;
    this.recoveryTicks = cfg.market.recoveryTicks;
    this.fastHalfLifeSec = cfg.market.volFastHalfLifeMs / 1000;
    this.slowHalfLifeSec = cfg.market.volSlowHalfLifeMs / 1000;

    this.mid = new Float64Array(n).fill(NaN);
    this.compBid = new Float64Array(n).fill(NaN);
    this.compAsk = new Float64Array(n).fill(NaN);
    this.halfSpreadBps = new Float64Array(n).fill(NaN);
    this.imbalance = new Float64Array(n);
    this.volFastBps = new Float64Array(n);
    this.volSlowBps = new Float64Array(n);
    this.liveVenues = new Uint8Array(n);
    this.status = new Uint8Array(n).fill(InstrumentStatus.NO_DATA);
    this.lastTickSeq = new Float64Array(n).fill(NO_SEQ);
    this.lastSrcTsMs = new Float64Array(n);
    this.lastPubMonoUs = new Float64Array(n);
    this.lastTradePx = new Float64Array(n).fill(NaN);
    this.lastTradeSide = new Int8Array(n);

    this.venueBid = new Float64Array(slots).fill(NaN);
    this.venueAsk = new Float64Array(slots).fill(NaN);
    this.venueBidSize = new Float64Array(slots);
    this.venueAskSize = new Float64Array(slots);
    this.venueRecvMs = new Float64Array(slots);
    this.venueBookSeq = new Float64Array(slots).fill(NO_SEQ);
    this.venueTradeSeq = new Float64Array(slots).fill(NO_SEQ);
    this.venueState = new Uint8Array(slots);
    this.venueRecovery = new Int32Array(slots);
    this.venueSane = new Uint8Array(slots);
    this.venueListed = new Uint8Array(slots);

    this.insVenues = new Int32Array(slots);
    this.insVenueCount = new Uint8Array(n);
    this.hadData = new Uint8Array(n);
    this.recoveringVenues = new Uint8Array(n);
    this.qCauseVid = new Int32Array(n).fill(-1);
    this.qCauseResult = new Uint8Array(n);
    this.qExpectedSeq = new Float64Array(n);
    this.qGotSeq = new Float64Array(n);
    this.nextExpiryMs = new Float64Array(n).fill(Infinity);
    this.volFastVar = new Float64Array(n);
    this.volSlowVar = new Float64Array(n);
    this.volPrevMid = new Float64Array(n).fill(NaN);
    this.volLastMs = new Float64Array(n);

    this.scratchMid = new Float64Array(V);
    this.scratchSorted = new Float64Array(V);
    this.scratchSlot = new Int32Array(V);

    for (let i = 0; i < n; i++) {
      const ins = cfg.instruments[i];
      const base = i * V;
      let k = 0;
      for (const name of ins.venues) {
        const vid = universe.venueIndex.get(name);
        // parseConfig guarantees listed venues exist; a miss means a hand-built Universe.
        if (vid === undefined) throw new EngineError(ErrorCode.INTERNAL, `instrument ${ins.id}: venue ${name} not in the universe`);
        this.insVenues[base + k++] = vid;
        this.venueListed[base + vid] = 1;
      }
      this.insVenueCount[i] = k;
      const sigma = annualBpsToBpsPerSqrtSec(ins.initialVolBpsAnnual) * 1e-4;
      this.volFastVar[i] = this.volSlowVar[i] = sigma * sigma;
      this.volFastBps[i] = this.volSlowBps[i] = sigma * 1e4;
    }
  }

  /**
   * Whether the last applyBook/applyTrade call changed rec.iid's composite or status. A rejection
   * can change it too (a duplicate quarantines; a crossed book removes its venue), so callers
   * reprice on this rather than on the result code.
   */
  get changed(): boolean {
    return this.lastChanged;
  }

  /** (instrument, venue) slot of a record, or −MdResult when the ids are out of range or not listed. */
  private slotOf(rec: MdRecord): number {
    const iid = rec.iid;
    if (!(iid >= 0 && iid < this.size && (iid | 0) === iid)) return -MdResult.UNKNOWN_INSTRUMENT;
    const vid = rec.vid;
    if (!(vid >= 0 && vid < this.venueCount && (vid | 0) === vid)) return -MdResult.UNKNOWN_VENUE;
    const slot = iid * this.venueCount + vid;
    return this.venueListed[slot] === 0 ? -MdResult.UNKNOWN_VENUE : slot;
  }

  applyBook(rec: MdRecord, ingestSeq: number): MdResult {
    this.lastChanged = false;
    if (rec.kind !== MdKind.BOOK) throw new EngineError(ErrorCode.INTERNAL, 'applyBook called with a non-book record');
    const iid = rec.iid;
    const vid = rec.vid;
    const slot = this.slotOf(rec);
    if (slot < 0) return -slot as MdResult;
    const bid = rec.bid;
    const ask = rec.ask;
    const bidSize = rec.bidSize;
    const askSize = rec.askSize;
    const seq = rec.seq;
    // decodeMd already enforces all of this; checked again because a NaN or Infinity that reached
    // the composite would become a mid, and the comparisons below are written so NaN fails them.
    if (!(bid > 0 && bid < Infinity && ask > 0 && ask < Infinity)) return MdResult.SCHEMA;
    if (!(bidSize >= 0 && bidSize < Infinity && askSize >= 0 && askSize < Infinity)) return MdResult.SCHEMA;
    if (!Number.isSafeInteger(seq) || seq < 0) return MdResult.SCHEMA;

    let result: MdResult = MdResult.OK;
    const last = this.venueBookSeq[slot];
    if (last !== NO_SEQ) {
      if (seq === last + 1) {
        this.recoverOne(iid, slot);
      } else if (seq <= last) {
        // Not applied: an older book than the one we hold must not overwrite it.
        const code = seq === last ? MdResult.DUPLICATE : MdResult.OUT_OF_ORDER;
        this.quarantine(iid, vid, slot, code, last + 1, seq);
        this.lastChanged = this.recompute(iid, this.clock.nowMs());
        return code;
      } else {
        // Applied: a book is a full top of book, so it is the best we know; what was missed is
        // why the instrument is quarantined.
        this.quarantine(iid, vid, slot, MdResult.SEQ_GAP, last + 1, seq);
        result = MdResult.SEQ_GAP;
      }
    }

    const now = this.clock.nowMs();
    this.venueBookSeq[slot] = seq;
    this.venueBid[slot] = bid;
    this.venueAsk[slot] = ask;
    this.venueBidSize[slot] = bidSize;
    this.venueAskSize[slot] = askSize;
    this.venueRecvMs[slot] = now;
    // Sane means the venue mid is strictly inside its own bid and ask. That is bid < ask, plus the
    // case where bid and ask are adjacent doubles and the mid rounds onto one of them (locked at
    // float resolution), plus bid + ask overflowing.
    const m = (bid + ask) * 0.5;
    const sane = m > bid && m < ask;
    this.venueSane[slot] = sane ? 1 : 0;
    if (!sane && result === MdResult.OK) result = MdResult.CROSSED;
    this.hadData[iid] = 1;
    this.touch(iid, rec, ingestSeq);

    const changed = this.recompute(iid, now);
    this.lastChanged = changed;
    if (result === MdResult.OK && !changed) return MdResult.OK_NO_CHANGE;
    return result;
  }

  /**
   * Trades update the last print only; they never move the mid. Their seq is checked per
   * (instrument, venue) like books, but a gap or duplicate in prints does not quarantine the
   * instrument because nothing priced depends on them. Accepted trades return OK_NO_CHANGE
   * (nothing to reprice); the caller counts the codes.
   */
  applyTrade(rec: MdRecord, ingestSeq: number): MdResult {
    this.lastChanged = false;
    if (rec.kind !== MdKind.TRADE) throw new EngineError(ErrorCode.INTERNAL, 'applyTrade called with a non-trade record');
    const iid = rec.iid;
    const slot = this.slotOf(rec);
    if (slot < 0) return -slot as MdResult;
    const px = rec.bid;
    const side = rec.side;
    const seq = rec.seq;
    if (!(px > 0 && px < Infinity) || (side !== 1 && side !== -1)) return MdResult.SCHEMA;
    if (!Number.isSafeInteger(seq) || seq < 0) return MdResult.SCHEMA;

    let result: MdResult = MdResult.OK_NO_CHANGE;
    const last = this.venueTradeSeq[slot];
    if (last !== NO_SEQ && seq !== last + 1) {
      // A repeated or older print is dropped so it is not counted twice; a print after a gap is real.
      if (seq === last) return MdResult.DUPLICATE;
      if (seq < last) return MdResult.OUT_OF_ORDER;
      result = MdResult.SEQ_GAP;
    }
    this.venueTradeSeq[slot] = seq;
    this.lastTradePx[iid] = px;
    this.lastTradeSide[iid] = side;
    this.touch(iid, rec, ingestSeq);
    return result;
  }

  /**
   * Ages venues out. Calls onChange(iid) for each instrument whose composite or status changed and
   * returns how many did. Instruments with no venue past its expiry cost one compare.
   */
  sweep(nowMs: number, onChange: (iid: number) => void): number {
    const expiry = this.nextExpiryMs;
    let count = 0;
    for (let i = 0; i < this.size; i++) {
      if (nowMs > expiry[i] && this.recompute(i, nowMs)) {
        count++;
        onChange(i);
      }
    }
    return count;
  }

  /** Human-readable reason for the current status, for logs and tests. Cold path: allocates. */
  statusReason(iid: number): string {
    if (!(iid >= 0 && iid < this.size)) return `unknown instrument ${iid}`;
    const st = this.status[iid];
    const V = this.venueCount;
    const base = iid * V;
    const n = this.insVenueCount[iid];
    const venues: string[] = [];
    for (let k = 0; k < n; k++) {
      const vid = this.insVenues[base + k];
      venues.push(`${this.venueNames[vid]} ${VENUE_STATE_NAME[this.venueState[base + vid]]}`);
    }
    const detail = venues.join(', ');
    switch (st) {
      case InstrumentStatus.NO_DATA:
        return 'no data: no venue book received yet';
      case InstrumentStatus.FIRM:
        return `firm: ${this.liveVenues[iid]} venues (${detail})`;
      case InstrumentStatus.STALE:
        return `stale: no venue book within ${this.staleAfterMs} ms (${detail})`;
      case InstrumentStatus.THIN:
        return `thin: ${this.liveVenues[iid]} of ${this.minVenues} required venues (${detail})`;
      default: {
        const what =
          this.qCauseResult[iid] === MdResult.SEQ_GAP ? 'seq gap' : this.qCauseResult[iid] === MdResult.DUPLICATE ? 'duplicate' : 'out of order';
        const owed: string[] = [];
        for (let k = 0; k < n; k++) {
          const vid = this.insVenues[base + k];
          const r = this.venueRecovery[base + vid];
          if (r > 0) owed.push(`${this.venueNames[vid]} ${r}`);
        }
        return (
          `quarantined: ${what} on ${this.venueNames[this.qCauseVid[iid]]} ` +
          `(expected ${this.qExpectedSeq[iid]}, got ${this.qGotSeq[iid]}); ` +
          `in-order books still needed: ${owed.join(', ')}`
        );
      }
    }
  }

  private touch(iid: number, rec: MdRecord, ingestSeq: number): void {
    this.lastTickSeq[iid] = ingestSeq;
    this.lastSrcTsMs[iid] = rec.srcTsMs;
    this.lastPubMonoUs[iid] = rec.pubMonoUs;
  }

  private quarantine(iid: number, vid: number, slot: number, code: MdResult, expected: number, got: number): void {
    // A second fault while recovering restarts that venue's count: recovery means consecutive.
    if (this.venueRecovery[slot] === 0) this.recoveringVenues[iid]++;
    this.venueRecovery[slot] = this.recoveryTicks;
    this.qCauseVid[iid] = vid;
    this.qCauseResult[iid] = code;
    this.qExpectedSeq[iid] = expected;
    this.qGotSeq[iid] = got;
  }

  private recoverOne(iid: number, slot: number): void {
    const r = this.venueRecovery[slot];
    if (r === 0) return;
    this.venueRecovery[slot] = r - 1;
    if (r === 1) this.recoveringVenues[iid]--;
  }

  /** Rebuilds iid's composite and status as of `now`; returns whether anything observable changed. */
  private recompute(iid: number, now: number): boolean {
    const V = this.venueCount;
    const base = iid * V;
    const n = this.insVenueCount[iid];
    const stale = this.staleAfterMs;
    const vs = this.venueState;
    const mids = this.scratchMid;
    const slots = this.scratchSlot;
    let fresh = 0;
    let m = 0;
    let nextExpiry = Infinity;
    for (let k = 0; k < n; k++) {
      const slot = base + this.insVenues[base + k];
      if (this.venueBookSeq[slot] === NO_SEQ) {
        vs[slot] = VenueState.NONE;
        continue;
      }
      // One expression for "fresh" here and in sweep's skip test, so float rounding cannot make
      // sweep skip an instrument that recompute would call stale.
      const expiry = this.venueRecvMs[slot] + stale;
      if (now > expiry) {
        vs[slot] = VenueState.STALE;
        continue;
      }
      fresh++;
      if (expiry < nextExpiry) nextExpiry = expiry;
      if (this.venueSane[slot] === 0) {
        vs[slot] = VenueState.CROSSED;
        continue;
      }
      mids[m] = (this.venueBid[slot] + this.venueAsk[slot]) * 0.5;
      slots[m] = slot;
      m++;
    }
    this.nextExpiryMs[iid] = nextExpiry;

    let live = 0;
    let newMid = NaN;
    let newBid = NaN;
    let newAsk = NaN;
    let newHalf = NaN;
    let newImb = 0;
    if (m > 0) {
      const sorted = this.scratchSorted;
      for (let j = 0; j < m; j++) {
        const x = mids[j];
        let p = j - 1;
        while (p >= 0 && sorted[p] > x) {
          sorted[p + 1] = sorted[p];
          p--;
        }
        sorted[p + 1] = x;
      }
      const h = m >> 1;
      const median = m & 1 ? sorted[h] : (sorted[h - 1] + sorted[h]) * 0.5;
      // With two venues the median is their average, so both are dropped when they disagree by
      // more than 2 × outlierBps: there is no majority to say which one is right.
      const tol = median * this.outlierBps * 1e-4;
      let sumMid = 0;
      let minMid = Infinity;
      let maxMid = -Infinity;
      let sumHalf = 0;
      let sumBs = 0;
      let sumAs = 0;
      for (let j = 0; j < m; j++) {
        const x = mids[j];
        const slot = slots[j];
        if (Math.abs(x - median) > tol) {
          vs[slot] = VenueState.OUTLIER;
          continue;
        }
        vs[slot] = VenueState.LIVE;
        live++;
        const b = this.venueBid[slot];
        const a = this.venueAsk[slot];
        sumMid += x;
        if (x < minMid) minMid = x;
        if (x > maxMid) maxMid = x;
        // Written so the NaN seed loses to the first venue: a max and a min without a sentinel.
        if (!(b <= newBid)) newBid = b;
        if (!(a >= newAsk)) newAsk = a;
        sumHalf += (a - b) * 0.5;
        sumBs += this.venueBidSize[slot];
        sumAs += this.venueAskSize[slot];
      }
      if (live > 0) {
        // Clamped to the venue mids' range: a float mean of equal values can land an ulp outside,
        // and the mid must stay strictly inside the venues' bids and asks.
        let avg = sumMid / live;
        if (avg < minMid) avg = minMid;
        else if (avg > maxMid) avg = maxMid;
        newMid = avg;
        newHalf = ((sumHalf / live) / avg) * 1e4;
        const tot = sumBs + sumAs;
        newImb = tot > 0 && tot < Infinity ? (sumBs - sumAs) / tot : 0;
      }
    }

    let st: InstrumentStatus;
    if (this.recoveringVenues[iid] > 0) st = InstrumentStatus.QUARANTINED;
    else if (this.hadData[iid] === 0) st = InstrumentStatus.NO_DATA;
    else if (fresh === 0) st = InstrumentStatus.STALE;
    else if (live < this.minVenues) st = InstrumentStatus.THIN;
    else st = InstrumentStatus.FIRM;

    if (live >= this.minVenues) this.updateVol(iid, newMid, now);

    const changed =
      !same(this.mid[iid], newMid) ||
      !same(this.compBid[iid], newBid) ||
      !same(this.compAsk[iid], newAsk) ||
      !same(this.halfSpreadBps[iid], newHalf) ||
      !same(this.imbalance[iid], newImb) ||
      this.liveVenues[iid] !== live ||
      this.status[iid] !== st;
    if (changed) {
      this.mid[iid] = newMid;
      this.compBid[iid] = newBid;
      this.compAsk[iid] = newAsk;
      this.halfSpreadBps[iid] = newHalf;
      this.imbalance[iid] = newImb;
      this.liveVenues[iid] = live;
      this.status[iid] = st;
    }
    return changed;
  }

  /**
   * Time-decayed EWMA of variance per second. Irregular ticks are weighted by elapsed time
   * (a = 1 − 2^(−dt/halfLife)) and r²/dt normalises each return to one second, so a burst of
   * small moves and one large move over the same interval contribute alike. Jumps are not
   * filtered: the quote should widen when the market gaps. Only mids with ≥ minVenues feed it, and
   * a thin stretch is bridged by one return from the last such mid.
   */
  private updateVol(iid: number, mid: number, now: number): void {
    const prev = this.volPrevMid[iid];
    if (prev !== prev) {
      this.volPrevMid[iid] = mid;
      this.volLastMs[iid] = now;
      return;
    }
    if (mid === prev) return;
    const r = Math.log(mid / prev);
    if (!Number.isFinite(r)) return;
    let dt = (now - this.volLastMs[iid]) / 1000;
    if (!(dt >= MIN_VOL_DT_SEC)) dt = MIN_VOL_DT_SEC;
    const x = (r * r) / dt;
    const aF = 1 - Math.exp((-Math.LN2 * dt) / this.fastHalfLifeSec);
    const aS = 1 - Math.exp((-Math.LN2 * dt) / this.slowHalfLifeSec);
    const vf = (1 - aF) * this.volFastVar[iid] + aF * x;
    const vsl = (1 - aS) * this.volSlowVar[iid] + aS * x;
    this.volFastVar[iid] = vf;
    this.volSlowVar[iid] = vsl;
    this.volFastBps[iid] = Math.sqrt(vf) * 1e4;
    this.volSlowBps[iid] = Math.sqrt(vsl) * 1e4;
    this.volPrevMid[iid] = mid;
    this.volLastMs[iid] = now;
  }
}
