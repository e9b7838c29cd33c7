export { Booking } from './booking.js';
export type { BookOutcome, BookedTrade, BookingPort } from './booking.js';
export { TradeJournal, tradeSubject } from './journal.js';
export type { PublishResult } from './journal.js';
export { decodeTrade, encodeTrade, deskQty, tradeRecordSchema } from './trade.js';
export type { TradeRecord } from './trade.js';
