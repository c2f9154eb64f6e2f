// The connection sockets' own epoll (see reactor.h). Why not a uv_poll handle per descriptor, as
// before: libuv allows one handle per descriptor, so each stage of a connection (acceptor, upstream
// dial, warm watch, splice relay) duplicated the descriptor for its own handle; each uv_poll_init
// probes the descriptor (EPOLL_CTL_ADD and DEL, FIONBIO) and each stop and start of a handle is a
// DEL and an ADD. That was 26 epoll_ctl, 3 FIONBIO and 3 dups with their closes per relayed
// connection (docs/benchmarks.md). Here a descriptor is added once, edge-triggered (reading;
// writing only while it connects or a write waits for room), handed from stage to stage in a table (one
// EPOLL_CTL_MOD, see Watch), and removed by its close; each watcher keeps its own readiness flags,
// as nginx does.
//
// An event carries the descriptor's number and the generation of its record, not a pointer: an
// edge that arrives after its watcher let go, or from a registration that outlived its record (a
// duplicate of a closed descriptor), finds no watcher or another generation and is dropped.
#include "reactor.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <uv.h>
#include <vector>

namespace {

constexpr int kEventsPerWake = 64;
// EPOLLPRI: TCP urgent data, which the splice relay must step over (splice_relay.cc StepOverMark);
// every other watcher looks only at the events it knows.
constexpr uint32_t kInterest = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET;
constexpr uint32_t kReadInterest = EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLET;

struct Record {
  uint32_t generation = 0;
  bool registered = false;
  // EPOLLOUT is in its interest (Watch's `writable`, or WantWritable since).
  bool writable = false;
  ReactorWatch* watch = nullptr;
};

// One per thread: an addon instance, its watchers and Node's loop live on one thread.
struct Reactor {
  int epfd = -1;
  uv_poll_t* poll = nullptr;
  // Indexed by descriptor number.
  std::vector<Record> records;
};

thread_local Reactor current;

Record* Find(int fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= current.records.size()) return nullptr;
  return &current.records[fd];
}

uint64_t Key(int fd, uint32_t generation) { return (static_cast<uint64_t>(generation) << 32) | static_cast<uint32_t>(fd); }

void OnPoll(uv_poll_t* /*handle*/, int status, int /*events*/) {
  if (status < 0 || current.epfd < 0) return;
  epoll_event events[kEventsPerWake];
  int n;
  do n = epoll_wait(current.epfd, events, kEventsPerWake, 0);
  while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; i++) {
    const int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
    const uint32_t generation = static_cast<uint32_t>(events[i].data.u64 >> 32);
    // Looked up per event: a watcher may hand on, park or close descriptors (and JavaScript may
    // run, from a warm watch) while the batch is delivered.
    const Record* record = Find(fd);
    if (record == nullptr || !record->registered || record->generation != generation || record->watch == nullptr) continue;
    record->watch->OnReady(events[i].events);
  }
}

void Shutdown(void* /*arg*/) {
  if (current.poll != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(current.poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    current.poll = nullptr;
  }
  if (current.epfd >= 0) close(current.epfd);
  current.epfd = -1;
  current.records.clear();
}

// 0 or the errno: the reactor of this thread, made at the first watch.
int Start(napi_env env) {
  if (current.epfd >= 0) return 0;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return EINVAL;
  const int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return errno;
  auto* poll = new uv_poll_t;
  const int err = uv_poll_init(loop, poll, epfd);
  if (err != 0) {
    delete poll;
    close(epfd);
    return -err;
  }
  // The watchers' own timers keep the loop alive while a connection needs it; this handle does not.
  uv_unref(reinterpret_cast<uv_handle_t*>(poll));
  uv_poll_start(poll, UV_READABLE, OnPoll);
  current.epfd = epfd;
  current.poll = poll;
  napi_add_env_cleanup_hook(env, Shutdown, nullptr);
  return 0;
}

}  // namespace

namespace reactor {

int Watch(napi_env env, int fd, ReactorWatch* watch, bool writable) {
  if (fd < 0) return EBADF;
  const int err = Start(env);
  if (err != 0) return err;
  if (static_cast<size_t>(fd) >= current.records.size()) {
    // Only an open descriptor grows the table: a number from JavaScript that is none (2^31 - 1 asked
    // for 34 GB, 16 bytes a slot) is refused before, not by epoll_ctl after the growth.
    if (fcntl(fd, F_GETFD) < 0) return errno;
    current.records.resize(static_cast<size_t>(fd) + 64);
  }
  Record& record = current.records[fd];
  epoll_event event{};
  event.events = writable ? kInterest : kReadInterest;
  if (record.registered && record.watch != nullptr && record.watch != watch) return EBUSY;
  if (record.registered) {
    // Handed over: MOD both checks that this number still is the descriptor we registered (one
    // that went to libuv and was closed there, its number reused, is not: ENOENT, added anew)
    // and reports its readiness now, the edges of its parked time being gone.
    event.data.u64 = Key(fd, record.generation);
    if (epoll_ctl(current.epfd, EPOLL_CTL_MOD, fd, &event) == 0) {
      record.watch = watch;
      record.writable = writable;
      return 0;
    }
    if (errno != ENOENT) return errno;
  }
  record.generation++;
  event.data.u64 = Key(fd, record.generation);
  if (epoll_ctl(current.epfd, EPOLL_CTL_ADD, fd, &event) != 0) return errno;
  record.registered = true;
  record.watch = watch;
  record.writable = writable;
  return 0;
}

void Park(int fd, const ReactorWatch* watch) {
  Record* record = Find(fd);
  if (record != nullptr && record->watch == watch) record->watch = nullptr;
}

int Rearm(int fd) {
  Record* record = Find(fd);
  if (record == nullptr || !record->registered) return ENOENT;
  epoll_event event{};
  event.events = record->writable ? kInterest : kReadInterest;
  event.data.u64 = Key(fd, record->generation);
  return epoll_ctl(current.epfd, EPOLL_CTL_MOD, fd, &event) == 0 ? 0 : errno;
}

int WantWritable(int fd) {
  Record* record = Find(fd);
  if (record == nullptr || !record->registered) return ENOENT;
  if (record->writable) return 0;
  record->writable = true;
  return Rearm(fd);
}

void Forget(int fd) {
  Record* record = Find(fd);
  if (record == nullptr || !record->registered) return;
  epoll_event unused{};
  epoll_ctl(current.epfd, EPOLL_CTL_DEL, fd, &unused);
  record->registered = false;
  record->watch = nullptr;
}

int Close(int fd) {
  Record* record = Find(fd);
  if (record != nullptr) {
    record->registered = false;
    record->watch = nullptr;
  }
  return close(fd);
}

}  // namespace reactor
