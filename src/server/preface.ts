/**
 * Telling HTTP/2 with prior knowledge from HTTP/1.1 on one cleartext port:
 * an HTTP/2 client opens with the connection preface
 * `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (RFC 9113 section 3.4), which no
 * HTTP/1.1 request begins with. `sniffPreface` reads a new connection's
 * first bytes only as far as they decide (one byte for nearly every
 * HTTP/1.1 request, the 24 bytes of the preface for HTTP/2), gives them back
 * to the socket (`unshift`) and says which it is.
 */
import type { Duplex } from 'node:stream';

/** The HTTP/2 client connection preface. */
export const HTTP2_PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Waits for the first bytes of `socket`: resolves `true` when they are the
 * HTTP/2 preface, `false` as soon as one differs. The bytes read are given
 * back (the socket is left paused, they are the first it will emit again).
 * Resolves `undefined` when the socket does not decide within `timeoutMs`,
 * fails or ends first (it is then destroyed), or closes first; at once when
 * it is closed or ended already (the peer went before the caller got to it).
 */
export function sniffPreface(socket: Duplex, timeoutMs: number): Promise<boolean | undefined> {
  if (socket.destroyed || socket.readableEnded) {
    socket.destroy();
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const giveUp = (): void => {
      stop();
      socket.destroy();
      resolve(undefined);
    };
    const timer = Number.isFinite(timeoutMs) ? setTimeout(giveUp, timeoutMs) : undefined; // Infinity: no limit
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      const end = Math.min(received + chunk.length, HTTP2_PREFACE.length);
      for (let i = received; i < end; i++) {
        if (chunk[i - received] !== HTTP2_PREFACE[i]) return decide(false);
      }
      received += chunk.length;
      if (received >= HTTP2_PREFACE.length) decide(true);
    };
    const onClose = (): void => {
      stop();
      resolve(undefined);
    };
    const stop = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', giveUp);
      socket.off('end', giveUp);
      socket.off('close', onClose);
    };
    const decide = (http2: boolean): void => {
      stop();
      socket.pause();
      socket.unshift(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      resolve(http2);
    };
    socket.on('data', onData);
    socket.on('error', giveUp);
    socket.on('end', giveUp);
    socket.on('close', onClose);
  });
}
