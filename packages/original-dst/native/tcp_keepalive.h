#pragma once
#include <napi.h>

Napi::Value SetTcpKeepalive(const Napi::CallbackInfo& info);

// The options of every relayed client socket (TCP_NODELAY, keepalive idle 60 s, 10 probes 1 s
// apart), set on a listening socket: Linux copies them to each connection as its handshake
// completes, so they must be there before listen() for none to miss them. nullptr, or the option
// that could not be set (errno says why).
const char* SetClientSocketOptions(int fd);

// A new upstream dial's socket (UpstreamDial, the idle connector): non-blocking, close-on-exec,
// TCP_NODELAY, keepalive as the client sockets' (60 s idle, 10 probes 1 s apart: as the JavaScript
// dialers' sockets get from libuv), and with
// `fastOpen` TCP_FASTOPEN_CONNECT, *deferred telling whether the kernel took it (then connect()
// sends nothing: the first send is the SYN). -1 with errno when socket() fails.
int NewDialSocket(int family, bool fastOpen, bool* deferred);
