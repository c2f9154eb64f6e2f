// tcpMinRttUs(fd): how far a connected peer is, as the kernel measured it. The forwarder's warm pool
// asks it of each warm connection (packages/dialers warm-pool-sizing.ts: a proxy nearer than a warm
// connection can save is given none). The minimum, not the smoothed RTT: it is the path's own
// delay, without the time the peer took to answer under load. Pure syscall wrapper: no state.
#include "tcp_rtt.h"

#include <cerrno>
#include <cstddef>
// The kernel's struct: glibc's netinet/tcp.h copy ends before tcpi_min_rtt.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "napi_errors.h"

Napi::Value TcpMinRttUs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 0) {
    Napi::TypeError::New(env, "tcpMinRttUs(fd) expects a file descriptor").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  tcp_info tcp{};
  socklen_t len = sizeof(tcp);
  if (getsockopt(info[0].As<Napi::Number>().Int32Value(), IPPROTO_TCP, TCP_INFO, &tcp, &len) != 0) {
    ThrowErrno(env, "tcpMinRttUs: getsockopt(TCP_INFO)", errno);
    return env.Undefined();
  }
  // An older kernel's shorter struct ends before tcpi_min_rtt; ~0U is the kernel's "no sample".
  const socklen_t needed = offsetof(tcp_info, tcpi_min_rtt) + sizeof(tcp.tcpi_min_rtt);
  if (len < needed || tcp.tcpi_min_rtt == ~0U) return env.Null();
  return Napi::Number::New(env, tcp.tcpi_min_rtt);
}
