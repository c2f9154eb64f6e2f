#pragma once
#include <napi.h>

Napi::Value OpenTun(const Napi::CallbackInfo& info);
