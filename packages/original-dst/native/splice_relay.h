#pragma once
#include <napi.h>

// SpliceRelay: moves a relayed connection's bytes between two TCP sockets inside the kernel.
void InitSpliceRelay(Napi::Env env, Napi::Object exports);
