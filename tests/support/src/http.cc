#include "allezon_test/http.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "allezon_test/server_process.h"

namespace allezon_test {
namespace {

using Clock = std::chrono::steady_clock;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpResponse::MediaType() const {
  std::string ct = Header("content-type");
  return Lower(Trim(ct.substr(0, ct.find(';'))));
}

std::string HttpResponse::Describe() const {
  if (status == 0) return "no response (" + error + ")";
  // Appended piece by piece: GCC 12's -Warray-bounds misfires on `substr(...) + "..."`
  // (libstdc++ PR 105329).
  std::string out = "HTTP " + std::to_string(status) + " [" + Header("content-type") + "] ";
  out.append(body, 0, 400);
  if (body.size() > 400) out.append("...");
  return out;
}

std::string UrlEncode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// HttpClient

HttpClient::HttpClient(const std::string& host, int port)
    : client_(std::make_unique<httplib::Client>(host, port)) {
  // Debian's cpp-httplib is a compiled library built with CPPHTTPLIB_SEND_FLAGS 0, so a write to
  // a server that a test has just killed raises SIGPIPE, which would end the whole test binary.
  // EPIPE is the answer the tests expect.
  ::signal(SIGPIPE, SIG_IGN);
  client_->set_keep_alive(true);
  client_->set_url_encode(false);
  client_->set_connection_timeout(std::chrono::seconds(5));
  client_->set_tcp_nodelay(true);  // header and body go out as two writes: no Nagle wait
  client_->set_read_timeout(std::chrono::seconds(20));
  client_->set_write_timeout(std::chrono::seconds(20));
}

HttpClient::HttpClient(const ServerProcess& server) : HttpClient(server.host(), server.port()) {}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::Send(const std::string& method, const std::string& target,
                              const std::string& body, const std::string& content_type) {
  httplib::Request req;
  req.method = method;
  req.path = target;
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.body = body;
    req.set_header("Content-Type", content_type);
  }
  auto result = client_->send(req);
  HttpResponse out;
  if (!result) {
    out.error = httplib::to_string(result.error());
    return out;
  }
  out.status = result->status;
  out.body = result->body;
  for (const auto& [k, v] : result->headers) out.headers.emplace(Lower(k), v);
  return out;
}

HttpResponse HttpClient::PostTag(const std::string& tag_json) {
  return Post("/user_tags", tag_json);
}

HttpResponse HttpClient::Profile(std::string_view cookie, std::string_view range,
                                 std::optional<std::string> limit, const std::string& body) {
  std::string target = "/user_profiles/" + UrlEncode(cookie) + "?time_range=" + std::string(range);
  if (limit) target += "&limit=" + *limit;
  return Post(target, body);
}

HttpResponse HttpClient::Aggregates(const std::string& query, const std::string& body) {
  return Post("/aggregates?" + query, body);
}

// ---------------------------------------------------------------------------------------------
// RawConnection

std::string BuildRequest(std::string_view method, std::string_view target, std::string_view body,
                         std::string_view content_type,
                         const std::vector<std::string>& extra_headers) {
  std::string r;
  r += method;
  r += ' ';
  r += target;
  r += " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!body.empty()) {
    r += "Content-Type: ";
    r += content_type;
    r += "\r\n";
  }
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& h : extra_headers) r += h + "\r\n";
  r += "\r\n";
  r += body;
  return r;
}

RawConnection::RawConnection(const std::string& host, int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd_);
    throw std::runtime_error("bad IPv4 address " + host);
  }
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    ::close(fd_);
    throw std::system_error(err, std::generic_category(), "connect");
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

RawConnection::RawConnection(const ServerProcess& server)
    : RawConnection(server.host(), server.port()) {}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::SendAll(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

long RawConnection::Fill(Clock::time_point deadline) {
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() < 0) return -1;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return 0;  // reset: treat as closed
    }
    buffer_.append(buf, static_cast<size_t>(n));
    return n;
  }
}

HttpResponse RawConnection::ReadResponse(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  HttpResponse out;
  auto fail = [&](const std::string& why) {
    out.status = 0;
    out.error = why;
    return out;
  };
  size_t header_end;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    long n = Fill(deadline);
    if (n == 0)
      return fail("connection closed before a response" +
                  (buffer_.empty() ? std::string() : " (partial: " + buffer_ + ")"));
    if (n < 0) return fail("timed out waiting for a response");
  }
  std::string head = buffer_.substr(0, header_end);
  buffer_.erase(0, header_end + 4);
  size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) {
    return fail("bad status line: " + status_line);
  }
  out.status = std::atoi(status_line.c_str() + 9);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string line = head.substr(pos, e - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      out.headers.emplace(Lower(Trim(line.substr(0, colon))), Trim(line.substr(colon + 1)));
    }
    pos = e + 2;
  }
  const int status = out.status;
  if (status == 204 || status == 304 || (status >= 100 && status < 200)) return out;
  std::string cl = out.Header("content-length");
  if (Lower(out.Header("transfer-encoding")).find("chunked") != std::string::npos) {
    while (true) {
      size_t e;
      while ((e = buffer_.find("\r\n")) == std::string::npos) {
        if (Fill(deadline) <= 0) return fail("incomplete chunked body");
      }
      size_t size = std::stoul(buffer_.substr(0, e), nullptr, 16);
      buffer_.erase(0, e + 2);
      while (buffer_.size() < size + 2) {
        if (Fill(deadline) <= 0) return fail("incomplete chunk");
      }
      out.body.append(buffer_, 0, size);
      buffer_.erase(0, size + 2);
      if (size == 0) break;  // (trailers are not supported)
    }
  } else if (!cl.empty()) {
    size_t length = std::stoul(cl);
    while (buffer_.size() < length) {
      if (Fill(deadline) <= 0) return fail("incomplete body");
    }
    out.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
  } else {
    long n;
    while ((n = Fill(deadline)) > 0) {
    }
    if (n < 0) return fail("body without length did not end");
    out.body = std::move(buffer_);
    buffer_.clear();
  }
  return out;
}

HttpResponse RawConnection::RoundTrip(std::string_view method, std::string_view target,
                                      std::string_view body, std::string_view content_type) {
  if (!SendAll(BuildRequest(method, target, body, content_type))) {
    HttpResponse out;
    out.error = "send failed (connection broken)";
    return out;
  }
  return ReadResponse();
}

void RawConnection::ShutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

bool RawConnection::PeerClosed(std::chrono::milliseconds timeout) {
  if (!buffer_.empty()) return false;
  long n = Fill(Clock::now() + timeout);
  return n == 0;
}

}  // namespace allezon_test
