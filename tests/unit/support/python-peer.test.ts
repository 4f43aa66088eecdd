/**
 * The Python peer helper (tests/support/python-peer.ts). Fails (never skips)
 * when /usr/bin/python3 cannot import Debian's python3-websockets: run
 * scripts/install-peers.sh as root.
 */
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer } from 'ws';
import { PYTHON, describeResult, pythonWebsocketsVersion, runPython, runPythonClient } from '../../support/python-peer.ts';

test('the peer interpreter imports websockets and reports its version', async () => {
  const r = await runPython('import sys, websockets; print(websockets.__version__); print(sys.executable)');
  assert.is(r.code, 0, `${PYTHON} must import websockets (apt-get install python3-websockets)\n${describeResult(r)}`);
  const [version, executable] = r.stdout.trim().split('\n');
  assert.match(version!, /^\d+\.\d+/);
  assert.ok(executable!.startsWith('/usr/bin/python3'), `interpreter is ${executable}`);
  assert.is(await pythonWebsocketsVersion(), version);
});

test('runPythonClient talks to a real server (ws echo) at URL', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  try {
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
    const r = await runPythonClient(
      url,
      `
        async with websockets.connect(URL) as ws:
            await ws.send("héllo")
            text = await ws.recv()
            await ws.send(b"\\x00\\xff")
            data = await ws.recv()
            print(json.dumps({"text": text, "binary": list(data)}))
      `,
      { timeoutMs: 10_000 },
    );
    assert.is(r.code, 0, describeResult(r));
    assert.equal(JSON.parse(r.stdout), { text: 'héllo', binary: [0, 255] });
  } finally {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
});

test('non-zero exit and timeout are reported, not thrown', async () => {
  const failed = await runPython('import sys; print("out"); sys.exit(3)');
  assert.is(failed.code, 3);
  assert.is(failed.stdout.trim(), 'out');
  const slow = await runPython('import time; time.sleep(30)', { timeoutMs: 300 });
  assert.ok(slow.timedOut);
  assert.is(slow.code, null);
  assert.is(slow.signal, 'SIGKILL');
  assert.ok(slow.durationMs < 5000);
});

test.run();
