#include "original_dst_lookup.h"

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>; those headers do not
// compile cleanly as C++ next to the libc socket headers, and the values are kernel ABI.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

namespace {

// An AF_INET6 socket carrying an IPv4 client (v4-mapped, from a dual-stack listener) was NAT-ed
// by the IPv4 table.
bool AskIpv4(const sockaddr_storage& local) {
  return local.ss_family == AF_INET ||
         (local.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<const sockaddr_in6*>(&local)->sin6_addr));
}

}  // namespace

int OriginalDst(int fd, const sockaddr_storage& local, sockaddr_storage* dst) {
  socklen_t len = sizeof(*dst);
  if (AskIpv4(local)) return getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, dst, &len) == 0 ? 0 : errno;
  if (local.ss_family == AF_INET6) return getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, dst, &len) == 0 ? 0 : errno;
  return EAFNOSUPPORT;
}

const char* OriginalDstOption(const sockaddr_storage& local) {
  return AskIpv4(local) ? "getsockopt(SOL_IP, SO_ORIGINAL_DST)" : "getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST)";
}

Napi::Value AddressText(Napi::Env env, const sockaddr_storage& addr, uint16_t* port) {
  char text[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    *port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    *port = ntohs(in6->sin6_port);
  } else {
    *port = 0;
    return env.Null();
  }
  return Napi::String::New(env, text);
}
