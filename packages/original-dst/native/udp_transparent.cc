// Transparent UDP for TPROXY mode (issue 15, docs/ARCHITECTURE.md "UDP in TPROXY mode").
// nft's tproxy statement hands a client's datagram to a local socket without changing its
// destination; only recvmsg with IP_RECVORIGDSTADDR tells that destination, and only a socket
// bound to it with IP_TRANSPARENT can answer from it. Node's dgram offers neither, so the
// sockets are plain non-blocking descriptors driven through FdWatcher (fd_channel.cc).
// Creating them needs CAP_NET_ADMIN (the agent); receiving and sending on them does not (the
// forwarder). Pure syscall wrappers: no state.
#include "udp_transparent.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "napi_errors.h"
#include "napi_numbers.h"

namespace {

// The largest UDP payload over IPv4.
constexpr size_t kMaxDatagram = 65507;

bool ParseEndpoint(const Napi::Value& address, const Napi::Value& port, sockaddr_in* out) {
  int p = 0;
  if (!address.IsString() || !WholeNumberIn(port, 0, 65535, &p)) return false;
  *out = sockaddr_in{};
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<uint16_t>(p));
  return inet_pton(AF_INET, address.As<Napi::String>().Utf8Value().c_str(), &out->sin_addr) == 1;
}

bool FdArg(const Napi::CallbackInfo& info, size_t i, int* out) {
  return info.Length() > i && DescriptorArg(info[i], out);
}

std::string Text(const in_addr& a) {
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, text, sizeof(text));
  return text;
}

// udpTransparentSocket(address, port, recvOrigDst, connectAddress|null, connectPort, mark, receiveBuffer) -> fd:
// an IPv4 UDP socket with IP_TRANSPARENT (so it may be bound to, and send from, an address that
// is not the host's), non-blocking. recvOrigDst: IP_RECVORIGDSTADDR, for the socket nft's tproxy
// feeds (no SO_REUSEADDR: for UDP that would let another socket of any uid share its port).
// connectAddress: the peer it answers (a reply socket is connected to its client); with
// SO_REUSEADDR, since the reply sockets of several clients share one remote host's address. A
// connect is no bound on whoever holds the socket (sendto() and a new connect() take any peer):
// mark (SO_MARK, which that holder cannot change without CAP_NET_ADMIN) is what the ruleset
// confines its datagrams by. receiveBuffer > 0: SO_RCVBUFFORCE (past net.core.rmem_max, which
// CAP_NET_ADMIN may), for the one socket every client's new flows share (docs/SECURITY.md flow 24).
// A receive buffer asked for at most: 64 MiB of kernel memory for one socket.
constexpr double kMaxReceiveBuffer = 64 * 1024 * 1024;

// SO_RCVBUFFORCE where the caller may (CAP_NET_ADMIN), else SO_RCVBUF, which the kernel caps at
// net.core.rmem_max: a smaller queue, not a socket refused.
bool ReceiveBuffer(int fd, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) == 0) return true;
  return errno == EPERM && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) == 0;
}

Napi::Value UdpTransparentSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sockaddr_in local{};
  sockaddr_in peer{};
  const bool connectTo = info.Length() >= 6 && !info[3].IsNull();
  uint32_t mark = 0;
  int receiveBuffer = 0;
  // A mark of 0 would confine nothing: every transparent socket carries one.
  if (info.Length() != 7 || !ParseEndpoint(info[0], info[1], &local) || !info[2].IsBoolean() ||
      (connectTo && !ParseEndpoint(info[3], info[4], &peer)) || !MarkArg(info[5], 1, &mark) ||
      !WholeNumberIn(info[6], 0, kMaxReceiveBuffer, &receiveBuffer)) {
    Napi::TypeError::New(env, "udpTransparentSocket(IPv4 address, port, recvOrigDst boolean, connect IPv4 address or null, connect port, mark 1..0xffffffff, receiveBuffer 0..64 MiB) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) {
    ThrowErrno(env, "socket(AF_INET, SOCK_DGRAM)", errno);
    return env.Undefined();
  }
  const int on = 1;
  const char* step = nullptr;
  // The mark first: no datagram can leave the socket before it carries it.
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) step = "setsockopt(SO_MARK)";
  else if (connectTo && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0) step = "setsockopt(SO_REUSEADDR)";
  else if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof(on)) != 0) step = "setsockopt(IP_TRANSPARENT)";
  else if (receiveBuffer > 0 && !ReceiveBuffer(fd, receiveBuffer)) step = "setsockopt(SO_RCVBUF)";
  else if (info[2].As<Napi::Boolean>().Value() && setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &on, sizeof(on)) != 0) step = "setsockopt(IP_RECVORIGDSTADDR)";
  else if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) step = "bind";
  else if (connectTo && connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof(peer)) != 0) step = "connect";
  if (step != nullptr) {
    const int err = errno;
    close(fd);
    ThrowErrno(env, std::string(step) + " " + Text(local.sin_addr) + ":" + std::to_string(ntohs(local.sin_port)), err);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

// udpRecv(fd) -> { data, address, port, dstAddress, dstPort } or null when nothing is queued.
// dst*: the original destination (IP_ORIGDSTADDR), else the socket's own address (a connected
// reply socket is bound to the very destination its client addressed).
Napi::Value UdpRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!FdArg(info, 0, &fd)) {
    Napi::TypeError::New(env, "udpRecv(fd) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // One buffer per thread (the addon runs in workers too: a process-wide one was shared by all).
  thread_local char buffer[kMaxDatagram];
  sockaddr_in from{};
  // Aligned for the cmsghdr CMSG_FIRSTHDR reads from it.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(sockaddr_in))];
  iovec iov{buffer, sizeof(buffer)};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof(from);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t got;
  do got = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
  while (got < 0 && errno == EINTR);
  if (got < 0) {
    // ECONNREFUSED: an ICMP error for an earlier send on a connected socket; nothing to read now.
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNREFUSED) return env.Null();
    ThrowErrno(env, "recvmsg", errno);
    return env.Undefined();
  }
  sockaddr_in dst{};
  bool haveDst = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR) {
      std::memcpy(&dst, CMSG_DATA(c), sizeof(dst));
      haveDst = true;
    }
  }
  if (!haveDst) {
    socklen_t len = sizeof(dst);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&dst), &len) != 0) {
      ThrowErrno(env, "getsockname", errno);
      return env.Undefined();
    }
  }
  Napi::Object out = Napi::Object::New(env);
  // MSG_TRUNC returns the datagram's real length: a larger one than the buffer is cut, reported.
  const size_t length = static_cast<size_t>(got) > sizeof(buffer) ? sizeof(buffer) : static_cast<size_t>(got);
  out.Set("data", Napi::Buffer<char>::Copy(env, buffer, length));
  out.Set("truncated", Napi::Boolean::New(env, (msg.msg_flags & MSG_TRUNC) != 0));
  out.Set("address", Napi::String::New(env, Text(from.sin_addr)));
  out.Set("port", Napi::Number::New(env, ntohs(from.sin_port)));
  out.Set("dstAddress", Napi::String::New(env, Text(dst.sin_addr)));
  out.Set("dstPort", Napi::Number::New(env, ntohs(dst.sin_port)));
  return out;
}

// udpSend(fd, data) -> true when queued, false when the socket buffer is full (the datagram is
// dropped, as a router would drop it). Only on connected sockets: a reply socket sends to its
// client and nowhere else.
Napi::Value UdpSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!FdArg(info, 0, &fd) || info.Length() < 2 || !info[1].IsBuffer()) {
    Napi::TypeError::New(env, "udpSend(fd, Buffer) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<char> data = info[1].As<Napi::Buffer<char>>();
  ssize_t sent;
  do sent = send(fd, data.Data(), data.Length(), MSG_DONTWAIT | MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == ECONNREFUSED) return Napi::Boolean::New(env, false);
    ThrowErrno(env, "send", errno);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

}  // namespace

void InitUdpTransparent(Napi::Env env, Napi::Object exports) {
  exports.Set("udpTransparentSocket", Napi::Function::New(env, UdpTransparentSocket, "udpTransparentSocket"));
  exports.Set("udpRecv", Napi::Function::New(env, UdpRecv, "udpRecv"));
  exports.Set("udpSend", Napi::Function::New(env, UdpSend, "udpSend"));
}
