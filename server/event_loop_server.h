// EventLoopServer: the default connection layer of allezon-server. A few epoll loops share
// the listening socket (whichever accepts hands connections out round robin) and serve every
// connection without a thread per connection, and the
// hot path, POST /user_tags, is answered in batches: each loop reads what all its ready
// connections sent, parses the tags, stores them with one Database::AddTags call (one group
// commit, one wake-up) and then writes all their 204s. Every other request (profiles,
// aggregates, operator endpoints, and any unusual tag request: chunked, Expect) is handed
// whole to cpp-httplib's router of the HttpServer, on the loop thread, so the routes,
// handlers, error bodies and logs are the same as with the threaded layer.
//
// Why: with a thread per connection every tag costs a sleep/wake pair on top of the HTTP
// work, and a group commit only ever carries one tag per connection (bench/RESULTS.md).
//
// Limits (the HttpServer's ConnectionLimits): at most threads + max_queued connections are
// open at once, beyond them a new one gets 503 and is closed; a request must arrive whole
// within request_timeout of its first byte with no gap over read_timeout (else 408 and
// close); idle keep-alive connections close after keep_alive_timeout; a client that does not
// read its answers for write_timeout is disconnected; head and body sizes as HttpServer.
// Requests on one connection are answered in order (pipelining); a request after a tag on
// the same connection is handled only once that tag is stored, so it sees it.
//
// A slow handler (a large /admin/backup) holds up the other connections of its loop (not the
// other loops) while it runs.
//
// Thread-safety: Run() blocks until Stop(); Stop() may be called from any thread.
#ifndef ALLEZON_SERVER_EVENT_LOOP_SERVER_H_
#define ALLEZON_SERVER_EVENT_LOOP_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "http_server.h"
#include "tag_ingest.h"

namespace allezon::server {

struct EventLoopOptions {
  // Event loops (threads); 0: one per core, at least 2.
  size_t loops = 0;
};

class EventLoopServer {
 public:
  // Borrows `router` (bound already, its routes registered) and `ingest`; both must outlive
  // this object.
  EventLoopServer(HttpServer* router, TagIngest* ingest, EventLoopOptions options);
  ~EventLoopServer();

  EventLoopServer(const EventLoopServer&) = delete;
  EventLoopServer& operator=(const EventLoopServer&) = delete;

  // Serves the router's listening socket until Stop(). False if the loops could not start.
  bool Run();
  // Stops accepting, gives pending answers up to a second to go out, closes every connection;
  // Run() then returns.
  void Stop();

 private:
  class Loop;
  friend class Loop;

  HttpServer* const router_;
  TagIngest* const ingest_;
  const EventLoopOptions options_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> open_connections_{0};
  std::atomic<uint64_t> next_loop_{0};  // round robin of accepted connections
  std::mutex mutex_;                    // guards loops_ while Run() creates them
  std::vector<std::unique_ptr<Loop>> loops_;
};

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_EVENT_LOOP_SERVER_H_
