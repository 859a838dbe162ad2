// A minimal HTTP/1.1 client over a fixed set of keep-alive connections, driven by one epoll
// loop on the caller's thread.
//
// Why not cpp-httplib's client: the load generator must push 100,000+ requests a second from
// one core; a blocking client needs a thread per connection and a context switch per
// request. Here a request costs one send() and one recv() on a non-blocking socket.
//
// Scope: one request in flight per connection (no pipelining), POST only, responses with
// Content-Length, chunked encoding, or no body (1xx/204/304) or read-to-close. A connection
// the server closes (Connection: close, keep-alive timeout) is reopened on the next request;
// a request that finds a reused connection already closed by the server before any byte of
// its answer is sent again once on a fresh connection (the usual stale keep-alive race).
//
// Not thread-safe: every call from the thread that owns the client.
#ifndef ALLEZON_BENCH_LOADGEN_HTTP_CLIENT_H_
#define ALLEZON_BENCH_LOADGEN_HTTP_CLIENT_H_

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace allezon::loadgen {

struct HttpResult {
  bool ok = false;  // a complete response arrived (any status)
  int status = 0;
  std::string_view body;   // valid only during the completion callback
  std::string error;       // when !ok: what went wrong (connect, reset, timeout, protocol)
  int64_t latency_ns = 0;  // from Send() to the last byte of the answer (or the failure)
};

class HttpClient {
 public:
  using Completion = std::function<void(uint64_t token, const HttpResult& result)>;

  HttpClient(std::string host, int port, int connections, int64_t timeout_ns);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Resolves the host. Must succeed before Send(); false with a message otherwise.
  bool Init(std::string* error);

  // Index of a connection with no request in flight, or -1.
  int IdleConnection() const;
  int in_flight() const { return in_flight_; }
  int connections() const { return static_cast<int>(connections_.size()); }

  // Starts `POST path` with a JSON body on an idle connection. `timeout_ns` overrides the
  // client's default when > 0. The completion runs from a later Poll().
  void Send(int connection, std::string_view path, std::string_view body, uint64_t token,
            int64_t timeout_ns = 0);

  // Waits up to `timeout_ms` (0: don't wait) for socket events, then finishes whatever
  // completed or timed out, calling `done` once per finished request.
  void Poll(int timeout_ms, const Completion& done);

  // Closes every connection; requests in flight finish with an error.
  void CloseAll(const Completion& done);

 private:
  enum class State { kClosed, kConnecting, kIdle, kBusy };
  struct Connection {
    int fd = -1;
    State state = State::kClosed;
    std::string out;  // the request being written
    size_t written = 0;
    std::string in;    // bytes of the answer so far
    std::string body;  // decoded body (chunked answers)
    uint64_t token = 0;
    int64_t started_ns = 0;
    int64_t deadline_ns = 0;
    int served = 0;  // requests answered on this socket (reused when > 0)
    bool retried = false;
    bool want_write = false;
    std::string deferred_error;  // a failure found inside Send(), reported by Poll()
  };

  void Open(int index);
  void CloseSocket(Connection* connection);
  void Fail(int index, const std::string& error, const Completion& done);
  void FailOrRetry(int index, const std::string& error, const Completion& done);
  void Write(int index, const Completion& done);
  void Read(int index, const Completion& done);
  // Whether `connection.in` holds a whole answer; fills result fields when it does.
  // Returns -1 for a malformed answer.
  int TryParse(Connection* connection, HttpResult* result, bool* close_after, bool at_eof);
  void SetWriteInterest(int index, bool want);

  std::string host_;
  int port_;
  int64_t timeout_ns_;
  std::string host_header_;
  sockaddr_storage address_{};
  socklen_t address_length_ = 0;
  int epoll_fd_ = -1;
  int in_flight_ = 0;
  std::vector<Connection> connections_;
  std::vector<char> read_buffer_;
};

int64_t MonotonicNanos();

}  // namespace allezon::loadgen

#endif  // ALLEZON_BENCH_LOADGEN_HTTP_CLIENT_H_
