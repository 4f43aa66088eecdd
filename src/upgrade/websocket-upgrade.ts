/**
 * `WebSocketUpgrade`: the response a server answers a WebSocket upgrade
 * request with (Ktor's `io.ktor.websocket.WebSocketUpgrade`). Constructing it
 * validates the request and computes the 101 response; the engine writes
 * `status` and `headers` to the client and then calls `upgrade` with the
 * connection's byte channels, which starts the raw session.
 */
import type { ByteReadChannel, ByteWriteChannel } from '../channels/byte-channel-types.ts';
import type { CoroutineContext } from '../channels/context.ts';
import type { Job } from '../channels/job.ts';
import type { WebSocketExtension } from '../extensions/extension.ts';
import { RAW_SESSION_DEFAULTS, resolveOptions, type RawSessionOptions } from '../session/options.ts';
import { runSession, type SessionHandler } from '../session/run-session.ts';
import { responseHeaders, validateUpgradeRequest, type HandshakeOptions, type UpgradeCall, type ValidatedRequest } from './handshake.ts';
import type { ExtensionNegotiator } from '../extensions/extension.ts';
import { negotiateExtensions } from './extension-negotiation.ts';

/** Options of a `WebSocketUpgrade`. */
export interface WebSocketUpgradeOptions {
  /** Origin check (403 when it refuses). Default: every origin is accepted. */
  readonly checkOrigin?: HandshakeOptions['checkOrigin'];
  /** Extensions the server supports, in order of preference (e.g. permessage-deflate). Default: none. */
  readonly extensions?: readonly ExtensionNegotiator[];
  /** Session limits and timeouts (see `RawSessionOptions` for defaults). */
  readonly session?: RawSessionOptions;
}

/**
 * The answer to a WebSocket upgrade request (Ktor's `WebSocketUpgrade`):
 * constructing it validates the request and computes the 101 response
 * (`status`, `headers`); after writing them, the engine calls `upgrade` with
 * the connection's byte channels, which starts the raw session.
 */
export class WebSocketUpgrade {
  /** Always 101 Switching Protocols. */
  readonly status = 101;
  /** The response headers: Upgrade, Connection, Sec-WebSocket-Accept, and the negotiated protocol and extensions. */
  readonly headers: Readonly<Record<string, string>>;
  /** The subprotocol this response selects, if any. */
  readonly protocol: string | undefined;
  /** The validated request. */
  readonly request: ValidatedRequest;

  readonly #handle: SessionHandler;
  readonly #extensions: readonly WebSocketExtension[];
  readonly #options: WebSocketUpgradeOptions;

  /**
   * @param call the HTTP request (node's `IncomingMessage` or `readRequestHead`'s result)
   * @param protocol the subprotocol to select when the client offered it, or
   *   several in the server's order of preference, or a selector function;
   *   `undefined` selects none
   * @param handle the user's code, run with the raw session once upgraded
   * @throws HandshakeError when the request is not a valid WebSocket upgrade
   *   (answer it with `formatErrorResponse` and close the connection);
   *   RangeError when an option of `options.session` is invalid
   */
  constructor(
    call: UpgradeCall,
    protocol: string | HandshakeOptions['protocols'],
    handle: SessionHandler,
    options: WebSocketUpgradeOptions = {},
  ) {
    resolveOptions(RAW_SESSION_DEFAULTS, options.session); // invalid limits throw here, before any 101 is written
    this.request = validateUpgradeRequest(call, {
      checkOrigin: options.checkOrigin,
      protocols: typeof protocol === 'string' ? [protocol] : protocol,
    });
    const negotiated = negotiateExtensions(this.request.extensions, options.extensions ?? []);
    this.protocol = this.request.protocol;
    this.headers = responseHeaders(this.request, this.protocol, negotiated.header);
    this.#extensions = negotiated.extensions;
    this.#handle = handle;
    this.#options = options;
  }

  /**
   * Starts the raw session over the connection's channels: `input` carries
   * the bytes after the request head, `output` the bytes after the 101
   * response. Reading and writing run in `engineContext`, `handle` in
   * `userContext`. The returned job links the three tasks (see `runSession`).
   */
  upgrade(
    input: ByteReadChannel,
    output: ByteWriteChannel,
    engineContext: CoroutineContext,
    userContext: CoroutineContext,
  ): Job {
    return runSession(
      input,
      output,
      engineContext,
      userContext,
      { role: 'server', protocol: this.protocol, extensions: this.#extensions, options: this.#options.session },
      this.#handle,
    );
  }
}
