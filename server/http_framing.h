// HTTP/1.x request framing for the event-loop server: where a request's head ends, how long
// its body is on the wire (Content-Length or chunked), and whether it is well-formed enough to
// hand on. It does not decode the body or route; it only says "need more bytes", "here is a
// whole request of N bytes" or "this is a 4xx, close".
//
// Stateless and thread-compatible: a pure function of the bytes received so far.
#ifndef ALLEZON_SERVER_HTTP_FRAMING_H_
#define ALLEZON_SERVER_HTTP_FRAMING_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace allezon::server {

struct FrameLimits {
  // Request line plus headers (with line ends and the blank line); beyond: 414 while still in
  // the request line, else 431.
  size_t max_header_bytes = 16 * 1024;
  // Body bytes on the wire (chunk framing included); beyond: 413.
  size_t max_body_bytes = 2 * 1024 * 1024 + 64 * 1024;
};

struct RequestFrame {
  // Valid once the head is complete (also while the body is still arriving). Views point into
  // the parsed input.
  bool head_complete = false;
  std::string_view method;
  std::string_view target;  // as sent: path and query
  std::string_view path;    // target up to '?'
  int minor_version = 1;    // HTTP/1.<minor>
  size_t head_bytes = 0;    // request line + headers + blank line
  bool chunked = false;
  size_t content_length = 0;  // 0 when chunked or absent
  // "Connection: close", or HTTP/1.0 without "Connection: keep-alive".
  bool close_requested = false;
  // "Expect: 100-continue": the client may wait for an interim 100 before sending the body.
  bool expect_continue = false;
  // Offset of the Expect header's name in the input (to neutralise it before another parser
  // sees the request); meaningful only when expect_continue.
  size_t expect_name_offset = 0;
  // Valid when the whole request is here: head + body on the wire.
  size_t total_bytes = 0;
};

enum class FrameStatus { kNeedMore, kComplete, kError };

struct FrameError {
  int status = 400;
  std::string message;
};

// Parses the request at the start of `input`. kComplete: `frame` describes a whole request of
// frame->total_bytes bytes. kNeedMore: wait for more input (frame->head_complete tells whether
// the head is already whole). kError: `error` holds the 4xx to answer before closing.
FrameStatus ParseRequestFrame(std::string_view input, const FrameLimits& limits,
                              RequestFrame* frame, FrameError* error);

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_HTTP_FRAMING_H_
