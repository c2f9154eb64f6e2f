#pragma once
// How the addon calls JavaScript from a libuv callback (a readable socket, a relay's end, a dial's
// outcome, an accepted connection): as Node calls its own I/O callbacks. MakeCallback runs the
// microtasks the callback queued; a throw goes to process 'uncaughtException' (by default the
// process prints it and exits), where node-addon-api alone would leave it pending on the env, seen
// by nobody. Nothing happens when JavaScript cannot run any more (a worker thread being torn down):
// then it returns false, and what the call would have handed over (a descriptor) is still the
// caller's to close.
#include <napi.h>

#include <initializer_list>

bool CallFromLoop(Napi::Env env, const Napi::FunctionReference& fn, napi_value recv, std::initializer_list<napi_value> args);
