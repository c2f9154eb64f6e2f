#include "js_callback.h"

bool CallFromLoop(Napi::Env env, const Napi::FunctionReference& fn, napi_value recv, std::initializer_list<napi_value> args) {
  napi_value result;
  if (napi_make_callback(env, nullptr, recv, fn.Value(), args.size(), args.begin(), &result) == napi_ok) return true;
  bool pending = false;
  // No exception: the call never entered JavaScript (it cannot run any more).
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) return false;
  napi_value error;
  if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  return true;
}
