#include "http_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace allezon::loadgen {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr int kMaxEvents = 256;

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

bool ContainsNoCase(std::string_view text, std::string_view needle) {
  for (size_t i = 0; i + needle.size() <= text.size(); ++i) {
    if (StartsWithNoCase(text.substr(i), needle)) return true;
  }
  return false;
}

}  // namespace

int64_t MonotonicNanos() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

HttpClient::HttpClient(std::string host, int port, int connections, int64_t timeout_ns)
    : host_(std::move(host)),
      port_(port),
      timeout_ns_(timeout_ns),
      connections_(static_cast<size_t>(connections < 1 ? 1 : connections)),
      read_buffer_(kReadChunk) {
  host_header_ = host_ + ":" + std::to_string(port_);
}

HttpClient::~HttpClient() {
  for (Connection& connection : connections_) CloseSocket(&connection);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

bool HttpClient::Init(std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(port_);
  const int status = getaddrinfo(host_.c_str(), port.c_str(), &hints, &found);
  if (status != 0 || found == nullptr) {
    *error = "cannot resolve " + host_ + ": " + gai_strerror(status);
    return false;
  }
  std::memcpy(&address_, found->ai_addr, found->ai_addrlen);
  address_length_ = found->ai_addrlen;
  freeaddrinfo(found);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    *error = std::string("epoll_create1: ") + std::strerror(errno);
    return false;
  }
  return true;
}

int HttpClient::IdleConnection() const {
  for (size_t i = 0; i < connections_.size(); ++i) {
    const State state = connections_[i].state;
    if (state == State::kIdle || state == State::kClosed) return static_cast<int>(i);
  }
  return -1;
}

void HttpClient::Open(int index) {
  Connection& connection = connections_[static_cast<size_t>(index)];
  connection.fd = socket(address_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  connection.served = 0;
  connection.state = State::kConnecting;
  if (connection.fd < 0) return;  // reported as a failed connect by the caller's next step
  int one = 1;
  setsockopt(connection.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const int status =
      connect(connection.fd, reinterpret_cast<const sockaddr*>(&address_), address_length_);
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT;
  event.data.u32 = static_cast<uint32_t>(index);
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, connection.fd, &event);
  connection.want_write = true;
  if (status != 0 && errno != EINPROGRESS) {
    // Let the writability event report it through SO_ERROR, like an asynchronous failure.
    return;
  }
}

void HttpClient::CloseSocket(Connection* connection) {
  if (connection->fd >= 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, connection->fd, nullptr);
    close(connection->fd);
  }
  connection->fd = -1;
  connection->want_write = false;
  connection->served = 0;
  connection->state = State::kClosed;
}

void HttpClient::SetWriteInterest(int index, bool want) {
  Connection& connection = connections_[static_cast<size_t>(index)];
  if (connection.want_write == want || connection.fd < 0) return;
  epoll_event event{};
  event.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  event.data.u32 = static_cast<uint32_t>(index);
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, connection.fd, &event);
  connection.want_write = want;
}

void HttpClient::Send(int index, std::string_view path, std::string_view body, uint64_t token,
                      int64_t timeout_ns) {
  Connection& connection = connections_[static_cast<size_t>(index)];
  std::string& out = connection.out;
  out.clear();
  out.append("POST ").append(path).append(" HTTP/1.1\r\nHost: ").append(host_header_);
  out.append("\r\nContent-Type: application/json\r\nContent-Length: ");
  out.append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  connection.written = 0;
  connection.in.clear();
  connection.token = token;
  connection.retried = false;
  connection.deferred_error.clear();
  connection.started_ns = MonotonicNanos();
  connection.deadline_ns = connection.started_ns + (timeout_ns > 0 ? timeout_ns : timeout_ns_);
  ++in_flight_;
  if (connection.state == State::kClosed) {
    Open(index);
    return;  // written once the connect completes
  }
  connection.state = State::kBusy;
  // Write right away: a request almost always fits the socket buffer, so no epoll change.
  static const Completion kNoCompletion;
  Write(index, kNoCompletion);
}

void HttpClient::Fail(int index, const std::string& error, const Completion& done) {
  Connection& connection = connections_[static_cast<size_t>(index)];
  CloseSocket(&connection);
  --in_flight_;
  HttpResult result;
  result.ok = false;
  result.error = error;
  result.latency_ns = MonotonicNanos() - connection.started_ns;
  if (done) done(connection.token, result);
}

void HttpClient::FailOrRetry(int index, const std::string& error, const Completion& done) {
  Connection& connection = connections_[static_cast<size_t>(index)];
  if (connection.served > 0 && !connection.retried && connection.in.empty()) {
    // The server closed a kept-alive connection just as we reused it.
    connection.retried = true;
    CloseSocket(&connection);
    connection.written = 0;
    Open(index);
    return;
  }
  if (!done) {
    // Called from Send(), which has no completion: finish on the next Poll() via timeout 0.
    connection.deadline_ns = 0;
    connection.deferred_error = error;
    connection.state = State::kBusy;
    return;
  }
  Fail(index, error, done);
}

void HttpClient::Write(int index, const Completion& done) {
  Connection& connection = connections_[static_cast<size_t>(index)];
  while (connection.written < connection.out.size()) {
    const ssize_t sent = send(connection.fd, connection.out.data() + connection.written,
                              connection.out.size() - connection.written, MSG_NOSIGNAL);
    if (sent > 0) {
      connection.written += static_cast<size_t>(sent);
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      SetWriteInterest(index, true);
      return;
    }
    FailOrRetry(index, std::string("send: ") + std::strerror(errno), done);
    return;
  }
  SetWriteInterest(index, false);
}

int HttpClient::TryParse(Connection* connection, HttpResult* result, bool* close_after,
                         bool at_eof) {
  std::string& in = connection->in;
  while (true) {
    const size_t header_end = in.find("\r\n\r\n");
    if (header_end == std::string::npos) return at_eof ? -1 : 0;
    std::string_view head(in.data(), header_end);
    if (head.size() < 12 || head.substr(0, 7) != "HTTP/1." || head[8] != ' ') return -1;
    int status = 0;
    for (int i = 9; i < 12; ++i) {
      if (head[i] < '0' || head[i] > '9') return -1;
      status = status * 10 + (head[i] - '0');
    }
    const bool http10 = head[7] == '0';
    if (status >= 100 && status < 200) {
      in.erase(0, header_end + 4);  // an interim answer (100 Continue): the real one follows
      continue;
    }
    int64_t content_length = -1;
    bool chunked = false;
    bool close = http10;
    size_t line_start = head.find("\r\n");
    while (line_start != std::string_view::npos && line_start < head.size()) {
      line_start += 2;
      size_t line_end = head.find("\r\n", line_start);
      std::string_view line =
          head.substr(line_start, line_end == std::string_view::npos ? std::string_view::npos
                                                                     : line_end - line_start);
      if (StartsWithNoCase(line, "content-length:")) {
        content_length = 0;
        for (char c : Trim(line.substr(15))) {
          if (c < '0' || c > '9') return -1;
          content_length = content_length * 10 + (c - '0');
        }
      } else if (StartsWithNoCase(line, "transfer-encoding:")) {
        chunked = ContainsNoCase(line, "chunked");
      } else if (StartsWithNoCase(line, "connection:")) {
        const std::string_view value = Trim(line.substr(11));
        if (ContainsNoCase(value, "close")) close = true;
        if (ContainsNoCase(value, "keep-alive")) close = false;
      }
      line_start = line_end;
    }
    const size_t body_start = header_end + 4;
    result->status = status;
    *close_after = close;
    if (status == 204 || status == 304) {
      result->body = {};
      return 1;
    }
    if (chunked) {
      std::string& body = connection->body;
      body.clear();
      size_t position = body_start;
      while (true) {
        const size_t size_end = in.find("\r\n", position);
        if (size_end == std::string::npos) return at_eof ? -1 : 0;
        size_t chunk_size = 0;
        size_t digits = 0;
        for (size_t i = position; i < size_end; ++i, ++digits) {
          const char c = in[i];
          int value;
          if (c >= '0' && c <= '9')
            value = c - '0';
          else if (c >= 'a' && c <= 'f')
            value = c - 'a' + 10;
          else if (c >= 'A' && c <= 'F')
            value = c - 'A' + 10;
          else if (c == ';' || c == ' ')
            break;  // chunk extensions
          else
            return -1;
          chunk_size = chunk_size * 16 + static_cast<size_t>(value);
        }
        if (digits == 0) return -1;
        position = size_end + 2;
        if (chunk_size == 0) {
          // Optional trailers end with an empty line.
          if (in.compare(position, 2, "\r\n") == 0) break;
          if (in.find("\r\n\r\n", position) != std::string::npos) break;
          return at_eof ? -1 : 0;
        }
        if (in.size() < position + chunk_size + 2) return at_eof ? -1 : 0;
        body.append(in, position, chunk_size);
        position += chunk_size + 2;
      }
      result->body = body;
      return 1;
    }
    if (content_length >= 0) {
      if (in.size() < body_start + static_cast<size_t>(content_length)) return at_eof ? -1 : 0;
      result->body = std::string_view(in).substr(body_start, static_cast<size_t>(content_length));
      return 1;
    }
    // No length: the body runs to the end of the connection.
    if (!at_eof) return 0;
    *close_after = true;
    result->body = std::string_view(in).substr(body_start);
    return 1;
  }
}

void HttpClient::Read(int index, const Completion& done) {
  Connection& connection = connections_[static_cast<size_t>(index)];
  bool at_eof = false;
  std::string read_error;
  while (true) {
    const ssize_t received = recv(connection.fd, read_buffer_.data(), read_buffer_.size(), 0);
    if (received > 0) {
      if (connection.state != State::kBusy) {
        CloseSocket(&connection);  // bytes nobody asked for: the stream is out of step
        return;
      }
      connection.in.append(read_buffer_.data(), static_cast<size_t>(received));
      if (static_cast<size_t>(received) < read_buffer_.size()) break;
      continue;
    }
    if (received == 0) {
      at_eof = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    read_error = std::string("recv: ") + std::strerror(errno);
    at_eof = true;
    break;
  }
  if (connection.state != State::kBusy) {
    if (at_eof) CloseSocket(&connection);  // an idle keep-alive connection the server closed
    return;
  }
  HttpResult result;
  bool close_after = false;
  const int parsed = TryParse(&connection, &result, &close_after, at_eof);
  if (parsed == 0) return;
  if (parsed < 0) {
    if (connection.in.empty()) {
      FailOrRetry(index, read_error.empty() ? "connection closed by the server" : read_error, done);
    } else {
      Fail(index, "malformed HTTP answer", done);
    }
    return;
  }
  result.ok = true;
  result.latency_ns = MonotonicNanos() - connection.started_ns;
  --in_flight_;
  ++connection.served;
  connection.state = State::kIdle;
  done(connection.token, result);
  if (close_after || at_eof) CloseSocket(&connection);
}

void HttpClient::Poll(int timeout_ms, const Completion& done) {
  epoll_event events[kMaxEvents];
  const int count = epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
  for (int i = 0; i < count; ++i) {
    const int index = static_cast<int>(events[i].data.u32);
    Connection& connection = connections_[static_cast<size_t>(index)];
    if (connection.fd < 0) continue;
    if (connection.state == State::kConnecting) {
      if (!(events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(connection.fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) {
        Fail(index, std::string("connect: ") + std::strerror(error), done);
        continue;
      }
      connection.state = State::kBusy;
      Write(index, done);
      continue;
    }
    if ((events[i].events & EPOLLOUT) && connection.state == State::kBusy &&
        connection.written < connection.out.size()) {
      Write(index, done);
      if (connection.fd < 0 || connection.state != State::kBusy) continue;
    }
    if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) Read(index, done);
  }
  // Deadlines (and failures Send() deferred by setting the deadline to 0).
  const int64_t now = MonotonicNanos();
  for (size_t i = 0; i < connections_.size(); ++i) {
    Connection& connection = connections_[i];
    if (connection.state == State::kBusy || connection.state == State::kConnecting) {
      if (connection.fd < 0 || now >= connection.deadline_ns) {
        const std::string error = !connection.deferred_error.empty() ? connection.deferred_error
                                  : connection.fd < 0                ? "cannot connect"
                                                                     : "timeout";
        Fail(static_cast<int>(i), error, done);
      }
    }
  }
}

void HttpClient::CloseAll(const Completion& done) {
  for (size_t i = 0; i < connections_.size(); ++i) {
    Connection& connection = connections_[i];
    if (connection.state == State::kBusy || connection.state == State::kConnecting) {
      Fail(static_cast<int>(i), "closed by the load generator", done);
    } else {
      CloseSocket(&connection);
    }
  }
}

}  // namespace allezon::loadgen
