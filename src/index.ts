/**
 * The package's main entry point (`ktor-ws-ts`): what an application uses —
 * sessions, the client, the server embeddings, `WebSocketUpgrade`,
 * extensions, options and every error a user can receive. The codec and the
 * channel runtime have entry points of their own (`ktor-ws-ts/frames`,
 * `ktor-ws-ts/channels`); the few of their names an application needs
 * (opcodes and close codes, the channel types and contexts `upgrade` takes)
 * are re-exported here too.
 *
 * Layers, bottom up: channels and frames, then extensions, sessions,
 * upgrade (the HTTP handshake, embedding and client), and the server object.
 */
// Kept in the declarations: they name Buffer and node: modules, so Node's types must load even where a
// tsconfig lists no `types` (TypeScript 7's default).
/// <reference types="node" preserve="true" />

// What a raw session or `WebSocketUpgrade.upgrade` needs from the codec and the runtime.
export { Opcode, frame, isControl, type Frame } from './frames/frame.ts';
export { CloseCode, isValidCloseCode, type CloseReason } from './frames/close.ts';
export { ProtocolError } from './frames/errors.ts';
export type { ByteReadChannel, ByteWriteChannel, StallListener } from './channels/byte-channel-types.ts';
export { Job, SupervisorJob, type JobState } from './channels/job.ts';
export { Dispatchers, type CoroutineContext, type Dispatcher } from './channels/context.ts';
export { socketChannels, type SocketChannels, type SocketChannelsOptions } from './channels/node-adapter.ts';
export {
  CancellationError,
  ChannelClosedError,
  ClosedReceiveChannelError,
  ConnectionResetError,
} from './channels/errors.ts';

// Extensions.
export type {
  EncodedMessage,
  ExtensionNegotiator,
  ExtensionOffer,
  NegotiatedExtension,
  WebSocketExtension,
} from './extensions/extension.ts';
export {
  permessageDeflate,
  PerMessageDeflate,
  DeflateNegotiationError,
  PERMESSAGE_DEFLATE_DEFAULTS,
  type PerMessageDeflateOptions,
  type DeflateParams,
} from './extensions/permessage-deflate.ts';
export { CodecClosedError } from './extensions/deflate-codec.ts';

// Sessions.
export { RawWebSocketSession, type RawSessionConfig, type Role } from './session/raw-session.ts';
export {
  DefaultWebSocketSession,
  type Message,
  type SendOptions,
  type SessionInfo,
  type SessionRequest,
  type SlowSubscriberPolicy,
  type TopicHub,
} from './session/default-session.ts';
export type { MessageData } from './session/message-data.ts';
export { jsonConverter, DeserializationError, SerializationError, type MessageConverter } from './session/converter.ts';
export { ConnectionState, Protocol, type ProtocolOptions } from './session/protocol.ts';
export { runSession, type SessionHandler } from './session/run-session.ts';
export type { RawSessionOptions, DefaultSessionOptions } from './session/options.ts';
export {
  ConnectionClosedError,
  PartialFrameTimeoutError,
  PingTimeoutError,
  SessionClosedError,
  WriteTimeoutError,
} from './session/errors.ts';

// Upgrade and embedding.
export { WebSocketUpgrade, type WebSocketUpgradeOptions } from './upgrade/websocket-upgrade.ts';
export {
  validateUpgradeRequest,
  responseHeaders,
  type HandshakeOptions,
  type ProtocolSelector,
  type UpgradeCall,
  type ValidatedRequest,
} from './upgrade/handshake.ts';
export { HandshakeError, IncompleteRequestHeadError } from './upgrade/errors.ts';
export { computeAcceptKey } from './upgrade/accept-key.ts';
export { readRequestHead, type RequestHead, type RequestHeadOptions } from './upgrade/request-head.ts';
export { formatErrorResponse, formatResponseHead } from './upgrade/http-response.ts';
export { formatExtensions, parseExtensions } from './upgrade/header-tokens.ts';
export {
  createWebSocketServer,
  handleUpgrade,
  serveSocket,
  type CreateWebSocketServerOptions,
  type ServeOptions,
  type WebSocketHandler,
} from './upgrade/serve.ts';

// WebSockets over HTTP/2 (RFC 8441): node:http2 embedding.
export {
  handleHttp2Stream,
  prepareHttp2Upgrade,
  refuseHttp2Stream,
  http2ServerOptions,
  enableWebSockets,
  DEFAULT_HTTP2_CONNECTION_WINDOW_SIZE,
  HTTP2_WEBSOCKET_DEFAULTS,
  type Http2ServeOptions,
  type Http2WebSocketLimits,
  type Http2WebSocketServerOptions,
  type PendingHttp2Upgrade,
} from './upgrade/h2-serve.ts';
export { validateExtendedConnect, HTTP2_VERSION, type Http2RequestHeaders } from './upgrade/h2-handshake.ts';
export { DEFAULT_HTTP2_PENDING_WRITE_BYTES } from './upgrade/h2-stream.ts';

// The server object (HTTP/1.1 and HTTP/2).
export { WebSocketServer, type AnyHttpServer } from './server/websocket-server.ts';
export type { AnyHttp2Server } from './server/http2-binding.ts';
export type { ListenOptions, ListenTlsOptions } from './server/own-listener.ts';
export { VerifyError, ServerClosedError, TopicGapError, type VerifyFailure } from './server/errors.ts';
export { TOPIC_DEFAULTS, type TopicOptions, type PublishOptions, type PublishResult, type TopicStats } from './server/topics.ts';
export type { Broker, BrokerGap, BrokerListener, BrokerMessage } from './brokers/broker.ts';
// What `server.publish` and `onError` can give when a broker is in use (also exported by ktor-ws-ts/redis).
export * from './brokers/errors.ts'; // every broker error class, and BrokerConnectionEvent
export {
  DEFAULT_VERIFY_TIMEOUT_MS,
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_CLOSE_CODE,
  type WebSocketServerOptions,
  type RouteOptions,
  type AttachOptions,
  type UnknownPaths,
  type CloseOptions,
  type CloseSummary,
} from './server/options.ts';
export type { VerifyHook, VerifyInfo, VerifyResult, AcceptResult, RefuseResult, HeaderValues } from './server/verify.ts';
export type { ErrorReporter } from './server/report.ts';

// Client.
export {
  connect,
  connectChannels,
  connectSocket,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  type ClientTlsOptions,
  type ConnectOptions,
  type RawConnectOptions,
} from './upgrade/connect.ts';
export {
  DEFAULT_HTTP2_IDLE_TIMEOUT_MS,
  DEFAULT_HTTP2_CLIENT_WINDOW_SIZE,
  DEFAULT_HTTP2_CLIENT_STREAM_WINDOW_SIZE,
  type Http2ConnectOptions,
} from './upgrade/connect-h2.ts';
export {
  acceptHandshakeResponse,
  formatClientRequest,
  readResponseBody,
  readResponseHead,
  type AcceptedHandshake,
  type ClientRequest,
  type ClientRequestOptions,
  type ResponseHead,
  type ResponseHeadOptions,
} from './upgrade/client-handshake.ts';
export {
  AcceptKeyMismatchError,
  ConnectError,
  ConnectionFailedError,
  ConnectionRefusedError,
  HandshakeTimeoutError,
  InvalidResponseError,
  UnexpectedExtensionError,
  UnexpectedProtocolError,
  UnexpectedStatusError,
} from './upgrade/client-errors.ts';
