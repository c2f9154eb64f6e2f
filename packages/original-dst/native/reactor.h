#pragma once
// One epoll instance per thread for the sockets of the forwarder's connections (upstream dial,
// warm connection watch, splice relay), watched by a single libuv poll handle on Node's loop.
// A descriptor is registered once and handed from stage to stage. See reactor.cc.
#include <napi.h>

#include <cstdint>

// What a watched descriptor reports to: the epoll events (EPOLLIN, EPOLLOUT, EPOLLRDHUP,
// EPOLLHUP, EPOLLERR) of one edge, while it is the descriptor's watcher.
class ReactorWatch {
 public:
  virtual void OnReady(uint32_t events) = 0;

 protected:
  ~ReactorWatch() = default;
};

namespace reactor {

// Makes `watch` the watcher of `fd` (non-blocking, connected or connecting): a descriptor not
// yet registered is added, edge-triggered for reading and hang-ups, and for writing only where
// `writable`: a connecting socket, whose connect ends with a writable edge. A connected socket's
// watcher writes at once and asks for writable (WantWritable) only once a write does not fit: a writable
// socket registered for EPOLLOUT is reported at once, a loop turn per stage for nothing
// (docs/benchmarks.md, session 20). One registered and parked is taken over. One epoll_ctl
// either way; 0 or the errno (EBUSY: another watcher holds it, a stage that did not let go first).
// Readiness present now is reported at once.
int Watch(napi_env env, int fd, ReactorWatch* watch, bool writable);

// `watch` lets go of `fd`, which stays open and registered for the next watcher (its edges are
// dropped meanwhile). Nothing when another watcher holds it.
void Park(int fd, const ReactorWatch* watch);

// Asks for `fd`'s readiness again (writable too where it is asked for): reported at once if it is
// ready (edge-triggered too); 0 or the errno.
int Rearm(int fd);

// Adds writable to `fd`'s interest, for a write that did not fit, until the next Watch (one
// epoll_ctl the first time, none after; readiness present now is reported at once); 0 or the errno.
int WantWritable(int fd);

// Removes `fd` from the epoll (one epoll_ctl): for a descriptor handed to something else.
void Forget(int fd);

// close(fd), with the registration's record dropped first without a system call (closing the last
// descriptor of a socket removes it from the epoll; edges from a duplicate that outlives it are
// recognised as stale and dropped). Every close of a descriptor the reactor may know goes here,
// or a number reused later would be taken for the old socket. Returns close()'s result.
int Close(int fd);

}  // namespace reactor
