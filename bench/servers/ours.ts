/**
 * This project's echo server for the benchmarks: `createWebSocketServer`
 * (node:net and our request-head parser) with default options, echoing every
 * message with its type, as a user would write it: with `consumeEach`, the
 * callback form (what a `ws` user writes with `on('message')`), or, with
 * BENCH_FOR_AWAIT=1, with a `for await` loop (whose suspended function keeps
 * the last message until the next one arrives: see `consumeEach`). With
 * BENCH_DEFLATE set (see deflate-settings.ts) it negotiates permessage-deflate.
 * With BENCH_SERVER_OBJECT=1 it is the server object instead
 * (`new WebSocketServer().route('*', handler).listen(...)`).
 */
import { createWebSocketServer, permessageDeflate, WebSocketServer, type WebSocketHandler } from 'ktor-ws-ts';
import { announceAndServe, serveBenchmark } from './control.ts';
import { DEFLATE_SETTINGS, deflateModeFromEnv } from './deflate-settings.ts';

const deflate = deflateModeFromEnv();
const handler: WebSocketHandler =
  process.env.BENCH_FOR_AWAIT === '1'
    ? async (session) => {
        for await (const message of session) await session.send(message);
      }
    : (session) => session.consumeEach((message) => session.send(message));
const options =
  deflate === undefined
    ? {}
    : {
        extensions: [
          permessageDeflate({
            level: DEFLATE_SETTINGS.level,
            memLevel: DEFLATE_SETTINGS.memLevel,
            threshold: DEFLATE_SETTINGS.threshold,
            maxConcurrency: DEFLATE_SETTINGS.concurrency,
            serverNoContextTakeover: deflate === 'no-takeover',
            clientNoContextTakeover: deflate === 'no-takeover',
          }),
        ],
      };
if (process.env.BENCH_SERVER_OBJECT === '1') {
  // The server object on its own port (`listen`: HTTP/1.1 and HTTP/2), as the README recommends.
  const server = new WebSocketServer(options).route('*', handler);
  announceAndServe((await server.listen(0, '127.0.0.1')).port);
} else {
  serveBenchmark(createWebSocketServer(handler, options));
}
