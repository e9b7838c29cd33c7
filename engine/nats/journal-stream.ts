/**
 * The one way the engine opens a journal stream in JetStream (trades, hedges): file storage, limits
 * retention, nothing ever expires or is deleted or purged, one subject tree `<prefix>.>`, and a
 * duplicate window for Nats-Msg-Id de-duplication. A missing stream is created; an existing one
 * configured otherwise (memory storage, other subjects, an age limit) is refused, because writing a
 * journal into it would lose entries; only the duplicate window is brought to the configured value.
 */
import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager, type NatsConnection, type NatsError } from 'nats';
import { EngineError, type ErrorCode } from '../errors.js';

export interface JournalStreamSpec {
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly duplicateWindowMs: number;
}

/** Returns the JetStream manager once the stream is there as specified; throws EngineError(`code`) otherwise. */
export async function openJournalStream(nc: NatsConnection, spec: JournalStreamSpec, code: ErrorCode): Promise<JetStreamManager> {
  let jsm: JetStreamManager;
  try {
    jsm = await nc.jetstreamManager({ timeout: 5_000 });
  } catch (cause) {
    throw new EngineError(code, `JetStream is not available on the broker: ${(cause as Error).message}`, { cause });
  }
  const subject = `${spec.subjectPrefix}.>`;
  const want = {
    name: spec.stream,
    subjects: [subject],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.New,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    num_replicas: 1,
    duplicate_window: nanos(spec.duplicateWindowMs),
    deny_delete: true,
    deny_purge: true,
  };
  try {
    const info = await jsm.streams.info(spec.stream).catch((e: NatsError) => {
      if (e.api_error?.err_code === 10059 || /not found/i.test(e.message)) return null;
      throw e;
    });
    if (info === null) {
      await jsm.streams.add(want);
    } else {
      const c = info.config;
      if (c.storage !== StorageType.File || !c.subjects?.includes(subject) || c.retention !== RetentionPolicy.Limits || (c.max_age ?? 0) !== 0) {
        throw new EngineError(
          code,
          `stream ${spec.stream} exists with another configuration (storage ${c.storage}, subjects ${JSON.stringify(c.subjects)}, retention ${c.retention}, max_age ${c.max_age}): refusing to journal into it`,
        );
      }
      if (c.duplicate_window !== want.duplicate_window) await jsm.streams.update(spec.stream, { ...c, duplicate_window: want.duplicate_window });
    }
  } catch (cause) {
    if (cause instanceof EngineError) throw cause;
    throw new EngineError(code, `cannot create or check stream ${spec.stream}: ${(cause as Error).message}`, { cause });
  }
  return jsm;
}
