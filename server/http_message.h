// The server's own HTTP request and response types and its router. Handlers see only these:
// no HTTP library's types reach them, so routing, query parsing and status mapping are
// tested without a socket (tests/server/), and the connection layer (http_server.h) can
// change without touching a handler. (As llama.cpp's tools/server/server-http.h keeps
// cpp-httplib behind its own types.)
//
// Routes: an exact path ("/aggregates") or a prefix with a captured rest ("/user_profiles/*":
// the percent-decoded remainder, non-empty, goes to HttpRequest::path_param). One trailing
// '/' is ignored ("/aggregates/" is "/aggregates"). A known path asked with another method is
// a 405 with `Allow`; HEAD is answered by the GET handler without the body; an unknown path
// is a 404. Every error answer carries a JSON body {"error": ...}. Handlers do not throw; if
// one does, the router answers 500 and logs.
//
// Thread-safety: register every route before serving; Handle() may then run concurrently.
// A request and a response belong to one thread at a time.
#ifndef ALLEZON_SERVER_HTTP_MESSAGE_H_
#define ALLEZON_SERVER_HTTP_MESSAGE_H_

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "query_parsing.h"

namespace allezon::server {

struct HttpRequest {
  std::string method;                                        // as sent ("GET", "POST", ...)
  std::string target;                                        // as sent: path and query
  std::string path;                                          // target up to '?', percent-decoded
  int minor_version = 1;                                     // HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;  // in order, as sent
  std::string body;                                          // de-chunked
  std::string remote_addr;
  // Set by the router: the rest of the path after a "/prefix/*" route's prefix (decoded).
  std::string path_param;
  // Set by the router: the query string's parameters (query_parsing.h rules; empty when the
  // query string is malformed: handlers that need exactness parse `target` themselves).
  QueryParams params;
  // When the request's first byte arrived (for latency metrics and logs).
  std::chrono::steady_clock::time_point start{};

  // The first header named `name` (case-insensitive), or "".
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  bool has_param(const std::string& name) const { return params.count(name) > 0; }
  // The first value of parameter `name`, or "".
  std::string param(const std::string& name) const;
};

struct HttpResponse;

// A streamed body's sink (HttpResponse::stream): appends bytes to the answer, blocking while
// the client is behind (the server holds about a MiB of a stream, whatever its length).
// Returns false once the client is gone or the server stops: the producer should return.
using BodyWriter = std::function<bool(std::string_view bytes)>;
// Produces a streamed body through `write`, on a thread of its own. Returns true when the body
// is complete; false cuts the answer short (the connection closes without the final chunk, so
// the client can tell the body is incomplete).
using BodyProducer = std::function<bool(const BodyWriter& write)>;
// Sends a deferred answer (HttpResponse::deferred): call it exactly once, from any thread.
using Responder = std::function<void(HttpResponse)>;

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type;                                  // empty: no body type
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  bool head_only = false;  // HEAD: Content-Length of the body, but no body on the wire
  // Set: the body is produced while it is sent (`body` is ignored), with
  // Transfer-Encoding: chunked (HTTP/1.1) or until the connection closes (HTTP/1.0). For
  // answers too large to hold in memory (GET /export); only on Dispatch::kWorker routes.
  BodyProducer stream;
  // Set: the answer is given later (the fields above are ignored): the server calls it on
  // the worker thread with a Responder and moves on to its next job. So a route that waits
  // for something else (POST /user_tags/batch for its commit) neither holds up the worker nor
  // keeps other connections' batches from sharing a commit. The connection's later requests
  // wait for the answer. Only on Dispatch::kWorker routes.
  std::function<void(Responder respond)> deferred;

  void set_content(std::string content, std::string_view type) {
    body = std::move(content);
    content_type = std::string(type);
  }
  void set_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
};

// {"error": "<message>"}, escaped.
std::string ErrorJson(std::string_view message);
// A JSON error answer: `status` and {"error": message}.
void SendError(HttpResponse& response, int status, std::string_view message);
const char* ReasonPhrase(int status);

// The response as bytes on the wire: status line, Content-Type and Content-Length (none for
// 1xx, 204, 304), the extra headers, `Connection: close` or `keep-alive`, then the body.
// A streamed response (stream set) gets only its head: `Transfer-Encoding: chunked` when
// `chunked`, else no length (the body ends when the connection closes: `close` must be set).
void SerializeResponse(const HttpResponse& response, bool close, std::string* out,
                       bool chunked = true);

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

class HttpRouter {
 public:
  // Where a handler runs: on the event loop that read the request, or (kWorker, for the slow
  // ones such as /admin/backup) on the server's worker thread, so that the loop's other
  // connections are not held up.
  enum class Dispatch { kLoop, kWorker };

  void Get(std::string pattern, HttpHandler handler, Dispatch dispatch = Dispatch::kLoop) {
    Add("GET", std::move(pattern), std::move(handler), dispatch);
  }
  void Post(std::string pattern, HttpHandler handler, Dispatch dispatch = Dispatch::kLoop) {
    Add("POST", std::move(pattern), std::move(handler), dispatch);
  }
  void Add(std::string method, std::string pattern, HttpHandler handler, Dispatch dispatch);

  // Called after every routed response (metrics, access log); set before serving.
  void set_observer(std::function<void(const HttpRequest&, const HttpResponse&)> observer) {
    observer_ = std::move(observer);
  }

  // Where `request` (method and path as read) would run.
  Dispatch DispatchOf(const HttpRequest& request) const;
  // Routes `request` (sets path_param and params), runs the handler, tells the observer
  // (unless the answer is deferred: then whoever sends it calls Observe).
  HttpResponse Handle(HttpRequest& request) const;
  void Observe(const HttpRequest& request, const HttpResponse& response) const {
    if (observer_) observer_(request, response);
  }

 private:
  struct Route {
    std::string method;
    std::string pattern;  // without the trailing '*'
    bool prefix;
    HttpHandler handler;
    Dispatch dispatch;
  };
  // The route for `path` and `method`, or null; `*path_known` says whether any method has one.
  const Route* Find(std::string_view method, std::string_view path, bool* path_known,
                    std::string* allow) const;

  std::vector<Route> routes_;
  std::function<void(const HttpRequest&, const HttpResponse&)> observer_;
};

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_HTTP_MESSAGE_H_
