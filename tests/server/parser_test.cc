// RequestParser (Boost.Beast underneath) fed as a connection would feed it: whole, byte by
// byte, pipelined; and its refusals.
#include <doctest/doctest.h>

#include "http_parser.h"

namespace allezon::server {
namespace {

using Result = RequestParser::Result;

struct Fed {
  Result last = Result::kNeedMore;
  int heads = 0;
  std::vector<HttpRequest> requests;
  int status = 0;
};

// Feeds `input` in pieces of `step` bytes, keeping unconsumed bytes as a connection does.
Fed Feed(std::string_view input, size_t step, ParserLimits limits = {}) {
  RequestParser parser(limits);
  Fed fed;
  std::string buffer;
  for (size_t at = 0; at < input.size(); at += step) {
    buffer.append(input.substr(at, step));
    for (;;) {
      size_t used = 0;
      fed.last = parser.Parse(buffer, &used);
      buffer.erase(0, used);
      if (fed.last == Result::kHead) {
        ++fed.heads;
        continue;
      }
      if (fed.last == Result::kComplete) {
        fed.requests.push_back(parser.TakeRequest());
        if (!buffer.empty()) continue;
      }
      if (fed.last == Result::kError) {
        fed.status = parser.error_status();
        return fed;
      }
      break;
    }
  }
  return fed;
}

const char kChunked[] =
    "POST /user_tags?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";

TEST_CASE("a chunked request, whole or byte by byte, is the same request") {
  for (size_t step : {size_t{1}, size_t{7}, sizeof(kChunked)}) {
    CAPTURE(step);
    const Fed fed = Feed(kChunked, step);
    REQUIRE(fed.requests.size() == 1);
    const HttpRequest& q = fed.requests[0];
    CHECK(q.method == "POST");
    CHECK(q.target == "/user_tags?x=1");
    CHECK(q.path == "/user_tags");
    CHECK(q.minor_version == 1);
    CHECK(q.header("host") == "h");
    CHECK(q.body == "abcde");
    CHECK(fed.heads == 1);
  }
}

TEST_CASE("pipelined requests and empty lines between them") {
  const Fed fed = Feed(
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\n\r\nPOST /b HTTP/1.0\r\nContent-Length: 2\r\n\r\nxy", 5);
  REQUIRE(fed.requests.size() == 2);
  CHECK(fed.requests[0].path == "/a");
  CHECK(fed.requests[1].path == "/b");
  CHECK(fed.requests[1].minor_version == 0);
  CHECK(fed.requests[1].body == "xy");
}

TEST_CASE("refusals: bare LF, codings, conflicting lengths, versions, limits") {
  CHECK(Feed("GET / HTTP/1.1\nHost: h\n\n", 100).status == 400);
  CHECK(Feed("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 100).status == 400);
  CHECK(
      Feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n", 100)
          .status == 400);
  CHECK(Feed("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 100).status == 400);
  CHECK(Feed("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 100)
            .status == 400);
  CHECK(Feed("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 100).status ==
        400);
  CHECK(Feed("GET / HTTP/2.0\r\n\r\n", 100).status == 400);
  ParserLimits small;
  small.max_header_bytes = 64;
  small.max_body_bytes = 4;
  CHECK(Feed("GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n", 10, small).status == 414);
  CHECK(Feed("GET / HTTP/1.1\r\nX: " + std::string(100, 'a') + "\r\n\r\n", 10, small).status ==
        431);
  CHECK(Feed("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", 100, small).status == 413);
  CHECK(
      Feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n", 3, small)
          .status == 413);
}

}  // namespace
}  // namespace allezon::server
