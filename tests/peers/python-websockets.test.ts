/**
 * Python `websockets` (Debian's python3-websockets, an independent
 * implementation with its own sans-I/O protocol layer) against this project
 * over loopback, in both directions. Fails (never skips) when the peer is
 * missing: run scripts/install-peers.sh as root.
 *
 * Our server, Python as the client: each script prints JSON of what it
 * received and the close it saw; the server's handler records its side, and
 * the test checks both.
 *
 * Our client, a Python server: a `websockets.serve` echo server on a free
 * loopback port takes one connection, echoes text and binary (subprotocol
 * `chat` selected), records what it saw, and reports it on stdout when the
 * client has closed; both sides are checked.
 */
import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { CloseReason } from '../../src/frames/close.ts';
import { permessageDeflate } from '../../src/extensions/permessage-deflate.ts';
import type { DefaultWebSocketSession, Message } from '../../src/session/default-session.ts';
import { ConnectionRefusedError } from '../../src/upgrade/client-errors.ts';
import { connect } from '../../src/upgrade/connect.ts';
import type { UpgradeCall } from '../../src/upgrade/handshake.ts';
import { freePort } from '../support/interop.ts';
import { describeResult, runPython, runPythonClient } from '../support/python-peer.ts';
import { startServer, type TestServer } from '../support/server.ts';

const asServer = suite('our server, Python websockets as the client');
const asClient = suite('our client, a Python websockets server');

// ---------------------------------------------------------------------------
// Our server, Python as the client.

interface ServerSide {
  readonly url: string;
  readonly protocol: string | undefined;
  readonly extensions: string[];
  readonly messages: Message[];
  closeReason?: CloseReason;
  closeReply?: CloseReason;
  error?: unknown;
}

const seen: ServerSide[] = [];

/**
 * Lets a handler stuck on `closeReason` return at the end of the suite, so a
 * regression fails its test instead of hanging the file (at 43cb68e it never
 * resolved after a protocol error: see the UTF-8 test).
 */
let release!: () => void;
const released = new Promise<void>((resolve) => (release = resolve));

async function handler(session: DefaultWebSocketSession, request: UpgradeCall): Promise<void> {
  const side: ServerSide = {
    url: request.url ?? '',
    protocol: session.protocol,
    extensions: session.extensions.map((e) => e.name),
    messages: [],
  };
  seen.push(side);
  try {
    if (side.url === '/server-close') {
      await session.send('welcome');
      side.closeReply = await session.close(4003, 'server done');
      return;
    }
    for await (const message of session) {
      side.messages.push(message);
      await session.send(message);
    }
  } catch (error) {
    side.error = error;
    throw error;
  } finally {
    const reason = await Promise.race([session.closeReason, released.then(() => undefined)]);
    if (reason !== undefined) side.closeReason = reason;
  }
}

/** Waits for the handler of the last connection on `url` to record its close reason. */
async function sideOf(url: string, timeoutMs = 5000): Promise<ServerSide> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const side = seen.filter((s) => s.url === url).at(-1);
    if (side?.closeReason !== undefined) return side;
    if (Date.now() > deadline) {
      throw new Error(`the server session for ${url} has no closeReason after ${timeoutMs} ms (messages: ${side?.messages.length}, error: ${String(side?.error)})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let server: TestServer;
let deflating: TestServer;

asServer.before(async () => {
  server = await startServer(handler, { protocols: ['b', 'a'] });
  deflating = await startServer(handler, { extensions: [permessageDeflate()] });
});

asServer.after(async () => {
  release();
  await server.close();
  await deflating.close();
});

/** The 1 MiB binary message, built the same way in Python (see BIG below). */
const big = Buffer.alloc(1 << 20);
for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) % 256;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

const EXCHANGE = `
  import hashlib
  COMPRESSION = None if sys.argv[2] == "none" else sys.argv[2]
  big = bytes((i * 31 + 7) % 256 for i in range(1 << 20))
  out = {}
  async with websockets.connect(URL, subprotocols=["a", "b"], compression=COMPRESSION, max_size=1 << 24) as ws:
      out["subprotocol"] = ws.subprotocol
      out["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions")
      await ws.send("héllo from python ✓")
      out["text"] = await ws.recv()
      await ws.send(bytes([0, 1, 2, 127, 128, 255]))
      b = await ws.recv()
      out["binaryType"] = type(b).__name__
      out["binary"] = list(b)
      await ws.send(big)
      e = await ws.recv()
      out["bigType"] = type(e).__name__
      out["bigLen"] = len(e)
      out["bigSha"] = hashlib.sha256(e).hexdigest()
      out["bigEqual"] = e == big
      pong = await ws.ping(b"py-ping")
      await asyncio.wait_for(pong, 5)
      out["pong"] = True
      await ws.send(["frag", "men", "ted ✓"])
      out["fragmented"] = await ws.recv()
      await ws.close(code=4000, reason="python done")
      out["closeCode"] = ws.close_code
      out["closeReason"] = ws.close_reason
  print(json.dumps(out))
`;

asServer('python websockets: text, binary, 1 MiB binary, ping, fragmented text, then its close 4000 "python done" (both sides checked)', async () => {
  const r = await runPythonClient(`ws://127.0.0.1:${server.port}/exchange`, EXCHANGE, {
    args: ['none'],
    timeoutMs: 30_000,
  });
  assert.is(r.code, 0, describeResult(r));
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(out, {
    subprotocol: 'b',
    extensions: null,
    text: 'héllo from python ✓',
    binaryType: 'bytes',
    binary: [0, 1, 2, 127, 128, 255],
    bigType: 'bytes',
    bigLen: 1 << 20,
    bigSha: sha256(big),
    bigEqual: true,
    pong: true,
    fragmented: 'fragmented ✓',
    closeCode: 4000, // our echo of its code
    closeReason: '',
  });

  const side = await sideOf('/exchange');
  assert.is(side.protocol, 'b');
  assert.is(side.error, undefined);
  assert.is(side.messages.length, 4);
  assert.is(side.messages[0], 'héllo from python ✓');
  assert.ok(Buffer.isBuffer(side.messages[1]));
  assert.equal([...(side.messages[1] as Buffer)], [0, 1, 2, 127, 128, 255]);
  assert.ok(Buffer.isBuffer(side.messages[2]) && (side.messages[2] as Buffer).equals(big), 'the 1 MiB message arrived intact');
  assert.is(side.messages[3], 'fragmented ✓', 'three fragments reassembled into one message');
  assert.equal(side.closeReason, { code: 4000, reason: 'python done' });
});

asServer('python websockets with permessage-deflate negotiated: the same exchange, compressed both ways', async () => {
  const r = await runPythonClient(`ws://127.0.0.1:${deflating.port}/deflate`, EXCHANGE, {
    args: ['deflate'],
    timeoutMs: 30_000,
  });
  assert.is(r.code, 0, describeResult(r));
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.match(String(out.extensions), /^permessage-deflate/);
  assert.is(out.subprotocol, null, 'this server speaks no subprotocol');
  assert.is(out.text, 'héllo from python ✓');
  assert.equal(out.binary, [0, 1, 2, 127, 128, 255]);
  assert.is(out.bigSha, sha256(big));
  assert.is(out.fragmented, 'fragmented ✓');
  assert.is(out.closeCode, 4000);

  const side = await sideOf('/deflate');
  assert.equal(side.extensions, ['permessage-deflate']);
  assert.ok(Buffer.isBuffer(side.messages[2]) && (side.messages[2] as Buffer).equals(big));
  assert.is(side.messages[3], 'fragmented ✓');
  assert.equal(side.closeReason, { code: 4000, reason: 'python done' });
});

asServer('server closes with 4003 "server done": python sees code and reason, the server gets its echo', async () => {
  const r = await runPythonClient(
    `ws://127.0.0.1:${server.port}/server-close`,
    `
      out = {"messages": []}
      async with websockets.connect(URL) as ws:
          try:
              while True:
                  out["messages"].append(await ws.recv())
          except websockets.ConnectionClosed as e:
              out["exception"] = type(e).__name__
              out["rcvd"] = [e.rcvd.code, e.rcvd.reason]
          out["closeCode"] = ws.close_code
          out["closeReason"] = ws.close_reason
      print(json.dumps(out))
    `,
    { timeoutMs: 20_000 },
  );
  assert.is(r.code, 0, describeResult(r));
  assert.equal(JSON.parse(r.stdout), {
    messages: ['welcome'],
    // websockets calls a close "OK" only with codes 1000/1001 on both sides.
    exception: 'ConnectionClosedError',
    rcvd: [4003, 'server done'],
    closeCode: 4003,
    closeReason: 'server done',
  });
  const side = await sideOf('/server-close');
  assert.equal(side.closeReply, { code: 4003, reason: 'server done' }, 'python echoes the whole close frame');
});

asServer('python sending invalid UTF-8 in a text frame gets 1007, and the handler awaiting closeReason is released', async () => {
  // websockets validates what it sends, so the frame is written below its API.
  const r = await runPythonClient(
    `ws://127.0.0.1:${server.port}/bad-utf8`,
    `
      from websockets.frames import Opcode
      async with websockets.connect(URL) as ws:
          await ws.write_frame(True, Opcode.TEXT, b"ok \\xff\\xfe")
          try:
              await ws.recv()
              out = {"error": "no close"}
          except websockets.ConnectionClosedError as e:
              out = {"rcvd": [e.rcvd.code, e.rcvd.reason] if e.rcvd else None}
      out["closeCode"] = ws.close_code
      print(json.dumps(out))
    `,
    { timeoutMs: 20_000 },
  );
  assert.is(r.code, 0, describeResult(r));
  assert.equal(JSON.parse(r.stdout), { rcvd: [1007, ''], closeCode: 1007 }, 'python got our 1007 and the connection ended');
  // The handler iterates (and sees the ProtocolError), then awaits
  // `closeReason`, documented as "the peer's close reason, or 1006 when the
  // connection ended without one". The connection is gone by now, so it must
  // resolve; give it far more than the round trip takes.
  const side = await sideOf('/bad-utf8', 3000);
  assert.equal(side.messages, []);
  assert.ok(side.error instanceof Error, 'the handler saw the protocol error');
  assert.is((side.error as { closeCode?: number }).closeCode, 1007);
  assert.ok([1006, 1007].includes(side.closeReason!.code), `closeReason ${JSON.stringify(side.closeReason)}`);
});

// ---------------------------------------------------------------------------
// Our client, a Python server.

/** The Python echo server: takes one connection, then prints what it saw. */
const PYTHON_SERVER = `
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

asClient('echo with a Python websockets server: text, binary up to 1 MiB, subprotocol, close code and reason', async () => {
  const port = await freePort();
  const python = runPython(PYTHON_SERVER, { args: [String(port)], timeoutMs: 30_000 });
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

asServer.run();
asClient.run();
