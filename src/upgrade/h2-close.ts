/**
 * Closing an HTTP/2 connection gracefully without waiting on the peer.
 *
 * node:http2's `session.close()` sends GOAWAY, lets the open streams finish,
 * and then only ends the socket: it waits for the peer's FIN before it lets
 * the socket go and before the session emits `'close'`. A peer that never
 * sends its FIN (gone, or hostile) holds the socket, and everyone waiting on
 * that `'close'` (a server's `close()`), for ever. `session.destroy()` on an
 * open session ends the socket and then destroys it; `closeHttp2Session` does
 * the same at the end of a graceful close: once our FIN is written, the
 * socket is destroyed, and the kernel finishes the TCP close on its own.
 */
import type { Http2Session } from 'node:http2';
import type { Duplex } from 'node:stream';

/**
 * Sends GOAWAY on `session` (no new streams); once its open streams have
 * ended and its socket has written its FIN, the socket is destroyed (see the
 * module header). Does nothing to a session closed or destroyed already.
 */
export function closeHttp2Session(session: Http2Session): void {
  if (session.closed || session.destroyed) return;
  // The session's socket is a proxy that refuses `end` and `destroy` but passes `once` through to the socket itself, which is then `this` in the listener.
  session.socket?.once('finish', function (this: Duplex) {
    setImmediate(() => this.destroy()); // after the end's own callbacks, as node's destroy path does
  });
  session.close();
}
