#include "http_parser.h"

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace allezon::server {

namespace http = boost::beast::http;
using boost::beast::error_code;
using BeastView = boost::beast::string_view;

// Beast's callbacks fill the request being read.
class RequestParser::Beast final : public http::basic_parser<true> {
 public:
  explicit Beast(HttpRequest* request) : request_(request) {}

 private:
  void on_request_impl(http::verb, BeastView method, BeastView target, int version,
                       error_code& ec) override {
    if (version != 10 && version != 11) {
      ec = http::error::bad_version;
      return;
    }
    request_->method.assign(method.data(), method.size());
    request_->target.assign(target.data(), target.size());
    const size_t end = request_->target.find_first_of("?#");
    request_->path = request_->target.substr(0, end);
    request_->minor_version = version % 10;
  }
  void on_response_impl(int, BeastView, int, error_code&) override {}
  void on_field_impl(http::field field, BeastView name, BeastView value, error_code& ec) override {
    if (field == http::field::transfer_encoding &&
        !absl::EqualsIgnoreCase(absl::string_view(value.data(), value.size()), "chunked")) {
      // Beast would pass "gzip, chunked" as chunked, and "gzip" alone as no body at all.
      ec = http::error::bad_transfer_encoding;
      return;
    }
    request_->headers.emplace_back(std::string(name.data(), name.size()),
                                   std::string(value.data(), value.size()));
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    if (length) request_->body.reserve(static_cast<size_t>(*length));
  }
  size_t on_body_impl(BeastView body, error_code&) override {
    request_->body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, BeastView, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, BeastView body, error_code&) override {
    request_->body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  HttpRequest* const request_;
};

RequestParser::RequestParser(const ParserLimits& limits) : limits_(limits) {
  TakeRequest();  // sets up the Beast parser
}

RequestParser::~RequestParser() = default;

bool RequestParser::head_done() const { return beast_->is_header_done(); }
bool RequestParser::chunked() const { return beast_->chunked(); }
bool RequestParser::keep_alive() const { return beast_->keep_alive(); }
void RequestParser::set_body_limit(size_t bytes) {
  body_limit_ = bytes;
  beast_->body_limit(bytes);
}

HttpRequest RequestParser::TakeRequest() {
  HttpRequest taken = std::move(request_);
  request_ = HttpRequest();
  // A Beast parser reads one message; a fresh one costs no allocation until it is used.
  beast_ = std::make_unique<Beast>(&request_);
  beast_->eager(false);
  beast_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
  set_body_limit(limits_.max_body_bytes);
  started_ = head_reported_ = false;
  body_wire_bytes_ = 0;
  return taken;
}

void RequestParser::Fail(int status, std::string message) {
  error_status_ = status;
  error_message_ = std::move(message);
}

RequestParser::Result RequestParser::Parse(std::string_view input, size_t* consumed) {
  size_t used = 0;
  if (!started_) {
    // RFC 9112 §2.2: empty lines before a request line are ignored.
    while (used < input.size() && (input[used] == '\r' || input[used] == '\n')) ++used;
    started_ = used < input.size();
  }
  *consumed = used;
  while (used < input.size()) {
    error_code ec;
    const size_t n =
        beast_->put(boost::asio::const_buffer(input.data() + used, input.size() - used), ec);
    if (head_reported_) body_wire_bytes_ += n;
    used += n;
    *consumed = used;
    if (ec == http::error::need_more) break;
    if (ec == http::error::header_limit) {
      // Still in the request line (no line end yet): the target is what is too long.
      // Beast may have consumed the request line already (then it has reported it).
      const bool in_request_line =
          request_.method.empty() &&
          input.substr(used, limits_.max_header_bytes).find('\n') == std::string_view::npos;
      Fail(in_request_line ? 414 : 431,
           in_request_line ? "request URI too long" : "request headers too large");
      return Result::kError;
    }
    if (ec == http::error::body_limit) {
      Fail(413, "request body too large");
      return Result::kError;
    }
    if (ec == http::error::bad_transfer_encoding && !request_.has_header("Content-Length")) {
      // RFC 9112 §6.1 suggests 501; a client's mistake is a 4xx here like every other.
      Fail(400, "unsupported Transfer-Encoding: only chunked is accepted");
      return Result::kError;
    }
    if (ec) {
      Fail(400, absl::StrCat("malformed request: ", ec.message()));
      return Result::kError;
    }
    // Chunk framing costs bytes the body limit does not see (a 1-byte chunk takes 6).
    if (body_wire_bytes_ > 2 * body_limit_ + 64 * 1024) {
      Fail(413, "request body too large");
      return Result::kError;
    }
    if (beast_->is_done()) {
      head_reported_ = true;
      return Result::kComplete;
    }
    if (beast_->is_header_done() && !head_reported_) {
      head_reported_ = true;
      beast_->eager(true);
      return Result::kHead;
    }
    if (n == 0) break;
  }
  return Result::kNeedMore;
}

}  // namespace allezon::server
