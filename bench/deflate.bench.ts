/**
 * permessage-deflate throughput and bytes on the wire beside ws's own
 * PerMessageDeflate, in one run: a stream of ~1 KiB JSON chat messages
 * compressed and then inflated, by one connection (messages one after
 * another, as a session sends them) and by 64 connections at once (all
 * sharing the process-wide zlib limit of 10, as ws does). Both sides use
 * zlib's default level and memLevel, a 15-bit window, threshold 0, with
 * and without context takeover.
 *
 *   node --import tsx --expose-gc bench/deflate.bench.ts   (BENCH_QUICK=1: shorter)
 *
 * The messages are the stream of bench/servers/chat-messages.ts. This
 * measures the extension alone (no sockets, no framing); the end-to-end
 * compressed echo over loopback is bench/deflate-e2e.bench.ts.
 */
import { Opcode } from '../src/frames/frame.ts';
import { permessageDeflate, type PerMessageDeflate } from '../src/extensions/permessage-deflate.ts';
import { chatMessages } from './servers/chat-messages.ts';
import { WsDeflate, type WsPerMessageDeflate } from '../tests/support/ws-deflate.ts';

const QUICK = process.env['BENCH_QUICK'] === '1';
const MESSAGES = QUICK ? 2_000 : 20_000;
const CONNECTIONS = 64;
const ROUNDS = QUICK ? 1 : 5;
const gc = (globalThis as { gc?: () => void }).gc;


/** One direction of one connection: compress a message, inflate a message. */
interface Codec {
  compress(message: Buffer): Promise<Buffer>;
  inflate(payload: Buffer): Promise<Buffer>;
  close(): void;
}

function ours(noContextTakeover: boolean): Codec {
  const options = { threshold: 0, serverNoContextTakeover: noContextTakeover };
  const accepted = permessageDeflate(options).negotiate([permessageDeflate({ threshold: 0 }).offer()]);
  if (accepted === undefined) throw new Error('declined');
  const sender = accepted.extension as PerMessageDeflate;
  const receiver = permessageDeflate({ threshold: 0 }).accept(accepted.response);
  return {
    compress: async (message) => (await sender.encode(Opcode.Text, message)).payload,
    inflate: async (payload) => receiver.decode(payload, 0b100, 64 * 1024 * 1024),
    close() {
      sender.dispose();
      receiver.dispose();
    },
  };
}

function theirs(noContextTakeover: boolean): Codec {
  const params: Record<string, Array<string | true>> = noContextTakeover ? { server_no_context_takeover: [true] } : {};
  const sender = new WsDeflate({ isServer: true, threshold: 0 });
  sender.accept([{ ...params }]);
  const receiver = new WsDeflate({ isServer: false, threshold: 0, maxPayload: 64 * 1024 * 1024 });
  receiver.accept([{ ...params }]);
  const call = (peer: WsPerMessageDeflate, method: 'compress' | 'decompress', data: Buffer) =>
    new Promise<Buffer>((resolve, reject) =>
      peer[method](data, true, (error, result) => (error ? reject(error) : resolve(result as Buffer))),
    );
  return {
    compress: (message) => call(sender, 'compress', message),
    inflate: (payload) => call(receiver, 'decompress', payload),
    close() {
      sender.cleanup();
      receiver.cleanup();
    },
  };
}

interface Result {
  seconds: number;
  wireBytes: number;
}

/** Every connection sends its share of `messages` in order; returns time and compressed bytes. */
async function run(make: (noContextTakeover: boolean) => Codec, noContextTakeover: boolean, connections: number, messages: Buffer[]): Promise<Result> {
  const codecs = Array.from({ length: connections }, () => make(noContextTakeover));
  gc?.();
  let wireBytes = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    codecs.map(async (codec, c) => {
      for (let i = c; i < messages.length; i += connections) {
        const message = messages[i] as Buffer;
        const payload = await codec.compress(message);
        wireBytes += payload.length;
        const back = await codec.inflate(payload);
        if (back.length !== message.length) throw new Error('round trip lost bytes');
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  for (const codec of codecs) codec.close();
  return { seconds, wireBytes };
}

const messages = chatMessages(MESSAGES);
const inputBytes = messages.reduce((sum, m) => sum + m.length, 0);
console.log(`${MESSAGES} JSON chat messages, ${(inputBytes / MESSAGES).toFixed(0)} B average; compress + inflate each; best of ${ROUNDS}`);
console.log('impl   context      conns   msgs/s    MB/s   wire B/msg  ratio');
const impls = [
  ['ours', ours],
  ['ws', theirs],
] as const;
for (const noContextTakeover of [false, true]) {
  for (const connections of [1, CONNECTIONS]) {
    // Rounds alternate between the implementations, so a busy moment of the machine hits both.
    const best: Array<Result | undefined> = impls.map(() => undefined);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, [, make]] of impls.entries()) {
        const result = await run(make, noContextTakeover, connections, messages);
        const previous = best[i];
        if (previous === undefined || result.seconds < previous.seconds) best[i] = result;
      }
    }
    for (const [i, [name]] of impls.entries()) {
      const { seconds, wireBytes } = best[i] as Result;
      console.log(
        [
          name.padEnd(6),
          (noContextTakeover ? 'no takeover' : 'takeover').padEnd(12),
          String(connections).padStart(5),
          (MESSAGES / seconds).toFixed(0).padStart(8),
          (inputBytes / seconds / 1e6).toFixed(1).padStart(7),
          (wireBytes / MESSAGES).toFixed(0).padStart(12),
          (wireBytes / inputBytes).toFixed(3).padStart(6),
        ].join(' '),
      );
    }
  }
}
