// new SpliceRelay(clientFd, upstreamFd, idleTimeoutMs, toClient, toUpstream, onClosed): relays the
// two connected TCP sockets both ways with splice(2) through a pipe per direction (from a pool,
// held only while bytes are in it: see PipePool), so the bytes
// never reach JavaScript (no read into a Buffer, no copy back out: the pages move socket -> pipe ->
// socket). The descriptors become the relay's (the caller's again only if the constructor throws);
// for a net.Socket's the caller passes a duplicate and destroys the socket, which then closes
// nothing on the wire.
//
// Driven by the thread's reactor (reactor.cc: one epoll, edge-triggered) on Node's own event loop:
// each callback only issues syscalls, no JavaScript runs per chunk. Each descriptor's readiness is
// kept here (readable until a read finds EAGAIN, writable until a write does; an edge sets it
// again). Per direction: read into the pipe only once the pipe is empty, and write the pipe out
// until the peer's socket buffer is full (EAGAIN: wait for writable, and stop reading that
// direction meanwhile: backpressure reaches the sender through its TCP window).
// EOF of one direction is relayed as shutdown(SHUT_WR) of the other socket once the pipe is
// flushed (half-close). Both directions finished, an error, the idle timeout or close() end the
// relay: every handle is closed, then onClosed(reason) runs once, reason null for a clean end.
// A side that fails (a reset, mostly) is relayed as a reset of the other, never as its end: a
// client reading a close-delimited response to its end must not take a cut one for whole, nor a
// server an aborted upload. What the failed side sent before its reset still goes first (it is
// read until its end), and the survivor is reset only once its kernel has acknowledged those
// bytes (SIOCOUTQ empty, polled from every kAbortPollMs, the pause doubling up to kAbortPollMaxMs;
// given up after kAbortFlushMs without any acknowledged, a reader that stopped, and an idle
// timeout after the failure in all, a reader that takes a little at a time): a reset throws
// away whatever its socket has not delivered.
#include "splice_relay.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include <vector>

#include "js_callback.h"
#include "napi_errors.h"
#include "napi_numbers.h"
#include "owned_timer.h"
#include "reactor.h"
#include "socket_state.h"

namespace {

// Bytes per splice into a pipe: the default pipe capacity (16 pages).
constexpr size_t kChunk = 64 * 1024;
// Chunks one direction may move per poll callback before yielding to the rest of the loop.
constexpr int kChunksPerWakeup = 16;
// Empty pipes kept for reuse (per thread: an addon instance lives on one thread).
constexpr size_t kIdlePipesMax = 128;
// After one side failed: how often the survivor's unacknowledged bytes are looked at before its
// reset, and how long without any of them acknowledged it is waited for (a peer that stopped
// reading loses them then, as it would lose a server's unsent bytes on a direct connection).
constexpr uint64_t kAbortPollMs = 1;
// The pause between two looks grows to this: many failed connections to slow readers (a proxy's
// restart under downloads) cost a few looks a second each, not a thousand.
constexpr uint64_t kAbortPollMaxMs = 64;
constexpr uint64_t kAbortFlushMs = 1000;

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

  // A worker thread's pool goes with the thread; its pipes are the process's.
  ~PipePool() {
    for (const auto& fds : idle_) {
      close(fds[0]);
      close(fds[1]);
    }
  }

 private:
  std::vector<std::array<int, 2>> idle_;
};

thread_local PipePool pipePool;

struct Direction {
  // Indexes into the relay's descriptors: 0 the client, 1 the upstream.
  int src = 0;
  int dst = 1;
  // From pipePool while inPipe > 0 (or within one Move), else -1.
  int pipe[2] = {-1, -1};
  size_t inPipe = 0;
  // Bytes Node had already read before the hand-over, written to dst before anything else.
  std::string pending;
  size_t pendingOff = 0;
  bool eof = false;
  bool shutDown = false;
  double bytes = 0;

  bool finished() const { return shutDown; }
};

class SpliceRelay;

// What the reactor reports one descriptor's edges to.
struct RelaySide final : ReactorWatch {
  SpliceRelay* relay = nullptr;
  int index = 0;
  void OnReady(uint32_t events) override;
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
    if (info.Length() < 6 || info.Length() > 7 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() ||
        !info[5].IsFunction() || (info.Length() == 7 && !info[6].IsNumber())) {
      Napi::TypeError::New(env, "new SpliceRelay(clientFd, upstreamFd, idleTimeoutMs, toClient, toUpstream, onClosed[, upstreamError]) expected")
          .ThrowAsJavaScriptException();
      return;
    }
    int clientFd = -1;
    int upstreamFd = -1;
    const double idleMs = info[2].As<Napi::Number>().DoubleValue();
    if (!DescriptorArg(info[0], &clientFd) || !DescriptorArg(info[1], &upstreamFd) || !(idleMs >= 1 && idleMs <= 1e12)) {
      Napi::TypeError::New(env, "SpliceRelay: descriptors must be whole numbers from 0 and idleTimeoutMs at least 1").ThrowAsJavaScriptException();
      return;
    }
    idleMs_ = static_cast<uint64_t>(idleMs);
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      Napi::Error::New(env, "SpliceRelay: no event loop").ThrowAsJavaScriptException();
      return;
    }
    loop_ = loop;
    up_.src = down_.dst = 0;
    up_.dst = down_.src = 1;
    TakePending(info[3], &down_);
    TakePending(info[4], &up_);
    const int given[2] = {clientFd, upstreamFd};
    for (int i = 0; i < 2; i++) {
      sides_[i].relay = this;
      sides_[i].index = i;
      const int err = reactor::Watch(env, given[i], &sides_[i], false);
      if (err != 0) {
        // The descriptors stay the caller's when we throw: the one we took is let go of entirely
        // (the caller gives it to a net.Socket or closes it); the other stays as its watch left it.
        if (i == 1) reactor::Forget(given[0]);
        ThrowErrno(env, "SpliceRelay: epoll_ctl", err);
        return;
      }
    }
    fds_[0] = clientFd;
    fds_[1] = upstreamFd;
    timer_.Init(loop, this);
    onClosed_ = Napi::Persistent(info[5].As<Napi::Function>());
    // Kept alive until onClosed has run, whatever JavaScript still references.
    Ref();
    open_ = true;
    lastActivity_ = uv_now(loop_);
    timer_.Start(OnTimer, idleMs_);
    // An upstream that failed already (StartSpliceRelay): before anything moves, or its end would be relayed as one.
    const int upstreamError = info.Length() == 7 ? info[6].As<Napi::Number>().Int32Value() : 0;
    // Whatever is already queued in either socket flows now.
    if (upstreamError > 0) Break(1, upstreamError);
    else Pump();
  }

  ~SpliceRelay() override { CloseFds(); }

  // Ends the relay without calling onClosed (DropSpliceRelay: nobody had it yet: a dial cancelled
  // once its relay ran, or JavaScript gone). A cut as close(true) is: the stream may have gone
  // partly, and a FIN would pass it on to the proxy's target as whole.
  void Drop() {
    onClosed_.Reset();
    if (!open_) return;
    ResetCutSides();
    Finish("closed");
  }

  void OnSide(int i, uint32_t events) {
    if (!open_) return;
    if ((events & EPOLLERR) != 0) {
      // The socket's pending error names why (a reset, mostly).
      int soError = 0;
      socklen_t len = sizeof(soError);
      getsockopt(fds_[i], SOL_SOCKET, SO_ERROR, &soError, &len);
      // A second failure: of the survivor, nobody is left to tell; of the failed side, nothing new.
      if (soError != 0 && dead_ < 0) return Break(i, soError);
      if (soError != 0 && i != dead_) return Finish(reason_);
    }
    if ((events & EPOLLPRI) != 0) urgent_[i] = true;
    if ((events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) readable_[i] = true;
    if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) writable_[i] = true;
    Pump();
  }

 private:
  static void TakePending(const Napi::Value& value, Direction* d) {
    if (!value.IsBuffer()) return;
    auto buffer = value.As<Napi::Buffer<char>>();
    // Written before anything is read for that direction (Move), so order is kept.
    d->pending.assign(buffer.Data(), buffer.Length());
  }

  // Moves what it can; returns 0 or the errno that ends the relay, with *side the socket that
  // failed (d.src or d.dst), or -1 for a failure of our own (no pipe, epoll refused).
  int Move(Direction& d, int* side) {
    const int src = fds_[d.src];
    const int dst = fds_[d.dst];
    *side = -1;
    for (int chunks = 0;; chunks++) {
      while (d.pendingOff < d.pending.size()) {
        if (!writable_[d.dst]) return 0;
        const ssize_t n = send(dst, d.pending.data() + d.pendingOff, d.pending.size() - d.pendingOff, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN) *side = d.dst;
        if (n < 0) return errno == EAGAIN ? WaitWritable(d) : errno;
        d.pendingOff += n;
        d.bytes += n;
        lastActivity_ = uv_now(loop_);
      }
      if (!d.pending.empty()) std::string().swap(d.pending);
      while (d.inPipe > 0) {
        if (!writable_[d.dst]) return 0;
        const ssize_t n = splice(d.pipe[0], nullptr, dst, nullptr, d.inPipe, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (n < 0 && errno != EAGAIN) *side = d.dst;
        if (n < 0) return errno == EAGAIN ? WaitWritable(d) : errno;
        d.inPipe -= n;
        d.bytes += n;
        lastActivity_ = uv_now(loop_);
      }
      if (d.eof) {
        // From a failed side: its end is not relayed (the survivor gets a reset, see Drain).
        if (d.src == dead_) return 0;
        if (!d.shutDown) {
          d.shutDown = true;
          if (shutdown(dst, SHUT_WR) != 0 && errno != ENOTCONN) {
            *side = d.dst;
            return errno;
          }
        }
        return 0;
      }
      if (!readable_[d.src]) return 0;
      if (chunks == kChunksPerWakeup) {
        // A busy direction yields to the rest of the loop, its pipe flushed; the reactor is asked
        // to report the still readable socket again (an edge would not come by itself).
        rearm_[d.src] = true;
        return 0;
      }
      if (d.pipe[0] < 0) {
        const int err = pipePool.Take(d.pipe);
        if (err != 0) return err;
      }
      const ssize_t n = splice(src, nullptr, d.pipe[1], nullptr, kChunk, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (n < 0 && errno != EAGAIN) {
        *side = d.src;
        return errno;
      }
      if (n <= 0 && urgent_[d.src]) {
        // splice stops at the urgent mark: EAGAIN, or 0 once the FIN is in, with bytes behind it.
        const ssize_t stepped = StepOverMark(d);
        if (stepped < 0) {
          *side = d.src;
          return static_cast<int>(-stepped);
        }
        if (stepped > 0) continue;
      }
      if (n < 0) {
        readable_[d.src] = false;
        return 0;
      }
      if (n == 0) d.eof = true;
      d.inPipe = static_cast<size_t>(n);
      lastActivity_ = uv_now(loop_);
    }
  }

  // TCP urgent data (a telnet interrupt, an FTP abort, or a peer sending MSG_OOB on purpose): the
  // kernel's splice read stops at the urgent mark and never steps over it, so the direction froze
  // and, once the FIN was in, its end was relayed without the bytes behind the mark (a cut stream
  // passed on as whole). recv() steps over the out-of-band byte (not relayed, as Node's relay and
  // redsocks do not) and reads what follows into `pending`, written before the next splice. Only
  // for a socket that reported urgent data: no extra syscall on the common path. Returns the bytes
  // read, 0 when not at the mark or nothing is behind it yet, or -errno.
  ssize_t StepOverMark(Direction& d) {
    const int src = fds_[d.src];
    int atMark = 0;
    if (ioctl(src, SIOCATMARK, &atMark) != 0 || atMark != 1) return 0;
    d.pending.resize(kChunk);
    d.pendingOff = 0;
    const ssize_t n = recv(src, &d.pending[0], kChunk, MSG_DONTWAIT);
    if (n > 0) {
      d.pending.resize(static_cast<size_t>(n));
      urgent_[d.src] = false;
      lastActivity_ = uv_now(loop_);
      return n;
    }
    std::string().swap(d.pending);
    if (n < 0 && errno != EAGAIN) return -errno;
    return 0;
  }

  // The peer's buffer is full: this direction waits for its writable edge, reading nothing meanwhile.
  // A socket is asked for writable edges from its first full buffer on, not before: registered
  // for them while writable, it would be reported at once, a loop turn for nothing (reactor.h).
  int WaitWritable(const Direction& d) {
    writable_[d.dst] = false;
    return reactor::WantWritable(fds_[d.dst]);
  }

  void Pump() {
    if (dead_ >= 0) return Drain();
    int side = -1;
    int err = Move(up_, &side);
    if (err == 0) err = Move(down_, &side);
    if (err != 0) return Break(side, err);
    // A flushed pipe waits in the pool, not here, until the next bytes.
    for (Direction* d : {&up_, &down_}) {
      if (d->pipe[0] >= 0 && d->inPipe == 0) pipePool.Give(d->pipe, true);
    }
    if (up_.finished() && down_.finished()) return Finish("");
    RearmYielded();
  }

  void RearmYielded() {
    for (int i = 0; i < 2; i++) {
      if (!rearm_[i]) continue;
      rearm_[i] = false;
      // Without the re-report a yielded direction would wait for the peer's next bytes.
      const int rearmErr = reactor::Rearm(fds_[i]);
      if (rearmErr != 0) return Break(-1, rearmErr);
    }
  }

  // Side `side` failed with `err` (-1: the relay itself did). The direction towards it is dropped;
  // the one from it goes on until its end (Drain), then the survivor is reset. Our own failure
  // resets both: neither stream is whole any more.
  void Break(int side, int err) {
    reason_ = std::string("relay: ") + std::strerror(err);
    if (side < 0) {
      abortive_[0] = abortive_[1] = true;
      return Finish(reason_);
    }
    dead_ = side;
    abortive_[1 - side] = true;
    waitUntil_ = uv_now(loop_) + idleMs_;
    Direction& lost = side == 1 ? up_ : down_;
    if (lost.pipe[0] >= 0) pipePool.Give(lost.pipe, lost.inPipe == 0);
    lost.inPipe = 0;
    std::string().swap(lost.pending);
    lost.eof = lost.shutDown = true;
    // Its error is taken: what it still holds reads as bytes, then its end.
    readable_[side] = true;
    Drain();
  }

  // After Break: moves what the failed side sent before it failed, then resets the survivor.
  void Drain() {
    Direction& d = dead_ == 1 ? down_ : up_;
    int side = -1;
    const int err = Move(d, &side);
    // The survivor failed too: nobody is left to tell.
    if (err != 0 && side == d.dst) return Finish(reason_);
    // A read error from the failed side ends what it has to give; our own failure ends it all.
    if (err != 0 && side == d.src) d.eof = true;
    else if (err != 0) return Finish(reason_);
    if (d.pipe[0] >= 0 && d.inPipe == 0) pipePool.Give(d.pipe, true);
    if (!d.eof || d.inPipe > 0 || d.pendingOff < d.pending.size()) return RearmYielded();
    ResetWhenDelivered();
  }

  // A slow reader still acknowledging is waited for (the drain before this is bounded as any
  // relay's, by the idle timeout); one that stopped, for kAbortFlushMs. The drain and this wait end
  // an idle timeout after the failure in all (waitUntil_): a peer opening its window a little at a
  // time, the other side gone, would otherwise hold the relay and its connection slots at will.
  void ResetWhenDelivered() {
    int unacknowledged = 0;
    const int survivor = 1 - dead_;
    if (GetUnacknowledgedBytes(fds_[survivor], &unacknowledged) != 0 || unacknowledged == 0) return Finish(reason_);
    const uint64_t now = uv_now(loop_);
    if (unacknowledgedBefore_ < 0 || unacknowledged < unacknowledgedBefore_) {
      unacknowledgedBefore_ = unacknowledged;
      abortBy_ = std::min(now + kAbortFlushMs, waitUntil_);
    }
    if (now >= abortBy_) return Finish(reason_);
    timer_.Start(OnDeliveryPoll, pollMs_);
    if (pollMs_ < kAbortPollMaxMs) pollMs_ *= 2;
  }

  static void OnDeliveryPoll(void* owner) {
    auto* self = static_cast<SpliceRelay*>(owner);
    if (self->open_) self->ResetWhenDelivered();
  }

  static void OnTimer(void* owner) {
    auto* self = static_cast<SpliceRelay*>(owner);
    if (!self->open_) return;
    const uint64_t now = uv_now(self->loop_);
    const uint64_t idle = now - self->lastActivity_;
    // One timer, re-armed for the rest of the period only when it fires: no per-chunk timer work.
    // While a failed side's last bytes drain, the idle end keeps that failure's reason (and reset),
    // and the drain ends an idle timeout after the failure however the survivor reads.
    const bool drainOver = self->dead_ >= 0 && now >= self->waitUntil_;
    if (idle >= self->idleMs_ || drainOver) {
      self->ResetCutSides();
      return self->Finish(self->dead_ >= 0 ? self->reason_ : "idle timeout");
    }
    const uint64_t rest = self->idleMs_ - idle;
    self->timer_.Start(OnTimer, self->dead_ >= 0 ? std::min(rest, self->waitUntil_ - now) : rest);
  }

  // The gateway ends the relay (close(reset), the idle timeout). A side whose incoming stream was
  // already ended cleanly (the other side's FIN passed on behind every byte) is closed as usual, so
  // its kernel still delivers those bytes and the FIN to a peer reading late; any other side gets a
  // reset: its stream was cut, and a FIN would make the cut one look whole to the proxy's target.
  // A failed side (dead_) is reset too: Break dropped the bytes meant for it.
  void ResetCutSides() {
    const Direction* towards[2] = {&down_, &up_};
    for (int i = 0; i < 2; i++) {
      if (!towards[i]->shutDown || towards[i]->src == dead_ || i == dead_) abortive_[i] = true;
    }
  }

  // close(reset): ends the relay now; reset: ResetCutSides.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (open_ && info.Length() > 0 && info[0].ToBoolean()) ResetCutSides();
    if (open_) Finish("closed");
    return info.Env().Undefined();
  }

  Napi::Value BytesUp(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), up_.bytes); }
  Napi::Value BytesDown(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), down_.bytes); }

  // Closes the descriptors (which takes them out of the reactor) and the timer; onClosed runs from
  // the timer's close callback, so it is never called from inside close().
  void Finish(const std::string& reason) {
    open_ = false;
    reason_ = reason;
    timer_.Close(OnTimerClosed);
    CloseFds();
  }

  static void OnTimerClosed(void* owner) {
    auto* self = static_cast<SpliceRelay*>(owner);
    if (self->onClosed_.IsEmpty()) {
      self->Unref();
      return;
    }
    Napi::HandleScope scope(self->env_);
    Napi::Value reason = self->reason_.empty() ? self->env_.Null() : Napi::String::New(self->env_, self->reason_);
    CallFromLoop(self->env_, self->onClosed_, self->Value(), {reason});
    self->onClosed_.Reset();
    self->Unref();
  }

  void CloseFds() {
    for (int i = 0; i < 2; i++) {
      if (fds_[i] < 0) continue;
      if (abortive_[i]) SetResetOnClose(fds_[i]);
      reactor::Close(fds_[i]);
      fds_[i] = -1;
    }
    for (Direction* d : {&up_, &down_}) {
      if (d->pipe[0] >= 0) pipePool.Give(d->pipe, d->inPipe == 0);
    }
  }

  Napi::Env env_ = nullptr;
  uv_loop_t* loop_ = nullptr;
  int fds_[2] = {-1, -1};
  RelaySide sides_[2];
  // Each descriptor's readiness as its last system call or edge left it (unknown at first: try).
  bool readable_[2] = {true, true};
  bool writable_[2] = {true, true};
  // A direction stopped short of EAGAIN to let others run: ask the reactor for its socket again.
  bool rearm_[2] = {false, false};
  // The socket reported urgent data (EPOLLPRI) not stepped over yet (StepOverMark).
  bool urgent_[2] = {false, false};
  OwnedTimer timer_;
  Direction up_;
  Direction down_;
  uint64_t idleMs_ = 0;
  uint64_t lastActivity_ = 0;
  bool open_ = false;
  std::string reason_;
  // The side that failed (-1: none), and which sockets are closed with a reset rather than a FIN.
  int dead_ = -1;
  bool abortive_[2] = {false, false};
  // The survivor's unacknowledged bytes when last fewer (-1: not yet looked at), and until when
  // they are waited for without any more acknowledged.
  int unacknowledgedBefore_ = -1;
  uint64_t abortBy_ = 0;
  // Past this the survivor is reset whatever it still takes (the idle timeout after the failure, Break).
  uint64_t waitUntil_ = 0;
  uint64_t pollMs_ = kAbortPollMs;
  Napi::FunctionReference onClosed_;
};

void RelaySide::OnReady(uint32_t events) { relay->OnSide(index, events); }

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

// The class for StartSpliceRelay, per environment (a worker has its own): the addon's instance data.
struct SpliceRelayClass {
  Napi::FunctionReference constructor;
};

}  // namespace

Napi::Value StartSpliceRelay(Napi::Env env, int clientFd, int upstreamFd, double idleTimeoutMs, const char* toClient,
                             size_t toClientLength, Napi::Function onClosed, int upstreamError) {
  auto* cls = env.GetInstanceData<SpliceRelayClass>();
  if (cls == nullptr) return Napi::Value();
  Napi::Value pending = toClientLength == 0 ? env.Undefined() : Napi::Buffer<char>::Copy(env, toClient, toClientLength);
  Napi::Object relay = cls->constructor.New({Napi::Number::New(env, clientFd), Napi::Number::New(env, upstreamFd),
                                             Napi::Number::New(env, idleTimeoutMs), pending, env.Undefined(), onClosed,
                                             Napi::Number::New(env, upstreamError)});
  if (env.IsExceptionPending()) {
    // epoll_ctl refused a descriptor: the caller gives both to JavaScript, which relays them itself.
    env.GetAndClearPendingException();
    return Napi::Value();
  }
  return relay;
}

void DropSpliceRelay(Napi::Value relay) { SpliceRelay::Unwrap(relay.As<Napi::Object>())->Drop(); }

void InitSpliceRelay(Napi::Env env, Napi::Object exports) {
  Napi::Function constructor = SpliceRelay::Define(env);
  env.SetInstanceData(new SpliceRelayClass{Napi::Persistent(constructor)});
  exports.Set("SpliceRelay", constructor);
  exports.Set("splicePipesIdle", Napi::Function::New(env, SplicePipesIdle, "splicePipesIdle"));
  exports.Set("spliceUnavailable", Napi::Function::New(env, SpliceUnavailable, "spliceUnavailable"));
}
