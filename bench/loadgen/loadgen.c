/*
 * WebSocket load generator for the end-to-end and memory benchmarks. Built
 * with the machine's gcc at bench time (bench/loadgen/build.ts) into a
 * temporary directory; single-threaded, epoll, no allocation after setup.
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
#define HIST_BUCKETS 2560
#define READ_BUF (1 << 20)

enum { CONNECTING, HANDSHAKE, OPEN, CLOSING, DONE };
enum { RUNNING, DRAINING, CLOSING_ALL };

typedef struct {
  int fd;
  int state;
  char head[2048];
  int head_len;
  /* sending: the byte stream is a periodic repetition of one frame */
  uint64_t to_send;
  uint64_t sent;
  /* receiving */
  uint8_t hdr[14];
  int hdr_len, hdr_need, opcode;
  uint64_t payload_left;
  int in_payload;
  /* timestamps of the messages in flight, oldest first */
  uint64_t ts[MAX_INFLIGHT];
  int ts_head, outstanding;
} conn_t;

static conn_t *conns;
static int nconns, inflight, epfd;
static size_t msg_size;
static uint8_t *rep;        /* R copies of the masked frame */
static size_t frame_len, rep_len;
static uint8_t rbuf[READ_BUF];
static int phase = RUNNING, measuring = 0;
static uint64_t hist[HIST_BUCKETS];
static uint64_t m_msgs, m_bytes, errors, opened, closed_count;
static const char *host;
static int port;

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

static void start_connect(conn_t *c) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket (raise the fd limit?)");
  set_nonblock(fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) die("inet_pton");
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) die("connect");
  c->fd = fd;
  c->state = CONNECTING;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

static const char REQUEST[] =
    "GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

static void conn_fail(conn_t *c, const char *why) {
  if (c->state == DONE) return;
  if (phase == RUNNING) {
    errors++;
    fprintf(stderr, "loadgen: connection %ld: %s\n", (long)(c - conns), why);
  }
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
    size_t off = (size_t)(c->sent % frame_len);
    size_t len = rep_len - off;
    if (len > c->to_send) len = (size_t)c->to_send;
    ssize_t n = write(c->fd, rep + off, len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      conn_fail(c, "write failed");
      return;
    }
    c->sent += (uint64_t)n;
    c->to_send -= (uint64_t)n;
  }
}

static void frame_done(conn_t *c) {
  if (c->opcode == 8) { /* close from the server (or our own close echoed by a raw echo) */
    c->state = DONE;
    closed_count++;
    close(c->fd);
    return;
  }
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

static void parse(conn_t *c, const uint8_t *p, size_t n) {
  while (n > 0 && c->state != DONE) {
    if (c->in_payload) {
      size_t k = n < c->payload_left ? n : (size_t)c->payload_left;
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
    if (write(c->fd, REQUEST, sizeof REQUEST - 1) != (ssize_t)(sizeof REQUEST - 1)) {
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
  for (int i = 0; i < n; i++) on_event((conn_t *)evs[i].data.ptr, evs[i].events);
}

/* Opens every connection, at most 256 handshakes at a time, within 60 s. */
static void open_all(void) {
  uint64_t deadline = now_ns() + 60000000000ull;
  int started = 0;
  while (opened + errors < (uint64_t)nconns) {
    while (started < nconns && started - (int)(opened + errors) < 256) start_connect(&conns[started++]);
    poll_once(10);
    if (errors) {
      fprintf(stderr, "loadgen: %lu of %d connections failed to open\n", (unsigned long)errors, nconns);
      exit(3);
    }
    if (now_ns() > deadline) {
      fprintf(stderr, "loadgen: only %lu of %d connections opened in 60 s\n", (unsigned long)opened, nconns);
      exit(3);
    }
  }
}

static void build_frames(void) {
  static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  size_t hlen = 2 + (msg_size < 126 ? 0 : msg_size < 65536 ? 2 : 8) + 4;
  frame_len = hlen + msg_size;
  size_t copies = (256 * 1024) / frame_len;
  if (copies < (size_t)inflight) copies = (size_t)inflight;
  if (copies * frame_len > (64u << 20)) copies = (64u << 20) / frame_len;
  if (copies < 1) copies = 1;
  rep_len = copies * frame_len;
  rep = malloc(rep_len);
  if (!rep) die("malloc");
  uint8_t *f = rep;
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
  memcpy(f + hlen - 4, key, 4);
  for (size_t i = 0; i < msg_size; i++) f[hlen + i] = (uint8_t)('a' + i % 26) ^ key[i & 3];
  for (size_t i = 1; i < copies; i++) memcpy(rep + i * frame_len, rep, frame_len);
}

static int echo_mode(int warmup_ms, int measure_ms) {
  build_frames();
  open_all();
  uint64_t t0 = now_ns();
  for (int i = 0; i < nconns; i++) {
    for (int k = 0; k < inflight; k++) queue_message(&conns[i], t0);
    do_write(&conns[i]);
  }
  uint64_t measure_at = t0 + (uint64_t)warmup_ms * 1000000ull;
  uint64_t end_at = measure_at + (uint64_t)measure_ms * 1000000ull;
  while (now_ns() < measure_at) poll_once(5);
  printf("measure-start\n");
  fflush(stdout);
  measuring = 1;
  double cpu0 = cpu_seconds();
  uint64_t start = now_ns();
  while (now_ns() < end_at) poll_once(5);
  measuring = 0;
  uint64_t stop = now_ns();
  double cpu1 = cpu_seconds();
  printf("measure-end\n");
  fflush(stdout);

  /* drain what is in flight (bounded), then close every connection */
  phase = DRAINING;
  uint64_t deadline = now_ns() + 10000000000ull;
  int drained = 0;
  while (!drained && now_ns() < deadline) {
    drained = 1;
    for (int i = 0; i < nconns; i++)
      if (conns[i].state == OPEN && conns[i].outstanding > 0) drained = 0;
    if (!drained) poll_once(5);
  }
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
  int closed_cleanly = closed_count == (uint64_t)nconns;
  for (int i = 0; i < nconns; i++)
    if (conns[i].state != DONE) close(conns[i].fd);

  double seconds = (stop - start) / 1e9;
  printf("{\"messages\":%lu,\"bytes\":%lu,\"seconds\":%.6f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"cpu\":%.4f,"
         "\"errors\":%lu,\"drained\":%s,\"closed\":%s}\n",
         (unsigned long)m_msgs, (unsigned long)m_bytes, seconds, percentile_us(0.50), percentile_us(0.99),
         (cpu1 - cpu0) / seconds, (unsigned long)errors, drained ? "true" : "false",
         closed_cleanly ? "true" : "false");
  return errors ? 1 : 0;
}

static int idle_mode(void) {
  open_all();
  printf("ready %d\n", nconns);
  fflush(stdout);
  /* wait for a line or EOF on stdin, serving (and counting) nothing meanwhile */
  struct pollfd pfd = {.fd = 0, .events = POLLIN};
  uint64_t deadline = now_ns() + 600000000000ull;
  while (now_ns() < deadline) {
    if (poll(&pfd, 1, 100) > 0) break;
  }
  for (int i = 0; i < nconns; i++)
    if (conns[i].state != DONE) close(conns[i].fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: loadgen echo HOST PORT CONNS INFLIGHT SIZE WARMUP_MS MEASURE_MS | loadgen idle HOST PORT CONNS\n");
    return 64;
  }
  host = argv[2];
  port = atoi(argv[3]);
  nconns = atoi(argv[4]);
  conns = calloc((size_t)nconns, sizeof *conns);
  if (!conns) die("calloc");
  epfd = epoll_create1(0);
  if (epfd < 0) die("epoll_create1");
  if (strcmp(argv[1], "idle") == 0) return idle_mode();
  if (strcmp(argv[1], "echo") != 0 || argc < 9) {
    fprintf(stderr, "loadgen: bad arguments\n");
    return 64;
  }
  inflight = atoi(argv[5]);
  msg_size = (size_t)atol(argv[6]);
  if (inflight < 1 || inflight > MAX_INFLIGHT || nconns < 1) {
    fprintf(stderr, "loadgen: 1 <= INFLIGHT <= %d and CONNS >= 1\n", MAX_INFLIGHT);
    return 64;
  }
  return echo_mode(atoi(argv[7]), atoi(argv[8]));
}
