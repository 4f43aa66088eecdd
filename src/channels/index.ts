/**
 * The public API of the channel runtime: byte channels, message channels,
 * jobs and contexts, and the Node and Web Streams adapters. Knows nothing of
 * WebSockets.
 */
// Kept in the declarations: they name Buffer and node: modules, so Node's types must load even where a
// tsconfig lists no `types` (TypeScript 7's default).
/// <reference types="node" preserve="true" />
export type { ByteReadChannel, ByteWriteChannel, ReadableListener, StallListener } from './byte-channel-types.ts';
export { ByteChannel, DEFAULT_BYTE_CHANNEL_CAPACITY } from './byte-channel.ts';
export { Channel, type ChannelWeightBudget, type ReceivableListener } from './channel.ts';
export { consumeEach, type ConsumeEachOptions } from './consume-each.ts';
export { Job, SupervisorJob, TaskJob, type CompletionHandler, type JobState } from './job.ts';
export { Dispatchers, createContext, launch, type CoroutineContext, type Dispatcher } from './context.ts';
export {
  CancellationError,
  ChannelClosedError,
  ClosedReceiveChannelError,
  ConcurrentReadError,
  ConnectionResetError,
  EndOfStreamError,
  LimitExceededError,
} from './errors.ts';
export { socketChannels, type SocketChannels, type SocketChannelsOptions } from './node-adapter.ts';
export { channelToReadable, channelToWritable, readableToChannel, writableToChannel } from './web-streams.ts';
