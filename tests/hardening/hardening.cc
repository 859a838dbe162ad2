#include "hardening.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace allezon_hardening {

Victim::Victim(ServerOptions options) : server(std::move(options)), http(server) {
  for (const char* action : {"VIEW", "BUY"}) {
    Tag tag = MakeTag(kT0 + 1234, "victim", action);
    tag.price = 10;
    HttpResponse r = http.PostTag(tag.ToJson());
    REQUIRE_MESSAGE(r.status == 204, r.Describe());
  }
  before = Snapshot();
  REQUIRE_MESSAGE(before.find("2022-03-01T12:00:01.234Z") != std::string::npos, before);
}

std::string Victim::Snapshot() {
  // A fresh client: the test may have left `http`'s connection in any state.
  HttpClient client(server);
  std::string out;
  HttpResponse p =
      client.Profile("victim", ProfileRange(TimeMs(1970, 1, 2), TimeMs(2100, 1, 1)), "1000");
  out += std::to_string(p.status) + " " + p.body + "\n";
  const int64_t hour = kT0 - kT0 % kHour;
  for (const char* action : {"VIEW", "BUY"}) {
    HttpResponse a =
        client.Aggregates("time_range=" + SecondsRange(hour, hour + kHour) + "&action=" + action +
                          "&aggregates=COUNT&aggregates=SUM_PRICE");
    out += std::to_string(a.status) + " " + a.body + "\n";
  }
  return out;
}

void Victim::ExpectUnchangedAndAlive() {
  const std::string after = Snapshot();
  const bool unchanged = after == before;
  CHECK_MESSAGE(unchanged, "stored data changed:\nbefore: "
                               << before.substr(0, 1500) << "\nafter:  " << after.substr(0, 1500));
  REQUIRE_MESSAGE(server.Running(), "the server died:\n" << server.Log());
  HttpClient client(server);
  HttpResponse r = client.Get("/healthz");
  CHECK_MESSAGE(r.status == 200, r.Describe());
}

void ExpectRefused(const HttpResponse& r, std::string_view what) {
  INFO("case: " << what);
  if (r.status == 0) return;  // closed without an answer: allowed
  CHECK_MESSAGE((r.status >= 400 && r.status < 500), "want 4xx or close, got " << r.Describe());
  if (r.status >= 400) {
    CHECK_MESSAGE(r.MediaType() == "application/json", r.Describe());
    const std::string diff = CheckErrorBody(r.body);
    CHECK_MESSAGE(diff.empty(), diff << " in " << r.Describe());
  }
}

HttpResponse SendRaw(const ServerProcess& server, std::string_view bytes,
                     std::chrono::milliseconds timeout) {
  RawConnection connection(server);
  connection.SendAll(bytes);
  return connection.ReadResponse(timeout);
}

int ConnectNonBlocking(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 &&
      errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool WriteAll(int fd, std::string_view bytes, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ENOTCONN) {
      return false;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
  }
  return true;
}

int StatusOf(std::string_view text) {
  if (text.size() < 12 || text.substr(0, 5) != "HTTP/") return 0;
  const size_t space = text.find(' ');
  if (space == std::string_view::npos || space + 4 > text.size()) return 0;
  int status = 0;
  for (size_t i = space + 1; i < space + 4; ++i) {
    if (text[i] < '0' || text[i] > '9') return 0;
    status = status * 10 + (text[i] - '0');
  }
  return status;
}

std::string TagJson(const std::string& cookie, int64_t offset_ms) {
  return MakeTag(kT0 + offset_ms, cookie).ToJson();
}

long StatusKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

}  // namespace allezon_hardening
