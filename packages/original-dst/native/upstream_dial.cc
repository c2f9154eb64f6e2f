// new UpstreamDial(upstreamFd, address, port, stages, timeoutMs, onDone[, earlyFd[, fastOpen[, idle[, relay]]]]): the
// forwarder's dial to its proxy and the SOCKS5 / HTTP CONNECT exchanges, without a net.Socket
// (issue 12: the upstream side's net.Socket, its stream reads and the promises around them were
// most of the forwarder's CPU per connection once the client side was native).
//
// upstreamFd >= 0 is a connected socket (a warm connection whose greeting and auth are done),
// which becomes the dial's (the caller's again only if the constructor throws). Else a
// non-blocking socket connects to
// address:port (an IPv4 or IPv6 literal; names are resolved by the JavaScript dialers). Each stage
// is { request: Buffer | null, kind, expect0, expect1 }: its request is written when the stage
// starts (null: an earlier write carried it, pipelined), then its answer is judged here, but only
// the plain success answer is accepted:
//   kind 0: two fixed bytes (expectN < 0: any), the SOCKS5 method selection and RFC 1929 status;
//   kind 1: the SOCKS5 CONNECT reply 05 00 00 with an IPv4, IPv6 or domain BND.ADDR;
//   kind 2: an HTTP/1.x 2xx response head up to its blank line (8192 bytes at most).
// Answers may arrive split anyhow; bytes after the last answer (the target's first bytes) are
// handed back for the client. Anything else ends the dial with a failure naming what happened
// and the stage's bytes received, so that JavaScript words it with the protocol's own parsers
// (packages/dialers: the same errors and metrics as a JavaScript dial). The socket is watched by
// the thread's reactor (reactor.cc: edge-triggered, so every read goes on until EAGAIN).
//
// earlyFd >= 0 (SOCKS5 to a proxy known to keep them, handshake early-data): the client's socket,
// not ours. Whatever the client has sent by the time the request carrying the CONNECT goes out is
// peeked at (never waiting) and sent in the same write, so that a client that speaks first (HTTP,
// TLS) has its answer one round trip sooner on a new connection. Only on success are the bytes
// that really left taken off the client's socket: a failed dial (a stale warm connection retried
// cold) leaves the client's stream whole, and what the reply overtook in our send buffer is
// relayed after the bytes that left.
//
// fastOpen (a new connection whose first stage has a request): TCP Fast Open (RFC 7413) where the
// proxy's host has given this host a cookie: the first request (the HTTP CONNECT, the SOCKS5
// greeting and what is pipelined with it) goes in the SYN, so the proxy answers with its SYN-ACK
// and the handshake's round trip is no longer paid on its own. Without a cookie the kernel asks
// for one in a SYN without data. The client's early bytes never ride the SYN (a SYN's data may be
// delivered twice, RFC 7413 section 6.3.1; a CONNECT twice only opens a tunnel that carries
// nothing): they are peeked once the connection is up, and sent before the answers are read.
//
// relay { clientFd, idleTimeoutMs, onClosed }: on success the dial starts the splice relay itself
// (splice_relay.cc) between a duplicate of the client's descriptor (which stays the caller's) and
// the upstream socket, with the bytes after the answer written to the client first, right where the
// answer is judged: the client's first bytes go up with no JavaScript between the proxy's answer
// and them. Where that relay cannot start (no descriptor for the duplicate, epoll refused one),
// the upstream socket is handed over as without it. A reset read together with the last answer
// goes to the relay, which passes it on to the client after the bytes before it (handed over
// without a relay, the socket reads as ended then: only a warm open, whose watch drops it, or the
// rare relay that could not start). That relay's onClosed may run before this dial's onDone (a
// relay that ends at once: both come from close callbacks of one loop phase); the caller takes
// either order (relay.ts keeps a relay that ended before its dial's outcome as ended).
//
// onDone(failure, fd, leftover, earlyBytes, relay) runs once, from libuv's close callback (never
// inside a call from JavaScript): on success failure is null, fd the connected upstream socket, now
// the caller's (-1 when the dial's relay holds it: relay is then that SpliceRelay, leftover
// undefined), and earlyBytes how many of the client's bytes went with the CONNECT (the relay goes
// on after them);
// on failure fd is -1 (closed here) and failure is { what, errno, stage, bytes, connecting } with
// what one of 'connect' (the TCP connect failed), 'io' (a send or receive failed), 'closed' (the
// proxy closed), 'timeout', 'answer' (not the success answer). cancel() ends a dial without
// calling onDone (the caller words its own abort), its relay too if it started one meanwhile.
#include "upstream_dial.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include <vector>

#include "idle_connector.h"
#include "js_callback.h"
#include "napi_errors.h"
#include "napi_numbers.h"
#include "owned_timer.h"
#include "reactor.h"
#include "splice_relay.h"
#include "tcp_keepalive.h"

namespace {

constexpr int kFixed2 = 0;
constexpr int kSocks5Reply = 1;
constexpr int kHttpHead = 2;
// As packages/dialers' MAX_RESPONSE_HEAD: a longer head is not a CONNECT answer we accept.
constexpr size_t kMaxHttpHead = 8192;
// Bytes per receive: an answer is a few bytes, a head at most 8 KiB; the rest waits for the relay.
constexpr size_t kReadChunk = 16 * 1024;
// The client's first bytes sent with the CONNECT at most: an HTTP request head or a TLS ClientHello.
constexpr size_t kEarlyMax = 16 * 1024;
// The longest dial deadline taken (24.8 days: far beyond any configured connect timeout).
constexpr double kMaxTimeoutMs = 2147483647;

struct Stage {
  std::string request;
  bool hasRequest = false;
  int kind = kFixed2;
  int expect[2] = {-1, -1};
};

bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }

// 0: incomplete, > 0: the answer's length, -1: not the success answer.
long ParseFixed(const Stage& s, const unsigned char* p, size_t n) {
  if (n < 2) return 0;
  for (int i = 0; i < 2; i++) {
    if (s.expect[i] >= 0 && p[i] != s.expect[i]) return -1;
  }
  return 2;
}

long ParseSocks5Reply(const unsigned char* p, size_t n) {
  if (n < 2) return 0;
  if (p[0] != 0x05 || p[1] != 0x00) return -1;
  if (n < 5) return 0;
  size_t address;
  switch (p[3]) {
    case 0x01: address = 4; break;
    case 0x04: address = 16; break;
    case 0x03: address = 1 + static_cast<size_t>(p[4]); break;
    default: return -1;
  }
  const size_t end = 4 + address + 2;
  return n < end ? 0 : static_cast<long>(end);
}

// Accepts exactly what packages/dialers' parseConnectResponse accepts as a success. `seen`: bytes
// an earlier call found without the head's end, so its LF is at seen - 2 at the earliest (a proxy
// dribbling a long head made each read rescan it whole).
long ParseHttpHead(const unsigned char* p, size_t n, size_t seen) {
  const void* lf = memchr(p, '\n', n);
  if (lf == nullptr) return n >= kMaxHttpHead ? -1 : 0;
  const size_t lineEnd = static_cast<const unsigned char*>(lf) - p;
  if (lineEnd < 12 || memcmp(p, "HTTP/1.", 7) != 0 || !IsDigit(p[7]) || p[8] != ' ' || !IsDigit(p[9]) ||
      !IsDigit(p[10]) || !IsDigit(p[11]) || (lineEnd > 12 && p[12] != ' ' && p[12] != '\r')) {
    return -1;
  }
  const int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  if (status < 200 || status > 299) return -1;
  // The first LF followed by LF or by CR LF ends the head (lines end with CRLF or a bare LF).
  for (size_t lf = seen > lineEnd + 2 ? seen - 2 : lineEnd; lf < n; lf++) {
    if (p[lf] != '\n') continue;
    size_t length = 0;
    if (lf + 1 < n && p[lf + 1] == '\n') length = lf + 2;
    else if (lf + 2 < n && p[lf + 1] == '\r' && p[lf + 2] == '\n') length = lf + 3;
    if (length != 0) return length > kMaxHttpHead ? -1 : static_cast<long>(length);
  }
  return n >= kMaxHttpHead ? -1 : 0;
}

class UpstreamDial : public Napi::ObjectWrap<UpstreamDial>, public ReactorWatch, public idle_connector::Owner {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "UpstreamDial", {InstanceMethod("cancel", &UpstreamDial::Cancel)});
  }

  explicit UpstreamDial(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UpstreamDial>(info) {
    Napi::Env env = info.Env();
    env_ = env;
    if (info.Length() < 6 || info.Length() > 10 || !info[0].IsNumber() || !info[2].IsNumber() || !info[3].IsArray() ||
        !info[4].IsNumber() || !info[5].IsFunction() || (info.Length() >= 7 && !info[6].IsNumber()) ||
        (info.Length() >= 8 && !info[7].IsBoolean()) || (info.Length() >= 9 && !info[8].IsBoolean()) ||
        (info.Length() == 10 && !info[9].IsUndefined() && !info[9].IsObject())) {
      Napi::TypeError::New(env, "new UpstreamDial(upstreamFd, address, port, stages, timeoutMs, onDone[, earlyFd[, fastOpen[, idle[, relay]]]]) expected")
          .ThrowAsJavaScriptException();
      return;
    }
    int upstreamFd = -1;
    int port = 0;
    if (!DescriptorArg(info[0], &upstreamFd, true) || (info.Length() >= 7 && !DescriptorArg(info[6], &earlyFd_, true))) {
      Napi::TypeError::New(env, "UpstreamDial: descriptors must be whole numbers from 0, or -1 for none").ThrowAsJavaScriptException();
      return;
    }
    if (upstreamFd < 0 && !PortArg(info[2], &port)) {
      Napi::RangeError::New(env, "UpstreamDial: port must be a whole number from 1 to 65535").ThrowAsJavaScriptException();
      return;
    }
    // A libuv timer takes whole milliseconds: Infinity or 2^53 would wrap to an immediate timeout.
    const double timeoutMs = info[4].As<Napi::Number>().DoubleValue();
    if (!(timeoutMs >= 1 && timeoutMs <= kMaxTimeoutMs)) {
      Napi::TypeError::New(env, "UpstreamDial: timeoutMs must be from 1 to 2147483647").ThrowAsJavaScriptException();
      return;
    }
    if (!ReadStages(env, info[3].As<Napi::Array>())) return;
    if (info.Length() == 10 && info[9].IsObject() && !ReadRelay(env, info[9].As<Napi::Object>())) return;
    // Nothing to carry (a warm connection's open for HTTP): the SYN would wait for a first write.
    const bool fastOpen = info.Length() >= 8 && info[7].As<Napi::Boolean>().Value() && !stages_.empty() && stages_[0].hasRequest;
    // A connection nobody waits for (a warm pool's refill): connected by the idle connector.
    const bool idle = info.Length() >= 9 && info[8].As<Napi::Boolean>().Value();
    for (size_t i = 0; i < stages_.size(); i++) {
      if (stages_[i].hasRequest) earlyStage_ = i;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      Napi::Error::New(env, "UpstreamDial: no event loop").ThrowAsJavaScriptException();
      return;
    }
    int connectErr = 0;
    if (upstreamFd < 0 && idle && earlyFd_ < 0 && info[1].IsString()) {
      idle_connector::Request request;
      if (!ParseAddress(env, info[1].As<Napi::String>().Utf8Value(), port, &request.to, &request.toLen)) return;
      request.fastOpen = fastOpen;
      if (fastOpen) request.first = stages_[0].request;
      pending_ = idle_connector::Submit(env, std::move(request), this);
    }
    if (pending_) {
      // Connected() goes on from here once the connector has the socket.
    } else if (upstreamFd >= 0) {
      fd_ = upstreamFd;
    } else {
      if (!info[1].IsString()) {
        Napi::TypeError::New(env, "UpstreamDial: an address is needed without a descriptor").ThrowAsJavaScriptException();
        return;
      }
      connectErr = Connect(env, info[1].As<Napi::String>().Utf8Value(), port, fastOpen);
      if (fd_ < 0) return;  // thrown: no socket
    }
    if (connectErr == 0 && !pending_) {
      const int err = WatchFd(env);
      if (err != 0) {
        // A descriptor we were given stays the caller's when we throw, as its watch left it.
        if (upstreamFd < 0) close(fd_);
        fd_ = -1;
        ThrowErrno(env, "UpstreamDial: epoll_ctl", err);
        return;
      }
    }
    timer_.Init(loop, this);
    onDone_ = Napi::Persistent(info[5].As<Napi::Function>());
    // Kept alive until onDone has run, whatever JavaScript still references.
    Ref();
    open_ = true;
    timer_.Start(OnTimer, static_cast<uint64_t>(timeoutMs));
    // Connecting: the reactor reports writable (or an error) once the TCP handshake is over.
    if (connectErr != 0) Fail("connect", connectErr);
    else if (!pending_ && !connecting_) StartStage();
  }

  ~UpstreamDial() override {
    idle_connector::Abandon(pending_);
    if (fd_ >= 0) reactor::Close(fd_);
  }

 private:
  bool ReadStages(Napi::Env env, Napi::Array stages) {
    for (uint32_t i = 0; i < stages.Length(); i++) {
      Napi::Value value = stages.Get(i);
      if (env.IsExceptionPending()) return false;
      if (!value.IsObject()) {
        Napi::TypeError::New(env, "UpstreamDial: each stage is an object").ThrowAsJavaScriptException();
        return false;
      }
      Napi::Object o = value.As<Napi::Object>();
      Stage s;
      Napi::Value request = o.Get("request");
      if (env.IsExceptionPending()) return false;
      if (request.IsBuffer()) {
        auto buffer = request.As<Napi::Buffer<char>>();
        s.request.assign(buffer.Data(), buffer.Length());
        s.hasRequest = true;
      }
      if (!ReadInt(env, o, "kind", &s.kind) || !ReadInt(env, o, "expect0", &s.expect[0]) || !ReadInt(env, o, "expect1", &s.expect[1])) return false;
      if (s.kind < kFixed2 || s.kind > kHttpHead) {
        Napi::TypeError::New(env, "UpstreamDial: unknown stage kind").ThrowAsJavaScriptException();
        return false;
      }
      stages_.push_back(std::move(s));
    }
    return true;
  }

  // A getter or a conversion that throws (a Symbol for a number) leaves its exception pending: false
  // then, and nothing more is asked of the engine. C++ exceptions are off, so nothing unwinds by
  // itself: going on with a 0 sent the request, and the next call with the exception pending was a
  // fatal error of node-addon-api (the process gone).
  static bool ReadInt(Napi::Env env, Napi::Object o, const char* name, int* out) {
    const Napi::Value value = o.Get(name);
    if (env.IsExceptionPending()) return false;
    const Napi::Number number = value.ToNumber();
    if (env.IsExceptionPending()) return false;
    *out = number.Int32Value();
    return true;
  }

  bool ReadRelay(Napi::Env env, Napi::Object relay) {
    const Napi::Value clientFd = relay.Get("clientFd");
    const Napi::Value idleMs = relay.Get("idleTimeoutMs");
    const Napi::Value onClosed = relay.Get("onClosed");
    if (!DescriptorArg(clientFd, &relayClientFd_) || !idleMs.IsNumber() ||
        !(idleMs.As<Napi::Number>().DoubleValue() >= 1) || !onClosed.IsFunction()) {
      Napi::TypeError::New(env, "UpstreamDial: relay must be { clientFd >= 0, idleTimeoutMs >= 1, onClosed: function }")
          .ThrowAsJavaScriptException();
      return false;
    }
    relayIdleMs_ = idleMs.As<Napi::Number>().DoubleValue();
    onRelayClosed_ = Napi::Persistent(onClosed.As<Napi::Function>());
    return true;
  }

  // `address` (an IP literal) and `port` as a socket address; false (thrown) for bad input.
  static bool ParseAddress(Napi::Env env, const std::string& address, int port, sockaddr_storage* to, socklen_t* toLen) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(to);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(to);
    if (port < 1 || port > 65535) {
      Napi::TypeError::New(env, "UpstreamDial: port must be 1-65535").ThrowAsJavaScriptException();
      return false;
    }
    if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(static_cast<uint16_t>(port));
      *toLen = sizeof(*v4);
    } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(static_cast<uint16_t>(port));
      *toLen = sizeof(*v6);
    } else {
      Napi::TypeError::New(env, "UpstreamDial: not an IP address: " + address).ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  // The idle connector's socket (see idle_connector.h), on the loop thread: the dial goes on as if
  // connect() and, with Fast Open, Flush's first send (the SYN) had just returned here.
  void Connected(int fd, int err, bool synSent, size_t sent, int sendErr) override {
    pending_.reset();
    if (!open_) {
      if (fd >= 0) close(fd);
      return;
    }
    if (fd < 0) return Fail("connect", err);
    fd_ = fd;
    if (err != 0 && err != EINPROGRESS) return Fail("connect", err);
    connecting_ = err == EINPROGRESS;
    if (synSent) {
      QueueRequest();
      synData_ = true;
      connecting_ = true;
      if (sendErr != 0 && sendErr != EINPROGRESS && sendErr != EAGAIN) return Fail("connect", sendErr);
      outOff_ += sent;
      sent_ += sent;
    }
    // Set up first: readiness present now is reported within Watch.
    const int watchErr = WatchFd(env_);
    if (watchErr != 0) return Fail("io", watchErr);
    if (open_ && !connecting_) StartStage();
  }

  // Opens fd_ and starts connecting; returns an errno the connect failed with at once (reported
  // through onDone like any connect failure), 0 otherwise. Throws (fd_ stays -1) for bad input.
  // With fastOpen and a cookie, connect() returns 0 at once and sends nothing: the first send()
  // sends the SYN with the request (synPending_).
  int Connect(Napi::Env env, const std::string& address, int port, bool fastOpen) {
    sockaddr_storage to{};
    socklen_t toLen = 0;
    if (!ParseAddress(env, address, port, &to, &toLen)) return 0;
    bool deferred = false;
    fd_ = NewDialSocket(to.ss_family, fastOpen, &deferred);
    if (fd_ < 0) {
      ThrowErrno(env, "UpstreamDial: socket", errno);
      return 0;
    }
    if (connect(fd_, reinterpret_cast<sockaddr*>(&to), toLen) == 0) {
      synPending_ = deferred;
      return 0;
    }
    if (errno == EINPROGRESS) {
      connecting_ = true;
      return 0;
    }
    return errno;
  }

  void StartStage() {
    if (index_ == stages_.size()) return Succeed();
    QueueRequest();
    Flush();
  }

  // The current stage's request, and with the one carrying the CONNECT the client's bytes so far
  // (once the connection is up when the request goes in the SYN).
  void QueueRequest() {
    const Stage& s = stages_[index_];
    if (!s.hasRequest) return;
    out_.append(s.request);
    if (earlyFd_ < 0 || index_ != earlyStage_) return;
    if (synPending_) {
      earlyAfterSyn_ = true;
      return;
    }
    QueueEarly();
  }

  void QueueEarly() {
    char early[kEarlyMax];
    ssize_t n;
    do n = recv(earlyFd_, early, sizeof(early), MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    // Nothing yet, the client's end or its error: the relay finds them where they are.
    if (n <= 0) return;
    earlyAt_ = sent_ + (out_.size() - outOff_);
    out_.append(early, static_cast<size_t>(n));
    earlyPeeked_ = static_cast<size_t>(n);
  }

  // On success: the early bytes that left (not those still queued when the reply came) are taken
  // off the client's socket, where nothing else reads; the relay sends the rest.
  void TakeEarlyBytes() {
    if (earlyPeeked_ == 0 || sent_ <= earlyAt_) return;
    size_t left = sent_ - earlyAt_ < earlyPeeked_ ? sent_ - earlyAt_ : earlyPeeked_;
    char discard[kEarlyMax];
    while (left > 0) {
      const ssize_t n = recv(earlyFd_, discard, left, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      // Peeked, so present: anything else would mean a reader we do not know of.
      if (n <= 0) break;
      left -= static_cast<size_t>(n);
      earlyBytes_ += static_cast<size_t>(n);
    }
  }

  // fd_ to the reactor: for writing too only while it connects (its end is a writable edge); a
  // connected socket is written at once and asks for writable only if that does not fit (reactor.h).
  int WatchFd(napi_env env) { return reactor::Watch(env, fd_, this, connecting_ || synPending_); }

  // A request that did not fit (or a SYN on its way) goes on at the writable edge, asked for now.
  void AskWritable() {
    const int err = reactor::WantWritable(fd_);
    if (err != 0) Fail("io", err);
  }

  // Sends what is queued; the rest waits for the reactor's writable edge while the buffer is full
  // (or, after a SYN with data, until the connection is up).
  void Flush() {
    while (outOff_ < out_.size()) {
      const ssize_t n = send(fd_, out_.data() + outOff_, out_.size() - outOff_, MSG_NOSIGNAL);
      if (synPending_) {
        // The SYN left (with as much of the request as fits, or none: EINPROGRESS): connecting now.
        synPending_ = false;
        synData_ = true;
        connecting_ = true;
        if (n < 0 && errno != EINPROGRESS && errno != EAGAIN) return Fail("connect", errno);
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EINPROGRESS) return AskWritable();
        return Fail("io", errno);
      }
      outOff_ += static_cast<size_t>(n);
      sent_ += static_cast<size_t>(n);
    }
    out_.clear();
    outOff_ = 0;
  }

  // Reads until the answers are whole or the socket is drained (EAGAIN: the next bytes are a new edge).
  // `reset`: an error the socket reported (SO_ERROR took it off), the failure once the bytes that
  // came before it are judged: a proxy's refusal followed by its reset is worded as the refusal.
  void Receive(int reset = 0) {
    // Read with the last answer, it is the tunnel's failure: the relay passes it on (StartRelay).
    if (reset != 0) reset_ = reset;
    while (open_ && !succeeded_) {
      char chunk[kReadChunk];
      ssize_t n;
      do n = recv(fd_, chunk, sizeof(chunk), 0);
      while (n < 0 && errno == EINTR);
      if (n == 0) return reset != 0 ? Fail("io", reset) : Fail("closed", 0);
      if (n < 0) {
        if (errno != EAGAIN) return Fail("io", errno);
        if (reset != 0) Fail("io", reset);
        return;
      }
      in_.append(chunk, static_cast<size_t>(n));
      Judge();
    }
  }

  // Takes every whole answer in in_, starting the next stage after each.
  void Judge() {
    for (;;) {
      const auto* p = reinterpret_cast<const unsigned char*>(in_.data()) + stageStart_;
      const size_t avail = in_.size() - stageStart_;
      const Stage& s = stages_[index_];
      const long length = s.kind == kFixed2 ? ParseFixed(s, p, avail) : s.kind == kSocks5Reply ? ParseSocks5Reply(p, avail) : ParseHttpHead(p, avail, stageSeen_);
      if (length < 0) return Fail("answer", 0);
      if (length == 0) {
        stageSeen_ = avail;
        return;
      }
      stageSeen_ = 0;
      stageStart_ += static_cast<size_t>(length);
      index_++;
      if (index_ == stages_.size()) return Succeed();
      if (stages_[index_].hasRequest) {
        QueueRequest();
        Flush();
        if (!open_) return;
      }
    }
  }

  void OnReady(uint32_t events) override {
    if (!open_) return;
    if (connecting_) {
      if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
      int soError = 0;
      socklen_t len = sizeof(soError);
      if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soError, &len) != 0) soError = errno;
      if (soError == 0 && (events & (EPOLLERR | EPOLLHUP)) != 0) soError = ECONNREFUSED;
      // With the request in the SYN the proxy may answer and reset before we see the connection up
      // (a refused auth, the CONNECT behind it unread): it was up, and its answer comes first.
      if (synData_ && (soError == ECONNRESET || soError == EPIPE)) {
        connecting_ = false;
        return Receive(soError);
      }
      if (soError != 0) return Fail("connect", soError);
      // A deferred connect reports writable before its SYN (to ask for the first send): only a
      // connection with a peer is up.
      if (synData_ && !HasPeer()) return;
      connecting_ = false;
      if (synData_) {
        // The request went (or began) in the SYN: the rest of it, then the client's early bytes.
        if (earlyAfterSyn_) {
          earlyAfterSyn_ = false;
          QueueEarly();
        }
        Flush();
      } else {
        // A proxy that spoke first (no protocol here has it) is judged once the first request is out.
        StartStage();
      }
      if (open_ && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0) Receive();
      return;
    }
    if ((events & EPOLLERR) != 0) {
      int soError = 0;
      socklen_t len = sizeof(soError);
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soError, &len);
      if (soError != 0) return Receive(soError);
    }
    if ((events & (EPOLLOUT | EPOLLHUP)) != 0 && outOff_ < out_.size()) {
      Flush();
      if (!open_) return;
    }
    // A hang-up is read too: the bytes before the end are judged first, then the end.
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) Receive();
  }

  bool HasPeer() const {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    return getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &len) == 0;
  }

  static void OnTimer(void* owner) {
    auto* self = static_cast<UpstreamDial*>(owner);
    if (self->open_) self->Fail("timeout", 0);
  }

  void Succeed() {
    TakeEarlyBytes();
    succeeded_ = true;
    Finish();
    if (relayClientFd_ >= 0) StartRelay();
  }

  // The relay between the client and the tunnel, started here (see relay above); on failure the
  // upstream socket is handed over as without it.
  void StartRelay() {
    const int client = fcntl(relayClientFd_, F_DUPFD_CLOEXEC, 0);
    if (client < 0) return;
    Napi::HandleScope scope(env_);
    const char* after = in_.data() + stageStart_;
    Napi::Value relay = StartSpliceRelay(env_, client, fd_, relayIdleMs_, after, in_.size() - stageStart_, onRelayClosed_.Value(), reset_);
    if (relay.IsEmpty()) {
      reactor::Close(client);
      return;
    }
    relay_ = Napi::Persistent(relay.As<Napi::Object>());
    fd_ = -1;
    std::string().swap(in_);
    stageStart_ = 0;
  }

  void Fail(const char* what, int err) {
    failure_ = what;
    errno_ = err;
    Finish();
  }

  // Closes the timer; onDone runs from its close callback (never inside a call from JavaScript).
  // A failed dial's descriptor is closed here; a succeeded one's goes to the caller, still
  // registered with the reactor (parked) for the relay that takes it next.
  void Finish() {
    open_ = false;
    idle_connector::Abandon(pending_);
    pending_.reset();
    // Only a watched dial can succeed (its stages start once the reactor has its socket).
    if (succeeded_) reactor::Park(fd_, this);
    timer_.Close(OnTimerClosed);
    if (!succeeded_ && fd_ >= 0) {
      reactor::Close(fd_);
      fd_ = -1;
    }
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (open_) {
      onDone_.Reset();
      Finish();
    } else if (!relay_.IsEmpty()) {
      // Succeeded and relaying, its outcome not delivered yet: the relay goes too, unannounced.
      onDone_.Reset();
      DropRelay();
    } else if (succeeded_ && fd_ >= 0 && !onDone_.IsEmpty()) {
      // Succeeded, not delivered, no relay: the socket would go to an onDone the caller cancelled
      // (and, with onDone reset, to nobody: the timer's close callback hands over nothing then).
      onDone_.Reset();
      reactor::Close(fd_);
      fd_ = -1;
    } else {
      // Failed, not delivered yet (a connect that failed within the constructor): nobody to tell.
      onDone_.Reset();
    }
    return info.Env().Undefined();
  }

  void DropRelay() {
    Napi::HandleScope scope(env_);
    DropSpliceRelay(relay_.Value());
    relay_.Reset();
  }

  static void OnTimerClosed(void* owner) {
    auto* self = static_cast<UpstreamDial*>(owner);
    if (self->onDone_.IsEmpty()) {
      self->Unref();
      return;
    }
    Napi::Env env = self->env_;
    Napi::HandleScope scope(env);
    Napi::Value failure = env.Null();
    Napi::Value fd = Napi::Number::New(env, -1);
    Napi::Value leftover = env.Undefined();
    Napi::Value earlyBytes = Napi::Number::New(env, 0);
    Napi::Value relay = self->relay_.IsEmpty() ? env.Undefined() : self->relay_.Value();
    const int handed = self->succeeded_ ? self->fd_ : -1;
    if (self->succeeded_) {
      earlyBytes = Napi::Number::New(env, static_cast<double>(self->earlyBytes_));
      fd = Napi::Number::New(env, handed);
      self->fd_ = -1;
      if (self->stageStart_ < self->in_.size()) {
        leftover = Napi::Buffer<char>::Copy(env, self->in_.data() + self->stageStart_, self->in_.size() - self->stageStart_);
      }
    } else {
      Napi::Object f = Napi::Object::New(env);
      f.Set("what", Napi::String::New(env, self->failure_));
      f.Set("errno", Napi::Number::New(env, self->errno_));
      f.Set("stage", Napi::Number::New(env, static_cast<double>(self->index_)));
      f.Set("bytes", Napi::Buffer<char>::Copy(env, self->in_.data() + self->stageStart_, self->in_.size() - self->stageStart_));
      f.Set("connecting", Napi::Boolean::New(env, self->connecting_));
      failure = f;
    }
    std::string().swap(self->in_);
    // Delivered from here on: a cancel() from within onDone (or the microtasks it runs) leaves the relay alone.
    self->relay_.Reset();
    // JavaScript is gone (a worker being torn down): the connection it would have taken is closed here.
    if (!CallFromLoop(env, self->onDone_, self->Value(), {failure, fd, leftover, earlyBytes, relay})) {
      if (handed >= 0) reactor::Close(handed);
      if (!relay.IsUndefined()) DropSpliceRelay(relay);
    }
    self->onDone_.Reset();
    self->Unref();
  }

  Napi::Env env_ = nullptr;
  int fd_ = -1;
  OwnedTimer timer_;
  std::vector<Stage> stages_;
  size_t index_ = 0;
  // Where the current stage's answer starts in in_, and how much of it was judged incomplete.
  size_t stageStart_ = 0;
  size_t stageSeen_ = 0;
  std::string in_;
  std::string out_;
  size_t outOff_ = 0;
  // The client's socket for early data (-1: none) and the stage whose request carries the CONNECT.
  int earlyFd_ = -1;
  size_t earlyStage_ = 0;
  // Bytes sent so far; where the early bytes start in that stream; how many were peeked, and taken.
  size_t sent_ = 0;
  size_t earlyAt_ = 0;
  size_t earlyPeeked_ = 0;
  size_t earlyBytes_ = 0;
  bool connecting_ = false;
  // TCP Fast Open: connect() deferred the SYN to the first send; the early bytes wait for the connection.
  bool synPending_ = false;
  bool synData_ = false;
  bool earlyAfterSyn_ = false;
  bool open_ = false;
  bool succeeded_ = false;
  const char* failure_ = "";
  int errno_ = 0;
  // An error SO_ERROR took off the socket while the answers were read (a reset right behind them).
  int reset_ = 0;
  Napi::FunctionReference onDone_;
  // relay: the client's descriptor (-1: none asked), the idle timeout, and the relay once started.
  int relayClientFd_ = -1;
  double relayIdleMs_ = 0;
  Napi::FunctionReference onRelayClosed_;
  Napi::ObjectReference relay_;
  // While the idle connector opens the socket (fd_ is -1 until then).
  std::shared_ptr<idle_connector::Job> pending_;
};

}  // namespace

void InitUpstreamDial(Napi::Env env, Napi::Object exports) {
  exports.Set("UpstreamDial", UpstreamDial::Define(env));
}
