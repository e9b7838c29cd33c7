/**
 * R8: every breach is counted (`qe_risk_breaches_total{code}`) and raised as an alert event: a
 * warn log line `{alert: 'risk_breach', code, …}` and, when a publisher is given, a JSON message
 * on `<risk.nats.subjectPrefix>.alert`. Both are rate limited per code (`alertMinIntervalMs`):
 * a flood of throttled RFQs is one alert a second carrying how many were folded into it, not a
 * flood of alerts. The counter is never rate limited.
 */
import type { Registry } from 'prom-client';
import { ErrorCode, PRE_TRADE_REJECT_CODES } from '../errors.js';
import type { Logger } from '../hotpath.js';
import { HotCounter } from '../metrics.js';

/** Every code a breach may carry: the pre-trade codes, the hedge guard's, and a hedge refused by the kill switch. */
export const BREACH_CODES = [
  ...PRE_TRADE_REJECT_CODES,
  ErrorCode.RISK_OTR,
  ErrorCode.RISK_HEDGE_THROTTLE,
  ErrorCode.RFQ_KILL_SWITCH,
] as const;
export type BreachCode = (typeof BREACH_CODES)[number];

export interface AlertEvent {
  readonly alert: 'risk_breach';
  readonly code: BreachCode;
  readonly message: string;
  /** what was checked: client, instrument, venue… */
  readonly detail: Readonly<Record<string, unknown>>;
  /** breaches of this code since the previous alert that were not raised on their own */
  readonly suppressed: number;
  readonly ts: number;
}

export class BreachReporter {
  readonly counter: HotCounter;
  private readonly lastAlertMs = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();

  constructor(
    registry: Registry,
    private readonly log: Logger,
    private readonly minIntervalMs: number,
    /** set by attach once NATS is known; absent in unit tests */
    public publish?: (e: AlertEvent) => void,
  ) {
    this.counter = new HotCounter(registry, 'qe_risk_breaches_total', 'Risk control breaches (each a coded rejection that changed nothing), by code', 'code', BREACH_CODES);
  }

  breach(code: BreachCode, message: string, detail: Readonly<Record<string, unknown>>, nowMs: number): void {
    this.counter.incLabel(code);
    const last = this.lastAlertMs.get(code);
    if (last !== undefined && nowMs - last < this.minIntervalMs) {
      this.suppressed.set(code, (this.suppressed.get(code) ?? 0) + 1);
      return;
    }
    this.lastAlertMs.set(code, nowMs);
    const suppressed = this.suppressed.get(code) ?? 0;
    this.suppressed.set(code, 0);
    const e: AlertEvent = { alert: 'risk_breach', code, message, detail, suppressed, ts: nowMs };
    this.log.warn(e, 'risk control breach');
    try {
      this.publish?.(e);
    } catch (err) {
      // the alert is already in the log and the counter; a closed connection must not fail the check
      this.log.error({ err: (err as Error).message }, 'risk alert not published');
    }
  }
}
