/**
 * Label-free counters read from the gateway's plain stats fields at scrape time. HotCounter needs
 * a label; these counters have none, and their values already live in `GatewayStats`, so the
 * socket handlers pay one `++` and prom-client sees the number only when scraped.
 */
import client, { type Registry } from 'prom-client';

export function readCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new client.Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
