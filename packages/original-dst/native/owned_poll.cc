#include "owned_poll.h"

#include <string>

#include "napi_errors.h"

bool OwnedPoll::Open(Napi::Env env, int fd, void* owner, const char* who) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    Napi::Error::New(env, std::string(who) + ": no event loop").ThrowAsJavaScriptException();
    return false;
  }
  auto* handle = new uv_poll_t;
  const int err = uv_poll_init(loop, handle, fd);
  if (err != 0) {
    delete handle;
    ThrowErrno(env, std::string(who) + ": uv_poll_init", -err);
    return false;
  }
  handle->data = owner;
  handle_ = handle;
  return true;
}

void OwnedPoll::Close() {
  if (handle_ == nullptr) return;
  uv_poll_stop(handle_);
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  handle_ = nullptr;
}
