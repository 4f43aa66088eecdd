"""An independent RFC 8441 peer: Python's `h2` (Debian python3-h2) over a
plain socket, with WebSocket frames written and parsed here by hand.

    python3 python-h2-client.py PORT

On one HTTP/2 connection (prior knowledge) it:
  1. reads the server's SETTINGS (is ENABLE_CONNECT_PROTOCOL set?);
  2. opens an extended CONNECT (stream 1) offering two subprotocols, then
     sends a masked text frame, a masked 1 KiB binary frame (16-bit length),
     a text message in two fragments and a ping, and reads the answers;
  3. closes with 1000 "bye", waits for the close echo and END_STREAM, and
     ends its side (unless the server already reset the finished stream
     with NO_ERROR, which RFC 9113 section 8.1 allows);
  4. sends a request with sec-websocket-version 8 (stream 3): expects 426;
  5. sends an extended CONNECT without :path (stream 5), which the server's
     HTTP/2 layer must reset (PROTOCOL_ERROR);
  6. opens one more WebSocket (stream 7) and gets an echo, to show the
     connection still serves.
It prints one JSON object with what it observed and exits 0; any failure is
a traceback and a non-zero exit.
"""
import json
import os
import socket
import struct
import sys

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

PORT = int(sys.argv[1])
AUTHORITY = f"127.0.0.1:{PORT}"

sock = socket.create_connection(("127.0.0.1", PORT), timeout=10)
conn = h2.connection.H2Connection(
    h2.config.H2Configuration(client_side=True, header_encoding="utf-8", validate_outbound_headers=False)
)
conn.initiate_connection()
sock.sendall(conn.data_to_send())

received = {}  # stream id -> bytearray of DATA
events_by_stream = {}  # stream id -> list of event names
responses = {}  # stream id -> dict of headers
resets = {}  # stream id -> error code
ended = set()
settings_seen = {}


def pump():
    """Reads from the socket once and dispatches the h2 events."""
    data = sock.recv(65536)
    if not data:
        raise RuntimeError("connection closed by the server")
    for event in conn.receive_data(data):
        sid = getattr(event, "stream_id", None)
        if sid is not None:
            events_by_stream.setdefault(sid, []).append(type(event).__name__)
        if isinstance(event, h2.events.RemoteSettingsChanged):
            for code, setting in event.changed_settings.items():
                settings_seen[int(code)] = setting.new_value
        elif isinstance(event, h2.events.ResponseReceived):
            responses[sid] = dict(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            received.setdefault(sid, bytearray()).extend(event.data)
            conn.acknowledge_received_data(event.flow_controlled_length, sid)
        elif isinstance(event, h2.events.StreamEnded):
            ended.add(sid)
        elif isinstance(event, h2.events.StreamReset):
            resets[sid] = int(event.error_code)
    out = conn.data_to_send()
    if out:
        sock.sendall(out)


def until(condition):
    while not condition():
        pump()


def masked(opcode, payload, fin=True):
    """One client frame: FIN/opcode, MASK bit and length, a random key, the masked payload."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def parse_frames(buf):
    """Server frames (unmasked) in `buf`: a list of (fin, opcode, payload), and the bytes left over."""
    frames = []
    pos = 0
    while True:
        if len(buf) - pos < 2:
            break
        b0, b1 = buf[pos], buf[pos + 1]
        if b1 & 0x80:
            raise RuntimeError("the server sent a masked frame")
        n = b1 & 0x7F
        hlen = 2
        if n == 126:
            if len(buf) - pos < 4:
                break
            n = struct.unpack("!H", bytes(buf[pos + 2 : pos + 4]))[0]
            hlen = 4
        elif n == 127:
            if len(buf) - pos < 10:
                break
            n = struct.unpack("!Q", bytes(buf[pos + 2 : pos + 10]))[0]
            hlen = 10
        if len(buf) - pos < hlen + n:
            break
        frames.append((bool(b0 & 0x80), b0 & 0x0F, bytes(buf[pos + hlen : pos + hlen + n])))
        pos += hlen + n
    return frames, buf[pos:]


def connect_headers(sid_path, extra=()):
    return [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "http"),
        (":path", sid_path),
        (":authority", AUTHORITY),
        ("sec-websocket-version", "13"),
        *extra,
    ]


def end_our_side(sid):
    """Sends END_STREAM, unless the server already closed the stream with RST_STREAM NO_ERROR (allowed once its side ended)."""
    try:
        conn.end_stream(sid)
    except h2.exceptions.StreamClosedError:
        if resets.get(sid) != 0:
            raise
    sock.sendall(conn.data_to_send())


def frames_of(sid):
    frames, _ = parse_frames(received.get(sid, bytearray()))
    return frames


result = {}

# 1. The server's SETTINGS.
until(lambda: len(settings_seen) > 0)
result["enable_connect_protocol"] = settings_seen.get(int(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL))
result["max_concurrent_streams"] = settings_seen.get(int(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS))

# 2. A WebSocket on stream 1.
conn.send_headers(1, connect_headers("/py?x=1", [("sec-websocket-protocol", "superchat, chat"), ("origin", "http://python.test")]))
sock.sendall(conn.data_to_send())
until(lambda: 1 in responses or 1 in resets)
result["status"] = responses[1][":status"]
result["protocol"] = responses[1].get("sec-websocket-protocol")
result["accept"] = responses[1].get("sec-websocket-accept")

binary = bytes(range(256)) * 4
outgoing = (
    masked(0x1, "hello from python h2".encode())
    + masked(0x2, binary)
    + masked(0x1, "frag".encode(), fin=False)
    + masked(0x0, "mented".encode(), fin=True)
    + masked(0x9, b"py-ping")
)
conn.send_data(1, outgoing)
sock.sendall(conn.data_to_send())
until(lambda: len(frames_of(1)) >= 4)
frames = frames_of(1)
data_frames = [f for f in frames if f[1] in (0x1, 0x2)]
result["texts"] = [f[2].decode() for f in data_frames if f[1] == 0x1]
result["binary_ok"] = [f[2] == binary for f in data_frames if f[1] == 0x2] == [True]
result["pongs"] = [f[2].decode() for f in frames if f[1] == 0xA]

# 3. The close handshake.
conn.send_data(1, masked(0x8, struct.pack("!H", 1000) + b"bye"))
sock.sendall(conn.data_to_send())
until(lambda: any(f[1] == 0x8 for f in frames_of(1)) and 1 in ended)
close = [f for f in frames_of(1) if f[1] == 0x8][0][2]
result["close"] = [struct.unpack("!H", close[:2])[0], close[2:].decode()]
end_our_side(1)

# 4. A wrong version on stream 3.
conn.send_headers(3, [h if h[0] != "sec-websocket-version" else ("sec-websocket-version", "8") for h in connect_headers("/py")])
sock.sendall(conn.data_to_send())
until(lambda: 3 in ended or 3 in resets)
result["bad_version"] = {
    "status": responses[3][":status"],
    "version": responses[3].get("sec-websocket-version"),
    "body": bytes(received.get(3, b"")).decode(),
}

# 5. An extended CONNECT without :path on stream 5.
conn.send_headers(5, [h for h in connect_headers("/py") if h[0] != ":path"])
sock.sendall(conn.data_to_send())
until(lambda: 5 in resets or 5 in responses)
result["no_path_reset"] = resets.get(5)
result["no_path_response"] = 5 in responses

# 6. The connection still serves: a new WebSocket on stream 7.
conn.send_headers(7, connect_headers("/py-again"))
sock.sendall(conn.data_to_send())
until(lambda: 7 in responses)
conn.send_data(7, masked(0x1, "still alive".encode()))
sock.sendall(conn.data_to_send())
until(lambda: len(frames_of(7)) >= 1)
result["after"] = [f[2].decode() for f in frames_of(7)]
conn.send_data(7, masked(0x8, struct.pack("!H", 1000)))
sock.sendall(conn.data_to_send())
until(lambda: 7 in ended)
end_our_side(7)
conn.close_connection()
sock.sendall(conn.data_to_send())
sock.close()

print(json.dumps(result))
