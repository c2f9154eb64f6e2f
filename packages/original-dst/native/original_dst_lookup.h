#pragma once
// The kernel's record of where a redirected (DNAT/REDIRECT-ed) connection was going, and the text
// of a socket address: shared by getOriginalDst(fd) and the native acceptor.
#include <napi.h>

#include <cstdint>
#include <sys/socket.h>

// The original destination of `fd` into `dst`, asked of the table that NAT-ed it (IPv4 for an
// AF_INET socket or an IPv4 client on a dual-stack one, `local` being its local address, else
// IPv6); 0 or the errno (ENOENT: conntrack did not see it, EAFNOSUPPORT: neither family).
int OriginalDst(int fd, const sockaddr_storage& local, sockaddr_storage* dst);

// The name of the getsockopt OriginalDst uses for `local`, for error messages.
const char* OriginalDstOption(const sockaddr_storage& local);

// Address text of a sockaddr (v4-mapped IPv6 stays "::ffff:a.b.c.d", as Node reports it) and its
// port; null for a family other than IPv4 and IPv6.
Napi::Value AddressText(Napi::Env env, const sockaddr_storage& addr, uint16_t* port);
