// A Unix SOCK_SEQPACKET channel that carries file descriptors (SCM_RIGHTS) with each message.
// Node has no API for SCM_RIGHTS between unrelated processes, and libuv would read (and drop)
// passed descriptors if it owned the socket, so every call here is a non-blocking syscall on a
// descriptor that libuv never sees; FdWatcher tells JavaScript when one is readable (uv_poll).
// SEQPACKET keeps message boundaries: one recvmsg is one whole message and its descriptors.
#include "fd_channel.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>
#include <vector>

#include "js_callback.h"
#include "napi_errors.h"
#include "napi_numbers.h"
#include "owned_poll.h"

namespace {

// The kernel's limit of descriptors per SCM_RIGHTS message (SCM_MAX_FD).
constexpr size_t kMaxFds = 253;

bool FdArg(const Napi::CallbackInfo& info, size_t i, int* out) {
  return info.Length() > i && DescriptorArg(info[i], out);
}

bool PathArg(const Napi::CallbackInfo& info, size_t i, sockaddr_un* addr) {
  if (info.Length() <= i || !info[i].IsString()) return false;
  const std::string path = info[i].As<Napi::String>().Utf8Value();
  if (path.empty() || path[0] != '/' || path.size() >= sizeof(addr->sun_path)) return false;
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return true;
}

Napi::Object Credentials(Napi::Env env, int fd, int* err) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  Napi::Object out = Napi::Object::New(env);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    *err = errno;
    return out;
  }
  *err = 0;
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

}  // namespace

// seqpacketListen(path, mode, gid) -> fd. A stale socket file at path is replaced (any other
// kind of file is an error). Owner and mode are set before listen(), so nobody can connect
// while the file still has the umask's permissions. gid -1 keeps the group.
Napi::Value SeqpacketListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sockaddr_un addr{};
  int mode = 0;
  int gid = -1;
  // The gid checked on the double: a cast made NaN root's group 0.
  if (!PathArg(info, 0, &addr) || !WholeNumberIn(info[1], 0, 07777, &mode) || info.Length() < 3 || !WholeNumberIn(info[2], -1, 2147483647, &gid)) {
    Napi::TypeError::New(env, "seqpacketListen(absolute path, mode 0..07777, gid -1..2^31-1) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct stat st {};
  if (lstat(addr.sun_path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      ThrowErrno(env, std::string("seqpacketListen: ") + addr.sun_path + " exists and is not a socket", EEXIST);
      return env.Undefined();
    }
    if (unlink(addr.sun_path) != 0) {
      ThrowErrno(env, std::string("unlink stale ") + addr.sun_path, errno);
      return env.Undefined();
    }
  }
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, "socket(AF_UNIX, SOCK_SEQPACKET)", errno);
    return env.Undefined();
  }
  const char* step = nullptr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) step = "bind";
  else if (gid >= 0 && chown(addr.sun_path, static_cast<uid_t>(-1), static_cast<gid_t>(gid)) != 0) step = "chown (group)";
  else if (chmod(addr.sun_path, static_cast<mode_t>(mode)) != 0) step = "chmod";
  else if (listen(fd, 16) != 0) step = "listen";
  if (step != nullptr) {
    const int err = errno;
    close(fd);
    ThrowErrno(env, std::string(step) + " " + addr.sun_path, err);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

// seqpacketAccept(fd) -> { fd, pid, uid, gid } of the next peer (SO_PEERCRED, set by the kernel
// at connect time, so it cannot be forged), or null when none is waiting.
Napi::Value SeqpacketAccept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!FdArg(info, 0, &fd)) {
    Napi::TypeError::New(env, "seqpacketAccept(fd) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int peer = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (peer < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EINTR) return env.Null();
    ThrowErrno(env, "accept4", errno);
    return env.Undefined();
  }
  int err = 0;
  Napi::Object out = Credentials(env, peer, &err);
  if (err != 0) {
    close(peer);
    ThrowErrno(env, "getsockopt(SO_PEERCRED)", err);
    return env.Undefined();
  }
  return out;
}

// seqpacketConnect(path) -> { fd, pid, uid, gid } of the listening peer.
Napi::Value SeqpacketConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sockaddr_un addr{};
  if (!PathArg(info, 0, &addr)) {
    Napi::TypeError::New(env, "seqpacketConnect(absolute path) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, "socket(AF_UNIX, SOCK_SEQPACKET)", errno);
    return env.Undefined();
  }
  // A Unix connect completes at once or fails (EAGAIN: the listener's backlog is full).
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    ThrowErrno(env, std::string("connect ") + addr.sun_path, err);
    return env.Undefined();
  }
  int err = 0;
  Napi::Object out = Credentials(env, fd, &err);
  if (err != 0) {
    close(fd);
    ThrowErrno(env, "getsockopt(SO_PEERCRED)", err);
    return env.Undefined();
  }
  return out;
}

// sendPacket(fd, data: Buffer, fds: number[]): one message; the descriptors are duplicated into
// the receiver (the sender keeps its own). Never blocks: a full socket buffer is an error.
Napi::Value SendPacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!FdArg(info, 0, &fd) || info.Length() < 3 || !info[1].IsBuffer() || !info[2].IsArray()) {
    Napi::TypeError::New(env, "sendPacket(fd, Buffer, fds[]) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<char> data = info[1].As<Napi::Buffer<char>>();
  Napi::Array list = info[2].As<Napi::Array>();
  if (data.Length() == 0 || list.Length() > kMaxFds) {
    Napi::RangeError::New(env, "sendPacket: data must not be empty and at most 253 descriptors go in one message").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<int> fds(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    if (!DescriptorArg(list.Get(i), &fds[i])) {
      Napi::TypeError::New(env, "sendPacket: descriptors must be whole numbers from 0").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  iovec iov{data.Data(), data.Length()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxFds));
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t sent;
  do {
    sent = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    ThrowErrno(env, "sendmsg", errno);
    return env.Undefined();
  }
  return env.Undefined();
}

// recvPacket(fd, maxBytes) -> { data: Buffer, fds: number[] } (data empty: the peer closed), or
// null when no message is waiting. Received descriptors are close-on-exec. A message or
// descriptor list cut short by the buffers is an error, and its descriptors are closed.
Napi::Value RecvPacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  int maxBytes = 0;
  if (!FdArg(info, 0, &fd) || !FdArg(info, 1, &maxBytes) || maxBytes < 1 || maxBytes > (1 << 20)) {
    Napi::TypeError::New(env, "recvPacket(fd, maxBytes 1..1048576) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<char> buffer(static_cast<size_t>(maxBytes));
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxFds));
  iovec iov{buffer.data(), buffer.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t got;
  do {
    got = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return env.Null();
    ThrowErrno(env, "recvmsg", errno);
    return env.Undefined();
  }
  std::vector<int> fds;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const size_t at = fds.size();
    fds.resize(at + count);
    std::memcpy(fds.data() + at, CMSG_DATA(cmsg), count * sizeof(int));
  }
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    for (int received : fds) close(received);
    Napi::Error::New(env, "recvPacket: message larger than " + std::to_string(maxBytes) + " bytes or more than 253 descriptors; dropped")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("data", Napi::Buffer<char>::Copy(env, buffer.data(), static_cast<size_t>(got)));
  Napi::Array list = Napi::Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) list.Set(static_cast<uint32_t>(i), Napi::Number::New(env, fds[i]));
  out.Set("fds", list);
  return out;
}

namespace {

// new FdWatcher(fd, onReadable): calls onReadable() each time fd is readable or hung up, until
// close(). The descriptor stays the caller's (close() does not close it).
class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher", {InstanceMethod("close", &FdWatcher::Close)});
  }

  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    int fd = -1;
    if (!FdArg(info, 0, &fd) || info.Length() < 2 || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "new FdWatcher(fd, onReadable) expected").ThrowAsJavaScriptException();
      return;
    }
    if (!poll_.Open(env, fd, this, "FdWatcher")) return;
    onReadable_ = Napi::Persistent(info[1].As<Napi::Function>());
    env_ = env;
    poll_.Start(UV_READABLE | UV_DISCONNECT, OnPoll);
    // Kept alive while watching, whatever JavaScript still references.
    Ref();
  }

 private:
  static void OnPoll(uv_poll_t* handle, int /*status*/, int /*events*/) {
    auto* self = static_cast<FdWatcher*>(handle->data);
    if (self == nullptr) return;
    Napi::HandleScope scope(self->env_);
    CallFromLoop(self->env_, self->onReadable_, self->env_.Global(), {});
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (poll_.IsOpen()) {
      poll_.Close();
      Unref();
    }
    return info.Env().Undefined();
  }

  OwnedPoll poll_;
  Napi::FunctionReference onReadable_;
  Napi::Env env_ = nullptr;
};

}  // namespace

void InitFdWatcher(Napi::Env env, Napi::Object exports) {
  exports.Set("FdWatcher", FdWatcher::Define(env));
}
