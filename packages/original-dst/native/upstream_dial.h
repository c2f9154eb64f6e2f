#pragma once
#include <napi.h>

// UpstreamDial: connects to a proxy and runs the SOCKS5 / HTTP CONNECT exchanges in C, accepting
// only the success answers (anything else goes back to JavaScript to be worded).
void InitUpstreamDial(Napi::Env env, Napi::Object exports);
