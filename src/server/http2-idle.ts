/**
 * The HTTP/2 side of `requestHead.timeoutMs` on the server's own listeners:
 * a connection with no stream open is dropped after that long. That covers
 * a peer that sends the preface and nothing more, one that never opens a
 * stream, one whose HEADERS never end (node makes no stream until the
 * header block is complete: the HTTP/2 form of a trickled request head),
 * and a connection left idle after its last WebSocket closed. A connection
 * with a stream open is left alone however quiet it is: an idle WebSocket
 * is its session's business (pings), as over HTTP/1.1.
 */
import type { Http2Session } from 'node:http2';

/** Drops `session` whenever it has had no stream open for `timeoutMs` (`Infinity`: never). */
export function dropWhenIdle(session: Http2Session, timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs)) return;
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const onIdle = (): void => {
    timer = undefined;
    if (open > 0) return;
    // GOAWAY first, so that a client about to reuse the connection opens a new one instead; then gone.
    session.close();
    session.destroy();
  };
  const arm = (): void => {
    timer = setTimeout(onIdle, timeoutMs).unref();
  };
  session.on('stream', (stream: { once(event: 'close', listener: () => void): unknown }) => {
    open++;
    clearTimeout(timer);
    timer = undefined;
    stream.once('close', () => {
      if (--open === 0 && !session.destroyed) arm();
    });
  });
  session.once('close', () => clearTimeout(timer));
  arm();
}
