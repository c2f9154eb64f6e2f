#pragma once
#include <napi.h>

Napi::Value TcpListenLoopback(const Napi::CallbackInfo& info);
Napi::Value DescribeSocket(const Napi::CallbackInfo& info);
Napi::Value CloseFd(const Napi::CallbackInfo& info);
Napi::Value DupFd(const Napi::CallbackInfo& info);
Napi::Value UnwatchFd(const Napi::CallbackInfo& info);
Napi::Value SetTransparent(const Napi::CallbackInfo& info);
