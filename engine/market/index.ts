export {
  MarketState,
  InstrumentStatus,
  INSTRUMENT_STATUS_NAME,
  VenueState,
  TRADING_SECONDS_PER_YEAR,
  annualBpsToBpsPerSqrtSec,
} from './state.js';
