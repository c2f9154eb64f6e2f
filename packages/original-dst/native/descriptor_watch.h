#pragma once
#include <napi.h>

void InitDescriptorWatch(Napi::Env env, Napi::Object exports);
