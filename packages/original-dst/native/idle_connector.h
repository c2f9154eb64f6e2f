#pragma once
// Opens TCP connections nobody is waiting for (the warm pools' refills) on a thread of its own
// at SCHED_IDLE, off Node's loop thread. Why: connect() on a local link runs the whole handshake
// inside the call (the SYN, the proxy host's SYN-ACK and the final ACK, through both namespaces'
// netfilter hooks: ~130 us measured on the lab's veth), and on the loop thread that time is taken
// from the clients' connections (their accepts, CONNECTs and relays); at SCHED_IDLE it only uses
// a core nothing else wants. See docs/benchmarks.md, "refill after the connection".
#include <napi.h>

#include <memory>
#include <string>
#include <sys/socket.h>
#include <sys/types.h>

namespace idle_connector {

struct Job;

// What the loop thread gets back; called there, never inside a call from JavaScript.
class Owner {
 public:
  // fd: the new socket (non-blocking, TCP_NODELAY, keepalive), -1 when socket() failed (err says
  // why). err: connect()'s errno (0: connected or, with Fast Open, deferred to the first send;
  // EINPROGRESS: connecting). synSent: with Fast Open, `first` went out with the SYN (sent bytes
  // of it, or none and sendErr EINPROGRESS: no cookie yet, the SYN asked for one).
  virtual void Connected(int fd, int err, bool synSent, size_t sent, int sendErr) = 0;

 protected:
  ~Owner() = default;
};

struct Request {
  sockaddr_storage to{};
  socklen_t toLen = 0;
  // TCP Fast Open with `first` (the first stage's request) in the SYN, as UpstreamDial does.
  bool fastOpen = false;
  std::string first;
};

// Queues the connect; owner->Connected runs later on this env's loop thread unless Abandon(job)
// came first (the socket is then closed). Returns null when the thread cannot be had (the caller
// connects itself).
std::shared_ptr<Job> Submit(napi_env env, Request request, Owner* owner);

// The owner is gone or no longer wants the result: nothing is called; a job still queued never
// connects, one already taken has its socket closed when it comes back. Loop thread only.
void Abandon(const std::shared_ptr<Job>& job);

}  // namespace idle_connector
