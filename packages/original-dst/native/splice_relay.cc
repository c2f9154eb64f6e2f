// new SpliceRelay(clientFd, upstreamFd, idleTimeoutMs, toClient, toUpstream, onClosed): relays the
// two connected TCP sockets both ways with splice(2) through a pipe per direction (from a pool,
// held only while bytes are in it: see PipePool), so the bytes
// never reach JavaScript (no read into a Buffer, no copy back out: the pages move socket -> pipe ->
// socket). It works on duplicates of the descriptors, so the caller then destroys its net.Sockets:
// closing Node's descriptor does not end the connection while ours is open, and sends nothing.
//
// Driven by uv_poll handles on Node's own event loop: each callback only issues syscalls, no
// JavaScript runs per chunk. Per direction: read into the pipe only once the pipe is empty, and
// write the pipe out until the peer's socket buffer is full (EAGAIN: wait for writable, and stop
// reading that direction meanwhile: backpressure reaches the sender through its TCP window).
// EOF of one direction is relayed as shutdown(SHUT_WR) of the other socket once the pipe is
// flushed (half-close). Both directions finished, an error, the idle timeout or close() end the
// relay: every handle is closed, then onClosed(reason) runs once, reason null for a clean end.
#include "splice_relay.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include <vector>

#include "napi_errors.h"

namespace {

// Bytes per splice into a pipe: the default pipe capacity (16 pages).
constexpr size_t kChunk = 64 * 1024;
// Chunks one direction may move per poll callback before yielding to the rest of the loop.
constexpr int kChunksPerWakeup = 16;
// Empty pipes kept for reuse (per thread: an addon instance lives on one thread).
constexpr size_t kIdlePipesMax = 128;

// A direction holds a pipe only while bytes are in it: between wake-ups an idle relay holds none,
// so it costs 2 descriptors, not 6, and the pipes charged to the user (fs.pipe-user-pages-soft:
// past 1024 pipes of 16 pages the kernel makes new ones 2 pages) stay few and full-sized.
// A pipe goes back only when empty (our count says so, and FIONREAD agrees): bytes of one
// connection must never reach another.
class PipePool {
 public:
  // 0, or the errno of pipe2.
  int Take(int out[2]) {
    if (!idle_.empty()) {
      out[0] = idle_.back()[0];
      out[1] = idle_.back()[1];
      idle_.pop_back();
      return 0;
    }
    return pipe2(out, O_NONBLOCK | O_CLOEXEC) == 0 ? 0 : errno;
  }

  void Give(int fds[2], bool empty) {
    int queued = 0;
    if (empty && idle_.size() < kIdlePipesMax && ioctl(fds[0], FIONREAD, &queued) == 0 && queued == 0) {
      idle_.push_back({fds[0], fds[1]});
    } else {
      close(fds[0]);
      close(fds[1]);
    }
    fds[0] = fds[1] = -1;
  }

  size_t Idle() const { return idle_.size(); }

 private:
  std::vector<std::array<int, 2>> idle_;
};

thread_local PipePool pipePool;

struct Direction {
  int src = -1;
  int dst = -1;
  // From pipePool while inPipe > 0 (or within one Move), else -1.
  int pipe[2] = {-1, -1};
  size_t inPipe = 0;
  // Bytes Node had already read before the hand-over, written to dst before anything else.
  std::string pending;
  size_t pendingOff = 0;
  bool eof = false;
  bool shutDown = false;
  bool wantRead = true;
  bool wantWrite = false;
  double bytes = 0;

  bool finished() const { return shutDown; }
};

class SpliceRelay : public Napi::ObjectWrap<SpliceRelay> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SpliceRelay", {
        InstanceMethod("close", &SpliceRelay::Close),
        InstanceAccessor("bytesUp", &SpliceRelay::BytesUp, nullptr),
        InstanceAccessor("bytesDown", &SpliceRelay::BytesDown, nullptr),
    });
  }

  explicit SpliceRelay(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SpliceRelay>(info) {
    Napi::Env env = info.Env();
    env_ = env;
    if (info.Length() != 6 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() ||
        !info[5].IsFunction()) {
      Napi::TypeError::New(env, "new SpliceRelay(clientFd, upstreamFd, idleTimeoutMs, toClient, toUpstream, onClosed) expected")
          .ThrowAsJavaScriptException();
      return;
    }
    const int clientFd = info[0].As<Napi::Number>().Int32Value();
    const int upstreamFd = info[1].As<Napi::Number>().Int32Value();
    idleMs_ = static_cast<uint64_t>(info[2].As<Napi::Number>().DoubleValue());
    if (clientFd < 0 || upstreamFd < 0 || idleMs_ == 0) {
      Napi::TypeError::New(env, "SpliceRelay: descriptors must be >= 0 and idleTimeoutMs > 0").ThrowAsJavaScriptException();
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      Napi::Error::New(env, "SpliceRelay: no event loop").ThrowAsJavaScriptException();
      return;
    }
    loop_ = loop;
    fds_[0] = fcntl(clientFd, F_DUPFD_CLOEXEC, 0);
    if (fds_[0] < 0) { Abort(env, "dup(client)", errno); return; }
    fds_[1] = fcntl(upstreamFd, F_DUPFD_CLOEXEC, 0);
    if (fds_[1] < 0) { Abort(env, "dup(upstream)", errno); return; }
    up_.src = down_.dst = fds_[0];
    up_.dst = down_.src = fds_[1];
    TakePending(info[3], &down_);
    TakePending(info[4], &up_);
    for (int i = 0; i < 2; i++) {
      const int err = uv_poll_init(loop, &polls_[i], fds_[i]);
      if (err != 0) {
        // The handles already made are embedded here: stay alive until they are closed.
        Ref();
        pendingCloses_ = i;
        for (int j = 0; j < i; j++) uv_close(reinterpret_cast<uv_handle_t*>(&polls_[j]), OnHandleClosed);
        if (i == 0) Unref();
        Abort(env, "uv_poll_init", -err);
        return;
      }
      polls_[i].data = this;
    }
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    onClosed_ = Napi::Persistent(info[5].As<Napi::Function>());
    // Kept alive until onClosed has run, whatever JavaScript still references.
    Ref();
    open_ = true;
    lastActivity_ = uv_now(loop_);
    uv_timer_start(&timer_, OnTimer, idleMs_, 0);
    // Whatever is already queued in either socket flows now.
    Pump();
  }

  ~SpliceRelay() override { CloseFds(); }

 private:
  void Abort(Napi::Env env, const char* what, int err) {
    CloseFds();
    ThrowErrno(env, std::string("SpliceRelay: ") + what, err);
  }

  static void TakePending(const Napi::Value& value, Direction* d) {
    if (!value.IsBuffer()) return;
    auto buffer = value.As<Napi::Buffer<char>>();
    d->pending.assign(buffer.Data(), buffer.Length());
    // Nothing is read behind bytes still waiting to be written: order is kept.
    d->wantRead = d->pending.empty();
  }

  // Moves what it can; returns 0 or the errno that ends the relay.
  int Move(Direction& d) {
    for (int chunks = 0;; chunks++) {
      while (d.pendingOff < d.pending.size()) {
        const ssize_t n = send(d.dst, d.pending.data() + d.pendingOff, d.pending.size() - d.pendingOff, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN ? WaitWritable(d) : errno;
        d.pendingOff += n;
        d.bytes += n;
        lastActivity_ = uv_now(loop_);
      }
      if (!d.pending.empty()) std::string().swap(d.pending);
      while (d.inPipe > 0) {
        const ssize_t n = splice(d.pipe[0], nullptr, d.dst, nullptr, d.inPipe, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (n < 0) return errno == EAGAIN ? WaitWritable(d) : errno;
        d.inPipe -= n;
        d.bytes += n;
        lastActivity_ = uv_now(loop_);
      }
      d.wantWrite = false;
      if (d.eof) {
        if (!d.shutDown) {
          d.shutDown = true;
          if (shutdown(d.dst, SHUT_WR) != 0 && errno != ENOTCONN) return errno;
        }
        d.wantRead = false;
        return 0;
      }
      if (chunks == kChunksPerWakeup) {
        // A busy direction yields to the rest of the loop, its pipe flushed; the socket stays
        // readable, and level-triggered polling calls back at once.
        d.wantRead = true;
        return 0;
      }
      if (d.pipe[0] < 0) {
        const int err = pipePool.Take(d.pipe);
        if (err != 0) return err;
      }
      const ssize_t n = splice(d.src, nullptr, d.pipe[1], nullptr, kChunk, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (n < 0) {
        if (errno != EAGAIN) return errno;
        d.wantRead = true;
        return 0;
      }
      if (n == 0) d.eof = true;
      d.inPipe = static_cast<size_t>(n);
      lastActivity_ = uv_now(loop_);
    }
  }

  static int WaitWritable(Direction& d) {
    d.wantWrite = true;
    d.wantRead = false;
    return 0;
  }

  void Pump() {
    int err = Move(up_);
    if (err == 0) err = Move(down_);
    if (err != 0) return Finish(std::string("relay: ") + std::strerror(err));
    // A flushed pipe waits in the pool, not here, until the next bytes.
    for (Direction* d : {&up_, &down_}) {
      if (d->pipe[0] >= 0 && d->inPipe == 0) pipePool.Give(d->pipe, true);
    }
    if (up_.finished() && down_.finished()) return Finish("");
    // client fd: readable for up, writable for down; upstream fd the other way round.
    Watch(0, (up_.wantRead ? UV_READABLE : 0) | (down_.wantWrite ? UV_WRITABLE : 0));
    Watch(1, (down_.wantRead ? UV_READABLE : 0) | (up_.wantWrite ? UV_WRITABLE : 0));
  }

  void Watch(int i, int events) {
    if (events == watched_[i]) return;
    watched_[i] = events;
    if (events == 0) uv_poll_stop(&polls_[i]);
    else uv_poll_start(&polls_[i], events, OnPoll);
  }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<SpliceRelay*>(handle->data);
    if (!self->open_) return;
    if (status < 0) {
      // POLLERR: the socket's pending error names why (a reset, mostly).
      int soError = 0;
      socklen_t len = sizeof(soError);
      getsockopt(handle == &self->polls_[0] ? self->fds_[0] : self->fds_[1], SOL_SOCKET, SO_ERROR, &soError, &len);
      return self->Finish(std::string("relay: ") + (soError != 0 ? std::strerror(soError) : uv_strerror(status)));
    }
    self->Pump();
  }

  static void OnTimer(uv_timer_t* timer) {
    auto* self = static_cast<SpliceRelay*>(timer->data);
    if (!self->open_) return;
    const uint64_t idle = uv_now(self->loop_) - self->lastActivity_;
    // One timer, re-armed for the rest of the period only when it fires: no per-chunk timer work.
    if (idle >= self->idleMs_) return self->Finish("idle timeout");
    uv_timer_start(timer, OnTimer, self->idleMs_ - idle, 0);
  }

  // close(reset): ends the relay now; reset sends the client a TCP reset instead of a FIN.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (open_ && info.Length() > 0 && info[0].ToBoolean()) {
      const linger abortive{1, 0};
      setsockopt(fds_[0], SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive));
    }
    if (open_) Finish("closed");
    return info.Env().Undefined();
  }

  Napi::Value BytesUp(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), up_.bytes); }
  Napi::Value BytesDown(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), down_.bytes); }

  // Closes the handles (uv_close stops polling synchronously), then the descriptors; onClosed
  // runs from the last handle's close callback, so it is never called from inside close().
  void Finish(const std::string& reason) {
    open_ = false;
    reason_ = reason;
    pendingCloses_ = 3;
    for (auto& poll : polls_) uv_close(reinterpret_cast<uv_handle_t*>(&poll), OnHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnHandleClosed);
    CloseFds();
  }

  static void OnHandleClosed(uv_handle_t* handle) {
    auto* self = static_cast<SpliceRelay*>(handle->data);
    if (--self->pendingCloses_ > 0) return;
    if (self->onClosed_.IsEmpty()) {
      self->Unref();
      return;
    }
    Napi::HandleScope scope(self->env_);
    Napi::Value reason = self->reason_.empty() ? self->env_.Null() : Napi::String::New(self->env_, self->reason_);
    self->onClosed_.MakeCallback(self->Value(), {reason});
    self->onClosed_.Reset();
    self->Unref();
  }

  void CloseFds() {
    for (int* fd : {&fds_[0], &fds_[1]}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
    for (Direction* d : {&up_, &down_}) {
      if (d->pipe[0] >= 0) pipePool.Give(d->pipe, d->inPipe == 0);
    }
  }

  Napi::Env env_ = nullptr;
  uv_loop_t* loop_ = nullptr;
  int fds_[2] = {-1, -1};
  uv_poll_t polls_[2]{};
  int watched_[2] = {0, 0};
  uv_timer_t timer_{};
  Direction up_;
  Direction down_;
  uint64_t idleMs_ = 0;
  uint64_t lastActivity_ = 0;
  bool open_ = false;
  int pendingCloses_ = 0;
  std::string reason_;
  Napi::FunctionReference onClosed_;
};

// spliceUnavailable(): null when splice(2) moves bytes from a socket into a pipe and on into
// another here, else why not (a kernel without it, a seccomp filter that denies it). Asked once
// before the first hand-over: a relay that found out only at its first splice could not go back
// to JavaScript, its net.Sockets being gone by then.
Napi::Value SpliceUnavailable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2] = {-1, -1};
  int p[2] = {-1, -1};
  int q[2] = {-1, -1};
  std::string why;
  auto fail = [&why](const char* what) { why = std::string(what) + ": " + std::strerror(errno); };
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) fail("socketpair");
  else if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) fail("pipe2");
  else if (pipe2(q, O_NONBLOCK | O_CLOEXEC) != 0) fail("pipe2");
  else if (send(sv[0], "x", 1, MSG_NOSIGNAL) != 1) fail("send");
  else if (splice(sv[1], nullptr, p[1], nullptr, 1, SPLICE_F_NONBLOCK | SPLICE_F_MOVE) != 1) fail("splice(socket -> pipe)");
  else if (splice(p[0], nullptr, q[1], nullptr, 1, SPLICE_F_NONBLOCK | SPLICE_F_MOVE) != 1) fail("splice(pipe -> pipe)");
  for (int fd : {sv[0], sv[1], p[0], p[1], q[0], q[1]}) {
    if (fd >= 0) close(fd);
  }
  return why.empty() ? env.Null() : Napi::String::New(env, why);
}

// splicePipesIdle(): how many empty pipes the pool keeps for the next relays (tests count them).
Napi::Value SplicePipesIdle(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(pipePool.Idle()));
}

}  // namespace

void InitSpliceRelay(Napi::Env env, Napi::Object exports) {
  exports.Set("SpliceRelay", SpliceRelay::Define(env));
  exports.Set("splicePipesIdle", Napi::Function::New(env, SplicePipesIdle, "splicePipesIdle"));
  exports.Set("spliceUnavailable", Napi::Function::New(env, SpliceUnavailable, "spliceUnavailable"));
}
