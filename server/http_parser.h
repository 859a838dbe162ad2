// RequestParser: one connection's incremental, strict HTTP/1.x request parser, on
// Boost.Beast's basic_parser (header-only). It keeps its state between reads, so bytes are
// looked at once whatever way a request is split into reads (linear CPU), and it is the only
// parser that sees a request: what it produces is what the handlers get.
//
// Strict (Beast): CRLF line ends only (a bare LF is a 400), no Content-Length together with
// Transfer-Encoding, no conflicting Content-Lengths, header and body size limits. Added here:
// HTTP/1.0 and 1.1 only, a Transfer-Encoding other than "chunked" is a 400, a body's bytes on
// the wire (chunk framing included) are bounded too.
//
// Thread-compatible: belongs to one connection (one event loop).
#ifndef ALLEZON_SERVER_HTTP_PARSER_H_
#define ALLEZON_SERVER_HTTP_PARSER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "http_message.h"

namespace allezon::server {

struct ParserLimits {
  // Request line plus headers; beyond: 414 while still in the request line, else 431.
  size_t max_header_bytes = 16 * 1024;
  // Body after de-chunking; beyond: 413. Endpoints check their own, lower, limits.
  size_t max_body_bytes = 1024 * 1024;
};

class RequestParser {
 public:
  enum class Result {
    kNeedMore,  // everything given was consumed (or kept for later): read more
    kHead,      // the head is whole (request() has method, target, headers), the body is not
    kComplete,  // a whole request: take it with TakeRequest()
    kError,     // malformed or too large: answer error_status() and close
  };

  explicit RequestParser(const ParserLimits& limits);
  ~RequestParser();

  // Parses `input`, the connection's unconsumed bytes; sets `*consumed` to how many of them
  // may be dropped. The head is consumed only once whole (Beast rescans nothing: it resumes
  // its search where it stopped). Stops after the head (kHead, once per request) and after a
  // whole request (kComplete); bytes beyond it are the next request's.
  Result Parse(std::string_view input, size_t* consumed);

  // Whether any byte of a request was seen (an idle connection has none).
  bool started() const { return started_; }
  bool head_done() const;
  bool chunked() const;
  bool keep_alive() const;
  // Lowers the body limit for the request being read (after kHead).
  void set_body_limit(size_t bytes);
  const HttpRequest& request() const { return request_; }
  // The whole request (after kComplete); the parser is then ready for the next one.
  HttpRequest TakeRequest();

  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }

 private:
  class Beast;
  void Fail(int status, std::string message);

  const ParserLimits limits_;
  std::unique_ptr<Beast> beast_;
  HttpRequest request_;
  bool started_ = false;
  bool head_reported_ = false;
  size_t body_wire_bytes_ = 0;
  size_t body_limit_ = 0;
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_HTTP_PARSER_H_
