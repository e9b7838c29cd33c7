/**
 * Quote frames: engine → WebSocket clients (and NATS `<quotePrefix>.t<tier>.<instrument>`).
 * docs/protocol.md § Quote frame.
 *
 *   { t:'q', i, tr, st, rs, sq, sn, ts, mid, l:[[size,bid,ask],…], bd:[base,vol,hedge,skew,signal], tk, tts, tpt }
 *
 * One frame carries the whole ladder of one (tier, instrument): a frame *replaces* what the
 * client held, so a snapshot is just the current frame with `sn: 1`, and conflation (dropping
 * intermediate frames for a slow client) loses nothing a client needs.
 */
import { encodeShared } from './codec.js';

export const QuoteState = { FIRM: 'firm', INDICATIVE: 'indicative', PULLED: 'pulled' } as const;
export type QuoteState = (typeof QuoteState)[keyof typeof QuoteState];

/** Why a quote is not firm. '' when firm. */
export const QuoteReason = {
  NONE: '',
  NO_DATA: 'no_data',
  STALE: 'stale',
  THIN: 'thin',
  QUARANTINED: 'quarantined',
  DISCONNECTED: 'disconnected',
  GATE: 'gate',
  PRICER: 'pricer',
  /** a kill switch (global, tier, instrument or client) is on */
  KILLED: 'killed',
  /** the stress regime's per-tier policy (docs/risk-controls.md) */
  REGIME: 'regime',
  /** a risk limit pulled streaming (daily loss limit) */
  RISK_LIMIT: 'risk_limit',
} as const;
export type QuoteReason = (typeof QuoteReason)[keyof typeof QuoteReason];

/** A ladder level: [size, bid, ask]. */
export type QuoteLevel = [number, number, number];

export interface QuoteFrame {
  t: 'q';
  /** instrument id */
  i: string;
  /** tier 1..3 */
  tr: number;
  st: QuoteState;
  rs: QuoteReason;
  /** per (tier, instrument) sequence, +1 per frame published; snapshots repeat the current one */
  sq: number;
  /** 1 on a snapshot frame (sent on subscribe / after conflation), 0 on a live update */
  sn: 0 | 1;
  /** engine clock at pricing, epoch ms */
  ts: number;
  /** composite mid the ladder was priced from (0 when none) */
  mid: number;
  l: QuoteLevel[];
  /** band-0 breakdown in bps: [base half-spread, vol half-spread, hedge half-spread, skew shift, signal shift] */
  bd: [number, number, number, number, number];
  /** engine ingest sequence of the newest tick priced in */
  tk: number;
  /** that tick's venue source timestamp, epoch ms */
  tts: number;
  /** that tick's publisher monotonic µs (0 if the publisher sent none) */
  tpt: number;
}

export const MAX_LEVELS = 8;

const keyBytes = (k: string): Uint8Array => Uint8Array.from([0xa0 | k.length, ...Array.from(k, (c) => c.charCodeAt(0))]);
const K_T = keyBytes('t');
const K_I = keyBytes('i');
const K_TR = keyBytes('tr');
const K_ST = keyBytes('st');
const K_RS = keyBytes('rs');
const K_SQ = keyBytes('sq');
const K_SN = keyBytes('sn');
const K_TS = keyBytes('ts');
const K_MID = keyBytes('mid');
const K_L = keyBytes('l');
const K_BD = keyBytes('bd');
const K_TK = keyBytes('tk');
const K_TTS = keyBytes('tts');
const K_TPT = keyBytes('tpt');

/**
 * The one reused frame the hot path fills and encodes: its level arrays are preallocated and
 * the visible ladder is `l.length = n` (no allocation per quote).
 */
export class QuoteFrameWriter {
  readonly frame: QuoteFrame;
  private readonly levels: QuoteLevel[];

  constructor() {
    this.levels = Array.from({ length: MAX_LEVELS }, () => [0, 0, 0] as QuoteLevel);
    this.frame = {
      t: 'q', i: '', tr: 0, st: QuoteState.PULLED, rs: QuoteReason.NO_DATA, sq: 0, sn: 0, ts: 0, mid: 0,
      l: [], bd: [0, 0, 0, 0, 0], tk: 0, tts: 0, tpt: 0,
    };
  }

  /** Sets the visible ladder depth and returns the level records to fill in place. */
  setLevels(n: number): QuoteLevel[] {
    const l = this.frame.l;
    l.length = 0;
    for (let k = 0; k < n; k++) l.push(this.levels[k]);
    return l;
  }

  /**
   * msgpack bytes of the frame, valid until this writer's next encode: hand them to a copying sink
   * at once. Written by hand for this fixed layout (the generic encoder walked the object and its
   * keys for every frame: 5-8 % of the engine's main thread at 10k ticks/s); the output decodes
   * to exactly what `encodeGeneric()` gives (test/wire/quote.test.ts checks it on random frames).
   *
   *   fixmap(14) { fixstr key → value }…   value: fixstr/str8 | positive fixint | float64 | fixarray
   */
  encodeBinary(): Uint8Array {
    const f = this.frame;
    this.pos = 0;
    this.byte(0x80 | 14);
    this.key(K_T); this.str(f.t);
    this.key(K_I); this.str(f.i);
    this.key(K_TR); this.num(f.tr);
    this.key(K_ST); this.str(f.st);
    this.key(K_RS); this.str(f.rs);
    this.key(K_SQ); this.num(f.sq);
    this.key(K_SN); this.num(f.sn);
    this.key(K_TS); this.num(f.ts);
    this.key(K_MID); this.num(f.mid);
    this.key(K_L);
    const l = f.l;
    this.byte(0x90 | l.length);
    for (let k = 0; k < l.length; k++) {
      this.byte(0x93);
      this.num(l[k][0]);
      this.num(l[k][1]);
      this.num(l[k][2]);
    }
    this.key(K_BD);
    this.byte(0x95);
    for (let b = 0; b < 5; b++) this.num(f.bd[b]);
    this.key(K_TK); this.num(f.tk);
    this.key(K_TTS); this.num(f.tts);
    this.key(K_TPT); this.num(f.tpt);
    return this.buf.subarray(0, this.pos);
  }

  /** The same frame through the generic msgpack encoder (reference for tests). */
  encodeGeneric(): Uint8Array {
    return encodeShared(this.frame);
  }

  // Frames are < 700 bytes (8 levels); ids are ASCII ([A-Za-z0-9_-], ≤ 32 chars), so a string's
  // length in bytes is its length in characters.
  private readonly buf = new Uint8Array(1024);
  private readonly view = new DataView(this.buf.buffer);
  private pos = 0;

  private byte(b: number): void {
    this.buf[this.pos++] = b;
  }
  private key(k: Uint8Array): void {
    this.buf.set(k, this.pos);
    this.pos += k.length;
  }
  private str(v: string): void {
    const n = v.length;
    if (n < 32) this.byte(0xa0 | n);
    else {
      this.byte(0xd9);
      this.byte(n);
    }
    for (let c = 0; c < n; c++) this.buf[this.pos++] = v.charCodeAt(c);
  }
  private num(v: number): void {
    if (v >= 0 && v < 128 && (v | 0) === v) this.byte(v); // −0 too, as the generic encoder does
    else {
      this.byte(0xcb);
      this.view.setFloat64(this.pos, v);
      this.pos += 8;
    }
  }

  encodeJson(): string {
    return JSON.stringify(this.frame);
  }
}
