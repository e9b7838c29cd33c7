/**
 * THE HOT PATH: tick → state update → pricing → encode once → fan out.
 *
 *   NATS callback ──► onMarketData()   decode into one reused record, apply to MarketState,
 *                                       mark the instrument dirty (no await, no per-client work)
 *   setImmediate  ──► flush()          once per turn of the event loop: pack the dirty set into the
 *                                       shared input rows, one pricing batch in flight at most
 *   (or earlier)  ──► flushEarly()     inside a long NATS read, once pricing.miniBatchRows are dirty:
 *                                       priced inline and published now (≤ miniBatchesPerTurn a turn)
 *   batch settles ──► onPriced()       per row and tier: degrade per policy, final gate, compare
 *                                       with what was last published, encode once, publish to the
 *                                       (tier, instrument) topic and the NATS quote subject
 *                                       then flush() again if ticks arrived meanwhile (newest wins)
 *
 * Everything else (gateway sockets, NATS connection, sweeps, metrics scraping) hangs off the
 * narrow interfaces below. State per (instrument, tier) lives in one Float64Array; the frame
 * record and its level arrays are reused, so a tick allocates nothing here but the decoder's
 * map and the copy the NATS client needs.
 */
import type { Decoder } from '@msgpack/msgpack';
import type { Registry } from 'prom-client';
import type { Clock } from './clock.js';
import type { Universe, TierConfig } from './config.js';
import { MdResult, MD_RESULT_CODE, EngineError, ErrorCode } from './errors.js';
import { HotCounter, readGauge } from './metrics.js';
import type { Inventory } from './inventory/index.js';
import { InstrumentStatus, type MarketState } from './market/index.js';
import { gateLevel, GateResult, GATE_RESULT_NAMES } from './pricing/gate.js';
import {
  IN_CHALF, IN_IID, IN_IMB, IN_MID, IN_POS, IN_STRIDE, IN_VOLF, IN_VOLS,
  MAX_BANDS, N_TIERS, O_BD, O_LEVELS, O_NLEV, O_TIER_STRIDE, OUT_STRIDE,
} from './pricing/ladder.js';
import type { BatchPricer } from './pricing/pool.js';
import { makeDecoder, MD_LIMITS } from './wire/codec.js';
import { decodeMd, MdKind, newMdRecord } from './wire/market-data.js';
import { QuoteFrameWriter, QuoteReason, QuoteState } from './wire/quote.js';
import type { Tier } from './config.js';
import type { OverlayReason, OverlaySetting, OverlaySource, QuoteOverlay } from './risk/ports.js';

/** Where quote frames go: the WebSocket gateway. */
export interface QuoteSink {
  publishBinary(tier: number, iid: number, frame: Uint8Array): void;
  /** whether any socket (either format) is subscribed to (tier, iid) now */
  hasSubscribers?(tier: number, iid: number): boolean;
  wantsJson(tier: number, iid: number): boolean;
  publishJson(tier: number, iid: number, frame: string): void;
}

/** Quotes on NATS for venues and other gateways. `frame` is owned by the callee. */
export interface QuoteBus {
  publish(tier: number, iid: number, frame: Uint8Array): void;
}

/** One published (tier, instrument) frame, as kept for trades that name the `sq` they saw. */
export interface StreamedQuote {
  readonly sq: number;
  readonly state: string;
  readonly ts: number;
  readonly mid: number;
  /** [size, bid, ask] per band, ascending sizes */
  readonly levels: ReadonlyArray<readonly [number, number, number]>;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

// ── published record per (instrument, tier) ─────────────────────────────────────────────────
//  [ state | reason | seq | tsMs | mid | tk | tts | tpt | nLev | (size,bid,ask)×MAX_BANDS | bd×5 ]
const P_STATE = 0;
const P_REASON = 1;
const P_SEQ = 2;
const P_TS = 3;
const P_MID = 4;
const P_TK = 5;
const P_TTS = 6;
const P_TPT = 7;
const P_NLEV = 8;
const P_LEVELS = 9;
const P_BD = P_LEVELS + 3 * MAX_BANDS;
const P_STRIDE = P_BD + 5;

const STATES = [QuoteState.FIRM, QuoteState.INDICATIVE, QuoteState.PULLED] as const;
const ST_FIRM = 0;
const ST_INDICATIVE = 1;
const ST_PULLED = 2;
const REASONS = [
  QuoteReason.NONE, QuoteReason.NO_DATA, QuoteReason.STALE, QuoteReason.THIN,
  QuoteReason.QUARANTINED, QuoteReason.DISCONNECTED, QuoteReason.GATE, QuoteReason.PRICER,
  QuoteReason.KILLED, QuoteReason.REGIME, QuoteReason.RISK_LIMIT,
] as const;
const R_NONE = 0;
const R_NO_DATA = 1;
const R_STALE = 2;
const R_THIN = 3;
const R_QUARANTINED = 4;
const R_DISCONNECTED = 5;
const R_GATE = 6;
const R_PRICER = 7;
const OVERLAY_REASON: Readonly<Record<OverlayReason, number>> = { killed: 8, regime: 9, risk_limit: 10 };
const OVERLAY_SOURCES: readonly OverlaySource[] = ['kill', 'regime', 'loss'];
const EMPTY_FRAME = new Uint8Array(0);
/** no overlay mode (the market decides) */
const OV_NONE = -1;

// row metadata captured at pack time: [ tk | tts | tpt ]
const M_STRIDE = 3;

export interface HotPathDeps {
  readonly universe: Universe;
  readonly clock: Clock;
  readonly market: MarketState;
  readonly inventory: Inventory;
  readonly pricer: BatchPricer;
  readonly registry: Registry;
  readonly log: Logger;
  sink?: QuoteSink;
  bus?: QuoteBus;
}

export class HotPath {
  private readonly u: Universe;
  private readonly clock: Clock;
  private readonly market: MarketState;
  private readonly inventory: Inventory;
  private readonly pricer: BatchPricer;
  private readonly log: Logger;
  sink: QuoteSink | undefined;
  bus: QuoteBus | undefined;

  private readonly decoder: Decoder = makeDecoder(MD_LIMITS);
  private readonly rec = newMdRecord();
  private ingestSeq = 0;

  // dirty set: a FIFO ring of instrument ids + membership flags (each id at most once)
  private readonly dirtyFlag: Uint8Array;
  private readonly dirtyRing: Int32Array;
  private dirtyHead = 0;
  private dirtyCount = 0;
  private flushScheduled = false;
  private inFlight = false;
  /** early batches priced inside the current event-loop turn, and the limits on them */
  private earlyThisTurn = 0;
  private readonly miniBatchRows: number;
  private readonly miniBatchesPerTurn: number;
  private closed = false;

  private readonly rowMeta: Float64Array;
  private readonly lastGoodMid: Float64Array;
  private readonly pub: Float64Array;
  /**
   * The last `histDepth` published records per (instrument, tier), slot = seq % histDepth, so a
   * client may trade on the frame it saw rather than only the newest (engine/rfq). One copy of
   * P_STRIDE doubles per publish; no allocation. Memory: instruments × 3 × histDepth × 304 B.
   */
  private readonly hist: Float64Array;
  private readonly histDepth: number;
  private readonly scratch = new Float64Array(P_STRIDE);
  private readonly writer = new QuoteFrameWriter();
  private readonly tierCfg: readonly TierConfig[];
  /** smaller of tier max and instrument max, per (instrument, tier) */
  private readonly maxSize: Float64Array;
  private readonly collarBps: Float64Array;
  private readonly minSpreadBps: number;
  /**
   * Overlays per source and (instrument, tier): mode (OV_NONE | ST_INDICATIVE | ST_PULLED),
   * reason index, size and spread multipliers; `ov*` holds the combination the batch reads.
   */
  private readonly srcMode: Int8Array[];
  private readonly srcReason: Uint8Array[];
  private readonly srcSize: Float64Array[];
  private readonly srcSpread: Float64Array[];
  private readonly ovMode: Int8Array;
  private readonly ovReason: Uint8Array;
  private readonly ovSize: Float64Array;
  private readonly ovSpread: Float64Array;
  private readonly lotSize: Float64Array;
  private readonly tickSize: Float64Array;
  /** QuoteOverlay (engine/risk/ports.ts): kill switch, regime and loss limit write here */
  readonly overlay: QuoteOverlay;
  /** frames of the current batch waiting for the NATS quote bus: (iid·3 + tier index, copy) */
  private readonly busCell: Int32Array;
  private readonly busFrames: Uint8Array[];
  private busCount = 0;
  private feedConnected = true;
  private lastBatchDoneMs = 0;
  private pricerFailures = 0;

  readonly mdCounter: HotCounter;
  readonly quoteCounter: HotCounter;
  readonly gateCounter: HotCounter;
  readonly pricerCounter: HotCounter;

  constructor(deps: HotPathDeps) {
    this.u = deps.universe;
    this.clock = deps.clock;
    this.market = deps.market;
    this.inventory = deps.inventory;
    this.pricer = deps.pricer;
    this.log = deps.log;
    this.sink = deps.sink;
    this.bus = deps.bus;
    const cfg = this.u.config;
    const n = cfg.instruments.length;
    this.dirtyFlag = new Uint8Array(n);
    this.dirtyRing = new Int32Array(n);
    this.rowMeta = new Float64Array(this.pricer.capacity * M_STRIDE);
    this.lastGoodMid = new Float64Array(n).fill(NaN);
    this.pub = new Float64Array(n * N_TIERS * P_STRIDE);
    this.histDepth = cfg.rfq.streamHistory;
    this.hist = new Float64Array(n * N_TIERS * this.histDepth * P_STRIDE);
    this.tierCfg = [cfg.tiers['1'], cfg.tiers['2'], cfg.tiers['3']];
    this.maxSize = new Float64Array(n * N_TIERS);
    this.collarBps = new Float64Array(n);
    cfg.instruments.forEach((ins, i) => {
      this.collarBps[i] = ins.collarBps ?? cfg.pricing.collarBps;
      for (let t = 0; t < N_TIERS; t++) {
        this.maxSize[i * N_TIERS + t] = Math.min(ins.maxSize, this.tierCfg[t].maxSize);
        const o = (i * N_TIERS + t) * P_STRIDE;
        this.pub[o + P_STATE] = ST_PULLED;
        this.pub[o + P_REASON] = R_NO_DATA;
        this.pub[o + P_MID] = 0;
      }
    });
    this.minSpreadBps = cfg.pricing.minSpreadBps;
    this.miniBatchRows = cfg.pricing.miniBatchRows;
    this.miniBatchesPerTurn = cfg.pricing.miniBatchRows > 0 ? cfg.pricing.miniBatchesPerTurn : 0;
    const cells = n * N_TIERS;
    this.srcMode = OVERLAY_SOURCES.map(() => new Int8Array(cells).fill(OV_NONE));
    this.srcReason = OVERLAY_SOURCES.map(() => new Uint8Array(cells));
    this.srcSize = OVERLAY_SOURCES.map(() => new Float64Array(cells).fill(1));
    this.srcSpread = OVERLAY_SOURCES.map(() => new Float64Array(cells).fill(1));
    this.ovMode = new Int8Array(cells).fill(OV_NONE);
    this.ovReason = new Uint8Array(cells);
    this.ovSize = new Float64Array(cells).fill(1);
    this.ovSpread = new Float64Array(cells).fill(1);
    this.lotSize = Float64Array.from(cfg.instruments, (ins) => ins.lotSize);
    this.tickSize = Float64Array.from(cfg.instruments, (ins) => ins.tickSize);
    this.busCell = new Int32Array(this.pricer.capacity * N_TIERS);
    this.busFrames = new Array<Uint8Array>(this.pricer.capacity * N_TIERS).fill(EMPTY_FRAME);
    this.overlay = {
      set: (source, o, iid, tier) => this.setOverlay(source, o, iid, tier),
      clear: (source, iid, tier) => this.setOverlay(source, null, iid, tier),
    };

    const reg = deps.registry;
    this.mdCounter = new HotCounter(reg, 'qe_md_messages_total', 'Market-data messages by outcome', 'result',
      ['ok', 'unchanged', 'QE_MD_DECODE', 'QE_MD_SCHEMA', 'QE_MD_UNKNOWN_INSTRUMENT', 'QE_MD_UNKNOWN_VENUE', 'QE_MD_CROSSED', 'QE_MD_DUPLICATE', 'QE_MD_SEQ_GAP', 'QE_MD_OUT_OF_ORDER']);
    this.quoteCounter = new HotCounter(reg, 'qe_quote_frames_total', 'Quote frames published, by tier and state', 'tier_state',
      ['1_firm', '1_indicative', '1_pulled', '2_firm', '2_indicative', '2_pulled', '3_firm', '3_indicative', '3_pulled']);
    this.gateCounter = new HotCounter(reg, 'qe_gate_rejections_total', 'Ladder levels blocked by the final gate', 'reason', GATE_RESULT_NAMES);
    this.pricerCounter = new HotCounter(reg, 'qe_pricer_batches_total', 'Pricing batches by outcome', 'result',
      ['ok', ErrorCode.PRICER_TIMEOUT, ErrorCode.PRICER_FAILED, ErrorCode.PRICER_BUSY]);
    readGauge(reg, 'qe_dirty_instruments', 'Instruments waiting to be priced', () => this.dirtyCount);
    readGauge(reg, 'qe_feed_connected', '1 while the NATS connection is up', () => (this.feedConnected ? 1 : 0));
    for (const [name, st] of [['firm', InstrumentStatus.FIRM], ['stale', InstrumentStatus.STALE], ['thin', InstrumentStatus.THIN], ['quarantined', InstrumentStatus.QUARANTINED], ['no_data', InstrumentStatus.NO_DATA]] as const) {
      readGauge(reg, `qe_instruments_${name}`, `Instruments whose market status is ${name}`, () => this.countStatus(st));
    }
    this.inventory.onChange((iid) => this.markDirty(iid));
  }

  // ── 1. tick in ──────────────────────────────────────────────────────────────────────────────
  /** NATS callback body for `<mdPrefix>.>`; never throws, never awaits. */
  onMarketData(payload: Uint8Array): MdResult {
    const rec = this.rec;
    let r: MdResult = decodeMd(this.decoder, payload, this.u.instrumentIndex, this.u.venueIndex, rec);
    if (r === MdResult.OK) {
      const seq = ++this.ingestSeq;
      r = rec.kind === MdKind.BOOK ? this.market.applyBook(rec, seq) : this.market.applyTrade(rec, seq);
      // `changed` covers rejections that still move state (a gap quarantines, a crossed venue
      // leaves the composite) as well as OK: reprice exactly when clients could see a difference.
      if (this.market.changed) {
        this.markDirty(rec.iid);
        if (this.dirtyCount >= this.miniBatchRows && this.earlyThisTurn < this.miniBatchesPerTurn && !this.inFlight) this.flushEarly();
      }
    }
    this.mdCounter.inc(r);
    return r;
  }

  markDirty(iid: number): void {
    if (this.dirtyFlag[iid] === 0) {
      this.dirtyFlag[iid] = 1;
      const n = this.dirtyRing.length;
      this.dirtyRing[(this.dirtyHead + this.dirtyCount) % n] = iid;
      this.dirtyCount++;
    }
    if (!this.flushScheduled && !this.inFlight && !this.closed) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
  }

  markAllDirty(): void {
    for (let i = 0; i < this.dirtyFlag.length; i++) this.markDirty(i);
  }

  // ── 2. batch out to the pricer ──────────────────────────────────────────────────────────────
  private readonly flushBound = (): void => this.flush();

  flush(): void {
    this.flushScheduled = false;
    this.earlyThisTurn = 0;
    if (this.inFlight || this.dirtyCount === 0 || this.closed) return;
    const count = this.pack();
    this.inFlight = true;
    this.pricer.run(count).then(
      (done) => this.onPriced(done),
      (err) => this.onPricerError(count, err),
    );
  }

  /**
   * The dirty set priced and published now, from inside a NATS callback: a read of many ticks
   * otherwise holds its first tick's quote until the last tick is applied. Only when the pricer
   * can price these rows on this thread; the scheduled flush() still takes whatever follows.
   */
  private flushEarly(): void {
    if (this.closed) return;
    if (this.dirtyCount > this.pricer.syncMaxRows) return;
    this.earlyThisTurn++;
    const count = this.pack();
    try {
      this.pricer.runSync(count);
    } catch (err) {
      this.onPricerError(count, err, false);
      return;
    }
    this.onPriced(count, false);
  }

  /** Moves up to `capacity` dirty instruments into the pricer's input rows; returns how many. */
  private pack(): number {
    const p = this.pricer;
    const m = this.market;
    const input = p.input;
    const meta = this.rowMeta;
    const pos = this.inventory.position;
    const count = Math.min(this.dirtyCount, p.capacity);
    const n = this.dirtyRing.length;
    for (let r = 0; r < count; r++) {
      const iid = this.dirtyRing[this.dirtyHead];
      this.dirtyHead = (this.dirtyHead + 1) % n;
      this.dirtyFlag[iid] = 0;
      let mid = m.mid[iid];
      if (Number.isFinite(mid) && mid > 0 && m.status[iid] === InstrumentStatus.FIRM) this.lastGoodMid[iid] = mid;
      // indicative quotes of a stale instrument are priced from the last firm mid
      else if (!(mid > 0)) mid = this.lastGoodMid[iid];
      const io = r * IN_STRIDE;
      input[io + IN_IID] = iid;
      input[io + IN_MID] = mid;
      input[io + IN_VOLF] = m.volFastBps[iid];
      input[io + IN_VOLS] = m.volSlowBps[iid];
      input[io + IN_POS] = pos[iid];
      input[io + IN_IMB] = m.imbalance[iid];
      input[io + IN_CHALF] = m.halfSpreadBps[iid];
      meta[r * M_STRIDE] = m.lastTickSeq[iid];
      meta[r * M_STRIDE + 1] = m.lastSrcTsMs[iid];
      meta[r * M_STRIDE + 2] = m.lastPubMonoUs[iid];
    }
    this.dirtyCount -= count;
    return count;
  }

  // ── 3. gate, encode once, fan out ───────────────────────────────────────────────────────────
  /** `chain`: start the next batch if ticks are waiting (an early batch leaves them to flush()) */
  private onPriced(count: number, chain = true): void {
    this.inFlight = false;
    if (this.closed) return;
    this.pricerCounter.inc(0);
    this.pricerFailures = 0;
    const now = this.clock.nowMs();
    this.lastBatchDoneMs = now;
    const input = this.pricer.input;
    const out = this.pricer.output;
    for (let r = 0; r < count; r++) {
      const iid = input[r * IN_STRIDE + IN_IID];
      const mid = input[r * IN_STRIDE + IN_MID];
      const { state: marketState, reason } = this.marketMode(iid);
      for (let t = 0; t < N_TIERS; t++) {
        let st = ST_FIRM;
        let rs = R_NONE;
        if (marketState !== ST_FIRM) {
          st = this.degrade(t, reason);
          rs = reason;
        }
        const cell = iid * N_TIERS + t;
        const ovm = this.ovMode[cell];
        // an overlay at least as severe as the market's own state names itself (killed, regime, …)
        if (ovm !== OV_NONE && ovm >= st) {
          st = ovm;
          rs = this.ovReason[cell];
        }
        const sizeMult = this.ovSize[cell];
        const spreadMult = this.ovSpread[cell];
        const s = this.scratch;
        s[P_STATE] = st;
        s[P_REASON] = rs;
        s[P_TS] = now;
        s[P_MID] = mid > 0 ? mid : 0;
        s[P_TK] = this.rowMeta[r * M_STRIDE];
        s[P_TTS] = this.rowMeta[r * M_STRIDE + 1];
        s[P_TPT] = this.rowMeta[r * M_STRIDE + 2];
        let n = 0;
        if (st !== ST_PULLED) {
          const to = r * OUT_STRIDE + t * O_TIER_STRIDE;
          const nOut = Math.min(out[to + O_NLEV], MAX_BANDS);
          const maxSize = this.maxSize[iid * N_TIERS + t];
          const minSize = this.u.config.instruments[iid].minSize;
          const collar = this.collarBps[iid];
          for (let k = 0; k < nOut; k++) {
            const lo = to + O_LEVELS + 3 * k;
            let size = out[lo];
            let bid = out[lo + 1];
            let ask = out[lo + 2];
            if (sizeMult !== 1 || spreadMult !== 1) {
              // stress policy: smaller (whole lots) and wider around the same mid; the gate still rules
              const lot = this.lotSize[iid];
              size = lot > 0 ? Math.floor((size * sizeMult) / lot) * lot : size * sizeMult;
              // widened outward onto the tick grid: never tighter than asked, never off-grid
              const tick = this.tickSize[iid];
              bid = Math.floor((mid - (mid - bid) * spreadMult) / tick + 1e-9) * tick;
              ask = Math.ceil((mid + (ask - mid) * spreadMult) / tick - 1e-9) * tick;
            }
            const g = gateLevel(mid, size, bid, ask, this.minSpreadBps, collar, maxSize, minSize);
            if (g !== GateResult.OK) {
              this.gateCounter.inc(g);
              continue;
            }
            s[P_LEVELS + 3 * n] = size;
            s[P_LEVELS + 3 * n + 1] = bid;
            s[P_LEVELS + 3 * n + 2] = ask;
            n++;
          }
          for (let b = 0; b < 5; b++) s[P_BD + b] = out[to + O_BD + b];
          if (n === 0) {
            // fail closed: nothing survived the gate (or nothing could be priced)
            s[P_STATE] = ST_PULLED;
            s[P_REASON] = rs !== R_NONE ? rs : R_GATE;
          }
        }
        s[P_NLEV] = n;
        this.commit(iid, t, s);
      }
    }
    this.flushBus();
    if (chain && this.dirtyCount > 0) this.flush();
  }

  private onPricerError(count: number, err: unknown, chain = true): void {
    this.inFlight = false;
    if (this.closed) return;
    const code = err instanceof EngineError ? err.code : ErrorCode.PRICER_FAILED;
    this.pricerCounter.incLabel(code);
    if (this.pricerFailures++ < 5 || this.pricerFailures % 1000 === 0) {
      this.log.error({ code, err: (err as Error)?.message, rows: count, failures: this.pricerFailures }, 'pricing batch failed: pulling its instruments');
    }
    // R14: never serve a quote the pricer could not refresh
    const now = this.clock.nowMs();
    const s = this.scratch;
    for (let r = 0; r < count; r++) {
      const iid = this.pricer.input[r * IN_STRIDE + IN_IID];
      for (let t = 0; t < N_TIERS; t++) {
        s[P_STATE] = ST_PULLED;
        s[P_REASON] = R_PRICER;
        s[P_TS] = now;
        s[P_MID] = 0;
        s[P_TK] = this.rowMeta[r * M_STRIDE];
        s[P_TTS] = this.rowMeta[r * M_STRIDE + 1];
        s[P_TPT] = this.rowMeta[r * M_STRIDE + 2];
        s[P_NLEV] = 0;
        this.commit(iid, t, s);
      }
    }
    this.flushBus();
    if (chain && this.dirtyCount > 0) this.flush();
  }

  /** Publishes `s` for (iid, tier) if it differs from what clients hold. */
  private commit(iid: number, t: number, s: Float64Array): void {
    const o = (iid * N_TIERS + t) * P_STRIDE;
    const pub = this.pub;
    let same = pub[o + P_STATE] === s[P_STATE] && pub[o + P_REASON] === s[P_REASON] && pub[o + P_NLEV] === s[P_NLEV];
    for (let k = 0; same && k < 3 * s[P_NLEV]; k++) same = pub[o + P_LEVELS + k] === s[P_LEVELS + k];
    if (same && pub[o + P_SEQ] > 0) return;
    const seq = pub[o + P_SEQ] + 1;
    pub.set(s, o);
    pub[o + P_SEQ] = seq;
    const h = ((iid * N_TIERS + t) * this.histDepth + (seq % this.histDepth)) * P_STRIDE;
    for (let k = 0; k < P_STRIDE; k++) this.hist[h + k] = pub[o + k];
    this.quoteCounter.inc(t * 3 + s[P_STATE]);
    this.fill(iid, t, 0);
    const sink = this.sink;
    const bin = this.writer.encodeBinary();
    if (sink) {
      sink.publishBinary(t + 1, iid, bin);
      if (sink.wantsJson(t + 1, iid)) sink.publishJson(t + 1, iid, this.writer.encodeJson());
    }
    // The NATS client keeps a reference until its next flush: give it its own copy. NATS
    // publishes wait for the end of the batch so every WebSocket frame of it goes out first.
    if (this.bus !== undefined) {
      const k = this.busCount++;
      this.busCell[k] = iid * N_TIERS + t;
      this.busFrames[k] = bin.slice();
    }
  }

  /** Publishes the batch's frames on the NATS quote bus (after the WebSocket fan-out). */
  private flushBus(): void {
    const bus = this.bus;
    const n = this.busCount;
    this.busCount = 0;
    for (let k = 0; k < n; k++) {
      const cell = this.busCell[k];
      const frame = this.busFrames[k];
      this.busFrames[k] = EMPTY_FRAME;
      bus?.publish((cell % N_TIERS) + 1, Math.floor(cell / N_TIERS), frame);
    }
  }

  private fill(iid: number, t: number, snapshot: 0 | 1): void {
    const o = (iid * N_TIERS + t) * P_STRIDE;
    const pub = this.pub;
    const f = this.writer.frame;
    f.i = this.u.config.instruments[iid].id;
    f.tr = t + 1;
    f.st = STATES[pub[o + P_STATE]];
    f.rs = REASONS[pub[o + P_REASON]];
    f.sq = pub[o + P_SEQ];
    f.sn = snapshot;
    f.ts = pub[o + P_TS];
    f.mid = pub[o + P_MID];
    f.tk = pub[o + P_TK];
    f.tts = pub[o + P_TTS];
    f.tpt = pub[o + P_TPT];
    const lv = this.writer.setLevels(pub[o + P_NLEV]);
    for (let k = 0; k < lv.length; k++) {
      const l = lv[k];
      l[0] = pub[o + P_LEVELS + 3 * k];
      l[1] = pub[o + P_LEVELS + 3 * k + 1];
      l[2] = pub[o + P_LEVELS + 3 * k + 2];
    }
    const bd = f.bd;
    for (let b = 0; b < 5; b++) bd[b] = pub[o + P_BD + b];
  }

  // ── overlays (kill switch, regime, loss limit) ──────────────────────────────────────────────
  private setOverlay(source: OverlaySource, o: OverlaySetting | null, iid?: number, tier?: Tier): void {
    const si = OVERLAY_SOURCES.indexOf(source);
    if (si < 0) throw new EngineError(ErrorCode.CONFIG_INVALID, `unknown overlay source ${String(source)}`);
    const n = this.dirtyFlag.length;
    if (iid !== undefined && !(Number.isInteger(iid) && iid >= 0 && iid < n)) throw new EngineError(ErrorCode.CONFIG_INVALID, `overlay: bad instrument index ${iid}`);
    if (tier !== undefined && tier !== 1 && tier !== 2 && tier !== 3) throw new EngineError(ErrorCode.CONFIG_INVALID, `overlay: bad tier ${String(tier)}`);
    let mode = OV_NONE;
    let reason = 0;
    let sizeMult = 1;
    let spreadMult = 1;
    if (o !== null) {
      mode = o.mode === 'pulled' ? ST_PULLED : o.mode === 'indicative' ? ST_INDICATIVE : OV_NONE;
      reason = OVERLAY_REASON[o.reason];
      sizeMult = o.sizeMult ?? 1;
      spreadMult = o.spreadMult ?? 1;
      if (reason === undefined) throw new EngineError(ErrorCode.CONFIG_INVALID, `overlay: unknown reason ${String(o.reason)}`);
      if (!(sizeMult > 0 && sizeMult <= 1)) throw new EngineError(ErrorCode.CONFIG_INVALID, `overlay: sizeMult must be in (0, 1], got ${sizeMult}`);
      if (!(spreadMult >= 1 && spreadMult <= 100)) throw new EngineError(ErrorCode.CONFIG_INVALID, `overlay: spreadMult must be in [1, 100], got ${spreadMult}`);
    }
    const i0 = iid ?? 0;
    const i1 = iid === undefined ? n : iid + 1;
    const t0 = tier === undefined ? 0 : tier - 1;
    const t1 = tier === undefined ? N_TIERS : tier;
    for (let i = i0; i < i1; i++) {
      let changed = false;
      for (let t = t0; t < t1; t++) {
        const cell = i * N_TIERS + t;
        const sm = this.srcMode[si];
        if (sm[cell] === mode && this.srcReason[si][cell] === reason && this.srcSize[si][cell] === sizeMult && this.srcSpread[si][cell] === spreadMult) continue;
        sm[cell] = mode;
        this.srcReason[si][cell] = reason;
        this.srcSize[si][cell] = sizeMult;
        this.srcSpread[si][cell] = spreadMult;
        this.combine(cell);
        changed = true;
        // A pull needs no price: a stream somebody is subscribed to gets its pulled frame now (the
        // kill switch's latency), not after the next pricing batch; the rest (NATS quote subjects
        // only) follows in that batch, which computes the same pulled state, within milliseconds.
        // Publishing all of them here would cost a global kill one commit per (instrument, tier)
        // before the first socket hears anything (the frames leave when this task returns).
        if (this.ovMode[cell] === ST_PULLED && !this.closed && this.sink?.hasSubscribers?.(t + 1, i) !== false) this.publishPulled(i, t);
      }
      if (changed) this.markDirty(i);
    }
    this.flushBus();
  }

  /** Commits an explicit pulled frame for (iid, tier index) with the overlay's reason, unless already published. */
  private publishPulled(iid: number, t: number): void {
    const o = (iid * N_TIERS + t) * P_STRIDE;
    const reason = this.ovReason[iid * N_TIERS + t];
    if (this.pub[o + P_STATE] === ST_PULLED && this.pub[o + P_REASON] === reason && this.pub[o + P_SEQ] > 0) return;
    const s = this.scratch;
    for (let k = 0; k < P_STRIDE; k++) s[k] = this.pub[o + k];
    s[P_STATE] = ST_PULLED;
    s[P_REASON] = reason;
    s[P_TS] = this.clock.nowMs();
    s[P_NLEV] = 0;
    this.commit(iid, t, s);
  }

  /** The most severe mode wins (the first source in OVERLAY_SOURCES order on a tie); multipliers multiply. */
  private combine(cell: number): void {
    let mode = OV_NONE;
    let reason = 0;
    let size = 1;
    let spread = 1;
    for (let si = 0; si < OVERLAY_SOURCES.length; si++) {
      const m = this.srcMode[si][cell];
      if (m > mode) {
        mode = m;
        reason = this.srcReason[si][cell];
      }
      size *= this.srcSize[si][cell];
      spread *= this.srcSpread[si][cell];
    }
    this.ovMode[cell] = mode;
    this.ovReason[cell] = reason;
    this.ovSize[cell] = size;
    this.ovSpread[cell] = spread;
  }

  /** The combined overlay of (tier, instrument), for the trader screen and tests. */
  overlayOf(tier: Tier, iid: number): { mode: 'firm' | 'indicative' | 'pulled' | null; reason: string; sizeMult: number; spreadMult: number } {
    const cell = iid * N_TIERS + tier - 1;
    const m = this.ovMode[cell];
    return { mode: m === OV_NONE ? null : STATES[m], reason: m === OV_NONE ? '' : REASONS[this.ovReason[cell]], sizeMult: this.ovSize[cell], spreadMult: this.ovSpread[cell] };
  }

  // ── degradation policy ──────────────────────────────────────────────────────────────────────
  private marketMode(iid: number): { state: number; reason: number } {
    const r = this.modeScratch;
    if (!this.feedConnected) {
      r.state = ST_INDICATIVE;
      r.reason = R_DISCONNECTED;
      return r;
    }
    r.state = ST_INDICATIVE;
    switch (this.market.status[iid]) {
      case InstrumentStatus.FIRM:
        r.state = ST_FIRM;
        r.reason = R_NONE;
        break;
      case InstrumentStatus.STALE:
        r.reason = R_STALE;
        break;
      case InstrumentStatus.THIN:
        r.reason = R_THIN;
        break;
      case InstrumentStatus.QUARANTINED:
        r.reason = R_QUARANTINED;
        break;
      default:
        r.state = ST_PULLED;
        r.reason = R_NO_DATA;
    }
    return r;
  }
  private readonly modeScratch = { state: 0, reason: 0 };

  private degrade(t: number, reason: number): number {
    const tc = this.tierCfg[t];
    let mode: string;
    switch (reason) {
      case R_STALE: mode = tc.onStale; break;
      case R_THIN: mode = tc.onThin; break;
      case R_QUARANTINED: mode = tc.onQuarantine; break;
      case R_DISCONNECTED: mode = tc.onDisconnect; break;
      default: mode = 'pulled';
    }
    return mode === 'indicative' ? ST_INDICATIVE : ST_PULLED;
  }

  // ── edges ───────────────────────────────────────────────────────────────────────────────────
  /** NATS status: while disconnected nothing is firm (R21); on reconnect everything is repriced. */
  setFeedConnected(connected: boolean): void {
    if (this.feedConnected === connected) return;
    this.feedConnected = connected;
    this.log.warn({ connected }, connected ? 'market data reconnected: repricing all' : 'market data disconnected: quotes degraded');
    this.markAllDirty();
  }

  get isFeedConnected(): boolean {
    return this.feedConnected;
  }

  /** Timer body: venues age out without any tick arriving. */
  sweep(): void {
    this.market.sweep(this.clock.nowMs(), this.markDirtyBound);
  }
  private readonly markDirtyBound = (iid: number): void => this.markDirty(iid);

  /** The current frame of (tier, instrument) with sn=1, for subscribe and after conflation. */
  snapshot(tier: number, iid: number, json: boolean): Uint8Array | string | null {
    if (tier < 1 || tier > N_TIERS || iid < 0 || iid >= this.dirtyFlag.length) return null;
    // never published yet: the record still holds an explicit pulled/no_data state with sq 0
    this.fill(iid, tier - 1, 1);
    return json ? this.writer.encodeJson() : this.writer.encodeBinary();
  }

  /** The current frame of (tier, instrument) forced to pulled with `reason` (client-level kill switch), sn=1. */
  pulledSnapshot(tier: number, iid: number, json: boolean, reason: string): Uint8Array | string | null {
    if (tier < 1 || tier > N_TIERS || iid < 0 || iid >= this.dirtyFlag.length) return null;
    this.fill(iid, tier - 1, 1);
    const f = this.writer.frame;
    f.st = QuoteState.PULLED;
    f.rs = reason as QuoteReason;
    this.writer.setLevels(0);
    return json ? this.writer.encodeJson() : this.writer.encodeBinary();
  }

  health(): { ok: boolean; feedConnected: boolean; pricer: string; lastBatchAgeMs: number; instruments: Record<string, number> } {
    const now = this.clock.nowMs();
    return {
      ok: this.feedConnected && this.pricerFailures === 0,
      feedConnected: this.feedConnected,
      pricer: this.pricer.kind,
      lastBatchAgeMs: this.lastBatchDoneMs ? Math.round(now - this.lastBatchDoneMs) : -1,
      instruments: {
        firm: this.countStatus(InstrumentStatus.FIRM),
        stale: this.countStatus(InstrumentStatus.STALE),
        thin: this.countStatus(InstrumentStatus.THIN),
        quarantined: this.countStatus(InstrumentStatus.QUARANTINED),
        noData: this.countStatus(InstrumentStatus.NO_DATA),
      },
    };
  }

  private countStatus(st: number): number {
    let c = 0;
    const s = this.market.status;
    for (let i = 0; i < s.length; i++) if (s[i] === st) c++;
    return c;
  }

  /** Read-only view for tests and the CLI: the last published ladder of (tier, instrument). */
  published(tier: number, iid: number): { state: string; reason: string; seq: number; levels: number[][] } {
    const o = (iid * N_TIERS + tier - 1) * P_STRIDE;
    const levels: number[][] = [];
    for (let k = 0; k < this.pub[o + P_NLEV]; k++) levels.push([this.pub[o + P_LEVELS + 3 * k], this.pub[o + P_LEVELS + 3 * k + 1], this.pub[o + P_LEVELS + 3 * k + 2]]);
    return { state: STATES[this.pub[o + P_STATE]], reason: REASONS[this.pub[o + P_REASON]], seq: this.pub[o + P_SEQ], levels };
  }

  /**
   * The frame (tier, instrument) published with sequence `sq` if it is still among the last
   * rfq.streamHistory ones, or the newest when `sq` is undefined; null otherwise. Cold path (RFQ).
   */
  streamedQuote(tier: number, iid: number, sq?: number): StreamedQuote | null {
    if (tier < 1 || tier > N_TIERS || iid < 0 || iid >= this.dirtyFlag.length) return null;
    const o = (iid * N_TIERS + tier - 1) * P_STRIDE;
    const cur = this.pub[o + P_SEQ];
    if (cur === 0) return null;
    const want = sq ?? cur;
    if (!(want <= cur && want > cur - this.histDepth)) return null;
    const h = ((iid * N_TIERS + tier - 1) * this.histDepth + (want % this.histDepth)) * P_STRIDE;
    const r = this.hist;
    if (r[h + P_SEQ] !== want) return null;
    const levels: Array<[number, number, number]> = [];
    for (let k = 0; k < r[h + P_NLEV]; k++) levels.push([r[h + P_LEVELS + 3 * k], r[h + P_LEVELS + 3 * k + 1], r[h + P_LEVELS + 3 * k + 2]]);
    return { sq: want, state: STATES[r[h + P_STATE]], ts: r[h + P_TS], mid: r[h + P_MID], levels };
  }

  /** Whether a batch is in flight or scheduled (tests wait for quiescence). */
  get busy(): boolean {
    return this.inFlight || this.flushScheduled || this.dirtyCount > 0;
  }

  close(): void {
    this.closed = true;
  }
}

export { MD_RESULT_CODE };
