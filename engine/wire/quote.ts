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

  /** msgpack bytes valid until the next encode anywhere in the process: hand to a copying sink at once. */
  encodeBinary(): Uint8Array {
    return encodeShared(this.frame);
  }

  encodeJson(): string {
    return JSON.stringify(this.frame);
  }
}
