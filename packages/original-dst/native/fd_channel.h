#pragma once
#include <napi.h>

Napi::Value SeqpacketListen(const Napi::CallbackInfo& info);
Napi::Value SeqpacketAccept(const Napi::CallbackInfo& info);
Napi::Value SeqpacketConnect(const Napi::CallbackInfo& info);
Napi::Value SendPacket(const Napi::CallbackInfo& info);
Napi::Value RecvPacket(const Napi::CallbackInfo& info);
void InitFdWatcher(Napi::Env env, Napi::Object exports);
