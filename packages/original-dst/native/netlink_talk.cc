// A netlink exchange off the event loop, on a NETLINK_NETFILTER (conntrack, nftables) or
// NETLINK_ROUTE (rules, routes, neighbours) socket: the caller's buffer (one or more netlink
// messages) is sent to the kernel as is, and every message of the answer is returned in one
// buffer once `answers` of them ended a request (NLMSG_DONE ends a dump, NLMSG_ERROR answers a
// request that asked for an acknowledgement or failed). Node has no netlink sockets; a dump of a
// big conntrack table takes the kernel milliseconds, hence the worker thread. A read costs no
// child process: the agent's once-a-second checks of its routing rules and nft chains read this way.
#include "netlink_talk.h"

#include <cerrno>
#include <cstring>
#include <linux/netlink.h>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <vector>

#include "napi_numbers.h"

namespace {

// An answer the kernel does not finish within this is abandoned (the request is not retried).
constexpr time_t kTimeoutS = 5;
// Room for a dump's batch of messages per recv; the kernel fills at most the receive buffer.
constexpr size_t kChunk = 256 * 1024;
// The receive buffer asked for (the kernel doubles it for its bookkeeping).
constexpr int kReceiveBuffer = 1 << 20;

class TalkWorker : public Napi::AsyncWorker {
 public:
  TalkWorker(Napi::Env env, int protocol, std::vector<uint8_t> request, uint32_t answers)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), protocol_(protocol), request_(std::move(request)), answers_(answers) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol_);
    if (fd < 0) return Fail("socket(AF_NETLINK)", errno);
    const std::string error = Exchange(fd);
    close(fd);
    if (!error.empty()) SetError(error);
  }

  void OnOK() override {
    Napi::Env env = Env();
    deferred_.Resolve(Napi::Buffer<uint8_t>::Copy(env, answer_.data(), answer_.size()));
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  void Fail(const char* what, int err) { SetError(std::string("netlinkTalk: ") + what + ": " + std::strerror(err)); }

  std::string Exchange(int fd) {
    auto failed = [](const char* what, int err) { return std::string("netlinkTalk: ") + what + ": " + std::strerror(err); };
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) return failed("bind", errno);
    // Acknowledgements without a copy of the request: thousands of them fit the receive buffer.
    const int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    // The kernel queues every acknowledgement of a request before we read one, each costing a
    // socket buffer (~768 bytes): room for a batch beyond the default 208 KiB where allowed
    // (CAP_NET_ADMIN), the default where not (callers keep their batches within it).
    const int receiveBuffer = kReceiveBuffer;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receiveBuffer, sizeof(receiveBuffer)) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof(receiveBuffer));
    timeval timeout{kTimeoutS, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0) return failed("setsockopt(SO_RCVTIMEO)", errno);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd, request_.data(), request_.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) return failed("sendto", errno);
    std::vector<uint8_t> chunk(kChunk);
    uint32_t ended = 0;
    while (ended < answers_) {
      const ssize_t n = recv(fd, chunk.data(), chunk.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return failed(errno == EAGAIN ? "no answer from the kernel within 5 s" : "recv", errno);
      }
      size_t offset = 0;
      while (offset + sizeof(nlmsghdr) <= static_cast<size_t>(n)) {
        const auto* header = reinterpret_cast<const nlmsghdr*>(chunk.data() + offset);
        if (header->nlmsg_len < sizeof(nlmsghdr) || offset + header->nlmsg_len > static_cast<size_t>(n)) return "netlinkTalk: malformed netlink answer";
        if (header->nlmsg_type == NLMSG_DONE || header->nlmsg_type == NLMSG_ERROR) ended++;
        offset += NLMSG_ALIGN(header->nlmsg_len);
      }
      answer_.insert(answer_.end(), chunk.data(), chunk.data() + n);
    }
    return "";
  }

  Napi::Promise::Deferred deferred_;
  int protocol_;
  std::vector<uint8_t> request_;
  uint32_t answers_;
  std::vector<uint8_t> answer_;
};

}  // namespace

Napi::Value NetlinkTalk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "netlinkTalk expects (protocol: number, request: Buffer, answers: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int protocol = -1;
  if (!WholeNumberIn(info[0], 0, 31, &protocol) || (protocol != NETLINK_ROUTE && protocol != NETLINK_NETFILTER)) {
    Napi::TypeError::New(env, "netlinkTalk: protocol must be NETLINK_ROUTE or NETLINK_NETFILTER").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const auto request = info[1].As<Napi::Buffer<uint8_t>>();
  const double answers = info[2].As<Napi::Number>().DoubleValue();
  if (request.Length() < sizeof(nlmsghdr) || answers < 1 || answers != static_cast<uint32_t>(answers)) {
    Napi::TypeError::New(env, "netlinkTalk: the request holds no netlink message or answers is not a positive integer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new TalkWorker(env, protocol, std::vector<uint8_t>(request.Data(), request.Data() + request.Length()), static_cast<uint32_t>(answers));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}
