/** The CRM's public surface: the store (ClientDirectory), the book, the score, the scorer, markout. */
export * from './types.js';
export { CrmStore, CRM_BUCKET, CLIENT_PREFIX, SCORE_PREFIX, AXES_KEY, DEFAULT_MAX_OVERRIDE_MS } from './store.js';
export type { CrmStoreOptions, CrmLogger, ChangeKey, TierSource, OverrideInput, ClientPatch } from './store.js';
export { parseBook, loadBookFile, loadAxesFile, loadDefaultBook, crmUniverse, DEFAULT_CRM_URL, type CrmBook } from './book.js';
export { INVALID_REASONS, MAX_VALUE_BYTES, type CrmUniverse, type InvalidReason } from './validate.js';
export {
  computeScores,
  computeScoresDetailed,
  validateScoreParams,
  assertScoreParams,
  tierForScore,
  horizonKey,
  DEFAULT_WEIGHTS,
  DEFAULT_TIER_CUTS,
  DEFAULT_SCORE_OPTIONS,
  type ScoreTrade,
  type ScoreWeights,
  type TierCuts,
  type ScoreOptions,
  type ScoreResult,
} from './score.js';
export { Scorer, SCORE_WORKER_URL, type ScorerOptions, type ScoreSink } from './scorer.js';
export { MarkoutRecorder, MarkoutResult, DEFAULT_HORIZONS_MS, type MarkoutOptions, type MarkoutListener, type MarkoutDetail } from './markout.js';
export { crmConfigSchema, parseCrmConfig, storeOptionsFrom, scorerOptionsFrom, markoutOptionsFrom, type CrmConfig } from './options.js';
