// Streamed answers (GET /export) against clients that read slowly, stop reading or leave: the
// server must hold about a MiB per export whatever its length, send the whole body in order to
// a reader however slow, stop producing for a client that is gone or stalled, refuse exports
// beyond the ones it streams at once (503), and keep the connection usable afterwards.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "hardening.h"

namespace allezon_hardening {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kTags = 40'000;
constexpr int kBatch = 2'000;
// How much the server's anonymous memory may grow while a client pauses a 26 MB export.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// Sanitizers add shadow memory and keep freed blocks: only "far from the body, ~4x of it with
// the copies a whole body costs there" is checked; plain builds check the real bound.
constexpr bool kSanitized = true;
constexpr long kPausedGrowthKb = 40 * 1024;
#else
constexpr bool kSanitized = false;
constexpr long kPausedGrowthKb = 12 * 1024;
#endif
constexpr int kVictimTags = 2;  // the Victim's own VIEW and BUY
const char* kWholeDay = "2022-03-01T00:00:00.000_2022-03-02T00:00:00.000";
const char* kFourHours = "2022-03-01T01:00:00.000_2022-03-01T05:00:00.000";  // about 4.7 MB

long Threads(pid_t pid) {
  long n = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    ++n;
  }
  return n;
}

ServerOptions StreamingServer(int write_timeout_s = 1) {
  ServerOptions options;
  // The batch body limit is --max-batch-tags x 512 B: room for kBatch long lines.
  options.extra_args = {"--raw-retention-hours", "24",
                        "--max-batch-tags",      "10000",
                        "--write-timeout",       std::to_string(write_timeout_s)};
  return options;
}

// kTags tags over the day with long strings: about 650 B a line, a 26 MB NDJSON export.
void Fill(HttpClient& http, int tags) {
  const std::string pad(110, 'x');
  std::string body;
  for (int i = 0; i < tags; ++i) {
    Tag t = MakeTag(kT0 - 11 * 3'600'000 + int64_t{i} * 1999,
                    "cookie-" + std::to_string(i % 997) + pad, i % 5 == 0 ? "BUY" : "VIEW");
    t.origin = "origin-" + std::to_string(i % 13) + pad;
    t.brand_id = "brand-" + std::to_string(i % 17) + pad;
    t.category_id = "category-" + std::to_string(i % 19) + pad;
    body += t.ToJson() + "\n";
    if ((i + 1) % kBatch == 0 || i + 1 == tags) {
      HttpResponse r = http.Post("/user_tags/batch", body);
      REQUIRE_MESSAGE(r.status == 204, r.Describe());
      body.clear();
    }
  }
}

// A blocking connection with a small receive buffer (so that the server, not the kernel, would
// have to hold what the client does not read) that has sent `request`.
int Open(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  const int small = 64 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  REQUIRE(WriteAll(fd, request, seconds(5)));
  return fd;
}

std::string ExportRequest(const char* range, const char* version = "1.1") {
  return std::string("GET /export?time_range=") + range + " HTTP/" + version +
         "\r\nHost: localhost\r\n\r\n";
}

// Reads into *raw until it holds `at_least` bytes or the end of a chunked body (this test's
// bodies are NDJSON: no "\r\n" of their own), the peer closes, or `timeout` passes. False on
// a closed or reset connection.
bool ReadInto(int fd, std::string* raw, size_t at_least, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[64 * 1024];
  while (raw->size() < at_least && !raw->ends_with("\r\n0\r\n\r\n")) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return true;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    raw->append(buffer, static_cast<size_t>(n));
  }
  return true;
}

// The body of a chunked answer whose head and body are `raw`; false while the last chunk has
// not arrived (or the framing is wrong).
bool DecodeChunked(const std::string& raw, std::string* body) {
  size_t at = raw.find("\r\n\r\n");
  if (at == std::string::npos) return false;
  at += 4;
  body->clear();
  for (;;) {
    const size_t eol = raw.find("\r\n", at);
    if (eol == std::string::npos) return false;
    const size_t size = std::stoul(raw.substr(at, eol - at), nullptr, 16);
    if (eol + 2 + size + 2 > raw.size()) return false;
    if (size == 0) return raw.compare(eol + 2, 2, "\r\n") == 0;
    body->append(raw, eol + 2, size);
    at = eol + 2 + size + 2;
  }
}

TEST_SUITE("streaming") {
  TEST_CASE("a long export streams to a slow reader: memory flat, the body whole and in order") {
    // The client's pauses stay well within the write timeout, however slow the build.
    Victim v(StreamingServer(static_cast<int>(2 * TimeScale()) + 1));
    Fill(v.http, kTags);
    const pid_t pid = v.server.pid();
    const long idle_kb = StatusKb(pid, "RssAnon");

    const int fd = Open(v.server.port(), ExportRequest(kWholeDay));
    std::string raw;
    REQUIRE(ReadInto(fd, &raw, 1 << 20, Scaled(seconds(20))));
    CHECK(raw.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(raw.find("Transfer-Encoding: chunked\r\n") < raw.find("\r\n\r\n"));
    // The client stops reading: whatever the server built meanwhile is all it holds.
    std::this_thread::sleep_for(Scaled(milliseconds(800)));
    const long paused_kb = StatusKb(pid, "RssAnon");
    INFO("RssAnon idle " << idle_kb << " kB, paused after 1 MiB " << paused_kb << " kB");
    // The export is 26 MB: a server holding it (or most of it) would be far above this.
    CHECK(paused_kb - idle_kb < kPausedGrowthKb);

    // Read slowly (a pause every 2 MiB, under the write timeout), then compare with the body
    // a fast client gets.
    std::string body;
    long reading_kb = paused_kb;
    while (!DecodeChunked(raw, &body)) {
      const size_t before = raw.size();
      REQUIRE_MESSAGE(ReadInto(fd, &raw, raw.size() + (2 << 20), Scaled(seconds(20))),
                      "connection closed after " << raw.size() << " bytes");
      REQUIRE(raw.size() > before);
      std::this_thread::sleep_for(milliseconds(20));
      reading_kb = std::max(reading_kb, StatusKb(pid, "RssAnon"));
    }
    // A reader that is always behind must not make the server keep what it has sent. (Not
    // under sanitizers: ASan's quarantine keeps every freed buffer of the 26 MB for a while.)
    INFO("RssAnon while reading slowly: up to " << reading_kb << " kB");
    if (!kSanitized) CHECK(reading_kb - idle_kb < kPausedGrowthKb);
    ::close(fd);
    HttpResponse fast = v.http.Get(std::string("/export?time_range=") + kWholeDay);
    REQUIRE(fast.status == 200);
    CHECK(body.size() > 20u << 20);
    CHECK(std::count(body.begin(), body.end(), '\n') == kTags + kVictimTags);
    CHECK(body == fast.body);
    // The keep-alive connection of the fast client serves on after a chunked answer.
    CHECK(v.http.Get("/readyz").status == 200);
  }

  TEST_CASE("exports left unread or abandoned stop; beyond 8 at once a 503; the server serves on") {
    Victim v(StreamingServer());
    Fill(v.http, kTags);
    const pid_t pid = v.server.pid();
    const long idle_threads = Threads(pid);

    std::vector<int> stalled;
    for (int i = 0; i < 8; ++i) {
      stalled.push_back(Open(v.server.port(), ExportRequest(kWholeDay)));
      std::string head;
      REQUIRE(ReadInto(stalled.back(), &head, 16, Scaled(seconds(10))));
      CHECK(StatusOf(head) == 200);
    }
    CHECK(Threads(pid) >= idle_threads + 8);
    HttpResponse refused = v.http.Get(std::string("/export?time_range=") + kWholeDay);
    CHECK(refused.status == 503);
    CHECK(refused.Header("Retry-After") == "1");
    CHECK(refused.body.find("\"error\"") != std::string::npos);

    // Half of them leave; the others never read again and are dropped after --write-timeout 1.
    for (int i = 0; i < 4; ++i) ::close(stalled[static_cast<size_t>(i)]);
    const auto deadline = std::chrono::steady_clock::now() + Scaled(seconds(10));
    while (Threads(pid) > idle_threads && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(50));
    }
    CHECK(Threads(pid) == idle_threads);
    for (size_t i = 4; i < stalled.size(); ++i) {
      std::string rest;
      // Closed by the server (after what the socket buffers held), never completed.
      std::string body;
      CHECK_FALSE(ReadInto(stalled[i], &rest, SIZE_MAX, Scaled(seconds(10))));
      CHECK_FALSE(DecodeChunked(rest, &body));
      ::close(stalled[i]);
    }
    // An export the producer finishes while megabytes still wait to be sent, to a client that
    // then reads nothing: the connection is closed after the write timeout all the same.
    const int finished = Open(v.server.port(), ExportRequest(kFourHours));
    std::this_thread::sleep_for(Scaled(seconds(3)));  // past --write-timeout 1
    std::string rest, body;
    CHECK_FALSE(ReadInto(finished, &rest, SIZE_MAX, Scaled(seconds(10))));
    CHECK(StatusOf(rest) == 200);
    CHECK_FALSE(DecodeChunked(rest, &body));
    ::close(finished);

    HttpResponse again = v.http.Get(std::string("/export?time_range=") + kWholeDay);
    CHECK(again.status == 200);
    CHECK(std::count(again.body.begin(), again.body.end(), '\n') == kTags + kVictimTags);
    CHECK(v.http.PostTag(TagJson("after")).status == 204);
  }

  TEST_CASE("HTTP/1.0 gets the export up to the close; HEAD gets no body") {
    Victim v(StreamingServer());
    Fill(v.http, 100);
    const int fd = Open(v.server.port(), ExportRequest(kWholeDay, "1.0"));
    std::string raw;
    CHECK_FALSE(ReadInto(fd, &raw, SIZE_MAX, Scaled(seconds(10))));  // ends with the close
    ::close(fd);
    const size_t head_end = raw.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    CHECK(StatusOf(raw) == 200);
    CHECK(raw.find("Transfer-Encoding") > head_end);
    CHECK(raw.find("Connection: close") < head_end);
    const std::string body = raw.substr(head_end + 4);
    CHECK(std::count(body.begin(), body.end(), '\n') == 100 + kVictimTags);
    CHECK(body == v.http.Get(std::string("/export?time_range=") + kWholeDay).body);

    const int head_fd = Open(v.server.port(), std::string("HEAD /export?time_range=") + kWholeDay +
                                                  " HTTP/1.1\r\nHost: localhost\r\n"
                                                  "Connection: close\r\n\r\n");
    std::string head;
    CHECK_FALSE(ReadInto(head_fd, &head, SIZE_MAX, Scaled(seconds(10))));
    ::close(head_fd);
    CHECK(StatusOf(head) == 200);
    CHECK(head.size() == head.find("\r\n\r\n") + 4);
  }
}

}  // namespace
}  // namespace allezon_hardening
