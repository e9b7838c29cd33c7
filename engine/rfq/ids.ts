/**
 * Identifiers. RFQ and quote ids carry a per-process boot id, so a quote id from before a restart
 * can never name a quote made after it. Trade ids are *derived* from (client, acceptId): the same
 * accept maps to the same trade id in every process, which is what makes a retried publish
 * (Nats-Msg-Id = trade id) and a replayed accept after a crash land on one trade (R18, R19).
 */
import { createHash, randomBytes } from 'node:crypto';

export class IdSource {
  readonly bootId: string;
  private n = 0;
  constructor(bootId = randomBytes(4).toString('hex')) {
    this.bootId = bootId;
  }
  rfqId(): string {
    return `R-${this.bootId}-${++this.n}`;
  }
  quoteId(): string {
    return `Q-${this.bootId}-${++this.n}`;
  }
  streamRfqId(): string {
    return `S-${this.bootId}-${++this.n}`;
  }
}

/** 'T' + 32 hex chars of SHA-256(client ␊ acceptId): stable, and no client can name another client's trade. */
export function tradeIdFor(clientId: string, acceptId: string): string {
  return 'T' + createHash('sha256').update(clientId).update('\n').update(acceptId).digest('hex').slice(0, 32);
}

/** Key of an accept in the idempotency maps: acceptIds are the client's own, so scoped by client. */
export function acceptKey(clientId: string, acceptId: string): string {
  return `${clientId}\n${acceptId}`;
}
