/**
 * The client against Python `websockets` (Debian python3-websockets) as an
 * independent server: a `websockets.serve` echo server on a free loopback
 * port takes one connection, echoes text and binary (subprotocol `chat`
 * selected), records what it saw, and reports it on stdout when the client
 * has closed; both sides are checked.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionRefusedError } from '../../src/upgrade/client-errors.ts';
import { connect } from '../../src/upgrade/connect.ts';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';
import { describeResult, runPython } from '../support/python-peer.ts';

const SERVER = `
import asyncio, json, sys
import websockets

seen = []

async def echo(ws, path=None):
    try:
        async for message in ws:
            seen.append([type(message).__name__, len(message)])
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass  # raised instead of ending the loop for codes other than 1000/1001
    seen.append(["closed", ws.close_code, ws.close_reason])
    done.set_result(None)

async def main():
    global done
    done = asyncio.get_running_loop().create_future()
    async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1]), subprotocols=["chat"], max_size=None):
        print("listening", flush=True)
        await done
    print(json.dumps(seen), flush=True)

asyncio.run(main())
`;

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Connects once the Python server listens (it starts in a few hundred ms). */
async function connectWhenUp(url: string): Promise<DefaultWebSocketSession> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect(url, { protocols: ['superchat', 'chat'] });
    } catch (error) {
      if (!(error instanceof ConnectionRefusedError) || attempt > 200) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

test('echo with a Python websockets server: text, binary up to 1 MiB, subprotocol, close code and reason', async () => {
  const port = await freePort();
  const python = runPython(SERVER, { args: [String(port)], timeoutMs: 30_000 });
  const session = await connectWhenUp(`ws://127.0.0.1:${port}/py`);
  assert.is(session.protocol, 'chat');
  const sent: Array<string | Buffer> = ['hello python', '', 'ünïcödé ✓', Buffer.from([0, 1, 2, 255]), Buffer.alloc(1 << 20, 9)];
  for (const message of sent) {
    await session.send(message);
    const back = await session.receive();
    if (typeof message === 'string') assert.is(back, message);
    else assert.ok(Buffer.isBuffer(back) && message.equals(back));
  }
  assert.equal(await session.close(4000, 'bye from node'), { code: 4000, reason: 'bye from node' });
  await session.raw.job.join();
  assert.is(session.raw.job.state, 'completed');

  const result = await python;
  assert.is(result.code, 0, describeResult(result));
  const lines = result.stdout.trim().split('\n');
  assert.is(lines[0], 'listening');
  assert.equal(JSON.parse(lines[1]!), [
    ['str', 12],
    ['str', 0],
    ['str', 9],
    ['bytes', 4],
    ['bytes', 1 << 20],
    ['closed', 4000, 'bye from node'],
  ]);
});

test.run();
