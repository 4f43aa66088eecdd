/**
 * An HTTP/2 stream (server or client side) as a session's input and output
 * byte channels: `socketChannels` over the `Http2Stream` duplex, with a
 * bound on the bytes handed to the stream and not yet sent.
 *
 * Why the bound: node:http2 counts the bytes a stream was given and has not
 * sent (its peer's flow-control window is closed) against the connection's
 * `maxSessionMemory`, and Node 20 does not give them back when the stream
 * is reset: one 8 MiB message queued to a peer that stopped reading and then
 * reset its stream would leave the connection refusing every new stream
 * (ENHANCE_YOUR_CALM). Writing at most `maxPendingWriteBytes` (32 KiB by
 * default, two DATA frames) at a time caps what one reset can leak.
 */
import type { Http2Stream } from 'node:http2';
import { socketChannels, type SocketChannels, type SocketChannelsOptions } from '../channels/node-adapter.ts';

/** Default `channels.maxPendingWriteBytes` over HTTP/2: 32 KiB (a burst of sixteen 1 KiB messages goes out in one batch). */
export const DEFAULT_HTTP2_PENDING_WRITE_BYTES = 32 * 1024;

const DEFAULTS: SocketChannelsOptions = Object.freeze({ maxPendingWriteBytes: DEFAULT_HTTP2_PENDING_WRITE_BYTES });
/** Each caller's options with the HTTP/2 default filled in, made once per options object (adapters keep a reference). */
const withDefaults = new WeakMap<SocketChannelsOptions, SocketChannelsOptions>();

/** The stream's channels; `options` as for sockets, `maxPendingWriteBytes` defaulting to 32 KiB. */
export function http2StreamChannels(stream: Http2Stream, options?: SocketChannelsOptions): SocketChannels {
  if (options === undefined) return socketChannels(stream, DEFAULTS);
  let merged = withDefaults.get(options);
  if (merged === undefined) withDefaults.set(options, (merged = Object.freeze({ ...DEFAULTS, ...options })));
  return socketChannels(stream, merged);
}
