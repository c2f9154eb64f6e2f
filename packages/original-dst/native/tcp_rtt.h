#pragma once
#include <napi.h>

// tcpMinRttUs(fd) -> the smallest round-trip time the kernel has measured on a connected TCP socket
// (TCP_INFO's tcpi_min_rtt, microseconds), or null where the kernel has no sample yet.
Napi::Value TcpMinRttUs(const Napi::CallbackInfo& info);
