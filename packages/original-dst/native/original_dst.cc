// getOriginalDst(fd): the destination a connection had before nftables redirected/DNAT-ed it.
// Node does not expose SO_ORIGINAL_DST, hence this addon. Pure syscall wrapper: no state.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/socket.h>

#include "descriptor_watch.h"
#include "fd_channel.h"
#include "listen_socket.h"
#include "napi_numbers.h"
#include "netlink_talk.h"
#include "original_dst_lookup.h"
#include "socket_state.h"
#include "splice_relay.h"
#include "tcp_acceptor.h"
#include "tcp_keepalive.h"
#include "tun_device.h"
#include "udp_transparent.h"
#include "upstream_dial.h"

namespace {

Napi::Value Fail(Napi::Env env, const std::string& what, int err) {
  std::string message = what + ": " + std::strerror(err) + " (errno " + std::to_string(err) + ")";
  if (err == ENOENT) message += "; the connection has no conntrack entry (it was not tracked or NAT-ed)";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, err));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value GetOriginalDst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "getOriginalDst expects one file descriptor (number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = -1;
  if (!DescriptorArg(info[0], &fd)) {
    Napi::Error::New(env, "getOriginalDst: the file descriptor must be a whole number from 0").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // The local address tells which table the kernel must be asked (OriginalDst).
  sockaddr_storage local{};
  socklen_t localLen = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &localLen) != 0) {
    return Fail(env, "getsockname failed", errno);
  }
  if (local.ss_family != AF_INET && local.ss_family != AF_INET6) {
    Napi::Error::New(env, "getOriginalDst: socket family " + std::to_string(local.ss_family) +
                              " is neither IPv4 nor IPv6").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  sockaddr_storage dst{};
  const int err = OriginalDst(fd, local, &dst);
  if (err != 0) return Fail(env, std::string(OriginalDstOption(local)) + " failed", err);
  uint16_t port = 0;
  Napi::Object out = Napi::Object::New(env);
  out.Set("address", AddressText(env, dst, &port));
  out.Set("port", Napi::Number::New(env, port));
  out.Set("family", Napi::Number::New(env, dst.ss_family == AF_INET ? 4 : 6));
  return out;
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
  InitSocketState(env, exports);
  InitSpliceRelay(env, exports);
  InitTcpAcceptor(env, exports);
  InitUdpTransparent(env, exports);
  InitUpstreamDial(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(original_dst, Init)
