#include "http_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "http_api.h"

namespace allezon::server {

using Clock = std::chrono::steady_clock;

namespace {

// Set on the accepting thread while it runs a connection's task itself to turn it away.
thread_local bool t_reject = false;
// When the request being handled on this thread began (Clock epoch outside a request).
thread_local Clock::time_point t_request_start{};

const char* ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

int PollOne(int fd, short events, Clock::duration timeout) {
  pollfd p{fd, events, 0};
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
  const int result = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(ms, 0, 60'000)));
  return result < 0 && errno == EINTR ? 0 : result;
}

}  // namespace

// Closes sockets after an error answer without resetting them: the write side is shut at
// once, then what the client still sends is read and dropped until it closes or 2 s pass.
// A plain close() with unread input sends RST, and the client may lose our answer with it.
class LingeringCloser {
 public:
  LingeringCloser() : wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~LingeringCloser() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    Wake();
    thread_.join();
    for (const Entry& e : entries_) ::close(e.fd);
    for (int fd : incoming_) ::close(fd);
    if (wake_ >= 0) ::close(wake_);
  }

  // Takes ownership of `fd`.
  void Add(int fd) {
    ::shutdown(fd, SHUT_WR);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!stop_ && wake_ >= 0 && incoming_.size() < kMaxSockets) {
        incoming_.push_back(fd);
        fd = -1;
      }
    }
    if (fd >= 0) {
      ::close(fd);  // too many lingering already: a reset is the lesser evil
    } else {
      Wake();
    }
  }

 private:
  static constexpr size_t kMaxSockets = 8192;
  static constexpr auto kLinger = std::chrono::seconds(2);
  struct Entry {
    int fd;
    Clock::time_point deadline;
  };

  void Wake() {
    const uint64_t one = 1;
    if (wake_ < 0) return;
    [[maybe_unused]] const ssize_t n = ::write(wake_, &one, sizeof(one));
  }

  void Run() {
    std::vector<pollfd> polls;
    char scratch[4096];
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stop_) return;
        const auto deadline = Clock::now() + kLinger;
        for (int fd : incoming_) entries_.push_back({fd, deadline});
        incoming_.clear();
      }
      polls.assign(1, pollfd{wake_, POLLIN, 0});
      for (const Entry& e : entries_) polls.push_back({e.fd, POLLIN, 0});
      ::poll(polls.data(), polls.size(), 100);
      if (polls[0].revents != 0) {
        uint64_t value;
        [[maybe_unused]] ssize_t n = ::read(wake_, &value, sizeof(value));
      }
      const auto now = Clock::now();
      size_t kept = 0;
      for (size_t i = 0; i < entries_.size(); ++i) {
        bool done = now >= entries_[i].deadline;
        if (!done && polls[i + 1].revents != 0) {
          for (;;) {
            const ssize_t n = ::recv(entries_[i].fd, scratch, sizeof(scratch), MSG_DONTWAIT);
            if (n > 0) continue;
            done = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
            break;
          }
        }
        if (done) {
          ::close(entries_[i].fd);
        } else {
          entries_[kept++] = entries_[i];
        }
      }
      entries_.resize(kept);
    }
  }

  const int wake_;
  std::mutex mutex_;
  std::vector<int> incoming_;   // guarded by mutex_
  bool stop_ = false;           // guarded by mutex_
  std::vector<Entry> entries_;  // the closer thread's own
  std::thread thread_;
};

// The task queue cpp-httplib hands accepted connections to: a fixed pool of threads and a
// bounded queue. A connection that finds the queue full is turned away at once, on the
// accepting thread, with a 503 (see HttpServer::process_and_close_socket).
class ConnectionPool : public httplib::TaskQueue {
 public:
  ConnectionPool(size_t threads, size_t max_queued, ConnectionCounters* counters,
                 std::atomic<int64_t>* starved)
      : max_queued_(max_queued), counters_(counters), starved_(starved) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (jobs_.size() < idle_ + max_queued_) {
        jobs_.push_back(std::move(fn));
        counters_->accepted.fetch_add(1, std::memory_order_relaxed);
        counters_->queued.fetch_add(1, std::memory_order_relaxed);
        PublishLocked();
        cond_.notify_one();
        return;
      }
    }
    t_reject = true;
    fn();  // runs HttpServer::process_and_close_socket, which sees t_reject
    t_reject = false;
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      shutdown_ = true;
    }
    cond_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  void PublishLocked() {
    starved_->store(static_cast<int64_t>(jobs_.size()) - static_cast<int64_t>(idle_),
                    std::memory_order_relaxed);
  }

  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++idle_;
        PublishLocked();
        cond_.wait(lock, [this] { return !jobs_.empty() || shutdown_; });
        --idle_;
        if (jobs_.empty()) {  // shutting down, nothing left
          PublishLocked();
          return;
        }
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        PublishLocked();
      }
      counters_->queued.fetch_sub(1, std::memory_order_relaxed);
      fn();
    }
  }

  const size_t max_queued_;
  ConnectionCounters* const counters_;
  std::atomic<int64_t>* const starved_;
  std::mutex mutex_;
  std::condition_variable cond_;
  std::deque<std::function<void()>> jobs_;  // guarded by mutex_
  size_t idle_ = 0;                         // guarded by mutex_
  bool shutdown_ = false;                   // guarded by mutex_
  std::vector<std::thread> threads_;
};

// One connection's socket as cpp-httplib's Stream, enforcing the limits of HttpServer on
// every read. It buffers input (cpp-httplib reads headers one byte at a time).
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int sock, HttpServer* server) : sock_(sock), server_(server) {}

  // Waits until the next request's first byte is here. False: close the connection (the
  // peer closed, keep-alive timeout, server stopping, or a waiting connection needs the
  // thread).
  bool WaitForRequest() {
    if (pos_ < len_) return true;  // pipelined
    const ConnectionLimits& limits = server_->limits_;
    const auto idle_since = Clock::now();
    const auto deadline = idle_since + limits.keep_alive_timeout;
    for (;;) {
      if (server_->Stopping()) return false;
      const auto now = Clock::now();
      if (now >= deadline) return false;
      if (now - idle_since >= limits.idle_yield &&
          server_->starved_.load(std::memory_order_relaxed) > 0) {
        server_->counters_.yielded.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      // Poll first: a closed-loop client's next request is rarely here yet, and a failed
      // recv would cost a system call per request. Short slices notice stop() and waiting
      // connections promptly.
      if (PollOne(sock_, POLLIN,
                  std::min<Clock::duration>(deadline - now, std::chrono::milliseconds(20))) <= 0) {
        continue;
      }
      if (const RecvResult r = RecvSome(); r != RecvResult::kWouldBlock) {
        return r == RecvResult::kData;
      }
    }
  }

  void BeginRequest() {
    start_ = Clock::now();
    deadline_ = start_ + server_->limits_.request_timeout;
    in_headers_ = true;
    header_bytes_ = body_bytes_ = line_bytes_ = lines_ = 0;
    colon_seen_ = false;
    t_request_start = start_;
  }

  bool aborted() const { return aborted_; }
  bool has_unread_input() const { return pos_ < len_; }

  bool is_readable() const override {
    return pos_ < len_ || PollOne(sock_, POLLIN, server_->limits_.read_timeout) > 0;
  }
  bool is_writable() const override {
    return !aborted_ && PollOne(sock_, POLLOUT, server_->limits_.write_timeout) > 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (aborted_ || size == 0) return -1;
    if (pos_ == len_ && !Fill()) return -1;
    const size_t n = std::min(size, len_ - pos_);
    std::memcpy(ptr, buffer_ + pos_, n);
    pos_ += n;
    if (!Account(ptr, n)) return -1;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (aborted_) return -1;
    size_t done = 0;
    while (done < size) {
      // Blocking send bounded by SO_SNDTIMEO (set to the write timeout).
      const ssize_t n = ::send(sock_, ptr + done, size - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return -1;
      done += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    // Asked for every request; the peer of a connection never changes.
    if (remote_port_ < 0) SocketAddress(sock_, true, &remote_ip_, &remote_port_);
    ip = remote_ip_;
    port = remote_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    SocketAddress(sock_, false, &ip, &port);
  }
  socket_t socket() const override { return sock_; }

 private:
  enum class RecvResult { kData, kWouldBlock, kClosed };
  // One non-blocking recv into the buffer: kClosed when the peer closed or the socket failed.
  RecvResult RecvSome() {
    const ssize_t n = ::recv(sock_, buffer_, sizeof(buffer_), MSG_DONTWAIT);
    if (n > 0) {
      pos_ = 0;
      len_ = static_cast<size_t>(n);
      return RecvResult::kData;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      return RecvResult::kClosed;
    }
    return RecvResult::kWouldBlock;
  }

  // Reads more input, waiting no longer than the read timeout and the request's deadline.
  bool Fill() {
    const ConnectionLimits& limits = server_->limits_;
    for (;;) {
      if (const RecvResult r = RecvSome(); r != RecvResult::kWouldBlock) {
        return r == RecvResult::kData;
      }
      const auto now = Clock::now();
      const auto until = std::min(now + limits.read_timeout, deadline_);
      if (now >= until || PollOne(sock_, POLLIN, until - now) == 0) {
        if (Clock::now() < until) continue;  // woken early (EINTR): try again
        server_->counters_.request_timeouts.fetch_add(1, std::memory_order_relaxed);
        Abort(408, "request timeout: the request did not arrive in time");
        return false;
      }
    }
  }

  // Counts the bytes just handed out against the header and body limits.
  bool Account(const char* data, size_t n) {
    const ConnectionLimits& limits = server_->limits_;
    size_t i = 0;
    for (; i < n && in_headers_; ++i) {
      ++header_bytes_;
      const unsigned char c = static_cast<unsigned char>(data[i]);
      if (c == '\n') {
        // A header line without a colon (RFC 9112 §5) is malformed; cpp-httplib would skip it.
        if (lines_ > 0 && line_bytes_ > 0 && !colon_seen_) {
          Abort(400, "malformed header line (no colon)");
          return false;
        }
        if (line_bytes_ == 0 && lines_ > 0) in_headers_ = false;
        ++lines_;
        line_bytes_ = 0;
        colon_seen_ = false;
      } else if (c != '\r') {
        // Control bytes have no place in a request line or a header (RFC 9110 §5.5).
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
          Abort(400, "invalid byte in the request line or a header");
          return false;
        }
        colon_seen_ = colon_seen_ || c == ':';
        ++line_bytes_;
      }
    }
    if (in_headers_ && header_bytes_ > limits.max_header_bytes) {
      server_->counters_.headers_too_large.fetch_add(1, std::memory_order_relaxed);
      if (lines_ == 0) {
        Abort(414, "request URI too long");
      } else {
        Abort(431, "request headers too large");
      }
      return false;
    }
    body_bytes_ += n - i;
    if (body_bytes_ > limits.max_body_bytes) {
      server_->counters_.bodies_too_large.fetch_add(1, std::memory_order_relaxed);
      Abort(413, "request body too large");
      return false;
    }
    return true;
  }

  // Answers with `status` (if nothing of a response went out yet) and ends the connection.
  void Abort(int status, std::string_view message) {
    if (aborted_) return;
    server_->SendOwnResponse(sock_, status, message);
    aborted_ = true;
  }

  const int sock_;
  HttpServer* const server_;
  char buffer_[4096];
  size_t pos_ = 0;
  size_t len_ = 0;
  bool aborted_ = false;
  Clock::time_point start_{};
  Clock::time_point deadline_ = Clock::time_point::max();
  bool in_headers_ = true;
  size_t header_bytes_ = 0;
  size_t body_bytes_ = 0;
  size_t line_bytes_ = 0;
  size_t lines_ = 0;
  bool colon_seen_ = false;
  mutable std::string remote_ip_;
  mutable int remote_port_ = -1;
};

HttpServer::HttpServer(const ConnectionLimits& limits)
    : limits_(limits), closer_(std::make_unique<LingeringCloser>()) {
  new_task_queue = [this] {
    return new ConnectionPool(limits_.threads, limits_.max_queued, &counters_, &starved_);
  };
  // Our own loop never uses cpp-httplib's keep-alive count; its timeouts apply to nothing
  // but are set for consistency with what cpp-httplib would do on its own.
  set_keep_alive_max_count(static_cast<size_t>(1) << 40);
}

HttpServer::~HttpServer() = default;

int HttpServer::Bind(const std::string& host, int port, int backlog) {
  const int bound = port == 0 ? bind_to_any_port(host) : (bind_to_port(host, port) ? port : -1);
  // cpp-httplib listens with a backlog of 5, which turns connection bursts into SYN retries
  // (p99 of 0.3-1 s measured); listening again on the bound socket deepens it.
  if (bound >= 0) ::listen(svr_sock_, backlog);
  return bound;
}

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

Clock::time_point HttpServer::CurrentRequestStart() { return t_request_start; }

void HttpServer::SetCurrentRequestStart(Clock::time_point start) { t_request_start = start; }

std::string HttpServer::OwnResponse(int status, std::string_view message, bool close) {
  const std::string body = ErrorJson(message);
  std::string out =
      "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(status) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      (close ? "\r\nConnection: close\r\n" : "\r\nConnection: keep-alive\r\n");
  if (status == 503) out += "Retry-After: 1\r\n";
  out += "\r\n";
  out += body;
  return out;
}

void HttpServer::CloseLingering(int sock) { closer_->Add(sock); }

void HttpServer::CloseListeningSocket() {
  const socket_t sock = svr_sock_.exchange(INVALID_SOCKET);
  if (sock != INVALID_SOCKET) {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
}

bool HttpServer::Stopping() const { return svr_sock_ == INVALID_SOCKET; }

bool HttpServer::process_and_close_socket(socket_t sock) {
  if (t_reject) {
    RejectBusy(sock);
  } else {
    Serve(sock);
  }
  return true;
}

void HttpServer::SendOwnResponse(int sock, int status, std::string_view message) {
  const std::string response = OwnResponse(status, message);
  // Best effort and never blocking long: the socket's send buffer is nearly always free.
  [[maybe_unused]] ssize_t n =
      ::send(sock, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (own_response_observer_) own_response_observer_(status);
}

void HttpServer::RejectBusy(int sock) {
  counters_.rejected_busy.fetch_add(1, std::memory_order_relaxed);
  SendOwnResponse(sock, 503, "server busy: too many connections, retry later");
  closer_->Add(sock);
}

void HttpServer::Serve(int sock) {
  counters_.active.fetch_add(1, std::memory_order_relaxed);
  const int one = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const auto write_us =
      std::chrono::duration_cast<std::chrono::microseconds>(limits_.write_timeout).count();
  timeval tv{static_cast<time_t>(write_us / 1'000'000),
             static_cast<suseconds_t>(write_us % 1'000'000)};
  ::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

  ConnectionStream stream(sock, this);
  bool linger = false;
  while (stream.WaitForRequest()) {
    // Someone waits for a thread: finish this request, then hand the thread over.
    const bool starved = starved_.load(std::memory_order_relaxed) > 0;
    if (starved) counters_.yielded.fetch_add(1, std::memory_order_relaxed);
    const bool close = starved || Stopping();
    stream.BeginRequest();
    bool closed = false;
    const bool ok = process_request(stream, close, closed, nullptr);
    t_request_start = {};
    if (stream.aborted() || !ok) {
      linger = true;
      break;
    }
    if (closed) {
      linger = stream.has_unread_input();
      break;
    }
  }
  if (linger) {
    closer_->Add(sock);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  counters_.active.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace allezon::server
