#pragma once
#include <napi.h>

Napi::Value SetTcpKeepalive(const Napi::CallbackInfo& info);
