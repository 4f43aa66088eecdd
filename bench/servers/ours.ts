/**
 * This project's echo server for the benchmarks: `createWebSocketServer`
 * (node:net and our request-head parser) with default options, echoing every
 * message with its type, as a user would write it: with `consumeEach`, the
 * callback form (what a `ws` user writes with `on('message')`), or, with
 * BENCH_FOR_AWAIT=1, with a `for await` loop (whose suspended function keeps
 * the last message until the next one arrives: see `consumeEach`). With
 * BENCH_DEFLATE set (see deflate-settings.ts) it negotiates permessage-deflate.
 */
import { createWebSocketServer, permessageDeflate } from 'ktor-ws-ts';
import { serveBenchmark } from './control.ts';
import { DEFLATE_SETTINGS, deflateModeFromEnv } from './deflate-settings.ts';

const deflate = deflateModeFromEnv();
const server = createWebSocketServer(
  process.env.BENCH_FOR_AWAIT === '1'
    ? async (session) => {
        for await (const message of session) await session.send(message);
      }
    : (session) => session.consumeEach((message) => session.send(message)),
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
      },
);
serveBenchmark(server);
