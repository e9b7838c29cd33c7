/**
 * Metrics. The hot path never calls prom-client directly (label hashing per call costs more than
 * the work it measures): it bumps slots of a Float64Array through `HotCounter.inc(slot)`, and the
 * values are copied into prom-client at scrape time by `collect()`.
 */
import client, { Registry } from 'prom-client';

export function makeRegistry(): Registry {
  const registry = new Registry();
  // process CPU, RSS, GC and event-loop lag (perf_hooks histogram, 10 ms resolution)
  client.collectDefaultMetrics({ register: registry, prefix: 'qe_', eventLoopMonitoringPrecision: 10 });
  return registry;
}

/** A counter with one label whose values are fixed at construction (e.g. error codes, tiers). */
export class HotCounter {
  private readonly values: Float64Array;
  constructor(
    registry: Registry,
    name: string,
    help: string,
    readonly labelName: string,
    readonly labelValues: readonly string[],
  ) {
    const values = (this.values = new Float64Array(labelValues.length));
    new client.Counter({
      name,
      help,
      labelNames: [labelName],
      registers: [registry],
      collect() {
        this.reset();
        for (let i = 0; i < values.length; i++) this.inc({ [labelName]: labelValues[i] }, values[i]);
      },
    });
  }
  inc(slot: number, by = 1): void {
    this.values[slot] += by;
  }
  /** By label value; for cold paths and tests. Unknown labels are a bug. */
  incLabel(label: string, by = 1): void {
    const i = this.labelValues.indexOf(label);
    if (i < 0) throw new Error(`HotCounter ${this.labelName}: unknown label ${label}`);
    this.values[i] += by;
  }
  get(label: string): number {
    const i = this.labelValues.indexOf(label);
    return i < 0 ? 0 : this.values[i];
  }
}

/** A gauge read at scrape time from a callback. */
export function readGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new client.Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
