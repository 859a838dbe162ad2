// ParseRequestFrame, the epoll engine's framing: every prefix of a valid request is "need
// more" (never an error, never complete early), and malformed or oversized heads and bodies
// get the 4xx the connection layer answers with.
#include "http_framing.h"

#include <doctest/doctest.h>

#include <string>

namespace allezon::server {
namespace {

FrameStatus Parse(std::string_view input, RequestFrame* frame = nullptr,
                  FrameError* error = nullptr, FrameLimits limits = {}) {
  RequestFrame f;
  FrameError e;
  const FrameStatus status =
      ParseRequestFrame(input, limits, frame ? frame : &f, error ? error : &e);
  return status;
}

int ErrorOf(std::string_view input, FrameLimits limits = {}) {
  FrameError error;
  RequestFrame frame;
  if (ParseRequestFrame(input, limits, &frame, &error) != FrameStatus::kError) return 0;
  CHECK(!error.message.empty());
  return error.status;
}

// Every strict prefix needs more; the whole is complete with the given size.
void CheckWhole(const std::string& request, size_t expected_total) {
  for (size_t n = 0; n < request.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    REQUIRE(Parse(std::string_view(request).substr(0, n)) == FrameStatus::kNeedMore);
  }
  RequestFrame frame;
  REQUIRE(Parse(request, &frame) == FrameStatus::kComplete);
  CHECK(frame.total_bytes == expected_total);
}

TEST_CASE("Content-Length requests, prefixes, pipelining") {
  const std::string body = R"({"a":1})";
  const std::string request =
      "POST /user_tags?x=1 HTTP/1.1\r\nHost: h\r\ncontent-length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  CheckWhole(request, request.size());
  RequestFrame frame;
  const std::string pipelined = request + "GET / HTTP/1.1\r\n";  // views point into it
  REQUIRE(Parse(pipelined, &frame) == FrameStatus::kComplete);
  CHECK(frame.total_bytes == request.size());
  CHECK(frame.method == "POST");
  CHECK(frame.target == "/user_tags?x=1");
  CHECK(frame.path == "/user_tags");
  CHECK(frame.content_length == body.size());
  CHECK(frame.head_bytes == request.size() - body.size());
  CHECK(!frame.close_requested);
  CHECK(!frame.chunked);
}

TEST_CASE("no body, bare LF line ends, leading empty lines") {
  CheckWhole("GET /healthz HTTP/1.1\r\n\r\n", 25);
  CheckWhole("GET /healthz HTTP/1.1\nHost: x\n\n", 31);
  RequestFrame frame;
  REQUIRE(Parse("\r\nGET / HTTP/1.1\r\n\r\n", &frame) == FrameStatus::kComplete);
  CHECK(frame.method == "GET");
}

TEST_CASE("Connection, HTTP/1.0 and Expect") {
  RequestFrame frame;
  REQUIRE(Parse("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n", &frame) ==
          FrameStatus::kComplete);
  CHECK(frame.close_requested);
  REQUIRE(Parse("GET / HTTP/1.0\r\n\r\n", &frame) == FrameStatus::kComplete);
  CHECK(frame.close_requested);
  REQUIRE(Parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &frame) ==
          FrameStatus::kComplete);
  CHECK(!frame.close_requested);
  const std::string head =
      "POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
      "Content-Length: 5\r\n\r\n";
  REQUIRE(Parse(head, &frame) == FrameStatus::kNeedMore);
  CHECK(frame.head_complete);
  CHECK(frame.expect_continue);
  CHECK(head.substr(frame.expect_name_offset, 7) == "Expect:");
  REQUIRE(Parse(head + "12345", &frame) == FrameStatus::kComplete);
}

TEST_CASE("chunked bodies") {
  const std::string request =
      "POST /user_tags HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\nA;ext=1\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
  CheckWhole(request, request.size());
  RequestFrame frame;
  REQUIRE(Parse(request, &frame) == FrameStatus::kComplete);
  CHECK(frame.chunked);
  CHECK(ErrorOf("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") == 400);
  CHECK(ErrorOf("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n") == 400);
  // Chunk data ends with CRLF only: cpp-httplib would read a bare LF as the end of the body.
  CHECK(ErrorOf("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n") == 400);
  CHECK(ErrorOf("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n") ==
        400);
  CHECK(Parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r") ==
        FrameStatus::kNeedMore);
  CHECK(ErrorOf("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") == 400);
  CHECK(ErrorOf("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n") ==
        400);
  FrameLimits small;
  small.max_body_bytes = 10;
  CHECK(ErrorOf("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nff\r\n", small) == 413);
  CHECK(ErrorOf("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                "8\r\n12345678\r\n8\r\n12345678\r\n",
                small) == 413);
}

TEST_CASE("malformed heads are 400") {
  CHECK(ErrorOf("GET /\r\n\r\n") == 400);
  CHECK(ErrorOf("GET / HTTP/2.0\r\n\r\n") == 400);
  CHECK(ErrorOf("GET  / HTTP/1.1\r\n\r\n") == 400);
  CHECK(ErrorOf("G(T / HTTP/1.1\r\n\r\n") == 400);
  CHECK(ErrorOf("GET / HTTP/1.1\r\nNoColon\r\n\r\n") == 400);
  CHECK(ErrorOf("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n") == 400);
  CHECK(ErrorOf("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n") == 400);
  CHECK(ErrorOf(std::string("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 27)) == 400);
  CHECK(ErrorOf("GET /\x01 HTTP/1.1") == 400);  // before the line is even whole
  CHECK(ErrorOf("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n") == 400);
  CHECK(ErrorOf("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n") == 400);
  CHECK(ErrorOf("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == 400);
  CHECK(ErrorOf("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == 400);
  // More digits than any length fits: too large, never an overflow into a small length.
  CHECK(ErrorOf("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n") == 413);
  CHECK(ErrorOf("POST / HTTP/1.1\r\nContent-Length: 18446744073709551617\r\n\r\n") == 413);
  // A duplicate that agrees is fine.
  CHECK(Parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx") ==
        FrameStatus::kComplete);
}

TEST_CASE("size limits: 414 in the request line, 431 in the headers, 413 for the body") {
  FrameLimits limits;
  limits.max_header_bytes = 100;
  limits.max_body_bytes = 50;
  CHECK(ErrorOf("GET /" + std::string(200, 'a'), limits) == 414);
  CHECK(ErrorOf("GET / HTTP/1.1\r\nX: " + std::string(200, 'a'), limits) == 431);
  CHECK(ErrorOf("GET / HTTP/1.1\r\nX: " + std::string(90, 'a') + "\r\n\r\n", limits) == 431);
  CHECK(ErrorOf("POST / HTTP/1.1\r\nContent-Length: 51\r\n\r\n", limits) == 413);
  CHECK(Parse("POST / HTTP/1.1\r\nContent-Length: 50\r\n\r\n", nullptr, nullptr, limits) ==
        FrameStatus::kNeedMore);
  // Exactly at the limit is still a head.
  const std::string head = "GET / HTTP/1.1\r\nX: ";
  const std::string exact = head + std::string(100 - head.size() - 4, 'a') + "\r\n\r\n";
  REQUIRE(exact.size() == 100);
  CHECK(Parse(exact, nullptr, nullptr, limits) == FrameStatus::kComplete);
  CHECK(ErrorOf(head + std::string(100 - head.size() - 3, 'a') + "\r\n\r\n", limits) == 431);
}

}  // namespace
}  // namespace allezon::server
