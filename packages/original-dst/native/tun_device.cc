// openTun(name): attaches to the TUN device `name` (IFF_TUN | IFF_NO_PI: each read is one IP
// packet, each write injects one) and returns its non-blocking descriptor, for FdWatcher plus
// fs.readSync/writeSync. Node has no TUNSETIFF; bench:rtt's delay line (test/bench/rtt/) needs it.
// Pure syscall wrapper: no state.
#include "tun_device.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string>
#include <sys/ioctl.h>
#include <unistd.h>

#include "napi_errors.h"

Napi::Value OpenTun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "openTun(name): a device name expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() >= IFNAMSIZ) {
    Napi::RangeError::New(env, "openTun: the device name must be 1-15 characters").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, "openTun: open /dev/net/tun", errno);
    return env.Undefined();
  }
  struct ifreq request;
  std::memset(&request, 0, sizeof(request));
  request.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::memcpy(request.ifr_name, name.data(), name.size());
  if (ioctl(fd, TUNSETIFF, &request) != 0) {
    const int err = errno;
    close(fd);
    ThrowErrno(env, "openTun: TUNSETIFF " + name, err);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}
