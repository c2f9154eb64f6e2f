#pragma once
// One way to report a failed syscall to JavaScript: an Error whose message names the call and
// carries `errno` and `code` (e.g. "EADDRINUSE"), like Node's own system errors.
#include <napi.h>

#include <string>

Napi::Error ErrnoError(Napi::Env env, const std::string& what, int err);
void ThrowErrno(Napi::Env env, const std::string& what, int err);
