#include "http_framing.h"

#include <algorithm>
#include <cstdint>

namespace allezon::server {
namespace {

constexpr size_t kMaxChunkLine = 1024;
// Content-Length values above this are all "too large" (no overflow however many digits).
constexpr size_t kMaxLength = 100'000'000'000'000'000;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 §5.6.2 token characters.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// Control bytes have no place in a request line or a header (RFC 9110 §5.5).
bool HasControlByte(std::string_view line) {
  for (char ch : line) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
  }
  return false;
}

// `line` without its '\n' and an optional '\r' before it.
std::string_view StripCr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

FrameStatus Fail(FrameError* error, int status, std::string message) {
  error->status = status;
  error->message = std::move(message);
  return FrameStatus::kError;
}

bool ParseRequestLine(std::string_view line, RequestFrame* frame) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  frame->method = line.substr(0, sp1);
  frame->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(frame->method) || frame->target.empty()) return false;
  if (version == "HTTP/1.1") {
    frame->minor_version = 1;
  } else if (version == "HTTP/1.0") {
    frame->minor_version = 0;
  } else {
    return false;
  }
  frame->path = frame->target.substr(0, frame->target.find('?'));
  return true;
}

// Walks the chunked body starting at `p`; sets total_bytes when it is whole.
FrameStatus FrameChunkedBody(std::string_view input, size_t p, const FrameLimits& limits,
                             RequestFrame* frame, FrameError* error) {
  const size_t body_start = p;
  const auto too_large = [&](size_t wire_end) {
    return wire_end - body_start > limits.max_body_bytes;
  };
  for (;;) {
    const size_t nl = input.find('\n', p);
    if (nl == std::string_view::npos) {
      if (input.size() - p > kMaxChunkLine) return Fail(error, 400, "malformed chunk size line");
      if (too_large(input.size())) return Fail(error, 413, "request body too large");
      return FrameStatus::kNeedMore;
    }
    std::string_view line = StripCr(input.substr(p, nl - p));
    if (line.size() > kMaxChunkLine) return Fail(error, 400, "malformed chunk size line");
    line = Trim(line.substr(0, line.find(';')));
    if (line.empty() || line.size() > 15) return Fail(error, 400, "malformed chunk size");
    uint64_t size = 0;
    for (char c : line) {
      int digit;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        return Fail(error, 400, "malformed chunk size");
      }
      size = size * 16 + static_cast<uint64_t>(digit);
    }
    p = nl + 1;
    if (size == 0) {
      // Trailer fields, then the blank line that ends the message.
      for (;;) {
        const size_t end = input.find('\n', p);
        if (end == std::string_view::npos) {
          if (too_large(input.size())) return Fail(error, 413, "request body too large");
          return FrameStatus::kNeedMore;
        }
        const bool blank = StripCr(input.substr(p, end - p)).empty();
        p = end + 1;
        if (too_large(p)) return Fail(error, 413, "request body too large");
        if (blank) {
          frame->total_bytes = p;
          return FrameStatus::kComplete;
        }
      }
    }
    if (size > limits.max_body_bytes || too_large(p + size)) {
      return Fail(error, 413, "request body too large");
    }
    const size_t data_end = p + static_cast<size_t>(size);
    // CRLF after the data, strictly: cpp-httplib, which reads these bodies for the router,
    // takes anything else for the end of the body, so a laxer frame here would let it store
    // a body cut short while the rest of the frame is thrown away.
    if (input.size() < data_end + 2) {
      if (input.size() == data_end + 1 && input[data_end] != '\r') {
        return Fail(error, 400, "malformed chunk: data not followed by CRLF");
      }
      return FrameStatus::kNeedMore;
    }
    if (input[data_end] != '\r' || input[data_end + 1] != '\n') {
      return Fail(error, 400, "malformed chunk: data not followed by CRLF");
    }
    p = data_end + 2;
  }
}

}  // namespace

FrameStatus ParseRequestFrame(std::string_view input, const FrameLimits& limits,
                              RequestFrame* frame, FrameError* error) {
  *frame = RequestFrame{};
  size_t pos = 0;
  bool request_line_seen = false;
  bool content_length_seen = false;
  bool transfer_encoding_seen = false;
  bool keep_alive = false;
  bool close = false;
  for (;;) {
    const size_t nl = input.find('\n', pos);
    if (nl == std::string_view::npos || nl + 1 > limits.max_header_bytes) {
      // The incomplete last line: a '\r' may end it (its '\n' still to come).
      std::string_view partial =
          input.substr(pos, std::min(input.size(), limits.max_header_bytes) - pos);
      if (!partial.empty() && partial.back() == '\r') partial.remove_suffix(1);
      if (HasControlByte(partial)) {
        return Fail(error, 400, "invalid byte in the request line or a header");
      }
      if (input.size() > limits.max_header_bytes ||
          (nl != std::string_view::npos && nl + 1 > limits.max_header_bytes)) {
        return request_line_seen ? Fail(error, 431, "request headers too large")
                                 : Fail(error, 414, "request URI too long");
      }
      return FrameStatus::kNeedMore;
    }
    const std::string_view line = StripCr(input.substr(pos, nl - pos));
    const size_t line_start = pos;
    pos = nl + 1;
    if (HasControlByte(line))
      return Fail(error, 400, "invalid byte in the request line or a header");
    if (!request_line_seen) {
      // RFC 9112 §2.2: empty lines before the request line are ignored.
      if (line.empty()) continue;
      if (!ParseRequestLine(line, frame)) return Fail(error, 400, "malformed request line");
      request_line_seen = true;
      continue;
    }
    if (line.empty()) break;  // end of the head
    if (line.front() == ' ' || line.front() == '\t') {
      return Fail(error, 400, "obsolete header line folding is not accepted");
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      return Fail(error, 400, "malformed header line (no colon)");
    const std::string_view name = line.substr(0, colon);
    if (!IsToken(name)) return Fail(error, 400, "malformed header name");
    const std::string_view value = Trim(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "Content-Length")) {
      if (value.empty()) return Fail(error, 400, "malformed Content-Length");
      size_t length = 0;
      for (char c : value) {
        if (c < '0' || c > '9') return Fail(error, 400, "malformed Content-Length");
        // Saturates: more than 18 digits is more than any body limit (413 below).
        length = length > kMaxLength ? length : length * 10 + static_cast<size_t>(c - '0');
      }
      if (content_length_seen && length != frame->content_length) {
        return Fail(error, 400, "conflicting Content-Length headers");
      }
      content_length_seen = true;
      frame->content_length = length;
    } else if (EqualsIgnoreCase(name, "Transfer-Encoding")) {
      if (transfer_encoding_seen || !EqualsIgnoreCase(value, "chunked")) {
        return Fail(error, 400, "unsupported Transfer-Encoding (only a single \"chunked\" is)");
      }
      transfer_encoding_seen = true;
      frame->chunked = true;
    } else if (EqualsIgnoreCase(name, "Connection")) {
      std::string_view rest = value;
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const std::string_view token = Trim(rest.substr(0, comma));
        if (EqualsIgnoreCase(token, "close")) close = true;
        if (EqualsIgnoreCase(token, "keep-alive")) keep_alive = true;
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if (EqualsIgnoreCase(name, "Expect")) {
      if (EqualsIgnoreCase(value, "100-continue")) {
        frame->expect_continue = true;
        frame->expect_name_offset = line_start;
      }
    }
  }
  if (content_length_seen && transfer_encoding_seen) {
    // RFC 9112 §6.3: a request with both is a smuggling attempt more often than not.
    return Fail(error, 400, "both Content-Length and Transfer-Encoding");
  }
  frame->head_complete = true;
  frame->head_bytes = pos;
  frame->close_requested = close || (frame->minor_version == 0 && !keep_alive);
  if (frame->chunked) {
    frame->content_length = 0;
    return FrameChunkedBody(input, pos, limits, frame, error);
  }
  if (frame->content_length > limits.max_body_bytes) {
    return Fail(error, 413, "request body too large");
  }
  if (input.size() - pos < frame->content_length) return FrameStatus::kNeedMore;
  frame->total_bytes = pos + frame->content_length;
  return FrameStatus::kComplete;
}

}  // namespace allezon::server
