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

#include "napi_numbers.h"

Napi::Value SetTcpKeepalive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "setTcpKeepalive(fd, idleS, intervalS, count): four numbers expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = -1;
  if (!DescriptorArg(info[0], &fd)) {
    Napi::TypeError::New(env, "setTcpKeepalive: fd must be a descriptor").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int options[3] = {TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT};
  const char* names[3] = {"TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"};
  // The kernel's own limits (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT), checked on the
  // double: a cast wrapped 2^32 + 5 to 5.
  const double maxima[3] = {32767, 32767, 127};
  int values[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    if (!WholeNumberIn(info[i + 1], 1, maxima[i], &values[i])) {
      Napi::RangeError::New(env, std::string("setTcpKeepalive: ") + names[i] + " must be a whole number of 1.." + std::to_string(static_cast<int>(maxima[i])))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  const int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) != 0) {
    Napi::Error::New(env, std::string("setTcpKeepalive: SO_KEEPALIVE: ") + std::strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  for (int i = 0; i < 3; i++) {
    if (setsockopt(fd, IPPROTO_TCP, options[i], &values[i], sizeof(values[i])) != 0) {
      Napi::Error::New(env, std::string("setTcpKeepalive: ") + names[i] + ": " + std::strerror(errno)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  return env.Undefined();
}

// As libuv's uv_tcp_keepalive(on, 60) sets them for every net.Socket (the net.Server's clients, the
// JavaScript dialers' upstreams): idle 60 s, then 10 probes 1 s apart, so a peer that vanished
// without a word is noticed 70 s after its last packet.
constexpr int kKeepIdleS = 60;
constexpr int kKeepIntervalS = 1;
constexpr int kKeepCount = 10;

// nullptr, or the option that could not be set.
const char* SetKeepalive(int fd) {
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) != 0) return "SO_KEEPALIVE";
  if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &kKeepIdleS, sizeof(kKeepIdleS)) != 0) return "TCP_KEEPIDLE";
  if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &kKeepIntervalS, sizeof(kKeepIntervalS)) != 0) return "TCP_KEEPINTVL";
  if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &kKeepCount, sizeof(kKeepCount)) != 0) return "TCP_KEEPCNT";
  return nullptr;
}

const char* SetClientSocketOptions(int fd) {
  const int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) return "TCP_NODELAY";
  return SetKeepalive(fd);
}

int NewDialSocket(int family, bool fastOpen, bool* deferred) {
  *deferred = false;
  const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  SetKeepalive(fd);
  // Refused (a kernel without it): an ordinary connect.
  *deferred = fastOpen && setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof(one)) == 0;
  return fd;
}
