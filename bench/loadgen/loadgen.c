/*
 * WebSocket load generator for the end-to-end, memory, fan-out and Redis
 * benchmarks. Built with the machine's gcc at bench time (bench/loadgen/build.ts)
 * into a temporary directory; single-threaded, epoll, no allocation after setup.
 *
 *   loadgen echo HOST PORT CONNS INFLIGHT SIZE WARMUP_MS MEASURE_MS
 *     Opens CONNS WebSocket connections, keeps INFLIGHT binary messages of
 *     SIZE bytes (masked client frames) outstanding on each, and counts the
 *     echoes: a new message is sent for every echo received. Prints
 *     "measure-start" and "measure-end" lines around the measured window,
 *     then drains the messages still in flight, closes every connection with
 *     a close handshake (1000) and prints one JSON line of results, its own
 *     CPU use included. Echoed frames may be masked or not (a raw TCP echo
 *     returns the client's masked frames as they are).
 *
 *   loadgen idle HOST PORT CONNS
 *     Opens CONNS connections (handshake done), prints "ready N", waits for
 *     a line or EOF on stdin, then closes them all and exits.
 *
 *   loadgen fanout HOST PORT SUBS INFLIGHT SIZE WARMUP_MS MEASURE_MS PUB_PATH SUB_PATH [SUB_PORT]
 *     One topic, one publisher, SUBS subscribers. Opens SUBS subscriber
 *     connections to SUB_PATH on SUB_PORT (default PORT) and prints
 *     "subscribed N"; waits for a line on stdin (the caller may first check
 *     that the server, or a broker behind it, has them all); then opens one
 *     publisher connection to PUB_PATH on PORT and keeps INFLIGHT binary
 *     messages of SIZE bytes (SIZE >= 8) in flight: each carries its sequence
 *     number (big-endian, first 8 payload bytes), and a message is complete
 *     once every subscriber received it; each completion sends the next one.
 *     Every subscriber must receive every message, once, in sequence (any
 *     other frame, a gap or a repeat fails that subscriber). Counted in the
 *     measured window: completed messages, deliveries (messages received by
 *     subscribers) and their latency (publish to receipt). Then drains the
 *     messages in flight, closes every connection (1000) and prints one JSON
 *     line, with the messages lost (sum over subscribers of the published
 *     messages they did not get). Frames the publisher receives (a server
 *     that includes the sender) are counted and otherwise ignored. Another
 *     line on stdin ends the measured window early.
 *
 * Everything stops by itself: connection setup, draining and closing have
 * time limits; any failure prints to stderr and exits non-zero.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_INFLIGHT 256
#define RING MAX_INFLIGHT /* message slots of the fan-out publisher (> INFLIGHT) */
#define HIST_BUCKETS 2560
#define READ_BUF (1 << 20)

enum { CONNECTING, HANDSHAKE, OPEN, CLOSING, DONE };
enum { RUNNING, DRAINING, CLOSING_ALL };
enum { ECHO, SUBSCRIBER, PUBLISHER };

/* Where a connection goes: address and the upgrade request for its path. */
typedef struct {
  struct sockaddr_in addr;
  char request[512];
  size_t request_len;
} target_t;

/* What a connection sends: copies of one masked frame, back to back. */
typedef struct {
  uint8_t *buf;
  size_t len;
  size_t period; /* the byte stream repeats every `period` bytes (frame_len, or len when the copies differ) */
} stream_t;

typedef struct {
  int fd;
  int state;
  int role;
  const target_t *target;
  const stream_t *out;
  char head[2048];
  int head_len;
  /* sending: bytes of the `out` stream queued, and written so far (the stream repeats every `out->period` bytes) */
  uint64_t to_send;
  uint64_t sent;
  /* receiving */
  uint8_t hdr[14];
  int hdr_len, hdr_need, opcode;
  uint64_t payload_left;
  int in_payload;
  /* subscriber: the first payload bytes (the sequence number) and the messages received so far */
  uint8_t seq[8];
  int seq_len;
  uint64_t received;
  /* timestamps of the messages in flight, oldest first */
  uint64_t ts[MAX_INFLIGHT];
  int ts_head, outstanding;
} conn_t;

static conn_t *conns;
static int nconns, inflight, epfd;
static size_t msg_size;
static size_t frame_len;
static stream_t echo_stream; /* copies of the one message every echo connection sends */
static target_t main_target;
static uint8_t rbuf[READ_BUF];
static int phase = RUNNING, measuring = 0, stop_requested = 0;
static uint64_t hist[HIST_BUCKETS];
static uint64_t m_msgs, m_bytes, errors, opened, closed_count;
static const char *host;
static const uint8_t MASK_KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

/* fan-out: message `s` lives in slot s % RING of the publisher's stream, sent at sent_ts[slot], received by got[slot] subscribers */
static conn_t *publisher;
static target_t sub_target;
static stream_t pub_stream;
static int nsubs;
static uint32_t got[RING];
static uint64_t sent_ts[RING];
static uint64_t published, completed, m_deliveries, out_of_sequence, failed_subscribers;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static double cpu_seconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(2);
}

/* Log-linear histogram of nanoseconds: 64 sub-buckets per power of two (about 1.5% precision). */
static int bucket_of(uint64_t v) {
  if (v < 128) return (int)v;
  int msb = 63 - __builtin_clzll(v);
  int shift = msb - 6;
  int idx = (shift + 1) * 64 + (int)(v >> shift) - 64;
  return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}
static uint64_t bucket_value(int idx) {
  if (idx < 128) return (uint64_t)idx;
  int shift = idx / 64 - 1;
  uint64_t base = (uint64_t)(idx % 64 + 64) << shift;
  return base + ((1ull << shift) >> 1); /* middle of the bucket */
}
static double percentile_us(double p) {
  uint64_t total = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) total += hist[i];
  if (total == 0) return 0;
  uint64_t rank = (uint64_t)(p * (double)total);
  if (rank >= total) rank = total - 1;
  uint64_t seen = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) {
    seen += hist[i];
    if (seen > rank) return bucket_value(i) / 1000.0;
  }
  return 0;
}

static void set_nonblock(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl");
}

static void make_target(target_t *t, int port, const char *path) {
  memset(t, 0, sizeof *t);
  t->addr.sin_family = AF_INET;
  t->addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &t->addr.sin_addr) != 1) die("inet_pton");
  int n = snprintf(t->request, sizeof t->request,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   path, host);
  if (n < 0 || (size_t)n >= sizeof t->request) {
    fprintf(stderr, "loadgen: path too long\n");
    exit(64);
  }
  t->request_len = (size_t)n;
}

static void start_connect(conn_t *c) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket (raise the fd limit?)");
  set_nonblock(fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (const struct sockaddr *)&c->target->addr, sizeof c->target->addr) < 0 && errno != EINPROGRESS)
    die("connect");
  c->fd = fd;
  c->state = CONNECTING;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

static void conn_fail(conn_t *c, const char *why) {
  if (c->state == DONE) return;
  if (phase == RUNNING) {
    errors++;
    if (errors <= 10) fprintf(stderr, "loadgen: connection %ld: %s\n", (long)(c - conns), why);
    if (errors == 10) fprintf(stderr, "loadgen: (further failures are only counted)\n");
  }
  if (c->role == SUBSCRIBER) failed_subscribers++;
  c->state = DONE;
  closed_count++;
  close(c->fd);
}

static void queue_message(conn_t *c, uint64_t t) {
  c->ts[(c->ts_head + c->outstanding) % MAX_INFLIGHT] = t;
  c->outstanding++;
  c->to_send += frame_len;
}

static void do_write(conn_t *c) {
  while (c->to_send > 0 && c->state != DONE) {
    size_t off = (size_t)(c->sent % c->out->period);
    size_t len = c->out->len - off;
    if (len > c->to_send) len = (size_t)c->to_send;
    ssize_t n = write(c->fd, c->out->buf + off, len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      conn_fail(c, "write failed");
      return;
    }
    c->sent += (uint64_t)n;
    c->to_send -= (uint64_t)n;
  }
}

/* Queues the next message of the fan-out: its sequence number goes into its slot's (masked) payload. */
static void publish_next(uint64_t t) {
  uint64_t seq = published++;
  uint8_t *payload = pub_stream.buf + (size_t)(seq % RING) * frame_len + (frame_len - msg_size);
  for (int i = 0; i < 8; i++) payload[i] = (uint8_t)(seq >> (56 - 8 * i)) ^ MASK_KEY[i & 3];
  sent_ts[seq % RING] = t;
  publisher->to_send += frame_len; /* written once per epoll batch (poll_once) */
}

static void echo_received(conn_t *c) {
  if (c->opcode != 2 || c->outstanding == 0) {
    conn_fail(c, "unexpected frame");
    return;
  }
  uint64_t t = now_ns();
  uint64_t sent_at = c->ts[c->ts_head];
  c->ts_head = (c->ts_head + 1) % MAX_INFLIGHT;
  c->outstanding--;
  if (measuring) {
    hist[bucket_of(t - sent_at)]++;
    m_msgs++;
    m_bytes += msg_size;
  }
  if (phase == RUNNING) queue_message(c, t);
}

/* A subscriber got a message: it must be the next in sequence. The last subscriber to get one completes it. */
static void delivered(conn_t *c) {
  if (c->opcode != 2 || c->seq_len < 8) {
    conn_fail(c, "unexpected frame");
    return;
  }
  uint64_t seq = 0;
  for (int i = 0; i < 8; i++) seq = (seq << 8) | c->seq[i];
  if (seq != c->received || seq >= published) {
    out_of_sequence++;
    conn_fail(c, "message out of sequence (lost, repeated or reordered)");
    return;
  }
  c->received++;
  uint64_t t = now_ns();
  if (measuring) {
    hist[bucket_of(t - sent_ts[seq % RING])]++;
    m_deliveries++;
    m_bytes += msg_size;
  }
  /* Subscribers get messages in sequence, so messages complete in sequence: this one is `completed`. */
  if (++got[seq % RING] < (uint32_t)nsubs) return;
  got[seq % RING] = 0;
  completed++;
  if (measuring) m_msgs++;
  if (phase == RUNNING) publish_next(t);
}

static void frame_done(conn_t *c) {
  if (c->opcode == 8) { /* close from the server (or our own close echoed by a raw echo) */
    c->state = DONE;
    closed_count++;
    close(c->fd);
    return;
  }
  if (c->role == SUBSCRIBER) delivered(c);
  else if (c->role == PUBLISHER) c->received++; /* its own message, from a server that includes the sender */
  else echo_received(c);
}

static void parse(conn_t *c, const uint8_t *p, size_t n) {
  while (n > 0 && c->state != DONE) {
    if (c->in_payload) {
      size_t k = n < c->payload_left ? n : (size_t)c->payload_left;
      if (c->role == SUBSCRIBER && c->seq_len < 8) {
        size_t take = k < (size_t)(8 - c->seq_len) ? k : (size_t)(8 - c->seq_len);
        memcpy(c->seq + c->seq_len, p, take);
        c->seq_len += (int)take;
      }
      c->payload_left -= k;
      p += k;
      n -= k;
      if (c->payload_left == 0) {
        c->in_payload = 0;
        frame_done(c);
      }
      continue;
    }
    c->hdr[c->hdr_len++] = *p++;
    n--;
    if (c->hdr_len == 2) {
      int len7 = c->hdr[1] & 0x7f;
      c->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((c->hdr[1] & 0x80) ? 4 : 0);
      c->opcode = c->hdr[0] & 0x0f;
      if (!(c->hdr[0] & 0x80)) {
        conn_fail(c, "fragmented echo");
        return;
      }
    }
    if (c->hdr_len >= 2 && c->hdr_len == c->hdr_need) {
      int len7 = c->hdr[1] & 0x7f;
      uint64_t len = (uint64_t)len7;
      if (len7 == 126) len = ((uint64_t)c->hdr[2] << 8) | c->hdr[3];
      else if (len7 == 127) {
        len = 0;
        for (int i = 2; i < 10; i++) len = (len << 8) | c->hdr[i];
      }
      c->hdr_len = 0;
      c->seq_len = 0;
      if (len == 0) frame_done(c);
      else {
        c->payload_left = len;
        c->in_payload = 1;
      }
    }
  }
}

static void on_handshake_bytes(conn_t *c, const uint8_t *p, size_t n) {
  size_t room = sizeof c->head - 1 - (size_t)c->head_len;
  size_t k = n < room ? n : room;
  memcpy(c->head + c->head_len, p, k);
  c->head_len += (int)k;
  c->head[c->head_len] = 0;
  char *end = strstr(c->head, "\r\n\r\n");
  if (end == NULL) {
    if (k == room) conn_fail(c, "response head too large");
    return;
  }
  if (strncmp(c->head, "HTTP/1.1 101", 12) != 0) {
    conn_fail(c, "handshake refused");
    return;
  }
  c->state = OPEN;
  opened++;
  size_t used = (size_t)(end + 4 - c->head) - ((size_t)c->head_len - k);
  if (used < n) parse(c, p + used, n - used);
}

static void do_read(conn_t *c) {
  for (;;) {
    if (c->state == DONE) return;
    ssize_t n = read(c->fd, rbuf, sizeof rbuf);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      conn_fail(c, "read failed");
      return;
    }
    if (n == 0) {
      if (c->state == CLOSING || phase != RUNNING) {
        c->state = DONE;
        closed_count++;
        close(c->fd);
      } else conn_fail(c, "server closed the connection");
      return;
    }
    if (c->state == HANDSHAKE) on_handshake_bytes(c, rbuf, (size_t)n);
    else parse(c, rbuf, (size_t)n);
  }
}

static void on_event(conn_t *c, uint32_t events) {
  if (c->state == DONE) return;
  if (c->state == CONNECTING) {
    if (events & (EPOLLERR | EPOLLHUP)) {
      conn_fail(c, "connect failed");
      return;
    }
    if (!(events & EPOLLOUT)) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      errno = err;
      conn_fail(c, "connect failed");
      return;
    }
    if (write(c->fd, c->target->request, c->target->request_len) != (ssize_t)c->target->request_len) {
      conn_fail(c, "request write failed");
      return;
    }
    c->state = HANDSHAKE;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) do_read(c);
  if (c->state == OPEN || c->state == CLOSING) do_write(c);
}

static void poll_once(int timeout_ms) {
  struct epoll_event evs[256];
  int n = epoll_wait(epfd, evs, 256, timeout_ms);
  if (n < 0 && errno != EINTR) die("epoll_wait");
  for (int i = 0; i < n; i++) {
    if (evs[i].data.ptr == NULL) { /* a line (or EOF) on stdin: see watch_stdin */
      stop_requested = 1;
      epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
    } else on_event((conn_t *)evs[i].data.ptr, evs[i].events);
  }
  if (publisher != NULL && publisher->state == OPEN) do_write(publisher); /* the messages this batch completed */
}

/* Opens connections [from, to) (every one before is open), at most 256 handshakes at a time, within 60 s. */
static void open_conns(int from, int to) {
  uint64_t deadline = now_ns() + 60000000000ull;
  int started = from;
  while (opened + errors < (uint64_t)to) {
    while (started < to && started - (int)(opened + errors) < 256) start_connect(&conns[started++]);
    poll_once(10);
    if (errors) {
      fprintf(stderr, "loadgen: %lu of %d connections failed to open\n", (unsigned long)errors, to - from);
      exit(3);
    }
    if (now_ns() > deadline) {
      fprintf(stderr, "loadgen: only %lu of %d connections opened in 60 s\n", (unsigned long)opened - (unsigned long)from, to - from);
      exit(3);
    }
  }
}

/* Fills `s` with `copies` masked binary frames of msg_size bytes (frame_len each; payload 'a'..'z' repeated). */
static void build_stream(stream_t *s, size_t copies) {
  size_t hlen = frame_len - msg_size;
  s->len = copies * frame_len;
  s->period = frame_len;
  s->buf = malloc(s->len);
  if (!s->buf) die("malloc");
  uint8_t *f = s->buf;
  f[0] = 0x82;
  if (msg_size < 126) f[1] = 0x80 | (uint8_t)msg_size;
  else if (msg_size < 65536) {
    f[1] = 0x80 | 126;
    f[2] = (uint8_t)(msg_size >> 8);
    f[3] = (uint8_t)msg_size;
  } else {
    f[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) f[2 + i] = (uint8_t)((uint64_t)msg_size >> (56 - 8 * i));
  }
  memcpy(f + hlen - 4, MASK_KEY, 4);
  for (size_t i = 0; i < msg_size; i++) f[hlen + i] = (uint8_t)('a' + i % 26) ^ MASK_KEY[i & 3];
  for (size_t i = 1; i < copies; i++) memcpy(s->buf + i * frame_len, s->buf, frame_len);
}

/* Runs until the end of the measured window; returns its length in ns and the CPU seconds used in it. */
static uint64_t run_window(int warmup_ms, int measure_ms, double *cpu) {
  uint64_t measure_at = now_ns() + (uint64_t)warmup_ms * 1000000ull;
  uint64_t end_at = measure_at + (uint64_t)measure_ms * 1000000ull;
  while (now_ns() < measure_at) poll_once(5);
  printf("measure-start\n");
  fflush(stdout);
  measuring = 1;
  double cpu0 = cpu_seconds();
  uint64_t start = now_ns();
  while (now_ns() < end_at && !stop_requested) poll_once(5);
  measuring = 0;
  uint64_t stop = now_ns();
  *cpu = cpu_seconds() - cpu0;
  printf("measure-end\n");
  fflush(stdout);
  return stop - start;
}

/* Stops sending, waits (at most 10 s) until `settled()` holds, then closes every connection (1000), within 5 s. */
static void drain_and_close(int (*settled)(void), int *closed_ok) {
  phase = DRAINING;
  uint64_t deadline = now_ns() + 10000000000ull;
  while (!settled() && now_ns() < deadline) poll_once(5);
  static const uint8_t close_frame[8] = {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8};
  for (int i = 0; i < nconns; i++) {
    conn_t *c = &conns[i];
    if (c->state != OPEN) continue;
    c->state = CLOSING;
    if (c->to_send == 0 && write(c->fd, close_frame, sizeof close_frame) == (ssize_t)sizeof close_frame) continue;
    c->state = DONE; /* could not close politely: drop it */
    closed_count++;
    close(c->fd);
  }
  phase = CLOSING_ALL;
  deadline = now_ns() + 5000000000ull;
  while (closed_count < (uint64_t)nconns && now_ns() < deadline) poll_once(5);
  *closed_ok = closed_count == (uint64_t)nconns;
  for (int i = 0; i < nconns; i++)
    if (conns[i].state != DONE) close(conns[i].fd);
}

static int echoes_drained(void) {
  for (int i = 0; i < nconns; i++)
    if (conns[i].state == OPEN && conns[i].outstanding > 0) return 0;
  return 1;
}

static int echo_mode(int warmup_ms, int measure_ms) {
  size_t copies = (256 * 1024) / frame_len;
  if (copies < (size_t)inflight) copies = (size_t)inflight;
  if (copies * frame_len > (64u << 20)) copies = (64u << 20) / frame_len;
  if (copies < 1) copies = 1;
  build_stream(&echo_stream, copies);
  for (int i = 0; i < nconns; i++) {
    conns[i].role = ECHO;
    conns[i].target = &main_target;
    conns[i].out = &echo_stream;
  }
  open_conns(0, nconns);
  uint64_t t0 = now_ns();
  for (int i = 0; i < nconns; i++) {
    for (int k = 0; k < inflight; k++) queue_message(&conns[i], t0);
    do_write(&conns[i]);
  }
  double cpu;
  double seconds = run_window(warmup_ms, measure_ms, &cpu) / 1e9;
  int closed_cleanly;
  drain_and_close(echoes_drained, &closed_cleanly);
  int drained = echoes_drained();
  printf("{\"messages\":%lu,\"bytes\":%lu,\"seconds\":%.6f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"cpu\":%.4f,"
         "\"errors\":%lu,\"drained\":%s,\"closed\":%s}\n",
         (unsigned long)m_msgs, (unsigned long)m_bytes, seconds, percentile_us(0.50), percentile_us(0.99),
         cpu / seconds, (unsigned long)errors, drained ? "true" : "false", closed_cleanly ? "true" : "false");
  return errors ? 1 : 0;
}

/* Waits (at most 600 s) for a line or EOF on stdin, serving nothing meanwhile. */
static void wait_for_stdin(void) {
  struct pollfd pfd = {.fd = 0, .events = POLLIN};
  uint64_t deadline = now_ns() + 600000000000ull;
  while (now_ns() < deadline) {
    if (poll(&pfd, 1, 100) > 0) break;
  }
}

/* Consumes the line waited for, then has poll_once set stop_requested at the next one (or EOF). */
static void watch_stdin(void) {
  char line[64];
  if (read(0, line, sizeof line) < 0) die("read stdin");
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev) < 0) die("epoll_ctl stdin");
}

static int idle_mode(void) {
  for (int i = 0; i < nconns; i++) conns[i].target = &main_target;
  open_conns(0, nconns);
  printf("ready %d\n", nconns);
  fflush(stdout);
  wait_for_stdin();
  for (int i = 0; i < nconns; i++)
    if (conns[i].state != DONE) close(conns[i].fd);
  return 0;
}

/* Every message in flight arrived, or some subscriber failed (and never will get them). */
static int fanout_settled(void) { return completed == published || failed_subscribers > 0; }

static int fanout_mode(int warmup_ms, int measure_ms) {
  build_stream(&pub_stream, RING);
  pub_stream.period = pub_stream.len; /* each slot carries its own sequence number */
  publisher = &conns[nsubs];
  publisher->role = PUBLISHER;
  publisher->target = &main_target;
  publisher->out = &pub_stream;
  for (int i = 0; i < nsubs; i++) {
    conns[i].role = SUBSCRIBER;
    conns[i].target = &sub_target;
  }
  open_conns(0, nsubs);
  printf("subscribed %d\n", nsubs);
  fflush(stdout);
  wait_for_stdin();
  watch_stdin();
  open_conns(nsubs, nconns);
  uint64_t t0 = now_ns();
  for (int k = 0; k < inflight; k++) publish_next(t0);
  do_write(publisher);
  double cpu;
  double seconds = run_window(warmup_ms, measure_ms, &cpu) / 1e9;
  int closed_cleanly;
  drain_and_close(fanout_settled, &closed_cleanly);
  int drained = completed == published;
  uint64_t lost = 0;
  for (int i = 0; i < nsubs; i++) lost += published - conns[i].received;
  printf("{\"messages\":%lu,\"deliveries\":%lu,\"bytes\":%lu,\"seconds\":%.6f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
         "\"cpu\":%.4f,\"errors\":%lu,\"drained\":%s,\"closed\":%s,\"subscribers\":%d,\"published\":%lu,"
         "\"lost\":%lu,\"out_of_sequence\":%lu,\"publisher_received\":%lu}\n",
         (unsigned long)m_msgs, (unsigned long)m_deliveries, (unsigned long)m_bytes, seconds, percentile_us(0.50),
         percentile_us(0.99), cpu / seconds, (unsigned long)errors, drained ? "true" : "false",
         closed_cleanly ? "true" : "false", nsubs, (unsigned long)published, (unsigned long)lost,
         (unsigned long)out_of_sequence, (unsigned long)publisher->received);
  return errors || lost ? 1 : 0;
}

static const char USAGE[] =
    "usage: loadgen echo HOST PORT CONNS INFLIGHT SIZE WARMUP_MS MEASURE_MS\n"
    "       loadgen idle HOST PORT CONNS\n"
    "       loadgen fanout HOST PORT SUBS INFLIGHT SIZE WARMUP_MS MEASURE_MS PUB_PATH SUB_PATH [SUB_PORT]\n";

int main(int argc, char **argv) {
  int fanout = argc >= 2 && strcmp(argv[1], "fanout") == 0;
  int idle = argc >= 2 && strcmp(argv[1], "idle") == 0;
  int echo = argc >= 2 && strcmp(argv[1], "echo") == 0;
  if (!(idle && argc == 5) && !(echo && argc == 9) && !(fanout && (argc == 11 || argc == 12))) {
    fprintf(stderr, "%s", USAGE);
    return 64;
  }
  host = argv[2];
  int port = atoi(argv[3]);
  nconns = atoi(argv[4]);
  if (nconns < 1) {
    fprintf(stderr, "loadgen: CONNS >= 1\n");
    return 64;
  }
  if (fanout) {
    nsubs = nconns;
    nconns = nsubs + 1; /* the publisher is the last connection */
    make_target(&main_target, port, argv[9]);
    make_target(&sub_target, argc == 12 ? atoi(argv[11]) : port, argv[10]);
  } else {
    make_target(&main_target, port, "/bench");
  }
  conns = calloc((size_t)nconns, sizeof *conns);
  if (!conns) die("calloc");
  epfd = epoll_create1(0);
  if (epfd < 0) die("epoll_create1");
  if (idle) return idle_mode();
  inflight = atoi(argv[5]);
  msg_size = (size_t)atol(argv[6]);
  frame_len = 2 + (msg_size < 126 ? 0 : msg_size < 65536 ? 2 : 8) + 4 + msg_size; /* a masked client frame */
  if (inflight < 1 || inflight > MAX_INFLIGHT || (fanout && (inflight >= RING || msg_size < 8))) {
    fprintf(stderr, "loadgen: 1 <= INFLIGHT <= %d (fanout: < %d, SIZE >= 8)\n", MAX_INFLIGHT, RING);
    return 64;
  }
  return fanout ? fanout_mode(atoi(argv[7]), atoi(argv[8])) : echo_mode(atoi(argv[7]), atoi(argv[8]));
}
