/** A small in-memory ClientDirectory (the CRM read interface) for RFQ and booking tests. */
import { clientRecordSchema, type ClientDirectory, type ClientRecord, type ClientRecordInput, type DeskAxes, type RelationshipScore } from '../../engine/crm/types.js';

type Listener = Parameters<ClientDirectory['onChange']>[0];

export class MemoryDirectory implements ClientDirectory {
  private readonly records = new Map<string, ClientRecord>();
  private readonly listeners: Listener[] = [];

  constructor(records: ClientRecordInput[] = []) {
    for (const r of records) this.set(r);
  }

  /** Validates like the CRM store does, freezes, stores and notifies. */
  set(input: ClientRecordInput): ClientRecord {
    const rec = Object.freeze(clientRecordSchema.parse(input)) as ClientRecord;
    this.records.set(rec.id, rec);
    for (const l of this.listeners) l({ kind: 'client', clientId: rec.id });
    return rec;
  }

  get(clientId: string): ClientRecord | undefined {
    return this.records.get(clientId);
  }
  effectiveTier(clientId: string, nowMs: number): 1 | 2 | 3 | undefined {
    const r = this.records.get(clientId);
    if (!r) return undefined;
    return r.override && r.override.expiresAtMs > nowMs ? r.override.tier : r.tier;
  }
  score(): RelationshipScore | undefined {
    return undefined;
  }
  axes(): DeskAxes {
    return { axes: [], updatedAtMs: 0 };
  }
  list(): readonly ClientRecord[] {
    return [...this.records.values()];
  }
  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }
}

/** Generous limits for the default demo clients (tier from config), unless overridden per client. */
export function demoDirectory(over: Record<string, Partial<ClientRecordInput>> = {}): MemoryDirectory {
  const base: Array<[string, string, 1 | 2 | 3]> = [
    ['northwind', 'Northwind Asset Management', 1],
    ['halcyon', 'Halcyon Pension Fund', 1],
    ['meridian', 'Meridian Capital', 2],
    ['bluewater', 'Bluewater Partners', 2],
    ['cedar', 'Cedar Mutual Insurance', 2],
    ['atlas', 'Atlas Retail Brokerage', 3],
    ['pinecrest', 'Pinecrest Wealth', 3],
    ['orbit', 'Orbit Fintech', 3],
  ];
  return new MemoryDirectory(base.map(([id, name, tier]) => ({ id, name, tier, creditLimit: 1e9, maxOrderSize: 5e7, ...over[id] })));
}
