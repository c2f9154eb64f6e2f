// takeSocketError(fd): the socket's pending error (SO_ERROR, which clears it), 0 for none. A
// stream whose last bytes and reset arrive in one wake-up is ended by libuv at the short read
// (POLLHUP), the reset left unread: the JavaScript relay asks here whether an end was one.
// unacknowledgedBytes(fd): bytes sent and not yet acknowledged by the peer, or not yet sent
// (SIOCOUTQ): a reset throws them away, so a relay passing a failure on waits for none to be left.
// resetOnClose(fd): SO_LINGER 0, so that the socket's close sends a reset. Node's resetAndDestroy()
// cannot reset a socket whose end() is still being written (libuv refuses, EINVAL): it then drops
// the handle unclosed, and the queued FIN goes out later; this and destroy() reset it whatever.
#include "socket_state.h"

#include <cerrno>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "napi_errors.h"
#include "napi_numbers.h"

namespace {

bool FdArgument(const Napi::CallbackInfo& info, const char* usage, int* fd) {
  if (info.Length() == 1 && DescriptorArg(info[0], fd)) return true;
  Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
  return false;
}

Napi::Value TakeSocketError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!FdArgument(info, "takeSocketError(fd) expected", &fd)) return env.Undefined();
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    ThrowErrno(env, "takeSocketError: getsockopt(SO_ERROR)", errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, error);
}

Napi::Value UnacknowledgedBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!FdArgument(info, "unacknowledgedBytes(fd) expected", &fd)) return env.Undefined();
  int queued = 0;
  const int err = GetUnacknowledgedBytes(fd, &queued);
  if (err != 0) {
    ThrowErrno(env, "unacknowledgedBytes: ioctl(SIOCOUTQ)", err);
    return env.Undefined();
  }
  return Napi::Number::New(env, queued);
}

Napi::Value ResetOnClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!FdArgument(info, "resetOnClose(fd) expected", &fd)) return env.Undefined();
  const int err = SetResetOnClose(fd);
  if (err != 0) ThrowErrno(env, "resetOnClose: setsockopt(SO_LINGER)", err);
  return env.Undefined();
}

}  // namespace

int SetResetOnClose(int fd) {
  const linger abortive{1, 0};
  return setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive)) == 0 ? 0 : errno;
}

int GetUnacknowledgedBytes(int fd, int* bytes) { return ioctl(fd, SIOCOUTQ, bytes) == 0 ? 0 : errno; }

void InitSocketState(Napi::Env env, Napi::Object exports) {
  exports.Set("takeSocketError", Napi::Function::New(env, TakeSocketError, "takeSocketError"));
  exports.Set("unacknowledgedBytes", Napi::Function::New(env, UnacknowledgedBytes, "unacknowledgedBytes"));
  exports.Set("resetOnClose", Napi::Function::New(env, ResetOnClose, "resetOnClose"));
}
