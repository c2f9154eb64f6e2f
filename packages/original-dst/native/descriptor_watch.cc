// new DescriptorWatch(fd, onReadable): calls onReadable() each time `fd` turns readable or hung
// up, until close(). For a connection the reactor holds between two stages (a warm connection to
// a proxy between its greeting and its CONNECT): the descriptor is taken over from the dial that
// opened it and, at close(), left registered for the dial that uses it next (reactor.h); fd stays
// the caller's to close. Nothing else may read fd meanwhile: epoll checks readiness again when it
// delivers an edge, so bytes another reader took first are never reported. Unlike a uv_poll
// handle it does not keep Node's loop alive (the reactor's handle is unref'd), nor does the warm
// pool's max-age timer: what waits for clients (the forwarder's listeners) keeps it alive.
#include "descriptor_watch.h"

#include <sys/epoll.h>

#include "js_callback.h"
#include "napi_errors.h"
#include "napi_numbers.h"
#include "reactor.h"

namespace {

class DescriptorWatch : public Napi::ObjectWrap<DescriptorWatch>, public ReactorWatch {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DescriptorWatch", {InstanceMethod("close", &DescriptorWatch::Close)});
  }

  explicit DescriptorWatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DescriptorWatch>(info) {
    Napi::Env env = info.Env();
    int fd = -1;
    if (info.Length() != 2 || !DescriptorArg(info[0], &fd) || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "new DescriptorWatch(fd, onReadable) expected").ThrowAsJavaScriptException();
      return;
    }
    // Readable and hang-up only: the connection waits with nothing to send, so a writable edge
    // (reported at once on registration) would be a loop turn for nothing.
    const int err = reactor::Watch(env, fd, this, false);
    if (err != 0) {
      ThrowErrno(env, "DescriptorWatch: epoll_ctl", err);
      return;
    }
    fd_ = fd;
    env_ = env;
    onReadable_ = Napi::Persistent(info[1].As<Napi::Function>());
    // Kept alive while watching (the reactor holds a plain pointer), whatever JavaScript references.
    Ref();
  }

  ~DescriptorWatch() override {
    if (fd_ >= 0) reactor::Park(fd_, this);
  }

  void OnReady(uint32_t events) override {
    if (fd_ < 0 || (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0) return;
    Napi::HandleScope scope(env_);
    CallFromLoop(env_, onReadable_, env_.Global(), {});
  }

 private:
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (fd_ >= 0) {
      reactor::Park(fd_, this);
      fd_ = -1;
      Unref();
    }
    return info.Env().Undefined();
  }

  int fd_ = -1;
  Napi::Env env_ = nullptr;
  Napi::FunctionReference onReadable_;
};

}  // namespace

void InitDescriptorWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("DescriptorWatch", DescriptorWatch::Define(env));
}
