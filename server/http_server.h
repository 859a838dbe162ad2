// HttpServer: allezon-server's one connection layer. A few epoll loops share the listening
// socket (whichever accepts hands connections out round robin) and serve every connection
// without a thread per connection. Each connection has one incremental, strict parser
// (http_parser.h, Boost.Beast) that keeps its state between reads, so a request costs linear
// CPU however it is split, and is parsed once. Whole requests go to the router
// (http_message.h) on the loop, except the slow routes (Dispatch::kWorker, /admin/backup),
// which run on one worker thread so that the loop's other connections are not held up.
//
// The hot path, POST /user_tags (given a TagIngest), is answered in batches: each loop parses
// the tags all its ready connections sent, stores them with one TagIngest::Submit (one group
// commit, one wake-up) and then writes all their 204s. Why: with a thread per connection
// every tag cost a sleep/wake pair and a group commit carried one tag per connection
// (bench/RESULTS.md).
//
// Limits (ConnectionLimits): at most max_connections are open at once, beyond them a new one
// gets 503 {"error": ...} with Retry-After: 1 and is closed; a request must arrive whole within
// request_timeout of its first byte with no gap over read_timeout (else 408 and close); idle
// keep-alive connections close after keep_alive_timeout; a client that does not read its
// answers for write_timeout is disconnected; head over max_header_bytes is 414/431, a body
// over its endpoint's limit 413 (refused before it is read when announced). Refused before a
// byte of the body is looked at: a Content-Encoding other than identity (415: bodies are never
// inflated), a Transfer-Encoding other than chunked (400), HTTP/1.1 without Host (400).
// `100 Continue` goes to HTTP/1.1 clients only. Requests on one connection are answered in
// order (pipelining); a request after a tag on the same connection is handled only once that
// tag is stored, so it sees it. After an error answer the connection closes lingering: the
// write side is shut and what the client still sends is dropped for up to 2 s, so that it
// reads the answer rather than a reset.
//
// Streamed answers (HttpResponse::stream, GET /export): the producer runs on a thread of its
// own (at most max_streams at once, beyond them 503 with Retry-After) and hands bytes to the
// connection's loop through a buffer of about a MiB; it waits while the client is behind, so
// memory stays flat whatever the body's length. A client that reads nothing for write_timeout
// is disconnected and its producer told to stop.
//
// Thread-safety: configure and Bind before Run(); Run() blocks until Stop(); Stop() and
// counters() may be used from any thread. The router and ingest must outlive the server.
#ifndef ALLEZON_SERVER_HTTP_SERVER_H_
#define ALLEZON_SERVER_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http_message.h"
#include "tag_ingest.h"

namespace allezon::server {

class HttpWorker;     // http_worker.h
class StreamThreads;  // http_worker.h

struct ConnectionLimits {
  size_t max_connections = 1280;
  size_t max_header_bytes = 16 * 1024;
  size_t max_tag_body_bytes = 64 * 1024;  // POST /user_tags
  size_t max_batch_body_bytes = 10'000 * 512;  // POST /user_tags/batch
  size_t max_body_bytes = 1024 * 1024;    // every other request
  std::chrono::milliseconds read_timeout{5000};
  std::chrono::milliseconds write_timeout{5000};
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds keep_alive_timeout{5000};
  size_t loops = 0;  // event-loop threads; 0: one per core, at least 2
  size_t max_streams = 8;  // streamed answers being produced at once (a thread each)
};

struct ConnectionCounters {
  std::atomic<uint64_t> accepted{0};           // connections accepted for service
  std::atomic<uint64_t> rejected_busy{0};      // answered 503: max_connections open
  std::atomic<int64_t> active{0};              // open now
  std::atomic<uint64_t> request_timeouts{0};   // 408: request not whole in time
  std::atomic<uint64_t> headers_too_large{0};  // 414/431
  std::atomic<uint64_t> bodies_too_large{0};   // 413 from the connection layer
};

// The numeric address and port of a socket's peer (remote) or of its own end; leaves `ip`
// and `port` unchanged when the socket has none.
void SocketAddress(int fd, bool remote, std::string* ip, int* port);

class HttpServer {
 public:
  // `ingest` may be null: POST /user_tags then goes to the router like any request.
  HttpServer(const ConnectionLimits& limits, const HttpRouter* router, TagIngest* ingest);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds (port 0: any free port) and listens with `backlog`. Returns the port or -1.
  int Bind(const std::string& host, int port, int backlog);
  // Serves until Stop(). False if the loops could not start.
  bool Run();
  // Stops accepting, lets stored tags' answers and pending answers go out (up to a second),
  // closes every connection; Run() then returns.
  void Stop();

  const ConnectionLimits& limits() const { return limits_; }
  const ConnectionCounters& counters() const { return counters_; }
  // Called (on a loop) for each answer the connection layer writes by itself (400 for a
  // malformed request, 408, 413, 414, 415, 431, 503). Set before Run().
  void set_own_response_observer(std::function<void(int status)> observer) {
    own_response_observer_ = std::move(observer);
  }

 private:
  class Loop;
  friend class Loop;

  const ConnectionLimits limits_;
  const HttpRouter* const router_;
  TagIngest* const ingest_;
  ConnectionCounters counters_;
  std::function<void(int)> own_response_observer_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> next_loop_{0};  // round robin of accepted connections
  std::mutex mutex_;                    // guards loops_ while Run() creates them
  std::vector<std::unique_ptr<Loop>> loops_;
  std::unique_ptr<StreamThreads> streams_;
  std::unique_ptr<HttpWorker> worker_;
};

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_HTTP_SERVER_H_
