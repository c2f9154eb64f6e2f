#pragma once
#include <napi.h>

#include <cstddef>

// SpliceRelay: moves a relayed connection's bytes between two TCP sockets inside the kernel.
void InitSpliceRelay(Napi::Env env, Napi::Object exports);

// A SpliceRelay started from C++ (a dial that relays on success, upstream_dial.cc), as
// new SpliceRelay(clientFd, upstreamFd, idleTimeoutMs, toClient, undefined, onClosed) would from
// JavaScript: the descriptors become the relay's. upstreamError: an error the upstream socket
// reported (and SO_ERROR took off it) before the relay, 0 for none: relayed as a failure of that
// side (its last bytes, then the client's reset). Needs a handle scope. Returns an empty value,
// the descriptors still the caller's (as a throwing constructor leaves them), when it cannot start.
Napi::Value StartSpliceRelay(Napi::Env env, int clientFd, int upstreamFd, double idleTimeoutMs, const char* toClient,
                             size_t toClientLength, Napi::Function onClosed, int upstreamError);

// Ends a relay from StartSpliceRelay that nobody took yet, without calling its onClosed.
void DropSpliceRelay(Napi::Value relay);
