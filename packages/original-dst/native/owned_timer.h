#pragma once
// A libuv timer for one object of the addon (a relay's idle timeout, a dial's deadline), on the
// heap and freed by its own close callback. Why not a uv_timer_t member: when a worker thread is
// torn down, Node-API finalizes objects whose timers are still on the loop, or closing; a member
// would be freed while libuv still links it. Destroying the OwnedTimer detaches its owner (no
// callback reaches it any more) and closes the handle if it is open.
#include <cstdint>
#include <uv.h>

class OwnedTimer {
 public:
  using Callback = void (*)(void* owner);

  OwnedTimer() = default;
  OwnedTimer(const OwnedTimer&) = delete;
  OwnedTimer& operator=(const OwnedTimer&) = delete;
  ~OwnedTimer();

  // `owner` is what the callbacks get.
  void Init(uv_loop_t* loop, void* owner);
  // (Re)arms it: onTimer(owner) once, after `ms`.
  void Start(Callback onTimer, uint64_t ms);
  // Hands the handle to libuv to close: onClosed(owner) runs from the close callback, never
  // inside this call, and not at all if the owner is destroyed first.
  void Close(Callback onClosed);

 private:
  struct Handle;
  // Set from Init until the close callback has run.
  Handle* handle_ = nullptr;
};
