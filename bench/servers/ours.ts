/**
 * This project's echo server for the benchmarks: `createWebSocketServer`
 * (node:net and our request-head parser) with default options, echoing every
 * message with its type, as a user would write it. With BENCH_DEFLATE set
 * (see deflate-settings.ts) it negotiates permessage-deflate.
 */
import { createWebSocketServer, permessageDeflate } from 'ktor-ws-ts';
import { serveBenchmark } from './control.ts';
import { DEFLATE_SETTINGS, deflateModeFromEnv } from './deflate-settings.ts';

const deflate = deflateModeFromEnv();
const server = createWebSocketServer(
  async (session) => {
    for await (const message of session) await session.send(message);
  },
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
