/**
 * Time is injected (STYLE 13). The engine reads `nowMs()` (epoch ms, may be fractional) for
 * staleness, TTLs and timestamps on outbound messages; tests drive a ManualClock.
 */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = {
  nowMs: () => performance.timeOrigin + performance.now(),
};

export class ManualClock implements Clock {
  private t: number;
  constructor(startMs = 1_700_000_000_000) {
    this.t = startMs;
  }
  nowMs(): number {
    return this.t;
  }
  set(ms: number): void {
    this.t = ms;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
