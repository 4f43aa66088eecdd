/**
 * The HTTP/2 side of `requestHead.timeoutMs` on the server's own listeners.
 *
 * A connection with no stream open is dropped after that long. That covers
 * a peer that sends the preface and nothing more, one that never opens a
 * stream, one whose HEADERS never end (node makes no stream until the
 * header block is complete: the HTTP/2 form of a trickled request head),
 * and a connection left idle after its last WebSocket closed.
 *
 * A connection with a stream open is checked as often instead: an HTTP/2
 * PING goes out, and if it is still unanswered one period later while no
 * byte moved either way, the connection is dropped (its WebSockets end with
 * 1006) and its socket reset. Node's http2 leaves a connection on which the
 * peer committed a connection error (it answers GOAWAY and then neither
 * reads nor writes) open with its streams, for ever, even once the peer has
 * gone; a slow but live peer still moves bytes, and an idle one answers the
 * PING. The WebSockets themselves are their sessions' business (pings), as
 * over HTTP/1.1.
 */
import type { Http2Session } from 'node:http2';
import { Socket } from 'node:net';

/**
 * Resets the TCP connection under an HTTP/2 session's socket, while the
 * socket is still bound to the session (node:http2 lets no one destroy it
 * through the session's socket proxy, but lets `resetAndDestroy` through).
 * Over TLS that is the TLS socket's TCP socket (`_parent`, where node's TLS
 * server keeps it: no public way reaches it). Does nothing when there is no
 * TCP handle to reset or the socket was unbound already.
 */
function resetTcp(session: Http2Session): void {
  try {
    const socket = session.socket;
    const parent = (socket as Socket & { readonly _parent?: unknown })._parent;
    (parent instanceof Socket ? parent : socket).resetAndDestroy();
  } catch {
    // Unbound, or not a TCP handle: the session's own destroy is all there is.
  }
}

/** Drops `session` whenever it has had no stream open for `timeoutMs`, or is dead with streams open (`Infinity`: never). */
export function dropWhenIdle(session: Http2Session, timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs)) return;
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  let probes: NodeJS.Timeout | undefined;
  /** The last PING's answer had not come at the previous probe. */
  let unanswered = false;
  /** Bytes read and written by the connection at the previous probe. */
  let moved = -1;
  const drop = (): void => {
    // GOAWAY (a client about to reuse the connection opens a new one instead), our FIN, then the socket is
    // destroyed: `destroy` alone does all three. After `close()` it would wait for the peer's FIN instead.
    session.destroy();
  };
  const onIdle = (): void => {
    timer = undefined;
    if (open === 0) drop();
  };
  const arm = (): void => {
    timer = setTimeout(onIdle, timeoutMs).unref();
  };
  /** Drops a connection found dead: its TCP connection is reset (a graceful close would wait for ever on a peer that reads nothing). */
  const dropDead = (): void => {
    resetTcp(session); // first: once the session has begun to close its socket, a reset would race that close
    session.destroy();
  };
  const probe = (): void => {
    if (session.destroyed) return;
    let bytes: number;
    try {
      const socket = session.socket;
      bytes = socket.bytesRead + socket.bytesWritten;
    } catch {
      return; // the socket was unbound: the session is going
    }
    if (unanswered && bytes === moved) return dropDead();
    moved = bytes;
    if (unanswered) return; // still waiting, but bytes move: a slow peer
    unanswered = true;
    try {
      session.ping((error) => {
        if (!error) unanswered = false;
      });
    } catch {
      dropDead(); // too many PINGs unanswered
    }
  };
  session.on('stream', (stream: { once(event: 'close', listener: () => void): unknown }) => {
    if (open++ === 0) {
      clearTimeout(timer);
      timer = undefined;
      unanswered = false;
      probes = setInterval(probe, timeoutMs).unref();
    }
    stream.once('close', () => {
      if (--open > 0 || session.destroyed) return;
      clearInterval(probes);
      arm();
    });
  });
  session.once('close', () => {
    clearTimeout(timer);
    clearInterval(probes);
  });
  arm();
}
