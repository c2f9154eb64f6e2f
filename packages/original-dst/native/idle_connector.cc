// The idle connector (see idle_connector.h): one thread per addon instance (per Node thread, as
// the reactor), started at the first Submit, at SCHED_IDLE for its whole life (an unprivileged
// thread may not switch back, so it never does), handing results to the loop by a uv_async_t.
// A job is shared by its owner and the connector: whichever lets go last frees it, so an owner
// destroyed after the connector (a worker's teardown) still holds a valid job.
#include "idle_connector.h"

#include "tcp_keepalive.h"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <uv.h>

namespace idle_connector {

struct Job {
  Request request;
  // Loop thread only: null once abandoned.
  Owner* owner = nullptr;
  // Written by the connector's thread before the job is handed back.
  int fd = -1;
  int err = 0;
  bool synSent = false;
  size_t sent = 0;
  int sendErr = 0;
};

namespace {

struct Connector {
  uv_async_t* async = nullptr;
  pthread_t thread{};
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::shared_ptr<Job>> queued;
  std::deque<std::shared_ptr<Job>> done;
  bool stopping = false;
};

thread_local Connector* current = nullptr;

void Open(Job& job) {
  const Request& r = job.request;
  bool deferred = false;
  job.fd = NewDialSocket(r.to.ss_family, r.fastOpen && !r.first.empty(), &deferred);
  if (job.fd < 0) {
    job.err = errno;
    return;
  }
  job.err = connect(job.fd, reinterpret_cast<const sockaddr*>(&r.to), r.toLen) == 0 ? 0 : errno;
  if (job.err != 0 || !deferred) return;
  // Fast Open: connect() sent nothing; this send is the SYN, with the request where a cookie is held.
  ssize_t n;
  do n = send(job.fd, r.first.data(), r.first.size(), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  job.synSent = true;
  if (n < 0) job.sendErr = errno;
  else job.sent = static_cast<size_t>(n);
}

void* Run(void* arg) {
  auto* c = static_cast<Connector*>(arg);
  // Refused (a seccomp filter, say): the connects still leave the loop thread, at normal priority.
  const sched_param idle{};
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
  // Its own name in top -H, ps -L and /proc: its CPU is told apart from the loop's.
  pthread_setname_np(pthread_self(), "pgw-connector");
  // The mutex is held for a push or a pop and nothing else, never across a system call: the loop
  // thread takes it too (Submit, Deliver), and this thread, at SCHED_IDLE, loses the CPU to any
  // other as soon as one wakes. Held across uv_async_send, which wakes the loop thread, it was
  // preempted holding the lock: the loop thread then waited in Deliver until the idle thread got
  // the CPU back (milliseconds on a busy box, at every warm connection opened).
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(c->mutex);
      c->wake.wait(lock, [c] { return c->stopping || !c->queued.empty(); });
      if (c->stopping) return nullptr;
      job = std::move(c->queued.front());
      c->queued.pop_front();
    }
    Open(*job);
    {
      std::lock_guard<std::mutex> lock(c->mutex);
      c->done.push_back(std::move(job));
    }
    uv_async_send(c->async);
  }
}

void Deliver(uv_async_t* async) {
  auto* c = static_cast<Connector*>(async->data);
  std::deque<std::shared_ptr<Job>> done;
  {
    std::lock_guard<std::mutex> lock(c->mutex);
    done.swap(c->done);
  }
  for (const std::shared_ptr<Job>& job : done) {
    Owner* owner = job->owner;
    job->owner = nullptr;
    if (owner != nullptr) {
      owner->Connected(job->fd, job->err, job->synSent, job->sent, job->sendErr);
    } else if (job->fd >= 0) {
      close(job->fd);
    }
    job->fd = -1;
  }
}

void CloseAsync(uv_async_t* async) {
  uv_close(reinterpret_cast<uv_handle_t*>(async), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
}

void Shutdown(void* arg) {
  auto* c = static_cast<Connector*>(arg);
  {
    std::lock_guard<std::mutex> lock(c->mutex);
    c->stopping = true;
  }
  c->wake.notify_one();
  pthread_join(c->thread, nullptr);
  // Results nobody will take: their sockets are closed; jobs still held by owners stay valid.
  for (const std::shared_ptr<Job>& job : c->done) {
    if (job->fd >= 0) close(job->fd);
    job->fd = -1;
    job->owner = nullptr;
  }
  CloseAsync(c->async);
  if (current == c) current = nullptr;
  delete c;
}

Connector* Start(napi_env env) {
  if (current != nullptr) return current;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return nullptr;
  auto* c = new Connector();
  c->async = new uv_async_t;
  if (uv_async_init(loop, c->async, Deliver) != 0) {
    delete c->async;
    delete c;
    return nullptr;
  }
  c->async->data = c;
  // The dials' own timers keep the loop alive while one waits; this handle does not.
  uv_unref(reinterpret_cast<uv_handle_t*>(c->async));
  if (pthread_create(&c->thread, nullptr, Run, c) != 0) {
    CloseAsync(c->async);
    delete c;
    return nullptr;
  }
  napi_add_env_cleanup_hook(env, Shutdown, c);
  current = c;
  return c;
}

}  // namespace

std::shared_ptr<Job> Submit(napi_env env, Request request, Owner* owner) {
  Connector* c = Start(env);
  if (c == nullptr) return nullptr;
  auto job = std::make_shared<Job>();
  job->request = std::move(request);
  job->owner = owner;
  {
    std::lock_guard<std::mutex> lock(c->mutex);
    c->queued.push_back(job);
  }
  c->wake.notify_one();
  return job;
}

void Abandon(const std::shared_ptr<Job>& job) {
  if (!job) return;
  job->owner = nullptr;
  // Still queued: it never connects. A warm pool closed because its proxy changed or was marked
  // down dials nothing after (with Fast Open the SYN carries the greeting and credentials), and a
  // busy box's backlog of cancelled opens does not connect in a burst once the CPU frees. One the
  // connector has taken already is closed when it comes back (Deliver).
  Connector* c = current;
  if (c == nullptr) return;
  std::lock_guard<std::mutex> lock(c->mutex);
  const auto queued = std::find(c->queued.begin(), c->queued.end(), job);
  if (queued != c->queued.end()) c->queued.erase(queued);
}

}  // namespace idle_connector
