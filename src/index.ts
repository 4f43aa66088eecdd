/**
 * The public API. Nothing else under src/ is meant to be imported by users.
 *
 * Layers, bottom up: channels (async byte and message channels, jobs) and
 * frames (the sans-I/O RFC 6455 codec), then sessions (reader, writer and
 * handler tasks), then upgrade (the HTTP handshake and server embedding).
 */

// Runtime: channels, jobs, contexts, adapters.
export type { ByteReadChannel, ByteWriteChannel } from './channels/byte-channel-types.ts';
export { ByteChannel } from './channels/byte-channel.ts';
export { Channel, type ChannelWeightBudget } from './channels/channel.ts';
export { Job, SupervisorJob, type JobState } from './channels/job.ts';
export { Dispatchers, launch, type CoroutineContext, type Dispatcher } from './channels/context.ts';
export { socketChannels, type SocketChannelsOptions } from './channels/node-adapter.ts';
export { channelToReadable, channelToWritable, readableToChannel } from './channels/web-streams.ts';
export {
  CancellationError,
  ChannelClosedError,
  ClosedReceiveChannelError,
  ConnectionResetError,
  EndOfStreamError,
  LimitExceededError,
} from './channels/errors.ts';

// Codec.
export { Opcode, frame, isControl, type Frame } from './frames/frame.ts';
export { CloseCode, decodeClosePayload, encodeClosePayload, isValidCloseCode, type CloseReason } from './frames/close.ts';
export { ProtocolError } from './frames/errors.ts';
export { FrameParser, Rsv, type FrameParserOptions } from './frames/parser.ts';
export { FrameSerializer, serializeFrame } from './frames/serializer.ts';
export { fragmentMessage } from './frames/fragment.ts';
export { applyMask, randomMaskKey } from './frames/mask.ts';
export { Utf8Validator, isValidUtf8 } from './frames/utf8.ts';

// Sessions.
export { RawWebSocketSession, type RawSessionConfig, type Role } from './session/raw-session.ts';
export { DefaultWebSocketSession, type Message, type SessionInfo, type SessionRequest } from './session/default-session.ts';
export { runSession, type SessionHandler } from './session/run-session.ts';
export type { RawSessionOptions, DefaultSessionOptions } from './session/options.ts';
export type { WebSocketExtension, EncodedMessage } from './session/extension.ts';
export {
  ConnectionClosedError,
  PartialFrameTimeoutError,
  PingTimeoutError,
  SessionClosedError,
  WriteTimeoutError,
} from './session/errors.ts';
export {
  permessageDeflate,
  PerMessageDeflate,
  DeflateNegotiationError,
  PERMESSAGE_DEFLATE_DEFAULTS,
  type PerMessageDeflateOptions,
  type DeflateParams,
} from './session/permessage-deflate.ts';
export { CodecClosedError } from './session/deflate-codec.ts';

// Upgrade and embedding.
export { WebSocketUpgrade, type WebSocketUpgradeOptions } from './upgrade/websocket-upgrade.ts';
export { validateUpgradeRequest, responseHeaders, type UpgradeCall, type HandshakeOptions, type ValidatedRequest } from './upgrade/handshake.ts';
export { HandshakeError, IncompleteRequestHeadError } from './upgrade/errors.ts';
export { computeAcceptKey } from './upgrade/accept-key.ts';
export { readRequestHead, type RequestHead, type RequestHeadOptions } from './upgrade/request-head.ts';
export { formatErrorResponse, formatResponseHead } from './upgrade/http-response.ts';
export type { ExtensionNegotiator } from './upgrade/extension-negotiation.ts';
export { formatExtensions, type ExtensionOffer } from './upgrade/header-tokens.ts';
export { createWebSocketServer, handleUpgrade, serveSocket, type ServeOptions, type WebSocketHandler } from './upgrade/serve.ts';

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
  acceptHandshakeResponse,
  formatClientRequest,
  readResponseBody,
  readResponseHead,
  type AcceptedHandshake,
  type ClientExtension,
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
