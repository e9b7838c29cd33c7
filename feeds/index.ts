/** Public surface of feeds/: the synthetic market, its NATS publisher, perf universes and the CLI entry. */
export {
  SyntheticMarket,
  SCENARIOS,
  MarketPhase,
  DEFAULT_STRESS,
  DEFAULT_FAULTS,
  type ScenarioName,
  type SyntheticOptions,
  type StressOptions,
  type FaultOptions,
  type BookMsg,
  type TradeMsg,
  type MdSink,
  type StreamInfo,
  type SyntheticCounters,
  type VenueBook,
} from './synthetic.js';
export {
  VenueSimulator,
  startVenueSim,
  DEFAULT_VENUE_SIM,
  type VenueSimOptions,
  type VenueSimCounters,
  type VenueSimHandle,
  type VenueSimServiceOptions,
  type FillSink,
} from './venue-sim.js';
export { startFeed, FeedEnd, type FeedOptions, type FeedHandle, type FeedStats } from './publisher.js';
export { generateUniverse } from './universe.js';
export { runFeed, formatStatus, DEFAULT_NATS_URL, type RunFeedOptions, type RunningFeed } from './cli.js';
