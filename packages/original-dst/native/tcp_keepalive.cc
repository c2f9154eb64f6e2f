// setTcpKeepalive(fd, idleS, intervalS, count): TCP keepalive with all three timers. Node's
// setKeepAlive sets only the idle time (libuv fixes the interval at 1 s and the count at 10, so a
// silently vanished peer is noticed after 11 s); the health service's liveness connections need
// a few seconds. Pure syscall wrapper: no state.
#include "tcp_keepalive.h"

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>

Napi::Value SetTcpKeepalive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "setTcpKeepalive(fd, idleS, intervalS, count): four numbers expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const int values[3] = {info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value(),
                         info[3].As<Napi::Number>().Int32Value()};
  const int options[3] = {TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT};
  const char* names[3] = {"TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"};
  const int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) != 0) {
    Napi::Error::New(env, std::string("setTcpKeepalive: SO_KEEPALIVE: ") + std::strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  for (int i = 0; i < 3; i++) {
    if (values[i] < 1) {
      Napi::RangeError::New(env, std::string("setTcpKeepalive: ") + names[i] + " must be at least 1").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (setsockopt(fd, IPPROTO_TCP, options[i], &values[i], sizeof(values[i])) != 0) {
      Napi::Error::New(env, std::string("setTcpKeepalive: ") + names[i] + ": " + std::strerror(errno)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  return env.Undefined();
}

// As libuv's uv_tcp_keepalive(on, 60) did for the net.Server: idle 60 s, then 10 probes 1 s apart.
constexpr int kClientKeepIdleS = 60;
constexpr int kClientKeepIntervalS = 1;
constexpr int kClientKeepCount = 10;

const char* SetClientSocketOptions(int fd) {
  const int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) return "TCP_NODELAY";
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) != 0) return "SO_KEEPALIVE";
  if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &kClientKeepIdleS, sizeof(kClientKeepIdleS)) != 0) return "TCP_KEEPIDLE";
  if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &kClientKeepIntervalS, sizeof(kClientKeepIntervalS)) != 0) return "TCP_KEEPINTVL";
  if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &kClientKeepCount, sizeof(kClientKeepCount)) != 0) return "TCP_KEEPCNT";
  return nullptr;
}

// As the JavaScript dialers' keepalive (60 s of silence before the first probe).
constexpr int kDialKeepIdleS = 60;

int NewDialSocket(int family, bool fastOpen, bool* deferred) {
  *deferred = false;
  const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &kDialKeepIdleS, sizeof(kDialKeepIdleS));
  // Refused (a kernel without it): an ordinary connect.
  *deferred = fastOpen && setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof(one)) == 0;
  return fd;
}
