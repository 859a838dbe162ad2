#include "http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <thread>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "http_parser.h"
#include "http_worker.h"
#include "log.h"

namespace allezon::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kKeepBufferBytes = 256 * 1024;  // larger buffers are released once empty
// A connection whose answers are not being read stops being served beyond this backlog.
constexpr size_t kMaxOutBacklog = 4 * 1024 * 1024;
constexpr auto kSweepEvery = std::chrono::milliseconds(100);
constexpr auto kStopGrace = std::chrono::seconds(1);
constexpr auto kStoreGrace = std::chrono::seconds(30);
constexpr auto kLinger = std::chrono::seconds(2);
constexpr int kMaxEvents = 256;
constexpr std::string_view k204 = "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n";
constexpr std::string_view k204Close = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
// A loop takes more of a streamed answer once less than this waits to be sent (its producer
// runs ahead by at most kStreamBufferBytes, http_worker.h).
constexpr size_t kStreamLowWater = 256 * 1024;

absl::string_view Sv(std::string_view text) { return {text.data(), text.size()}; }

bool IsTagPath(std::string_view path) { return path == "/user_tags" || path == "/user_tags/"; }
bool IsBatchPath(std::string_view path) {
  return path == "/user_tags/batch" || path == "/user_tags/batch/";
}

// One large body or answer must not pin its memory for the connection's life.
void EmptyBuffer(std::string* buffer) {
  if (buffer->capacity() > kKeepBufferBytes) {
    std::string().swap(*buffer);
  } else {
    buffer->clear();
  }
}

std::string OwnResponse(int status, std::string_view message, bool close) {
  HttpResponse response;
  SendError(response, status, message);
  if (status == 503) response.set_header("Retry-After", "1");
  std::string out;
  SerializeResponse(response, close, &out);
  return out;
}

}  // namespace

// A loop's connection (declared in http_worker.h, which carries pointers to it back).
struct Connection {
  explicit Connection(const ParserLimits& limits) : parser(limits) {}
  int fd = -1;
  RequestParser parser;
  std::string in;  // received, not yet parsed from in_pos on
  size_t in_pos = 0;
  std::string out;  // to send, from out_pos on
  size_t out_pos = 0;
  uint32_t interest = 0;  // events registered with epoll
  Clock::time_point request_start{}, last_read{}, idle_since{};
  Clock::time_point write_stalled_since{};  // {} while nothing waits to be sent
  Clock::time_point linger_until{};         // lingering: closes then at the latest
  int awaiting = 0;                         // answers owed by the database's writer or the worker
  bool slow = false;                        // one of them is the worker's (no tag may overtake it)
  bool has_request = false;                 // `request` is whole, waiting for the answers before it
  HttpRequest request;
  bool request_close = false;
  int error_status = 0;  // refuse with this once the answers before it are out
  std::string error_message;
  bool close_after_replies = false;  // the last pending tag asked for Connection: close
  bool close_after_flush = false;    // no more requests: close once `out` is sent
  bool linger = false;               // close by draining (after an error answer)
  bool head_checked = false;         // CheckHead ran for the request being read
  bool counted = true;               // in ConnectionCounters::active (a refused one is not)
  bool peer_closed = false, dead = false, scheduled = false, unregistered = false;
  std::shared_ptr<BodyStream> stream;  // a streamed answer being sent (it holds one `awaiting`)
  bool stream_close = false;           // close once the stream ends
  bool reset_on_close = false;         // a body cut short: close with a reset (HTTP/1.0 sees it)
  std::string remote_ip;
  int remote_port = -1;

  size_t unparsed() const { return in.size() - in_pos; }
  size_t unsent() const { return out.size() - out_pos; }
  const std::string& RemoteIp() {
    if (remote_port < 0) SocketAddress(fd, true, &remote_ip, &remote_port);
    return remote_ip;
  }
};

namespace {

// An answer owed for a tag in a batch.
struct Pending {
  Connection* connection;
  Clock::time_point start;
  size_t bytes_in;
  std::string target;
};

}  // namespace

class HttpServer::Loop {
 public:
  explicit Loop(HttpServer* server) : server_(server), limits_(server->limits_) {
    parser_limits_.max_header_bytes = limits_.max_header_bytes;
    parser_limits_.max_body_bytes = std::max(
        {limits_.max_body_bytes, limits_.max_tag_body_bytes, limits_.max_batch_body_bytes});
    read_cap_ = limits_.max_header_bytes + 2 * parser_limits_.max_body_bytes + kReadChunk;
  }
  ~Loop() {
    for (auto& [fd, connection] : connections_) ::close(fd);
    if (epoll_ >= 0) ::close(epoll_);
  }

  bool Init() {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    const int wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake < 0) return false;
    completions_ = std::make_shared<Completions>(wake);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = &wake_marker_;
    return epoll_ >= 0 && ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake, &event) == 0 &&
           ListenerInterest(true);
  }

  void Wake() { completions_->Wake(); }

  void Run() {
    epoll_event events[kMaxEvents];
    Clock::time_point last_sweep = Clock::now();
    while (!server_->stopping_.load(std::memory_order_acquire)) {
      const int timeout = ready_.empty() ? static_cast<int>(kSweepEvery.count()) : 0;
      const int n = ::epoll_wait(epoll_, events, kMaxEvents, timeout);
      const Clock::time_point now = Clock::now();
      for (int i = 0; i < n; ++i) {
        void* tag = events[i].data.ptr;
        if (tag == &listen_marker_) {
          AcceptAll(now);
        } else if (tag == &wake_marker_) {
          completions_->ClearWake();
          AnswerCompleted();
          AdoptHandedOver(now);
        } else {
          auto* c = static_cast<Connection*>(tag);
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) Read(*c, now);
          if (events[i].events & EPOLLOUT) Flush(*c, now);
          Schedule(*c);
        }
      }
      std::vector<Connection*> ready;
      ready.swap(ready_);
      for (Connection* c : ready) {
        c->scheduled = false;
        if (!c->dead) Handle(*c, now);
      }
      Submit();
      const Clock::time_point handled = Clock::now();
      for (Connection* c : ready) {
        if (!c->dead) Flush(*c, handled);
      }
      if (now - last_sweep >= kSweepEvery) {
        last_sweep = now;
        Sweep(now);
        if (accept_paused_ && now >= accept_resume_) ListenerInterest(true);
      }
      Reap();
    }
    Shutdown();
  }

 private:
  bool ListenerInterest(bool on) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLEXCLUSIVE;
    event.data.ptr = &listen_marker_;
    const bool ok =
        ::epoll_ctl(epoll_, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, server_->listen_fd_, &event) == 0;
    accept_paused_ = !on;
    return ok;
  }

  void AcceptAll(Clock::time_point now) {
    ConnectionCounters& counters = server_->counters_;
    for (int i = 0; i < 64; ++i) {
      const int fd = ::accept4(server_->listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: stop listening for a moment rather than spin on the listener.
          ListenerInterest(false);
          accept_resume_ = now + std::chrono::milliseconds(50);
        }
        return;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      if (static_cast<size_t>(counters.active.load(std::memory_order_relaxed)) >=
          limits_.max_connections) {
        // Answered and drained here, outside the count (the lingering bounds them).
        counters.rejected_busy.fetch_add(1, std::memory_order_relaxed);
        Connection* c = Adopt(fd, now, false);
        if (c != nullptr) Refuse(*c, 503, "server busy: too many connections, retry later");
        if (c != nullptr) Flush(*c, now);
        continue;
      }
      counters.accepted.fetch_add(1, std::memory_order_relaxed);
      counters.active.fetch_add(1, std::memory_order_relaxed);
      // Round robin: the kernel wakes the same idle loop for most accepts (EPOLLEXCLUSIVE).
      const auto& loops = server_->loops_;
      Loop* target =
          loops[server_->next_loop_.fetch_add(1, std::memory_order_relaxed) % loops.size()].get();
      if (target == this) {
        Adopt(fd, now, true);
      } else {
        target->HandOver(fd);
      }
    }
  }

  // Takes a connection accepted by another loop (any thread).
  void HandOver(int fd) {
    {
      std::lock_guard<std::mutex> lock(handed_mutex_);
      if (!handed_closed_) {
        handed_.push_back(fd);
        Wake();
        return;
      }
    }
    ::close(fd);  // this loop has stopped already
    server_->counters_.active.fetch_sub(1, std::memory_order_relaxed);
  }

  void AdoptHandedOver(Clock::time_point now) {
    std::vector<int> fds;
    {
      std::lock_guard<std::mutex> lock(handed_mutex_);
      fds.swap(handed_);
    }
    for (int fd : fds) Adopt(fd, now, true);
  }

  Connection* Adopt(int fd, Clock::time_point now, bool counted) {
    auto connection = std::make_unique<Connection>(parser_limits_);
    Connection* c = connection.get();
    c->fd = fd;
    c->idle_since = c->last_read = now;
    epoll_event event{};
    event.events = c->interest = EPOLLIN;
    event.data.ptr = c;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) {
      ::close(fd);
      if (counted) server_->counters_.active.fetch_sub(1, std::memory_order_relaxed);
      return nullptr;
    }
    c->counted = counted;
    connections_.emplace(fd, std::move(connection));
    return c;
  }

  void Schedule(Connection& c) {
    if (c.scheduled || c.dead) return;
    c.scheduled = true;
    ready_.push_back(&c);
  }

  void Read(Connection& c, Clock::time_point now) {
    while (!c.peer_closed && !c.dead && c.unparsed() < read_cap_) {
      const ssize_t n = ::recv(c.fd, scratch_, sizeof(scratch_), 0);
      if (n > 0) {
        if (c.linger) continue;  // draining after an error answer
        c.in.append(scratch_, static_cast<size_t>(n));
        c.last_read = now;
        if (static_cast<size_t>(n) < sizeof(scratch_)) break;  // drained, most likely
      } else if (n == 0) {
        c.peer_closed = true;
        if (c.linger) c.dead = true;
      } else if (errno == EINTR) {
        continue;
      } else {
        if (errno != EAGAIN && errno != EWOULDBLOCK) c.dead = true;
        break;
      }
    }
  }

  // Answers with the connection layer's own error and closes (lingering) once it is sent.
  void Refuse(Connection& c, int status, std::string_view message) {
    ConnectionCounters& counters = server_->counters_;
    if (status == 408) counters.request_timeouts.fetch_add(1, std::memory_order_relaxed);
    if (status == 414 || status == 431) {
      counters.headers_too_large.fetch_add(1, std::memory_order_relaxed);
    }
    if (status == 413) counters.bodies_too_large.fetch_add(1, std::memory_order_relaxed);
    c.out += OwnResponse(status, message, true);
    if (server_->own_response_observer_) server_->own_response_observer_(status);
    EmptyBuffer(&c.in);
    c.in_pos = 0;
    c.close_after_flush = c.linger = true;
  }

  // Refuses now, or once the answers owed before it are out.
  void Fail(Connection& c, int status, std::string message) {
    c.error_status = status;
    c.error_message = std::move(message);
  }

  // The checks on a whole head, before any of the body is looked at. False: refused.
  bool CheckHead(Connection& c, bool body_to_come) {
    const HttpRequest& q = c.parser.request();
    if (q.minor_version == 1 && !q.has_header("Host")) {
      Fail(c, 400, "missing Host header (RFC 9112 §3.2)");
      return false;
    }
    const absl::string_view coding = absl::StripAsciiWhitespace(Sv(q.header("Content-Encoding")));
    if (!coding.empty() && !absl::EqualsIgnoreCase(coding, "identity")) {
      Fail(c, 415, "unsupported Content-Encoding: send the body uncompressed (identity)");
      return false;
    }
    const bool tag = q.method == "POST" && IsTagPath(q.path);
    const bool batch = q.method == "POST" && IsBatchPath(q.path);
    const size_t limit = tag     ? limits_.max_tag_body_bytes
                         : batch ? limits_.max_batch_body_bytes
                                 : limits_.max_body_bytes;
    c.parser.set_body_limit(limit);
    const std::string_view length = q.header("Content-Length");
    if (!length.empty() && (length.size() > 18 || std::stoull(std::string(length)) > limit)) {
      // Refused unread: the connection closes, the unread body cannot be told from a request.
      Fail(c, 413,
           (tag ? "user tag body is larger than " : "request body is larger than ") +
               std::to_string(limit) + " bytes");
      return false;
    }
    if (body_to_come && q.minor_version == 1 && c.awaiting == 0 &&
        absl::EqualsIgnoreCase(Sv(q.header("Expect")), "100-continue")) {
      c.out += k100;
    }
    return true;
  }

  // Parses and answers what `c.in` holds, in order, until a request must wait: for the
  // answers before it, for more bytes, or for the client to read its answers.
  void Handle(Connection& c, Clock::time_point now) {
    bool waiting_for_bytes = false;
    while (!c.dead && !c.close_after_flush && !c.close_after_replies &&
           c.unsent() <= kMaxOutBacklog) {
      if (c.error_status != 0 || c.has_request) {
        if (c.awaiting > 0) break;
        if (c.error_status != 0) {
          Refuse(c, c.error_status, c.error_message);
          break;
        }
        c.has_request = false;
        Dispatch(c, std::move(c.request), c.request_close);
        continue;
      }
      if (c.unparsed() == 0) {
        waiting_for_bytes = true;
        break;
      }
      const bool started = c.parser.started();
      size_t used = 0;
      const RequestParser::Result result =
          c.parser.Parse(std::string_view(c.in).substr(c.in_pos), &used);
      if (!started && c.parser.started()) c.request_start = c.last_read;
      c.in_pos += used;
      if (c.unparsed() == 0) {
        EmptyBuffer(&c.in);
        c.in_pos = 0;
      } else if (c.in_pos >= kReadChunk) {
        c.in.erase(0, c.in_pos);
        c.in_pos = 0;
      }
      if (result == RequestParser::Result::kError) {
        Fail(c, c.parser.error_status(), c.parser.error_message());
        continue;
      }
      if (result == RequestParser::Result::kNeedMore) {
        waiting_for_bytes = true;
        break;
      }
      if (result == RequestParser::Result::kHead) {
        c.head_checked = true;
        CheckHead(c, true);
        continue;
      }
      if (!c.head_checked && !CheckHead(c, false)) continue;
      c.head_checked = false;
      const bool close =
          !c.parser.keep_alive() || server_->stopping_.load(std::memory_order_relaxed);
      const size_t bytes_in = c.parser.request().body.size();
      HttpRequest request = c.parser.TakeRequest();
      c.idle_since = now;
      if (server_->ingest_ != nullptr && request.method == "POST" && IsTagPath(request.path) &&
          !c.slow) {
        std::string message;
        const int refused = server_->ingest_->Accept(request.body, &batch_, &message);
        if (refused == 0) {
          pending_.push_back({&c, c.request_start, bytes_in, std::move(request.target)});
          ++c.awaiting;
          c.close_after_replies = close;
          continue;
        }
        if (c.awaiting == 0) {
          const std::string answer = OwnResponse(refused, message, close);
          c.out += answer;
          server_->ingest_->Observe({c.RemoteIp(), request.target, refused, bytes_in, answer.size(),
                                     Clock::now() - c.request_start});
          c.close_after_flush = close;
          continue;
        }
        // Refused, but answered in order after the tags before it: the router refuses it too.
      }
      if (c.awaiting > 0) {  // it must see the tags before it
        c.has_request = true;
        c.request = std::move(request);
        c.request_close = close;
        break;
      }
      Dispatch(c, std::move(request), close);
    }
    if (c.peer_closed && waiting_for_bytes && c.awaiting == 0 && !c.close_after_replies) {
      c.close_after_flush = true;  // nothing more will come
    }
  }

  void Dispatch(Connection& c, HttpRequest request, bool close) {
    request.remote_addr = c.RemoteIp();
    request.start = c.request_start;
    if (server_->router_->DispatchOf(request) == HttpRouter::Dispatch::kWorker) {
      ++c.awaiting;
      c.slow = true;
      server_->worker_->Post(completions_, &c, std::move(request), close);
      return;
    }
    HttpResponse response = server_->router_->Handle(request);
    if (response.stream || response.deferred) {  // only worker routes: a loop must not wait
      LogLine(LogLevel::kError, "streamed answer on an event-loop route").Add("path", request.path);
      response = HttpResponse();
      SendError(response, 500, "internal server error");
    }
    SerializeResponse(response, close, &c.out);
    if (close) c.close_after_flush = true;
  }

  // Hands the tags of every connection handled in this iteration to the database as one
  // batch; their answers go out when it is stored (AnswerCompleted), while the loop serves on.
  void Submit() {
    if (pending_.empty()) return;
    const uint64_t id = next_batch_id_++;
    in_flight_.push_back({id, std::move(pending_)});
    pending_.clear();
    std::vector<UserTag> tags;
    tags.swap(batch_);
    server_->ingest_->Submit(std::move(tags), [to = completions_, id](absl::Status stored) {
      {
        std::lock_guard<std::mutex> lock(to->mutex);
        to->batches.emplace_back(id, std::move(stored));
      }
      to->Wake();
    });
  }

  void AnswerCompleted() {
    std::vector<std::pair<uint64_t, absl::Status>> batches;
    std::vector<Completions::Slow> slow;
    std::vector<std::shared_ptr<BodyStream>> streams;
    {
      std::lock_guard<std::mutex> lock(completions_->mutex);
      batches.swap(completions_->batches);
      slow.swap(completions_->slow);
      streams.swap(completions_->streams);
    }
    std::vector<Connection*> answered;
    const Clock::time_point now = Clock::now();
    for (auto& [id, stored] : batches) {
      auto it = std::find_if(in_flight_.begin(), in_flight_.end(),
                             [id = id](const InFlight& f) { return f.id == id; });
      if (it == in_flight_.end()) continue;
      Answer(it->pending, stored, now, &answered);
      in_flight_.erase(it);
    }
    for (Completions::Slow& done : slow) {
      Connection& c = *done.connection;
      if (!c.dead) c.out += done.answer;
      if (done.stream != nullptr) {
        // Answered once the stream ends (Pull); its requests wait until then.
        c.stream = std::move(done.stream);
        c.stream->connection = &c;
        c.stream_close = done.close;
        if (c.dead) c.stream->Cancel();
        Pull(c, nullptr);
        if (answered.empty() || answered.back() != &c) answered.push_back(&c);
        continue;
      }
      c.slow = false;
      if (done.close) c.close_after_flush = true;
      Answered(c, &answered);
    }
    for (const std::shared_ptr<BodyStream>& stream : streams) {
      Connection* c = stream->connection;
      if (c == nullptr || c->stream != stream) continue;  // not attached yet, or finished
      if (c->dead) {
        Pull(*c, nullptr);
      } else if (answered.empty() || answered.back() != c) {
        answered.push_back(c);
      }
    }
    for (Connection* c : answered) Flush(*c, now);
  }

  // One owed answer of `c` is out.
  void Answered(Connection& c, std::vector<Connection*>* answered) {
    if (answered->empty() || answered->back() != &c) answered->push_back(&c);
    if (--c.awaiting > 0) return;
    c.idle_since = Clock::now();
    if (c.close_after_replies) c.close_after_flush = true;
    c.close_after_replies = false;
    // Requests that waited for the answers, or a peer that closed: handle them next.
    if (!c.dead && (c.unparsed() > 0 || c.has_request || c.error_status || c.peer_closed)) {
      Schedule(c);
    }
  }

  void Answer(const std::vector<Pending>& pending, const absl::Status& stored,
              Clock::time_point now, std::vector<Connection*>* answered) {
    const int status = stored.ok() ? 204 : server_->ingest_->StatusFor(stored);
    std::string failure[2];  // [close]
    if (!stored.ok()) {
      for (bool close : {false, true}) {
        failure[close] = OwnResponse(status, std::string(stored.message()), close);
      }
    }
    for (const Pending& p : pending) {
      Connection& c = *p.connection;
      const bool close = c.awaiting == 1 && c.close_after_replies;
      std::string_view answer =
          stored.ok() ? (close ? k204Close : k204) : std::string_view(failure[close]);
      if (!c.dead) c.out += answer;
      server_->ingest_->Observe(
          {c.RemoteIp(), p.target, status, p.bytes_in, answer.size(), now - p.start});
      Answered(c, answered);
    }
  }

  // Takes what c's stream has produced into c.out (dropped if c is dead). Once the producer
  // has finished and everything is taken, the stream is the connection's answered request.
  // True when it took bytes or the stream finished.
  bool Pull(Connection& c, std::vector<Connection*>* answered) {
    const std::shared_ptr<BodyStream> stream = c.stream;
    bool took, finished, complete;
    {
      std::lock_guard<std::mutex> lock(stream->mutex);
      took = !stream->ready.empty();
      if (c.dead) {
        stream->ready.clear();
      } else if (c.unsent() == 0) {
        c.out.swap(stream->ready);
        c.out_pos = 0;
        stream->ready.clear();
      } else {
        // The part already sent goes first: a client that is always behind would otherwise
        // keep the whole body here (out only empties when everything is sent).
        c.out.erase(0, c.out_pos);
        c.out_pos = 0;
        c.out.append(stream->ready);
        stream->ready.clear();
      }
      if (stream->ready.capacity() > kKeepBufferBytes) std::string().swap(stream->ready);
      finished = stream->done;
      complete = stream->complete;
    }
    stream->room.notify_one();
    if (!finished) return took;
    stream->connection = nullptr;
    c.stream.reset();
    c.slow = false;
    // Cut short: close without the last chunk (and with a reset, which an HTTP/1.0 client,
    // whose body ends at the close, can tell from a complete body).
    if (!complete) c.reset_on_close = true;
    if (!complete || c.stream_close) c.close_after_flush = true;
    std::vector<Connection*> ignored;
    Answered(c, answered != nullptr ? answered : &ignored);
    return true;
  }

  void Flush(Connection& c, Clock::time_point now) {
    const bool over_backlog = c.unsent() > kMaxOutBacklog;
    for (;;) {
      const bool could_pull = c.stream && c.unsent() < kStreamLowWater;
      const bool pulled = could_pull && Pull(c, nullptr);
      while (!c.dead && c.unsent() > 0) {
        const ssize_t n =
            ::send(c.fd, c.out.data() + c.out_pos, c.unsent(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          c.out_pos += static_cast<size_t>(n);
          c.write_stalled_since = now;
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else {
          if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) c.dead = true;
          break;
        }
      }
      // All sent and the stream may have more: take it now rather than wait for a wake-up.
      if (c.dead || c.unsent() > 0 || !c.stream || (could_pull && !pulled)) break;
    }
    if (c.unsent() == 0) {
      EmptyBuffer(&c.out);
      c.out_pos = 0;
      c.write_stalled_since = {};
      if (c.close_after_flush && c.awaiting == 0 && !c.dead) {
        if (c.linger && !c.peer_closed) {
          // Shut the write side and drop what still comes: a close with unread input would
          // reset the connection, and the client could lose the answer with it.
          ::shutdown(c.fd, SHUT_WR);
          if (c.linger_until == Clock::time_point{}) c.linger_until = now + kLinger;
        } else {
          c.dead = true;
        }
      }
    } else if (c.write_stalled_since == Clock::time_point{}) {
      c.write_stalled_since = now;
    }
    // Handle stops at the backlog with requests still buffered; once the client has read
    // enough they must be handled without waiting for bytes that may never come.
    if (over_backlog && c.unsent() <= kMaxOutBacklog && c.unparsed() > 0) Schedule(c);
    UpdateInterest(c);
  }

  void UpdateInterest(Connection& c) {
    if (c.dead) return;
    uint32_t want = 0;
    const bool draining = c.linger_until != Clock::time_point{};
    if (draining || (!c.peer_closed && !c.close_after_flush && c.unparsed() < read_cap_ &&
                     c.unsent() <= kMaxOutBacklog)) {
      want |= EPOLLIN;
    }
    if (c.unsent() > 0) want |= EPOLLOUT;
    if (want == c.interest) return;
    epoll_event event{};
    event.events = want;
    event.data.ptr = &c;
    if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &event) == 0) c.interest = want;
  }

  void Sweep(Clock::time_point now) {
    for (auto& [fd, connection] : connections_) {
      Connection& c = *connection;
      if (c.dead) continue;
      if (c.stream && c.unsent() > 0 && now - c.write_stalled_since > limits_.write_timeout) {
        c.dead = true;  // its producer is told to stop as the connection is reaped
        continue;
      }
      if (c.awaiting > 0) continue;
      if (c.linger_until != Clock::time_point{}) {
        if (now >= c.linger_until) c.dead = true;
      } else if (c.unsent() > 0) {
        if (now - c.write_stalled_since > limits_.write_timeout) c.dead = true;
      } else if (c.close_after_flush) {
        c.dead = true;
      } else if (c.parser.started() || c.unparsed() > 0) {
        if (now - c.request_start > limits_.request_timeout ||
            now - c.last_read > limits_.read_timeout) {
          Refuse(c, 408, "request timeout: the request did not arrive in time");
          Flush(c, now);
        }
      } else if (now - c.idle_since > limits_.keep_alive_timeout) {
        c.dead = true;
      }
    }
  }

  // Closes and frees the connections marked dead in this iteration.
  void Reap() {
    for (auto it = connections_.begin(); it != connections_.end();) {
      Connection& c = *it->second;
      if (!c.dead) {
        ++it;
        continue;
      }
      if (!c.unregistered) {
        ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
        c.unregistered = true;
      }
      if (c.stream) {
        // Its producer stops (or has stopped: then the bytes it left are dropped and the
        // stream ends here, as no notification will come again); freed once it has.
        c.stream->Cancel();
        Pull(c, nullptr);
      }
      if (c.awaiting > 0) {  // freed once its answers' outcome is in
        ++it;
        continue;
      }
      Close(c);
      if (c.scheduled) std::erase(ready_, &c);
      it = connections_.erase(it);
    }
  }

  void Close(Connection& c) {
    if (c.reset_on_close) {
      const linger reset{1, 0};
      ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
      ::close(c.fd);
      if (c.counted) server_->counters_.active.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    ::shutdown(c.fd, SHUT_RDWR);
    ::close(c.fd);
    if (c.counted) server_->counters_.active.fetch_sub(1, std::memory_order_relaxed);
  }

  // Stopping: answers already queued get up to kStopGrace to go out, then every connection
  // closes. Requests not yet handled are not answered (no tag of theirs was stored).
  void Shutdown() {
    ListenerInterest(false);
    Submit();
    // Tags handed to the database are stored whatever happens (single ones, and batches whose
    // answers are deferred); wait for their answers.
    const Clock::time_point stored_by = Clock::now() + kStoreGrace;
    while (
        (!in_flight_.empty() || completions_->deferred_open.load(std::memory_order_acquire) > 0) &&
        Clock::now() < stored_by) {
      pollfd wake{completions_->wake_fd, POLLIN, 0};  // readable clients would not let it wait
      if (::poll(&wake, 1, 10) > 0) completions_->ClearWake();
      AnswerCompleted();
    }
    const Clock::time_point deadline = Clock::now() + kStopGrace;
    for (;;) {
      bool waiting = false;
      for (auto& [fd, connection] : connections_) {
        Flush(*connection, Clock::now());
        waiting = waiting || (!connection->dead && connection->unsent() > 0);
      }
      if (!waiting || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    for (auto& [fd, connection] : connections_) {
      if (connection->stream) connection->stream->Cancel();
      Close(*connection);
    }
    connections_.clear();
    ready_.clear();
    std::lock_guard<std::mutex> lock(handed_mutex_);
    handed_closed_ = true;
    for (int fd : handed_) {
      ::close(fd);
      server_->counters_.active.fetch_sub(1, std::memory_order_relaxed);
    }
    handed_.clear();
  }

  HttpServer* const server_;
  const ConnectionLimits& limits_;
  ParserLimits parser_limits_;
  size_t read_cap_ = 0;
  int epoll_ = -1;
  char listen_marker_ = 0;
  char wake_marker_ = 0;
  bool accept_paused_ = false;
  Clock::time_point accept_resume_{};
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> ready_;
  std::vector<UserTag> batch_;
  std::vector<Pending> pending_;  // answers owed for batch_, in arrival order
  struct InFlight {
    uint64_t id;
    std::vector<Pending> pending;
  };
  std::deque<InFlight> in_flight_;  // submitted batches, oldest first
  uint64_t next_batch_id_ = 0;
  std::mutex handed_mutex_;
  std::vector<int> handed_;     // accepted by another loop, to adopt; guarded by handed_mutex_
  bool handed_closed_ = false;  // stopped: no more adoptions; guarded by handed_mutex_
  std::shared_ptr<Completions> completions_;
  char scratch_[kReadChunk];
};

void SocketAddress(int fd, bool remote, std::string* ip, int* port) {
  sockaddr_storage address;
  socklen_t length = sizeof(address);
  auto* sa = reinterpret_cast<sockaddr*>(&address);
  if ((remote ? ::getpeername(fd, sa, &length) : ::getsockname(fd, sa, &length)) != 0) return;
  char host[NI_MAXHOST];
  if (::getnameinfo(sa, length, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) == 0) *ip = host;
  if (address.ss_family == AF_INET) {
    *port = ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
  } else if (address.ss_family == AF_INET6) {
    *port = ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  }
}

HttpServer::HttpServer(const ConnectionLimits& limits, const HttpRouter* router, TagIngest* ingest)
    : limits_(limits), router_(router), ingest_(ingest) {}

HttpServer::~HttpServer() {
  loops_.clear();
  worker_.reset();
  streams_.reset();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

int HttpServer::Bind(const std::string& host, int port, int backlog) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &found) != 0) return -1;
  int bound = -1;
  for (addrinfo* a = found; a != nullptr && bound < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, backlog) != 0) {
      ::close(fd);
      continue;
    }
    std::string ip;
    SocketAddress(fd, false, &ip, &bound);
    listen_fd_ = fd;
  }
  ::freeaddrinfo(found);
  return bound;
}

bool HttpServer::Run() {
  if (listen_fd_ < 0) return false;
  size_t count = limits_.loops;
  if (count == 0) count = std::max<size_t>(2, std::thread::hardware_concurrency());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_.load()) return true;
    streams_ = std::make_unique<StreamThreads>(limits_.max_streams);
    worker_ = std::make_unique<HttpWorker>(router_, streams_.get());
    for (size_t i = 0; i < count; ++i) {
      auto loop = std::make_unique<Loop>(this);
      if (!loop->Init()) return false;
      loops_.push_back(std::move(loop));
    }
  }
  std::vector<std::thread> threads;
  for (auto& loop : loops_) {
    threads.emplace_back([&loop] {
      pthread_setname_np(pthread_self(), "alz-http-loop");
      loop->Run();
    });
  }
  for (std::thread& t : threads) t.join();
  // The worker's job and the producers may use what the handlers use (the Database), which
  // the caller may close once Run returns: both end here. Their connections are closed.
  worker_.reset();
  streams_->StopAll();
  ::close(listen_fd_);
  listen_fd_ = -1;
  return true;
}

void HttpServer::Stop() {
  stopping_.store(true, std::memory_order_release);
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& loop : loops_) loop->Wake();
}

}  // namespace allezon::server
