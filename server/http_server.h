// HttpServer: cpp-httplib's Server with a connection layer of our own, so that the number of
// connections, the size of a request and the time a client may take are all bounded.
//
// Why: cpp-httplib 0.11 serves each connection with one pool thread for the connection's
// whole life, its read timeout restarts at every byte (a client sending one byte every few
// seconds holds a thread forever), it reads chunked bodies and over-long headers without
// limit, and connections beyond its pool wait, unserved, for as long as the served ones
// stay open. Here:
//   - `threads` connections are served at once; up to `max_queued` more wait for a thread.
//     While any wait, a served connection answers its current request with
//     "Connection: close" and an idle keep-alive connection gives its thread up after
//     `idle_yield`, so waiting connections are served within about one request's time.
//     Beyond that, a new connection gets an immediate 503 {"error": ...} with
//     "Connection: close" and "Retry-After: 1", and is closed.
//   - A request (request line, headers and body) must arrive whole within `request_timeout`
//     of its first byte, and no more than `read_timeout` may pass between two reads; else a
//     408 and the connection is closed. An idle keep-alive connection is closed after
//     `keep_alive_timeout`.
//   - The request line with the headers may take `max_header_bytes`: beyond it a 414 (while
//     still in the request line) or a 431, then close. A body may take `max_body_bytes` on
//     the wire (chunk framing included) before it is cut with a 413 and close; handlers check
//     the exact limits of their own endpoints.
// Responses the layer writes itself are counted through the response observer; closes after
// an error drain what the client still sends (up to 2 s) so that it can read the answer.
//
// Thread-safety: configure before listen; counters() may be read from any thread at any time.
#ifndef ALLEZON_SERVER_HTTP_SERVER_H_
#define ALLEZON_SERVER_HTTP_SERVER_H_

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace allezon::server {

struct ConnectionLimits {
  size_t threads = 256;
  size_t max_queued = 1024;
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 2 * 1024 * 1024 + 64 * 1024;
  std::chrono::milliseconds read_timeout{5000};
  std::chrono::milliseconds write_timeout{5000};
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds keep_alive_timeout{5000};
  std::chrono::milliseconds idle_yield{100};
};

struct ConnectionCounters {
  std::atomic<uint64_t> accepted{0};           // connections accepted (served or queued)
  std::atomic<uint64_t> rejected_busy{0};      // answered 503: every thread busy, queue full
  std::atomic<int64_t> active{0};              // being served by a thread now
  std::atomic<int64_t> queued{0};              // accepted, waiting for a thread now
  std::atomic<uint64_t> yielded{0};            // closed early to give the thread to a waiter
  std::atomic<uint64_t> request_timeouts{0};   // 408: request not whole in time
  std::atomic<uint64_t> headers_too_large{0};  // 414/431 from the connection layer
  std::atomic<uint64_t> bodies_too_large{0};   // 413 from the connection layer
};

class LingeringCloser;

// The numeric address and port of a socket's peer (remote) or of its own end; leaves `ip`
// and `port` unchanged when the socket has none.
void SocketAddress(int fd, bool remote, std::string* ip, int* port);

class HttpServer : public httplib::Server {
 public:
  explicit HttpServer(const ConnectionLimits& limits);
  ~HttpServer() override;

  // Binds (port 0: any free port) and listens with `backlog`. Returns the port or -1.
  int Bind(const std::string& host, int port, int backlog);

  const ConnectionLimits& limits() const { return limits_; }
  const ConnectionCounters& counters() const { return counters_; }

  // Called (on the connection's thread) for each response the connection layer writes by
  // itself: 408, 413, 414, 431 and 503. Set before listening.
  void set_own_response_observer(std::function<void(int status)> observer) {
    own_response_observer_ = std::move(observer);
  }

  // When the first byte of the request being handled on this thread arrived; the epoch of
  // steady_clock outside a request. For loggers and metrics running inside a handler.
  static std::chrono::steady_clock::time_point CurrentRequestStart();

  // For EventLoopServer, which serves this server's listening socket with its own loops and
  // hands whole requests to this router.
  int listening_socket() const { return svr_sock_; }
  // Closes the listening socket (the event loops' stop; cpp-httplib's stop() is for
  // listen_after_bind).
  void CloseListeningSocket();
  // Routes one whole request read from `stream` and writes the response to it; as
  // cpp-httplib's process_request.
  bool ProcessWholeRequest(httplib::Stream& stream, bool close_connection,
                           bool& connection_closed) {
    return process_request(stream, close_connection, connection_closed, nullptr);
  }
  static void SetCurrentRequestStart(std::chrono::steady_clock::time_point start);
  // A response the connection layer writes by itself: {"error": message}, status line with
  // its reason phrase, Connection: close (or keep-alive), Retry-After on a 503.
  static std::string OwnResponse(int status, std::string_view message, bool close = true);
  // Counts a response from the connection layer (the own-response observer).
  void NoteOwnResponse(int status) {
    if (own_response_observer_) own_response_observer_(status);
  }
  // Answers 503 (too many connections) and closes `sock` lingering.
  void RejectBusy(int sock);
  // Shuts the write side and drops what the client still sends for up to 2 s, then closes.
  void CloseLingering(int sock);
  ConnectionCounters& mutable_counters() { return counters_; }

 private:
  friend class ConnectionStream;
  bool process_and_close_socket(socket_t sock) override;
  void Serve(int sock);
  void SendOwnResponse(int sock, int status, std::string_view message);
  bool Stopping() const;

  ConnectionLimits limits_;
  ConnectionCounters counters_;
  // Connections waiting beyond the idle threads; > 0 means someone waits for a thread.
  std::atomic<int64_t> starved_{0};
  std::function<void(int)> own_response_observer_;
  std::unique_ptr<LingeringCloser> closer_;
};

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_HTTP_SERVER_H_
