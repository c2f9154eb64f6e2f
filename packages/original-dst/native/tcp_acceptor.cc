// new TcpAcceptor(listenFd, backlog, onAccept, onError): accepts on a listening TCP socket without
// a net.Server or a net.Socket per connection. The forwarder's client side needs none until the
// relay (the kernel relay takes a descriptor), and Node's accept path (a TCPWrap, a Duplex stream,
// getpeername/getsockname each through JavaScript) cost more CPU per connection than the rest of
// the accept. What the net.Server set on each connection (TCP_NODELAY, keepalive 60 s) is set once
// on the listening socket (SetClientSocketOptions): Linux copies a listener's socket options to
// every connection it takes.
// Per readable wake-up it accepts up to kBatch connections; for each it reads the peer, the local
// address and the original destination (SO_ORIGINAL_DST) and calls
//   onAccept(fd, peerAddress, dstAddress | null, dstPortOrErrno, localAddress, localPort)
// with the new descriptor, which is then the caller's (non-blocking, close-on-exec).
// A failed accept of one connection that went away (ECONNABORTED, and the network errors accept(2)
// says to retry like EAGAIN) goes on to the next. Any other failure leaves the connection queued
// (the process out of descriptors or memory, a seccomp or LSM denial: EPERM), so the level-triggered
// watch would fire again at once, a core spent retrying: it calls onError(error) (with errno and
// code) and pauses accepting for kPauseMs; the pending connections wait in the backlog meanwhile.
// close() stops and closes the descriptor.
#include "tcp_acceptor.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "js_callback.h"
#include "napi_errors.h"
#include "napi_numbers.h"
#include "original_dst_lookup.h"
#include "owned_poll.h"
#include "reactor.h"
#include "socket_state.h"
#include "tcp_keepalive.h"

namespace {

constexpr int kBatch = 64;
constexpr uint64_t kPauseMs = 100;

// The connection itself failed or went away before we took it (accept(2): TCP's pending network
// errors are reported here and are to be retried like EAGAIN): the next one may be fine.
bool ConnectionGone(int err) {
  switch (err) {
    case ECONNABORTED: case EINTR: case EPROTO: case ENOPROTOOPT: case ENETDOWN: case ENONET:
    case EHOSTDOWN: case EHOSTUNREACH: case ENETUNREACH: case EOPNOTSUPP:
      return true;
    default:
      return false;
  }
}

class TcpAcceptor : public Napi::ObjectWrap<TcpAcceptor> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TcpAcceptor", {
        InstanceMethod("close", &TcpAcceptor::Close),
        InstanceAccessor("fd", &TcpAcceptor::Fd, nullptr),
    });
  }

  explicit TcpAcceptor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TcpAcceptor>(info) {
    Napi::Env env = info.Env();
    env_ = env;
    if (info.Length() != 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsFunction() || !info[3].IsFunction()) {
      Napi::TypeError::New(env, "new TcpAcceptor(listenFd, backlog, onAccept, onError) expected").ThrowAsJavaScriptException();
      return;
    }
    int fd = -1;
    int backlog = 0;
    if (!DescriptorArg(info[0], &fd) || !WholeNumberIn(info[1], 1, 65535, &backlog)) {
      Napi::TypeError::New(env, "TcpAcceptor: listenFd must be >= 0 and backlog >= 1").ThrowAsJavaScriptException();
      return;
    }
    // As net.Server.listen({ fd, backlog }): the socket is bound already; listen() again sets the backlog.
    if (listen(fd, backlog) != 0) { ThrowErrno(env, "TcpAcceptor: listen", errno); return; }
    // Listeners made by tcpListenLoopback have them already; one adopted from elsewhere may not.
    const char* failed = SetClientSocketOptions(fd);
    if (failed != nullptr) { ThrowErrno(env, std::string("TcpAcceptor: setsockopt(") + failed + ")", errno); return; }
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) { ThrowErrno(env, "TcpAcceptor: fcntl(O_NONBLOCK)", errno); return; }
    if (!poll_.Open(env, fd, this, "TcpAcceptor")) return;
    timer_ = new uv_timer_t;
    uv_timer_init(poll_.Loop(), timer_);
    timer_->data = this;
    fd_ = fd;
    onAccept_ = Napi::Persistent(info[2].As<Napi::Function>());
    onError_ = Napi::Persistent(info[3].As<Napi::Function>());
    poll_.Start(UV_READABLE, OnPoll);
    // Kept alive while accepting, whatever JavaScript still references.
    Ref();
  }

  ~TcpAcceptor() override { Stop(); }

 private:
  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<TcpAcceptor*>(handle->data);
    if (self == nullptr || status < 0) return;
    self->AcceptBatch();
  }

  static void OnResume(uv_timer_t* timer) {
    auto* self = static_cast<TcpAcceptor*>(timer->data);
    if (self != nullptr && self->poll_.IsOpen()) self->poll_.Start(UV_READABLE, OnPoll);
  }

  void AcceptBatch() {
    Napi::HandleScope scope(env_);
    Napi::Object recv = Value();
    for (int i = 0; i < kBatch && fd_ >= 0; i++) {
      Napi::HandleScope perConnection(env_);
      sockaddr_storage peer{};
      socklen_t peerLen = sizeof(peer);
      const int fd = accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &peerLen, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) return;
        if (ConnectionGone(err)) continue;
        poll_.Stop();
        uv_timer_start(timer_, OnResume, kPauseMs, 0);
        CallFromLoop(env_, onError_, recv, {ErrnoError(env_, "accept", err).Value()});
        return;
      }
      sockaddr_storage local{};
      socklen_t localLen = sizeof(local);
      getsockname(fd, reinterpret_cast<sockaddr*>(&local), &localLen);
      sockaddr_storage dst{};
      const int dstErr = OriginalDst(fd, local, &dst);
      uint16_t peerPort = 0;
      uint16_t localPort = 0;
      uint16_t dstPort = 0;
      Napi::Value peerText = AddressText(env_, peer, &peerPort);
      Napi::Value localText = AddressText(env_, local, &localPort);
      Napi::Value dstText = dstErr == 0 ? AddressText(env_, dst, &dstPort) : env_.Null();
      const bool taken = CallFromLoop(env_, onAccept_, recv, {Napi::Number::New(env_, fd), peerText, dstText,
                                                              Napi::Number::New(env_, dstErr == 0 ? dstPort : dstErr), localText,
                                                              Napi::Number::New(env_, localPort)});
      // JavaScript is gone (a worker being torn down): nobody would ever close it, or the rest.
      if (!taken) {
        reactor::Close(fd);
        return;
      }
    }
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (poll_.IsOpen()) {
      Stop();
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return fd_ < 0 ? info.Env().Null() : Napi::Number::New(info.Env(), fd_);
  }

  void Stop() {
    if (!poll_.IsOpen()) return;
    poll_.Close();
    uv_timer_stop(timer_);
    timer_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
    // After the poll handle let go of it (uv_poll must not outlive its descriptor's number).
    close(fd_);
    fd_ = -1;
  }

  Napi::Env env_ = nullptr;
  int fd_ = -1;
  OwnedPoll poll_;
  uv_timer_t* timer_ = nullptr;
  Napi::FunctionReference onAccept_;
  Napi::FunctionReference onError_;
};

// resetFd(fd): closes a connected socket with a TCP reset (SO_LINGER 0), as net.Socket.resetAndDestroy.
Napi::Value ResetFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (info.Length() != 1 || !DescriptorArg(info[0], &fd)) {
    Napi::TypeError::New(env, "resetFd(fd) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  SetResetOnClose(fd);
  if (reactor::Close(fd) != 0 && errno != EINTR) ThrowErrno(env, "resetFd: close", errno);
  return env.Undefined();
}

}  // namespace

void InitTcpAcceptor(Napi::Env env, Napi::Object exports) {
  exports.Set("TcpAcceptor", TcpAcceptor::Define(env));
  exports.Set("resetFd", Napi::Function::New(env, ResetFd, "resetFd"));
}
