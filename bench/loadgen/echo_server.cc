// allezon-echo-server: the trivial server the load generator is measured against (issue 3:
// "the loadgen is never the bottleneck ... measured against a trivial server").
//
// It stores nothing: POST /user_tags gets 204, and every other POST gets 200 with its own
// request body, which in debug mode is the expected answer, so every check passes and the
// load generator's full path (generate, send, receive, compare) is exercised. One thread,
// epoll, keep-alive, so that it outruns the load generator on one core.
//
//   allezon-echo-server [--port N] [--port-file FILE]     (port 0: any free port)
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

struct Client {
  std::string in;
  std::string out;
};

// Content-Length of a request head, 0 when absent.
size_t ContentLength(std::string_view head) {
  static constexpr std::string_view kName = "content-length:";
  for (size_t line = head.find("\r\n"); line != std::string_view::npos;
       line = head.find("\r\n", line + 2)) {
    std::string_view rest = head.substr(line + 2);
    if (rest.size() < kName.size()) break;
    bool match = true;
    for (size_t i = 0; i < kName.size() && match; ++i) {
      char c = rest[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      match = c == kName[i];
    }
    if (match)
      return std::strtoull(std::string(rest.substr(kName.size(), 20)).c_str(), nullptr, 10);
  }
  return 0;
}

// Answers every complete request in `client.in`; false when the request is malformed.
void Answer(Client& client) {
  size_t consumed = 0;
  while (true) {
    std::string_view pending = std::string_view(client.in).substr(consumed);
    const size_t head_end = pending.find("\r\n\r\n");
    if (head_end == std::string_view::npos) break;
    const size_t length = ContentLength(pending.substr(0, head_end));
    if (pending.size() < head_end + 4 + length) break;
    const std::string_view body = pending.substr(head_end + 4, length);
    if (pending.substr(0, 16) == "POST /user_tags ") {
      client.out.append("HTTP/1.1 204 No Content\r\n\r\n");
    } else {
      client.out.append("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ");
      client.out.append(std::to_string(body.size())).append("\r\n\r\n").append(body);
    }
    consumed += head_end + 4 + length;
  }
  client.in.erase(0, consumed);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  const char* port_file = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0)
      port = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--port-file") == 0)
      port_file = argv[i + 1];
  }
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listener, 4096) != 0) {
    std::perror("allezon-echo-server: bind/listen");
    return 1;
  }
  socklen_t length = sizeof address;
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  std::printf("allezon-echo-server listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  if (port_file != nullptr) {
    FILE* file = std::fopen(port_file, "w");
    if (file != nullptr) {
      std::fprintf(file, "%d\n", port);
      std::fclose(file);
    }
  }

  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = listener;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
  std::unordered_map<int, Client> clients;
  char buffer[65536];
  epoll_event events[256];
  while (true) {
    const int count = epoll_wait(epoll_fd, events, 256, -1);
    for (int i = 0; i < count; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        const int accepted = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (accepted < 0) continue;
        setsockopt(accepted, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        epoll_event client_event{};
        client_event.events = EPOLLIN;
        client_event.data.fd = accepted;
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, accepted, &client_event);
        clients[accepted];
        continue;
      }
      Client& client = clients[fd];
      bool closed = false;
      while (true) {
        const ssize_t received = recv(fd, buffer, sizeof buffer, 0);
        if (received > 0) {
          client.in.append(buffer, static_cast<size_t>(received));
          continue;
        }
        if (received < 0 && errno == EINTR) continue;
        closed = received == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        break;
      }
      Answer(client);
      // Answers are small; the socket buffer takes them whole. A client that stops reading
      // is simply cut off: this server exists for benchmarks only.
      size_t written = 0;
      while (!closed && written < client.out.size()) {
        const ssize_t sent =
            send(fd, client.out.data() + written, client.out.size() - written, MSG_NOSIGNAL);
        if (sent > 0) {
          written += static_cast<size_t>(sent);
        } else if (sent < 0 && errno == EINTR) {
          continue;
        } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          usleep(100);
        } else {
          closed = true;
        }
      }
      client.out.clear();
      if (closed) {
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        clients.erase(fd);
      }
    }
  }
}
