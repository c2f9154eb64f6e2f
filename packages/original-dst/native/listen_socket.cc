// Listening TCP sockets that the privileged agent creates and holds for the forwarder (see
// docs/ARCHITECTURE.md, "Listening sockets"). Created here rather than with net.Server because
// libuv would then accept connections in the agent. Pure syscall wrappers: no state.
#include "listen_socket.h"

#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "napi_errors.h"
#include "napi_numbers.h"
#include "reactor.h"
#include "tcp_keepalive.h"

namespace {

bool IntArg(const Napi::CallbackInfo& info, size_t i, int min, int max, int* out) {
  return info.Length() > i && WholeNumberIn(info[i], min, max, out);
}

}  // namespace

// tcpListenLoopback(port, backlog, transparent, mark) -> fd: 127.0.0.1:port, SO_REUSEADDR (rebinding
// over TIME_WAIT entries; Linux still refuses any bind that overlaps a LISTEN socket), never
// SO_REUSEPORT, so no other socket of any uid can bind the port while this one is open.
// transparent: IP_TRANSPARENT (needs CAP_NET_ADMIN), so nft's tproxy can place a client's
// connection on it with its original destination (TPROXY mode, issue 15); the accepted sockets
// inherit it, and using them needs no capability. mark: SO_MARK (0: none), set before listen() so
// that every connection it accepts carries it too (inet_request_mark: the listener's mark when set,
// whatever net.ipv4.tcp_fwmark_accept says).
Napi::Value TcpListenLoopback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int port = 0;
  int backlog = 0;
  uint32_t mark = 0;
  if (!IntArg(info, 0, 1, 65535, &port) || !IntArg(info, 1, 1, 65535, &backlog) || info.Length() != 4 || !info[2].IsBoolean() || !MarkArg(info[3], 0, &mark)) {
    Napi::TypeError::New(env, "tcpListenLoopback(port 1-65535, backlog 1-65535, transparent boolean, mark 0-0xffffffff) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const bool transparent = info[2].As<Napi::Boolean>().Value();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    ThrowErrno(env, "socket(AF_INET, SOCK_STREAM)", errno);
    return env.Undefined();
  }
  const int on = 1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const char* step = nullptr;
  std::string optionStep;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0) step = "setsockopt(SO_REUSEADDR)";
  else if (transparent && setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof(on)) != 0) step = "setsockopt(IP_TRANSPARENT)";
  else if (mark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) step = "setsockopt(SO_MARK)";
  else if (const char* option = SetClientSocketOptions(fd); option != nullptr) step = (optionStep = std::string("setsockopt(") + option + ")").c_str();
  else if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) step = "bind 127.0.0.1";
  else if (listen(fd, backlog) != 0) step = "listen";
  if (step != nullptr) {
    const int err = errno;
    close(fd);
    ThrowErrno(env, std::string(step) + ":" + std::to_string(port), err);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

// describeSocket(fd) -> what a received descriptor really is, so that a handed-back fd is adopted
// only when it is a listening TCP socket on the expected address.
Napi::Value DescribeSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!IntArg(info, 0, 0, 1 << 30, &fd)) {
    Napi::TypeError::New(env, "describeSocket(fd) expects a file descriptor").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ThrowErrno(env, "fstat", errno);
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("isSocket", Napi::Boolean::New(env, S_ISSOCK(st.st_mode)));
  out.Set("inode", Napi::Number::New(env, static_cast<double>(st.st_ino)));
  out.Set("ownerUid", Napi::Number::New(env, st.st_uid));
  if (!S_ISSOCK(st.st_mode)) return out;
  int type = 0, protocol = 0, accepting = 0, reusePort = 0;
  socklen_t len = sizeof(int);
  const bool ok = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
                  (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0) &&
                  (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0) &&
                  (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reusePort, &len) == 0);
  if (!ok) {
    ThrowErrno(env, "getsockopt(SOL_SOCKET)", errno);
    return env.Undefined();
  }
  sockaddr_storage local{};
  socklen_t localLen = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &localLen) != 0) {
    ThrowErrno(env, "getsockname", errno);
    return env.Undefined();
  }
  out.Set("tcp", Napi::Boolean::New(env, type == SOCK_STREAM && protocol == IPPROTO_TCP));
  out.Set("listening", Napi::Boolean::New(env, accepting != 0));
  out.Set("reusePort", Napi::Boolean::New(env, reusePort != 0));
  int transparent = 0;
  len = sizeof(int);
  // Not an IPv4/IPv6 socket (a Unix one): not transparent.
  if (getsockopt(fd, SOL_IP, IP_TRANSPARENT, &transparent, &len) != 0) transparent = 0;
  out.Set("transparent", Napi::Boolean::New(env, transparent != 0));
  if (type == SOCK_STREAM && protocol == IPPROTO_TCP) {
    int noDelay = 0, keepAlive = 0, keepIdle = 0, keepInterval = 0, keepCount = 0;
    len = sizeof(int);
    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &noDelay, &len);
    len = sizeof(int);
    getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &keepAlive, &len);
    len = sizeof(int);
    getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &keepIdle, &len);
    len = sizeof(int);
    getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &keepInterval, &len);
    len = sizeof(int);
    getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &keepCount, &len);
    out.Set("noDelay", Napi::Boolean::New(env, noDelay != 0));
    out.Set("keepAliveIdleS", keepAlive != 0 ? Napi::Number::New(env, keepIdle) : env.Null());
    out.Set("keepAliveIntervalS", keepAlive != 0 ? Napi::Number::New(env, keepInterval) : env.Null());
    out.Set("keepAliveCount", keepAlive != 0 ? Napi::Number::New(env, keepCount) : env.Null());
  }
  if (local.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&local);
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
    out.Set("family", Napi::Number::New(env, 4));
    out.Set("address", Napi::String::New(env, text));
    out.Set("port", Napi::Number::New(env, ntohs(a->sin_port)));
  } else if (local.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&local);
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
    out.Set("family", Napi::Number::New(env, 6));
    out.Set("address", Napi::String::New(env, text));
    out.Set("port", Napi::Number::New(env, ntohs(a->sin6_port)));
  } else {
    out.Set("family", Napi::Number::New(env, 0));
  }
  return out;
}

// setTransparent(fd, mark): IP_TRANSPARENT and SO_MARK (0: none) on a socket the agent adopted from
// the forwarder (created before TPROXY mode existed, or by an agent that did not set them), as
// tcpListenLoopback sets them. Needs CAP_NET_ADMIN. Connections already queued keep what they had.
Napi::Value SetTransparent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  uint32_t mark = 0;
  if (!IntArg(info, 0, 0, 1 << 30, &fd) || info.Length() != 2 || !MarkArg(info[1], 0, &mark)) {
    Napi::TypeError::New(env, "setTransparent(fd, mark 0-0xffffffff) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int on = 1;
  if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof(on)) != 0) ThrowErrno(env, "setsockopt(IP_TRANSPARENT)", errno);
  else if (mark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) ThrowErrno(env, "setsockopt(SO_MARK)", errno);
  return env.Undefined();
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!IntArg(info, 0, 0, 1 << 30, &fd)) {
    Napi::TypeError::New(env, "closeFd(fd) expects a file descriptor").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (reactor::Close(fd) != 0 && errno != EINTR) ThrowErrno(env, "close", errno);
  return env.Undefined();
}

// dupFd(fd): a close-on-exec duplicate, for handing a net.Socket's connection to a native object
// that takes its descriptor over while Node closes its own.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!IntArg(info, 0, 0, 1 << 30, &fd)) {
    Napi::TypeError::New(env, "dupFd(fd) expects a file descriptor").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    ThrowErrno(env, "dup", errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, copy);
}

// unwatchFd(fd): the connection reactor (reactor.cc) stops watching fd, a native dial's descriptor
// that goes to a net.Socket instead of a native relay (libuv polls it from then on).
Napi::Value UnwatchFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!IntArg(info, 0, 0, 1 << 30, &fd)) {
    Napi::TypeError::New(env, "unwatchFd(fd) expects a file descriptor").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  reactor::Forget(fd);
  return env.Undefined();
}
