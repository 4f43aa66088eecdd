/**
 * A hand-driven WebSocket client for tests that need byte-level control:
 * it opens a TCP connection to 127.0.0.1, sends a handshake, and then lets
 * the test send arbitrary bytes or (masked) frames and read the server's
 * frames with this project's parser in the client role.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { FrameParser } from '../../src/frames/parser.ts';
import { serializeFrame } from '../../src/frames/serializer.ts';
import { decodeClosePayload, type CloseReason } from '../../src/frames/close.ts';
import { Opcode, type Frame } from '../../src/frames/frame.ts';
import { Wakeups } from './async.ts';

export const HANDSHAKE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

export function handshakeRequest(path = '/', extra: Record<string, string> = {}): string {
  const headers: Record<string, string> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': HANDSHAKE_KEY,
    'Sec-WebSocket-Version': '13',
    ...extra,
  };
  return `GET ${path} HTTP/1.1\r\n` + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
}

export class RawClient {
  readonly socket: Socket;
  /** The HTTP response head, once received. */
  responseHead = '';
  readonly frames: Frame[] = [];
  error: unknown;
  ended = false;
  readonly #parser: FrameParser;
  #pending = Buffer.alloc(0);
  readonly #wakeups = new Wakeups();

  private constructor(socket: Socket, rsvAllowed: number) {
    this.socket = socket;
    this.#parser = new FrameParser({ role: 'client', maxFrameSize: 256 * 1024 * 1024, rsvAllowed });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('error', (e) => {
      this.error = e;
    });
  }

  /**
   * Connects and, unless `request` is null, sends it and waits for the
   * response head. `rsvAllowed`: the RSV bits frames may carry (0x4, RSV1,
   * when the request offers permessage-deflate; payloads stay compressed).
   */
  static async open(port: number, request: string | null = handshakeRequest(), rsvAllowed = 0): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await once(socket, 'connect');
    const client = new RawClient(socket, rsvAllowed);
    if (request !== null) {
      socket.write(request);
      await client.until(() => client.responseHead !== '' || client.ended);
    }
    return client;
  }

  /** Sends one masked frame. */
  sendFrame(opcode: Opcode, payload: Buffer | string = Buffer.alloc(0), fin = true): void {
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    this.socket.write(serializeFrame({ opcode, fin, rsv1: false, rsv2: false, rsv3: false, payload: bytes }, Buffer.from([1, 2, 3, 4])));
  }

  /** Waits until `condition` holds (checked on every arrival), failing after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
    return this.#wakeups.until(condition, timeoutMs, () => 'timed out waiting; frames so far: ' + this.frames.map((f) => f.opcode).join(','));
  }

  /** Waits for the next frame with this opcode (consuming frames before it). */
  async nextFrame(timeoutMs = 5000): Promise<Frame> {
    await this.until(() => this.frames.length > 0 || this.ended, timeoutMs);
    const f = this.frames.shift();
    if (f === undefined) throw new Error('connection ended without a frame');
    return f;
  }

  /** Waits for the server's close frame and returns its reason. */
  async closeFrame(timeoutMs = 5000): Promise<CloseReason> {
    for (;;) {
      const f = await this.nextFrame(timeoutMs);
      if (f.opcode === Opcode.Close) return decodeClosePayload(f.payload);
    }
  }

  /** Waits for the TCP connection to end. */
  async closed(timeoutMs = 5000): Promise<void> {
    await this.until(() => this.ended, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.responseHead === '') {
      this.#pending = Buffer.concat([this.#pending, chunk]);
      const end = this.#pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.responseHead = this.#pending.subarray(0, end + 4).toString('latin1');
      chunk = this.#pending.subarray(end + 4);
      if (!this.responseHead.startsWith('HTTP/1.1 101')) {
        this.responseHead += chunk.toString('latin1');
        this.#wake();
        return;
      }
    }
    if (chunk.length > 0) {
      this.#parser.push(chunk);
      try {
        let f: Frame | undefined;
        while ((f = this.#parser.next()) !== undefined) this.frames.push(f);
      } catch (e) {
        this.error = e;
      }
    }
    this.#wake();
  }

  #wake(): void {
    this.#wakeups.wake();
  }
}
