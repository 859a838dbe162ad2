// HTTP clients for tests: a thin wrapper over httplib::Client (keep-alive, paths sent exactly
// as given) and a raw one-socket client that proves requests share one connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace httplib {
class Client;
}

namespace allezon_test {

class ServerProcess;

struct HttpResponse {
  int status = 0;  // 0: no response (transport error, see `error`)
  std::string body;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string error;  // transport error, empty when a response arrived

  // The value of a header (name case-insensitive), or "" when absent.
  std::string Header(std::string_view name) const;
  // The media type of Content-Type without parameters, lower-cased ("application/json").
  std::string MediaType() const;
  // One line for failure messages: status, content type and a prefix of the body.
  std::string Describe() const;
};

// Percent-encodes every byte except the RFC 3986 unreserved ones (A-Z a-z 0-9 - . _ ~).
std::string UrlEncode(std::string_view text);

// A keep-alive client. Paths and query strings are sent exactly as given (no re-encoding), so
// tests encode them with UrlEncode where they mean to.
class HttpClient {
 public:
  HttpClient(const std::string& host, int port);
  explicit HttpClient(const ServerProcess& server);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse Send(const std::string& method, const std::string& target,
                    const std::string& body = "",
                    const std::string& content_type = "application/json");
  HttpResponse Post(const std::string& target, const std::string& body = "",
                    const std::string& content_type = "application/json") {
    return Send("POST", target, body, content_type);
  }
  HttpResponse Get(const std::string& target) { return Send("GET", target); }

  // POST /user_tags with `tag_json`.
  HttpResponse PostTag(const std::string& tag_json);
  // POST /user_profiles/{UrlEncode(cookie)}?time_range=RANGE[&limit=LIMIT] with `body`.
  HttpResponse Profile(std::string_view cookie, std::string_view range,
                       std::optional<std::string> limit = std::nullopt,
                       const std::string& body = "");
  // POST /aggregates?QUERY with `body`.
  HttpResponse Aggregates(const std::string& query, const std::string& body = "");

 private:
  std::unique_ptr<httplib::Client> client_;
};

// Builds an HTTP/1.1 request with Host, Content-Length and (when body is non-empty)
// Content-Type headers; `extra_headers` are "Name: value" lines without CRLF.
std::string BuildRequest(std::string_view method, std::string_view target,
                         std::string_view body = "",
                         std::string_view content_type = "application/json",
                         const std::vector<std::string>& extra_headers = {});

// One TCP connection, requests written byte for byte, responses parsed by hand. Lets a test
// know that several requests really travelled over the same connection.
class RawConnection {
 public:
  RawConnection(const std::string& host, int port);
  explicit RawConnection(const ServerProcess& server);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Writes all bytes; false if the connection is broken.
  bool SendAll(std::string_view bytes);
  // Reads one response (Content-Length, chunked, or until close). status 0 with `error` set if
  // the connection closed or timed out before a complete response.
  HttpResponse ReadResponse(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // SendAll(BuildRequest(...)) then ReadResponse().
  HttpResponse RoundTrip(std::string_view method, std::string_view target,
                         std::string_view body = "",
                         std::string_view content_type = "application/json");
  // Closes our sending side (the peer reads EOF after what was sent); answers still arrive.
  void ShutdownWrite();
  // True if the peer has closed the connection (EOF seen within `timeout` with no data).
  bool PeerClosed(std::chrono::milliseconds timeout = std::chrono::milliseconds(50));

 private:
  // Appends received bytes to buffer_; returns bytes read, 0 on EOF, -1 on timeout/error.
  long Fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string buffer_;
};

}  // namespace allezon_test
