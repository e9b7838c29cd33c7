/**
 * Piscina task: the relationship score. Pure compute; imports only the score model.
 *
 * The trades arrive by structured clone (one copy per run, bounded by the scorer's trailing
 * window); the result is a few hundred bytes per client. A run is at most once per
 * `refreshMs` plus one per burst of trades (the Scorer coalesces), so the copy is not on any
 * latency path.
 */
import { computeScoresDetailed, type ScoreOptions, type ScoreResult, type ScoreTrade, type ScoreWeights, type TierCuts } from '../engine/crm/score.js';

export interface ScoreTask {
  readonly trades: readonly ScoreTrade[];
  readonly nowMs: number;
  readonly weights: ScoreWeights;
  readonly tierCuts: TierCuts;
  readonly options: Partial<ScoreOptions>;
}

export default function score(task: ScoreTask): ScoreResult {
  return computeScoresDetailed(task.trades, task.nowMs, task.weights, task.tierCuts, task.options);
}
