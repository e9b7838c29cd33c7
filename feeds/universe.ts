/**
 * Large universes for perf runs: the base config's instruments cloned round-robin until there
 * are `n`. The first base-size instruments keep their ids (so a demo subscribing to UST-10Y still
 * works); replica r of instrument X is `X-r`. The engine and the feed must both load the same
 * generated universe, since market data for an unknown instrument is rejected.
 */
import type { Config, ConfigInput } from '../engine/config.js';

const MAX_INSTRUMENTS = 20_000;
const ID_MAX = 32;

type InstrumentInput = ConfigInput['instruments'][number];

export function generateUniverse(base: Config, n: number): ConfigInput {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_INSTRUMENTS) {
    throw new RangeError(`universe size must be an integer in [1, ${MAX_INSTRUMENTS}], got ${n}`);
  }
  // A parsed Config is a valid input (defaults already filled); the clone only sheds readonly/frozen.
  const input = structuredClone(base) as unknown as ConfigInput;
  const src = input.instruments;
  const m = src.length;
  const used = new Set<string>();
  const out: InstrumentInput[] = [];
  for (let k = 0; k < n; k++) {
    const ins = src[k % m];
    const replica = Math.floor(k / m);
    let id = ins.id;
    if (replica > 0) {
      const suffix = `-${replica}`;
      id = ins.id.slice(0, ID_MAX - suffix.length) + suffix;
    }
    // Truncating a long base id can collide with another; a positional id is always free.
    if (used.has(id)) id = `I${k}`;
    used.add(id);
    out.push({ ...ins, id });
  }
  // A proxy that did not make it into a universe smaller than the base would fail validation.
  const kept = new Set(out.slice(0, Math.min(n, m)).map((ins) => ins.id));
  for (const ins of out) if (ins.hedgeProxy != null && !kept.has(ins.hedgeProxy)) ins.hedgeProxy = null;
  input.instruments = out;
  return input;
}
