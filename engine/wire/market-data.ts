/**
 * Normalized market data on NATS (docs/protocol.md § Market data).
 *
 *   subject  <mdPrefix>.book.<instrument>.<venue>    top of book, full replace
 *            <mdPrefix>.trade.<instrument>.<venue>   a print
 *   payload  msgpack map, short keys:
 *            book  { i, v, s, ts, b, a, bs, as, pt? }
 *            trade { i, v, s, ts, p, q, sd, pt? }
 *
 * `s` is the venue's sequence number for that (venue, instrument, kind) stream: +1 per message.
 * `ts` is the venue's source timestamp (epoch ms, fractional allowed). `pt` is optional: the
 * publisher's monotonic clock in µs (process.hrtime), carried through to quotes for latency
 * measurement on one host.
 *
 * The instrument token comes third so a shard can subscribe to `md.*.<instrument>.>` for the
 * instruments it owns.
 */
import type { Decoder } from '@msgpack/msgpack';
import { MdResult } from '../errors.js';

export const MdKind = { BOOK: 0, TRADE: 1 } as const;
export type MdKind = (typeof MdKind)[keyof typeof MdKind];

/** Wire shape of a book message, as a publisher writes it. */
export interface BookWire {
  readonly i: string;
  readonly v: string;
  readonly s: number;
  readonly ts: number;
  readonly b: number;
  readonly a: number;
  readonly bs: number;
  readonly as: number;
  readonly pt?: number;
}

/** Wire shape of a trade message. `sd` is the aggressor side: 'b' buyer-initiated, 's' seller-initiated. */
export interface TradeWire {
  readonly i: string;
  readonly v: string;
  readonly s: number;
  readonly ts: number;
  readonly p: number;
  readonly q: number;
  readonly sd: 'b' | 's';
  readonly pt?: number;
}

export function bookSubject(prefix: string, instrument: string, venue: string): string {
  return `${prefix}.book.${instrument}.${venue}`;
}
export function tradeSubject(prefix: string, instrument: string, venue: string): string {
  return `${prefix}.trade.${instrument}.${venue}`;
}

/**
 * Decoded, validated market-data message with dense ids resolved. One instance is reused for
 * every message on the hot path: read it before the next decode.
 */
export interface MdRecord {
  kind: MdKind;
  iid: number;
  vid: number;
  seq: number;
  srcTsMs: number;
  /** book: bid / ask / sizes; trade: price in `bid`, size in `bidSize`, side in `side` (+1 buy, −1 sell). */
  bid: number;
  ask: number;
  bidSize: number;
  askSize: number;
  side: number;
  /** publisher monotonic µs, 0 when absent */
  pubMonoUs: number;
}

export function newMdRecord(): MdRecord {
  return { kind: MdKind.BOOK, iid: -1, vid: -1, seq: 0, srcTsMs: 0, bid: 0, ask: 0, bidSize: 0, askSize: 0, side: 0, pubMonoUs: 0 };
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/**
 * Decodes and validates one payload into `out`. Returns MdResult.OK or the rejection code;
 * never throws (a decoder error is a value here). Crossed books are *not* rejected here:
 * market state decides what a crossed venue book means.
 */
export function decodeMd(
  decoder: Decoder,
  payload: Uint8Array,
  instrumentIndex: ReadonlyMap<string, number>,
  venueIndex: ReadonlyMap<string, number>,
  out: MdRecord,
): MdResult {
  let m: unknown;
  try {
    m = decoder.decode(payload);
  } catch {
    // Any decoder failure (truncated, limits, forbidden keys, trailing bytes) is the same
    // rejection to the caller; the engine's state is untouched because nothing was applied.
    return MdResult.DECODE;
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return MdResult.SCHEMA;
  const r = m as Record<string, unknown>;
  const i = r.i;
  const v = r.v;
  const s = r.s;
  const ts = r.ts;
  if (typeof i !== 'string' || typeof v !== 'string') return MdResult.SCHEMA;
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) return MdResult.SCHEMA;
  if (!isNum(ts) || ts <= 0) return MdResult.SCHEMA;
  const pt = r.pt;
  if (pt !== undefined && (!isNum(pt) || pt < 0)) return MdResult.SCHEMA;

  if ('b' in r) {
    const b = r.b;
    const a = r.a;
    const bs = r.bs;
    const as = r.as;
    if (!isNum(b) || !isNum(a) || b <= 0 || a <= 0) return MdResult.SCHEMA;
    if (!isNum(bs) || !isNum(as) || bs < 0 || as < 0) return MdResult.SCHEMA;
    out.kind = MdKind.BOOK;
    out.bid = b;
    out.ask = a;
    out.bidSize = bs;
    out.askSize = as;
    out.side = 0;
  } else if ('p' in r) {
    const p = r.p;
    const q = r.q;
    const sd = r.sd;
    if (!isNum(p) || p <= 0 || !isNum(q) || q <= 0) return MdResult.SCHEMA;
    if (sd !== 'b' && sd !== 's') return MdResult.SCHEMA;
    out.kind = MdKind.TRADE;
    out.bid = p;
    out.ask = p;
    out.bidSize = q;
    out.askSize = 0;
    out.side = sd === 'b' ? 1 : -1;
  } else {
    return MdResult.SCHEMA;
  }
  const iid = instrumentIndex.get(i);
  if (iid === undefined) return MdResult.UNKNOWN_INSTRUMENT;
  const vid = venueIndex.get(v);
  if (vid === undefined) return MdResult.UNKNOWN_VENUE;
  out.iid = iid;
  out.vid = vid;
  out.seq = s;
  out.srcTsMs = ts;
  out.pubMonoUs = pt === undefined ? 0 : pt;
  return MdResult.OK;
}

/** Monotonic clock in µs, comparable across processes on one Linux host (CLOCK_MONOTONIC). */
export function monoUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
