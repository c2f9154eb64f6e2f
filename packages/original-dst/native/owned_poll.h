#pragma once
// A libuv poll handle for one descriptor an addon object watches (a listening socket, a caller's
// descriptor), on the heap and freed by its own close callback: uv_close() finishes on a later
// loop turn, after the object that asked may be gone. The callback gets the owner as the handle's
// data; nullptr once closed, so a readiness already queued reaches nobody. Close() (or the
// destructor) stops watching at once: the descriptor may be closed right after it.
#include <napi.h>
#include <uv.h>

class OwnedPoll {
 public:
  OwnedPoll() = default;
  OwnedPoll(const OwnedPoll&) = delete;
  OwnedPoll& operator=(const OwnedPoll&) = delete;
  ~OwnedPoll() { Close(); }

  // Watches nothing yet; false (a JavaScript exception thrown, naming `who`) when it cannot be made.
  bool Open(Napi::Env env, int fd, void* owner, const char* who);
  bool IsOpen() const { return handle_ != nullptr; }
  // The loop it was opened on.
  uv_loop_t* Loop() const { return handle_->loop; }
  // The owner is the handle's data in `callback`.
  void Start(int events, uv_poll_cb callback) { uv_poll_start(handle_, events, callback); }
  void Stop() { uv_poll_stop(handle_); }
  void Close();

 private:
  uv_poll_t* handle_ = nullptr;
};
