// getOriginalDst(fd): the destination a connection had before nftables redirected/DNAT-ed it.
// Node does not expose SO_ORIGINAL_DST, hence this addon. Pure syscall wrapper: no state.
#include <napi.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>

#include "descriptor_watch.h"
#include "fd_channel.h"
#include "listen_socket.h"
#include "netlink_talk.h"
#include "splice_relay.h"
#include "tcp_acceptor.h"
#include "tcp_keepalive.h"
#include "tun_device.h"
#include "udp_transparent.h"
#include "upstream_dial.h"

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>; those headers do not
// compile cleanly as C++ next to the libc socket headers, and the values are kernel ABI.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

namespace {

Napi::Value Fail(Napi::Env env, const std::string& what, int err) {
  std::string message = what + ": " + std::strerror(err) + " (errno " + std::to_string(err) + ")";
  if (err == ENOENT) message += "; the connection has no conntrack entry (it was not tracked or NAT-ed)";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, err));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Object Result(Napi::Env env, const char* address, uint16_t port, int family) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("address", Napi::String::New(env, address));
  out.Set("port", Napi::Number::New(env, port));
  out.Set("family", Napi::Number::New(env, family));
  return out;
}

Napi::Value GetOriginalDst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "getOriginalDst expects one file descriptor (number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) {
    Napi::Error::New(env, "getOriginalDst: invalid file descriptor " + std::to_string(fd)).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  // The local address tells which table the kernel must be asked: an AF_INET6 socket carrying
  // an IPv4 client (v4-mapped, from a dual-stack listener) was NAT-ed by the IPv4 table.
  sockaddr_storage local{};
  socklen_t localLen = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &localLen) != 0) {
    return Fail(env, "getsockname failed", errno);
  }
  const bool v4mapped = local.ss_family == AF_INET6 &&
      IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<const sockaddr_in6*>(&local)->sin6_addr);

  if (local.ss_family == AF_INET || v4mapped) {
    sockaddr_in dst{};
    socklen_t len = sizeof(dst);
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) {
      return Fail(env, "getsockopt(SOL_IP, SO_ORIGINAL_DST) failed", errno);
    }
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &dst.sin_addr, text, sizeof(text));
    return Result(env, text, ntohs(dst.sin_port), 4);
  }
  if (local.ss_family == AF_INET6) {
    sockaddr_in6 dst{};
    socklen_t len = sizeof(dst);
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len) != 0) {
      return Fail(env, "getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST) failed", errno);
    }
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &dst.sin6_addr, text, sizeof(text));
    return Result(env, text, ntohs(dst.sin6_port), 6);
  }
  Napi::Error::New(env, "getOriginalDst: socket family " + std::to_string(local.ss_family) +
                            " is neither IPv4 nor IPv6").ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("getOriginalDst", Napi::Function::New(env, GetOriginalDst, "getOriginalDst"));
  exports.Set("setTcpKeepalive", Napi::Function::New(env, SetTcpKeepalive, "setTcpKeepalive"));
  exports.Set("tcpListenLoopback", Napi::Function::New(env, TcpListenLoopback, "tcpListenLoopback"));
  exports.Set("describeSocket", Napi::Function::New(env, DescribeSocket, "describeSocket"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("dupFd", Napi::Function::New(env, DupFd, "dupFd"));
  exports.Set("unwatchFd", Napi::Function::New(env, UnwatchFd, "unwatchFd"));
  exports.Set("setTransparent", Napi::Function::New(env, SetTransparent, "setTransparent"));
  exports.Set("seqpacketListen", Napi::Function::New(env, SeqpacketListen, "seqpacketListen"));
  exports.Set("seqpacketAccept", Napi::Function::New(env, SeqpacketAccept, "seqpacketAccept"));
  exports.Set("seqpacketConnect", Napi::Function::New(env, SeqpacketConnect, "seqpacketConnect"));
  exports.Set("sendPacket", Napi::Function::New(env, SendPacket, "sendPacket"));
  exports.Set("recvPacket", Napi::Function::New(env, RecvPacket, "recvPacket"));
  exports.Set("netlinkTalk", Napi::Function::New(env, NetlinkTalk, "netlinkTalk"));
  exports.Set("openTun", Napi::Function::New(env, OpenTun, "openTun"));
  InitFdWatcher(env, exports);
  InitDescriptorWatch(env, exports);
  InitSpliceRelay(env, exports);
  InitTcpAcceptor(env, exports);
  InitUdpTransparent(env, exports);
  InitUpstreamDial(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(original_dst, Init)
