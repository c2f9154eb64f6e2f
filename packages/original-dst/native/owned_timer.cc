#include "owned_timer.h"

struct OwnedTimer::Handle {
  uv_timer_t timer{};
  // Both nullptr once the OwnedTimer is gone: the handle then only frees itself.
  OwnedTimer* timerOf = nullptr;
  void* owner = nullptr;
  Callback onTimer = nullptr;
  Callback onClosed = nullptr;
  bool closing = false;

  static void Fired(uv_timer_t* timer) {
    auto* handle = static_cast<Handle*>(timer->data);
    if (handle->owner != nullptr && handle->onTimer != nullptr) handle->onTimer(handle->owner);
  }

  static void Closed(uv_handle_t* h) {
    auto* handle = static_cast<Handle*>(h->data);
    if (handle->timerOf != nullptr) handle->timerOf->handle_ = nullptr;
    if (handle->owner != nullptr && handle->onClosed != nullptr) handle->onClosed(handle->owner);
    delete handle;
  }
};

OwnedTimer::~OwnedTimer() {
  if (handle_ == nullptr) return;
  handle_->timerOf = nullptr;
  handle_->owner = nullptr;
  if (!handle_->closing) Close(nullptr);
}

void OwnedTimer::Init(uv_loop_t* loop, void* owner) {
  auto* handle = new Handle;
  // uv_timer_init cannot fail (it only links the handle into the loop).
  uv_timer_init(loop, &handle->timer);
  handle->timer.data = handle;
  handle->timerOf = this;
  handle->owner = owner;
  handle_ = handle;
}

void OwnedTimer::Start(Callback onTimer, uint64_t ms) {
  if (handle_ == nullptr || handle_->closing) return;
  handle_->onTimer = onTimer;
  uv_timer_start(&handle_->timer, Handle::Fired, ms, 0);
}

void OwnedTimer::Close(Callback onClosed) {
  if (handle_ == nullptr || handle_->closing) return;
  handle_->closing = true;
  handle_->onClosed = onClosed;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_->timer), Handle::Closed);
}
