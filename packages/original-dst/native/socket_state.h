#pragma once
#include <napi.h>

// takeSocketError(fd), unacknowledgedBytes(fd), resetOnClose(fd): what a relay needs to pass a failure on whole.
void InitSocketState(Napi::Env env, Napi::Object exports);
