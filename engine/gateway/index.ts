export { Gateway, CloseCode, SUBPROTOCOL } from './gateway.js';
export type { GatewayOptions, GatewayLog, GatewayStats, HealthReport, QuoteSnapshotSource, ConnectionInfo, Session, OutboundMessage, RequestHandler, RequestRefusal } from './gateway.js';
export { ClientKind, ServerKind, parseClientMessage } from './messages.js';
export type {
  ClientMessage,
  ServerMessage,
  HelloMessage,
  SubscribedMessage,
  UnsubscribedMessage,
  ErrorMessage,
  PongMessage,
  SlowMessage,
  StatusMessage,
  RequestId,
} from './messages.js';
