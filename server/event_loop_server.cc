#include "event_loop_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "event_loop_connection.h"
#include "http_framing.h"

namespace allezon::server {

using event_loop::Completions;
using event_loop::Connection;
using event_loop::Pending;
using event_loop::WholeRequestStream;

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 64 * 1024;
// Buffers larger than this are released once empty.
constexpr size_t kKeepBufferBytes = 256 * 1024;
// A connection whose answers are not being read stops being served beyond this backlog.
constexpr size_t kMaxOutBacklog = 4 * 1024 * 1024;
constexpr auto kSweepEvery = std::chrono::milliseconds(100);
constexpr auto kStopGrace = std::chrono::seconds(1);
constexpr auto kStoreGrace = std::chrono::seconds(30);
constexpr int kMaxEvents = 256;
constexpr std::string_view k204 = "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n";
constexpr std::string_view k204Close = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kTagPath = "/user_tags";

bool OnlyLineBreaks(std::string_view bytes) {
  return bytes.find_first_not_of("\r\n") == std::string_view::npos;
}

// Empties a connection's buffer. One large body or answer must not pin its memory for the
// connection's life (1,000 idle connections would hold gigabytes), so a big one is released.
void EmptyBuffer(std::string* buffer) {
  if (buffer->capacity() > kKeepBufferBytes) {
    std::string().swap(*buffer);
  } else {
    buffer->clear();
  }
}

}  // namespace

class EventLoopServer::Loop {
 public:
  Loop(EventLoopServer* server, int listen_fd)
      : server_(server),
        router_(server->router_),
        ingest_(server->ingest_),
        limits_(router_->limits()),
        listen_fd_(listen_fd) {
    frame_limits_.max_header_bytes = limits_.max_header_bytes;
    frame_limits_.max_body_bytes = limits_.max_body_bytes;
    read_cap_ = limits_.max_header_bytes + limits_.max_body_bytes + kReadChunk;
    max_connections_ = static_cast<int64_t>(limits_.threads + limits_.max_queued);
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
    if (epoll_ < 0) return false;
    epoll_event wake_event{};
    wake_event.events = EPOLLIN;
    wake_event.data.ptr = &wake_marker_;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake, &wake_event) != 0) return false;
    return ListenerInterest(true);
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
        ::epoll_ctl(epoll_, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listen_fd_, &event) == 0;
    accept_paused_ = !on;
    return ok;
  }

  void AcceptAll(Clock::time_point now) {
    ConnectionCounters& counters = router_->mutable_counters();
    for (int i = 0; i < 64; ++i) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: stop listening for a moment rather than spin on the listener.
          ListenerInterest(false);
          accept_resume_ = now + std::chrono::milliseconds(50);
        }
        return;
      }
      if (server_->open_connections_.load(std::memory_order_relaxed) >= max_connections_) {
        router_->RejectBusy(fd);
        continue;
      }
      server_->open_connections_.fetch_add(1, std::memory_order_relaxed);
      counters.accepted.fetch_add(1, std::memory_order_relaxed);
      counters.active.fetch_add(1, std::memory_order_relaxed);
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      // Round robin over the loops: the kernel wakes the same idle loop for most accepts
      // (EPOLLEXCLUSIVE), which would leave the others idle.
      const auto& loops = server_->loops_;
      Loop* target =
          loops[server_->next_loop_.fetch_add(1, std::memory_order_relaxed) % loops.size()].get();
      if (target == this) {
        Adopt(fd, now);
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
    Closed();
  }

  void AdoptHandedOver(Clock::time_point now) {
    std::vector<int> fds;
    {
      std::lock_guard<std::mutex> lock(handed_mutex_);
      fds.swap(handed_);
    }
    for (int fd : fds) Adopt(fd, now);
  }

  // Serves an accepted (and counted) connection on this loop.
  void Adopt(int fd, Clock::time_point now) {
    auto connection = std::make_unique<Connection>();
    Connection* c = connection.get();
    c->fd = fd;
    c->idle_since = now;
    c->last_read = now;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = c;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) {
      ::close(fd);
      Closed();
      return;
    }
    c->interest = EPOLLIN;
    connections_.emplace(fd, std::move(connection));
  }

  void Closed() {
    server_->open_connections_.fetch_sub(1, std::memory_order_relaxed);
    router_->mutable_counters().active.fetch_sub(1, std::memory_order_relaxed);
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
        if (c.unparsed() == 0) {
          if (c.in_pos > 0) {
            c.in.clear();
            c.in_pos = 0;
          }
          c.request_start = now;
        }
        c.in.append(scratch_, static_cast<size_t>(n));
        c.last_read = now;
        if (static_cast<size_t>(n) < sizeof(scratch_)) break;  // drained, most likely
      } else if (n == 0) {
        c.peer_closed = true;
      } else if (errno == EINTR) {
        continue;
      } else {
        if (errno != EAGAIN && errno != EWOULDBLOCK) c.dead = true;
        break;
      }
    }
  }

  // Drops the handled request's bytes; the next request (if any bytes of it are here)
  // starts now.
  void Consume(Connection& c, size_t bytes, Clock::time_point now) {
    c.in_pos += bytes;
    c.sent_continue = false;
    if (c.unparsed() == 0) {
      EmptyBuffer(&c.in);
      c.in_pos = 0;
      c.idle_since = now;
    } else {
      c.request_start = now;
      if (c.in_pos >= kReadChunk) {
        c.in.erase(0, c.in_pos);
        c.in_pos = 0;
      }
    }
  }

  // Answers with the connection layer's own error and closes once it is sent.
  void Refuse(Connection& c, int status, std::string_view message) {
    ConnectionCounters& counters = router_->mutable_counters();
    if (status == 408) counters.request_timeouts.fetch_add(1, std::memory_order_relaxed);
    if (status == 414 || status == 431) {
      counters.headers_too_large.fetch_add(1, std::memory_order_relaxed);
    }
    if (status == 413) counters.bodies_too_large.fetch_add(1, std::memory_order_relaxed);
    c.out += HttpServer::OwnResponse(status, message);
    router_->NoteOwnResponse(status);
    c.in.clear();
    c.in_pos = 0;
    c.close_after_flush = true;
    c.linger = true;
  }

  // Handles the requests that are whole in `c.in`, in order, until one must wait: for the
  // tags before it on this connection to be stored, for more bytes, or for the client to read
  // its answers.
  void Handle(Connection& c, Clock::time_point now) {
    bool waiting_for_bytes = false;
    while (!c.dead && !c.close_after_flush && !c.close_after_replies &&
           c.unsent() <= kMaxOutBacklog) {
      if (c.unparsed() == 0) {
        waiting_for_bytes = true;
        break;
      }
      const std::string_view input = std::string_view(c.in).substr(c.in_pos);
      RequestFrame frame;
      FrameError error;
      const FrameStatus status = ParseRequestFrame(input, frame_limits_, &frame, &error);
      const bool tag_post =
          frame.head_complete && frame.method == "POST" && frame.path == kTagPath && !frame.chunked;
      if (status == FrameStatus::kError) {
        if (c.pending_tags == 0) Refuse(c, error.status, error.message);
        break;
      }
      if (status == FrameStatus::kNeedMore) {
        if (!frame.head_complete && OnlyLineBreaks(input)) {
          // RFC 9112 §2.2: empty lines between requests are ignored (not a request to time out).
          Consume(c, input.size(), now);
          waiting_for_bytes = true;
          break;
        }
        if (frame.head_complete && c.pending_tags == 0) {
          if (tag_post && frame.content_length > ingest_->max_body_bytes()) {
            Refuse(c, 413,
                   "user tag body is larger than " + std::to_string(ingest_->max_body_bytes()) +
                       " bytes");
            break;
          }
          if (frame.expect_continue && !c.sent_continue) {
            c.out += k100;
            c.sent_continue = true;
          }
        }
        waiting_for_bytes = true;
        break;
      }
      if (tag_post) {
        const std::string_view body = input.substr(frame.head_bytes, frame.content_length);
        std::string message;
        const int refused = ingest_->Accept(body, &batch_, &message);
        if (refused == 0) {
          Pending pending{&c, c.request_start, frame.total_bytes, {}};
          if (frame.target != kTagPath) pending.target = std::string(frame.target);
          pending_.push_back(std::move(pending));
          ++c.pending_tags;
          c.close_after_replies = frame.close_requested;
          Consume(c, frame.total_bytes, now);
          continue;
        }
        if (c.pending_tags > 0) break;  // answered in order, after the tags before it
        const std::string answer = HttpServer::OwnResponse(refused, message, frame.close_requested);
        c.out += answer;
        ingest_->Observe({c.RemoteIp(), frame.target, refused, frame.total_bytes, answer.size(),
                          Clock::now() - c.request_start});
        c.close_after_flush = frame.close_requested;
        Consume(c, frame.total_bytes, now);
        continue;
      }
      if (c.pending_tags > 0) break;  // it must see the tags before it
      HandleWithRouter(c, frame, now);
    }
    if (c.peer_closed && waiting_for_bytes && c.pending_tags == 0 && !c.close_after_replies) {
      // Nothing more will come: what is buffered is an incomplete request at most.
      c.close_after_flush = true;
    }
  }

  void HandleWithRouter(Connection& c, const RequestFrame& frame, Clock::time_point now) {
    if (frame.expect_continue) {
      // Answered already (or the body came unasked); cpp-httplib must not send a second 100.
      c.in[c.in_pos + frame.expect_name_offset] = 'X';
    }
    WholeRequestStream stream(std::string_view(c.in).substr(c.in_pos, frame.total_bytes), &c);
    HttpServer::SetCurrentRequestStart(c.request_start);
    bool closed = false;
    const bool ok = router_->ProcessWholeRequest(
        stream, server_->stopping_.load(std::memory_order_relaxed), closed);
    HttpServer::SetCurrentRequestStart({});
    Consume(c, frame.total_bytes, now);
    if (!ok || closed) {
      c.close_after_flush = true;
      c.linger = !ok || c.unparsed() > 0;
    } else if (frame.close_requested) {
      // cpp-httplib only knows "close" spelt in lower case; any spelling asks to close.
      c.close_after_flush = true;
    }
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
    ingest_->Submit(std::move(tags), [completions = completions_, id](absl::Status stored) {
      {
        std::lock_guard<std::mutex> lock(completions->mutex);
        completions->done.emplace_back(id, std::move(stored));
      }
      completions->Wake();
    });
  }

  void AnswerCompleted() {
    std::vector<std::pair<uint64_t, absl::Status>> done;
    {
      std::lock_guard<std::mutex> lock(completions_->mutex);
      done.swap(completions_->done);
    }
    std::vector<Connection*> answered;
    const Clock::time_point now = Clock::now();
    for (auto& [id, stored] : done) {
      auto it = std::find_if(in_flight_.begin(), in_flight_.end(),
                             [id = id](const InFlight& f) { return f.id == id; });
      if (it == in_flight_.end()) continue;
      Answer(it->pending, stored, now, &answered);
      in_flight_.erase(it);
    }
    for (Connection* c : answered) Flush(*c, now);
  }

  void Answer(const std::vector<Pending>& pending, const absl::Status& stored,
              Clock::time_point now, std::vector<Connection*>* answered) {
    const int status = stored.ok() ? 204 : ingest_->StatusFor(stored);
    std::string failure[2];  // [close]
    if (!stored.ok()) {
      for (bool close : {false, true}) {
        failure[close] = HttpServer::OwnResponse(status, std::string(stored.message()), close);
      }
    }
    for (const Pending& p : pending) {
      Connection& c = *p.connection;
      const bool last = --c.pending_tags == 0;
      const bool close = last && c.close_after_replies;
      std::string_view answer =
          stored.ok() ? (close ? k204Close : k204) : std::string_view(failure[close]);
      if (!c.dead) c.out += answer;
      ingest_->Observe({c.RemoteIp(), p.target.empty() ? kTagPath : std::string_view(p.target),
                        status, p.bytes_in, answer.size(), now - p.start});
      // Sent now, not when the connection's last tag is stored: this batch's answers come
      // before those of its later batches on the wire anyway.
      if (answered->empty() || answered->back() != &c) answered->push_back(&c);
      if (last) {
        if (close) c.close_after_flush = true;
        c.close_after_replies = false;
        // Requests that waited for the tags, or a peer that closed: handle them next.
        if (!c.dead && (c.unparsed() > 0 || c.peer_closed)) Schedule(c);
      }
    }
  }

  void Flush(Connection& c, Clock::time_point now) {
    const bool over_backlog = c.unsent() > kMaxOutBacklog;
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
    if (c.unsent() == 0) {
      EmptyBuffer(&c.out);
      c.out_pos = 0;
      c.write_stalled_since = {};
      if (c.close_after_flush && c.pending_tags == 0) c.dead = true;
    } else if (c.write_stalled_since == Clock::time_point{}) {
      c.write_stalled_since = now;
    }
    // Handle stops at the backlog with whole requests still buffered; once the client has
    // read enough they must be handled without waiting for bytes that may never come.
    if (over_backlog && c.unsent() <= kMaxOutBacklog && c.unparsed() > 0) Schedule(c);
    UpdateInterest(c);
  }

  void UpdateInterest(Connection& c) {
    if (c.dead) return;
    uint32_t want = 0;
    if (!c.peer_closed && !c.close_after_flush && c.unparsed() < read_cap_ &&
        c.unsent() <= kMaxOutBacklog) {
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
      if (c.dead || c.pending_tags > 0) continue;
      if (c.unsent() > 0) {
        if (now - c.write_stalled_since > limits_.write_timeout) c.dead = true;
        continue;
      }
      if (c.close_after_flush) {
        c.dead = true;
      } else if (c.unparsed() > 0) {
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
      if (c.pending_tags > 0) {  // freed once its tags' outcome is in
        ++it;
        continue;
      }
      if (c.linger && !c.peer_closed) {
        router_->CloseLingering(c.fd);
      } else {
        ::shutdown(c.fd, SHUT_RDWR);
        ::close(c.fd);
      }
      Closed();
      if (c.scheduled) std::erase(ready_, &c);
      it = connections_.erase(it);
    }
  }

  // Stopping: answers already queued get up to kStopGrace to go out, then every connection
  // closes. Requests not yet handled are not answered (no tag of theirs was stored).
  void Shutdown() {
    ListenerInterest(false);
    Submit();
    // Tags handed to the database are stored whatever happens; wait for their answers.
    const Clock::time_point stored_by = Clock::now() + kStoreGrace;
    while (!in_flight_.empty() && Clock::now() < stored_by) {
      // Only the wake fd: readable client sockets would make epoll_wait return at once.
      pollfd wake{completions_->wake_fd, POLLIN, 0};
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
      if (!connection->unregistered) ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
      ::shutdown(fd, SHUT_RDWR);
      ::close(fd);
      Closed();
    }
    connections_.clear();
    ready_.clear();
    // Connections other loops handed over that this one never adopted.
    std::lock_guard<std::mutex> lock(handed_mutex_);
    handed_closed_ = true;
    for (int fd : handed_) {
      ::close(fd);
      Closed();
    }
    handed_.clear();
  }

  EventLoopServer* const server_;
  HttpServer* const router_;
  TagIngest* const ingest_;
  const ConnectionLimits& limits_;
  const int listen_fd_;
  FrameLimits frame_limits_;
  size_t read_cap_ = 0;
  int64_t max_connections_ = 0;
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

EventLoopServer::EventLoopServer(HttpServer* router, TagIngest* ingest, EventLoopOptions options)
    : router_(router), ingest_(ingest), options_(options) {}

EventLoopServer::~EventLoopServer() = default;

bool EventLoopServer::Run() {
  const int listen_fd = router_->listening_socket();
  if (listen_fd < 0) return false;
  // Every loop drains the accept queue until EAGAIN; a blocking accept would stall a loop.
  const int flags = ::fcntl(listen_fd, F_GETFL, 0);
  if (flags < 0 || ::fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) != 0) return false;
  size_t count = options_.loops;
  if (count == 0) count = std::max<size_t>(2, std::thread::hardware_concurrency());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_.load()) return true;
    for (size_t i = 0; i < count; ++i) {
      auto loop = std::make_unique<Loop>(this, listen_fd);
      if (!loop->Init()) return false;
      loops_.push_back(std::move(loop));
    }
  }
  std::vector<std::thread> threads;
  for (auto& loop : loops_) threads.emplace_back([&loop] { loop->Run(); });
  for (std::thread& t : threads) t.join();
  router_->CloseListeningSocket();
  return true;
}

void EventLoopServer::Stop() {
  stopping_.store(true, std::memory_order_release);
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& loop : loops_) loop->Wake();
}

}  // namespace allezon::server
