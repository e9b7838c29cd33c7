/**
 * The risk audit trail: a JetStream stream on file storage holding every risk state change, who
 * made it, when and why. It is also the kill switch's durable state: at start-up attach reads it
 * from the first message and folds the events (the last word per scope wins), so a switch that was
 * on before a crash is on again before the first quote is published.
 *
 *   stream   risk.nats.auditStream (RISK_AUDIT)   subjects <prefix>.audit.>   (<prefix>.audit.<action>)
 *   storage  file, limits retention, nothing expires, deny delete and purge (an audit trail)
 *
 * Human commands and the engine's own trips are rare (tens a day), so reading the stream back
 * message by message is cheap and needs no consumer state on the server.
 */
import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type NatsConnection, type NatsError } from 'nats';
import { EngineError, ErrorCode } from '../errors.js';
import type { KillScope } from './ports.js';

export const AUDIT_ACTIONS = ['kill', 'release', 'hedge_disabled', 'hedge_enabled', 'loss_breach', 'loss_reset'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEvent {
  readonly v: 1;
  readonly action: AuditAction;
  /** kill / release only */
  readonly scope?: KillScope;
  /** the token's subject, or `engine` for an automatic trip */
  readonly who: string;
  readonly role: string;
  readonly why: string;
  /** where the command came from: ws, nats (the CLI uses NATS), engine */
  readonly via: 'ws' | 'nats' | 'engine';
  /** epoch ms, server clock */
  readonly ts: number;
}

export function isAuditEvent(v: unknown): v is AuditEvent {
  if (v === null || typeof v !== 'object') return false;
  const e = v as Record<string, unknown>;
  return e.v === 1 && (AUDIT_ACTIONS as readonly unknown[]).includes(e.action) && typeof e.who === 'string' && typeof e.ts === 'number';
}

export class RiskAudit {
  private readonly js: JetStreamClient;
  private constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    readonly stream: string,
    readonly subjectPrefix: string,
  ) {
    this.js = nc.jetstream();
  }

  /** Creates the stream if missing (QE_RISK_AUDIT_FAILED when JetStream is not there). */
  static async open(nc: NatsConnection, stream: string, subjectPrefix: string): Promise<RiskAudit> {
    try {
      const jsm = await nc.jetstreamManager({ timeout: 5_000 });
      const exists = await jsm.streams.info(stream).then(
        () => true,
        (e: NatsError) => {
          if (e.api_error?.err_code === 10059 || /not found/i.test(e.message)) return false;
          throw e;
        },
      );
      if (!exists) {
        await jsm.streams.add({
          name: stream, subjects: [`${subjectPrefix}.audit.>`], storage: StorageType.File, retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.New, max_msgs: -1, max_bytes: -1, max_age: 0, num_replicas: 1, deny_delete: true, deny_purge: true,
        });
      }
      return new RiskAudit(nc, jsm, stream, subjectPrefix);
    } catch (cause) {
      throw new EngineError(ErrorCode.RISK_AUDIT_FAILED, `risk audit stream ${stream} unavailable: ${(cause as Error).message}`, { cause });
    }
  }

  /** Resolves with the stream sequence once stored (PubAck); rejects when it was not stored or no answer came. */
  async append(e: AuditEvent): Promise<number> {
    const ack = await this.js.publish(`${this.subjectPrefix}.audit.${e.action}`, JSON.stringify(e), { timeout: 3_000 });
    return ack.seq;
  }

  /** Every event in order. An entry that does not parse is skipped and reported (it cannot be ours). */
  async readAll(onBad: (seq: number) => void = () => undefined): Promise<AuditEvent[]> {
    const last = (await this.jsm.streams.info(this.stream)).state.last_seq;
    const out: AuditEvent[] = [];
    for (let seq = 1; seq <= last; seq++) {
      let data: Uint8Array;
      try {
        data = (await this.jsm.streams.getMessage(this.stream, { seq })).data;
      } catch (e) {
        // a sequence with no message (none is ever deleted, but a stream may be restored partially): nothing to fold
        if (/no message found|not found/i.test((e as Error).message)) continue;
        throw e;
      }
      let v: unknown;
      try {
        v = JSON.parse(Buffer.from(data).toString('utf8'));
      } catch {
        // not JSON: counted as a bad entry below
        v = null;
      }
      if (isAuditEvent(v)) out.push(v);
      else onBad(seq);
    }
    return out;
  }
}
