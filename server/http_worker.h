// Internal to HttpServer (http_server.cc): the work it does off its event loops, and how the
// results come back to a loop.
//
//   HttpWorker     runs the slow routes (HttpRouter::Dispatch::kWorker: /admin/backup,
//                  /export, batches), one at a time on a thread of its own, so that a loop's
//                  other connections are not held up.
//   StreamThreads  runs the producers of streamed answers (HttpResponse::stream), a thread
//                  each, at most max_streams at once.
//   BodyStream     one streamed answer's bytes between its producer and the loop sending them:
//                  the producer waits once kStreamBufferBytes are produced and not yet taken,
//                  so a stream holds about a MiB whatever the body's length.
//   Completions    what the database's writer, the worker and the producers hand back to one
//                  loop, with the eventfd that wakes it.
//
// Thread-safety: as stated per member. Connection is the loop's; these only carry pointers to
// it back to the loop that owns it.
#ifndef ALLEZON_SERVER_HTTP_WORKER_H_
#define ALLEZON_SERVER_HTTP_WORKER_H_

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "http_message.h"

namespace allezon::server {

struct Connection;  // http_server.cc: a loop's connection

inline constexpr size_t kStreamBufferBytes = 1024 * 1024;

struct BodyStream {
  void Cancel() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      cancelled = true;
    }
    room.notify_all();
  }
  std::mutex mutex;
  std::condition_variable room;  // the producer waits here for the loop to take bytes
  std::string ready;             // produced (framed), not yet taken; guarded by mutex
  bool done = false;             // the producer returned; guarded by mutex
  bool complete = false;         // ... having produced the whole body; guarded by mutex
  bool cancelled = false;        // the client is gone or the server stops; guarded by mutex
  // The loop's only: the connection it is attached to, null before and once it finished.
  Connection* connection = nullptr;
};

// Shared with the callbacks that fill it, which may outlive the loop (a stop that does not
// wait), hence held by shared_ptr.
struct Completions {
  explicit Completions(int fd) : wake_fd(fd) {}
  ~Completions() { ::close(wake_fd); }
  void Wake() const {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd, &one, sizeof(one));
  }
  void ClearWake() const {
    uint64_t value;
    [[maybe_unused]] const ssize_t n = ::read(wake_fd, &value, sizeof(value));
  }
  struct Slow {
    Connection* connection;
    std::string answer;  // the whole answer, or a streamed answer's head
    bool close;
    std::shared_ptr<BodyStream> stream;  // null unless streamed
  };
  // A streamed answer's producer has bytes ready or has finished.
  void StreamReady(std::shared_ptr<BodyStream> stream) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      streams.push_back(std::move(stream));
    }
    Wake();
  }
  const int wake_fd;
  // Deferred answers (HttpResponse::deferred) not given yet: a stopping loop waits for them.
  std::atomic<int> deferred_open{0};
  std::mutex mutex;
  std::vector<std::pair<uint64_t, absl::Status>> batches;  // guarded by mutex
  std::vector<Slow> slow;                                  // guarded by mutex
  std::vector<std::shared_ptr<BodyStream>> streams;        // guarded by mutex
};

// Thread-safe.
class StreamThreads {
 public:
  explicit StreamThreads(size_t max_streams) : max_streams_(max_streams) {}
  ~StreamThreads() { StopAll(); }

  // Runs `producer` on a thread of its own, its bytes framed as chunks when `chunked`, telling
  // `to` whenever bytes are ready. Null when max_streams are running or after StopAll().
  std::shared_ptr<BodyStream> Start(BodyProducer producer, bool chunked,
                                    std::shared_ptr<Completions> to);
  // Tells every producer to stop and waits for their threads; no stream starts afterwards.
  void StopAll();

 private:
  struct Running {
    std::thread thread;
    std::shared_ptr<BodyStream> stream;
  };
  // Joins the threads whose producer has returned. Called with mutex_ held.
  void JoinFinished();

  const size_t max_streams_;
  std::mutex mutex_;
  std::vector<Running> running_;  // guarded by mutex_
  bool stopped_ = false;          // guarded by mutex_
};

// Post() from any thread; the router and `streams` must outlive the worker.
class HttpWorker {
 public:
  HttpWorker(const HttpRouter* router, StreamThreads* streams);
  ~HttpWorker();  // finishes the job running, drops the others
  // Routes `request` on the worker's thread; the answer (or a streamed answer's head) goes
  // to `to` for `connection`.
  void Post(std::shared_ptr<Completions> to, Connection* connection, HttpRequest request,
            bool close);

 private:
  struct Job {
    std::shared_ptr<Completions> to;
    Connection* connection;
    HttpRequest request;
    bool close;
  };
  void Run();
  // Hands `job`'s answer to `deferred`, which gives it later through a Responder.
  void Defer(Job job, std::function<void(Responder)> deferred);

  const HttpRouter* const router_;
  StreamThreads* const streams_;
  std::mutex mutex_;
  std::condition_variable cond_;
  std::deque<Job> jobs_;  // guarded by mutex_
  bool stop_ = false;     // guarded by mutex_
  std::thread thread_;
};

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_HTTP_WORKER_H_
