/**
 * `npm run autobahn-client -- ws://127.0.0.1:9001 [--agent NAME]`: the client
 * driver for the Autobahn|Testsuite fuzzing server (scripts/autobahn.sh
 * client). It reads the case count from `/getCaseCount`, runs every case at
 * `/runCase?case=N&agent=NAME` echoing each message back with its type until
 * the server closes, then asks for `/updateReports?agent=NAME`. The agent
 * name comes from `--agent`, else env AUTOBAHN_AGENT, else `ktor-ws-ts`; the
 * URL from the argument, else env AUTOBAHN_URL. permessage-deflate is
 * offered; limits are raised to 64 MiB messages.
 */
import { parseArgs } from 'node:util';
import { connect, permessageDeflate, type ConnectOptions, type DefaultWebSocketSession } from 'ktor-ws-ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { agent: { type: 'string' } } });
const base = (positionals[0] ?? process.env['AUTOBAHN_URL'] ?? 'ws://127.0.0.1:9001').replace(/\/+$/, '');
const agent = encodeURIComponent(values.agent ?? process.env['AUTOBAHN_AGENT'] ?? 'ktor-ws-ts');
const LIMIT = 64 * 1024 * 1024;
const OPTIONS: ConnectOptions = {
  extensions: [permessageDeflate()],
  session: { maxFrameSize: LIMIT, maxMessageSize: LIMIT },
};

/** Echoes every message until the session ends; resolves with the last message (or undefined). */
async function echo(session: DefaultWebSocketSession, reply: boolean): Promise<string | Buffer | undefined> {
  let last: string | Buffer | undefined;
  try {
    for await (const message of session) {
      last = message;
      if (reply) await session.send(message);
    }
  } catch {
    // A protocol error or a lost connection ends the case; the server judges it.
  }
  await session.raw.job.join();
  return last;
}

const count = Number(await echo(await connect(`${base}/getCaseCount`, OPTIONS), false));
if (!Number.isSafeInteger(count)) throw new Error(`getCaseCount answered ${String(count)}`);
const started = Date.now();
for (let i = 1; i <= count; i++) {
  try {
    await echo(await connect(`${base}/runCase?case=${i}&agent=${agent}`, OPTIONS), true);
  } catch (error) {
    console.error(`case ${i}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
await echo(await connect(`${base}/updateReports?agent=${agent}`, OPTIONS), false);
console.log(`ran ${count} cases as agent ${decodeURIComponent(agent)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
