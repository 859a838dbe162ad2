// Slow, idle, vanishing, pipelining and very many clients (issue 7). The defined behaviour:
// up to --max-connections connections are open and served at once (event loops: an idle or
// slow one holds no thread), further ones get 503 and close; a request must arrive whole
// within --request-timeout, else 408 and close.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "hardening.h"

namespace allezon_hardening {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Outcome {
  int ok = 0;      // 2xx
  int busy = 0;    // 503 (JSON body checked)
  int other = 0;   // any other status
  int closed = 0;  // closed without an answer
  int hung = 0;    // nothing by the deadline
};

// Opens `n` connections at once, then sends `request` on each, and reads one answer from
// each, all with poll from this thread.
Outcome ManyAtOnce(int port, int n, const std::string& request, Clock::duration deadline) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) fds.push_back(ConnectNonBlocking(port));
  for (int fd : fds) {
    if (fd >= 0) WriteAll(fd, request, milliseconds(5000));
  }
  std::vector<std::string> answers(fds.size());
  std::vector<bool> done(fds.size(), false);
  Outcome out;
  const auto end = Clock::now() + deadline;
  size_t remaining = fds.size();
  while (remaining > 0 && Clock::now() < end) {
    std::vector<pollfd> polls;
    std::vector<size_t> index;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!done[i] && fds[i] >= 0) {
        polls.push_back({fds[i], POLLIN, 0});
        index.push_back(i);
      } else if (!done[i]) {
        done[i] = true;
        --remaining;
        ++out.closed;
      }
    }
    if (polls.empty()) break;
    ::poll(polls.data(), polls.size(), 100);
    for (size_t k = 0; k < polls.size(); ++k) {
      if (polls[k].revents == 0) continue;
      const size_t i = index[k];
      char buffer[4096];
      const ssize_t got = ::recv(fds[i], buffer, sizeof(buffer), MSG_DONTWAIT);
      if (got > 0) answers[i].append(buffer, static_cast<size_t>(got));
      const size_t head_end = answers[i].find("\r\n\r\n");
      const bool complete = head_end != std::string::npos &&
                            (answers[i].find("Content-Length: 0") != std::string::npos ||
                             answers[i].back() == '}' || answers[i].back() == '\n');
      if (got == 0 || (got < 0 && errno != EAGAIN) || complete) {
        done[i] = true;
        --remaining;
        const int status = StatusOf(answers[i]);
        if (status >= 200 && status < 300) {
          ++out.ok;
        } else if (status == 503) {
          ++out.busy;
          CHECK_MESSAGE(answers[i].find("{\"error\":") != std::string::npos, answers[i]);
        } else if (status == 0) {
          ++out.closed;
        } else {
          ++out.other;
          MESSAGE("unexpected answer: " << answers[i].substr(0, 300));
        }
      }
    }
  }
  out.hung = static_cast<int>(remaining);
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
  return out;
}

// The server's connection counters (accepted, queued, rejected, yielded, timed out...) from
// /metrics, one per line: what became of connections that were not answered.
std::string ConnectionCounters(HttpClient& http) {
  const HttpResponse r = http.Get("/metrics");
  std::string out;
  size_t pos = 0;
  while (pos < r.body.size()) {
    size_t end = r.body.find('\n', pos);
    if (end == std::string::npos) end = r.body.size();
    const std::string_view line(r.body.data() + pos, end - pos);
    if (line.starts_with("allezon_http_connections") ||
        line.starts_with("allezon_http_request_timeouts")) {
      out.append(line).append("\n");
    }
    pos = end + 1;
  }
  return out;
}

// A client that sends a request one byte at a time, `gap` apart.
std::thread SlowLoris(int port, std::string request, milliseconds gap, std::atomic<bool>* stop,
                      std::atomic<int>* ended) {
  return std::thread([=] {
    const int fd = ConnectNonBlocking(port);
    for (char c : request) {
      if (stop->load() || !WriteAll(fd, std::string_view(&c, 1), milliseconds(1000))) break;
      std::this_thread::sleep_for(gap);
    }
    ended->fetch_add(1);
    ::close(fd);
  });
}

TEST_SUITE("connections") {
  TEST_CASE("slow-loris clients are cut at the request timeout and cannot starve others") {
    ServerOptions options;
    options.extra_args = {"--event-loops", "2", "--request-timeout", "2"};
    Victim v(options);
    std::atomic<bool> stop{false};
    std::atomic<int> ended{0};
    std::vector<std::thread> slow;
    const std::string request = BuildRequest("POST", "/user_tags", TagJson("slow"));
    for (int i = 0; i < 4; ++i)
      slow.push_back(SlowLoris(v.server.port(), request, milliseconds(100), &stop, &ended));
    std::this_thread::sleep_for(milliseconds(300));
    // Slow clients hold no loop: a good client is served at once.
    const auto start = Clock::now();
    HttpClient good(v.server);
    HttpResponse r = good.PostTag(TagJson("good", 2 * kHour));  // outside the snapshot
    const auto took = Clock::now() - start;
    CHECK_MESSAGE(r.status == 204, r.Describe());
    CHECK_MESSAGE(took < seconds(5),
                  "served after " << std::chrono::duration<double>(took).count() << " s");
    // A slow client's request is answered 408 (or closed) by the deadline: one probe.
    RawConnection probe(v.server);
    probe.SendAll("POST /user_tags HTTP/1.1\r\nHost: x\r\n");
    const auto probe_start = Clock::now();
    HttpResponse cut = probe.ReadResponse(seconds(10));
    CHECK_MESSAGE((cut.status == 408 || cut.status == 0), cut.Describe());
    CHECK(Clock::now() - probe_start < seconds(8));
    stop = true;
    for (std::thread& t : slow) t.join();
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("idle connections do not keep others waiting") {
    ServerOptions options;
    options.extra_args = {"--event-loops", "2"};
    Victim v(options);
    std::vector<int> idle;
    for (int i = 0; i < 10; ++i) idle.push_back(ConnectNonBlocking(v.server.port()));
    std::this_thread::sleep_for(milliseconds(200));
    const auto start = Clock::now();
    HttpClient client(v.server);
    HttpResponse r = client.Get("/healthz");
    CHECK_MESSAGE(r.status == 200, r.Describe());
    CHECK(Clock::now() - start < seconds(3));  // not the 5 s keep-alive timeout of each
    for (int fd : idle) ::close(fd);
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("clients that disconnect mid-request store nothing") {
    Victim v;
    const std::string tag = TagJson("victim", 3000);
    for (int i = 0; i < 50; ++i) {
      RawConnection c(v.server);
      const std::string request = BuildRequest("POST", "/user_tags", tag);
      c.SendAll(request.substr(0, request.size() - 1 - static_cast<size_t>(i % 20)));
    }  // closed here, one byte or more short
    for (int i = 0; i < 20; ++i) {
      RawConnection c(v.server);
      c.SendAll(BuildRequest("POST", "/user_tags", tag).substr(0, static_cast<size_t>(i * 7)));
    }
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("pipelined requests are answered in order") {
    Victim v;
    RawConnection c(v.server);
    std::string batch = BuildRequest("POST", "/user_tags", TagJson("pipelined", 1)) +
                        BuildRequest("GET", "/nope") +
                        BuildRequest("POST",
                                     "/user_profiles/pipelined?time_range=2022-03-01T00:00:00_"
                                     "2022-03-02T00:00:00") +
                        BuildRequest("GET", "/healthz");
    for (int i = 0; i < 100; ++i) batch += BuildRequest("GET", "/healthz");
    REQUIRE(c.SendAll(batch));
    CHECK(c.ReadResponse().status == 204);
    CHECK(c.ReadResponse().status == 404);
    HttpResponse profile = c.ReadResponse();
    CHECK(profile.status == 200);
    CHECK(profile.body.find("2022-03-01T12:00:00.001Z") != std::string::npos);
    int healthy = 0;
    for (int i = 0; i < 101; ++i) healthy += c.ReadResponse().status == 200 ? 1 : 0;
    CHECK(healthy == 101);
  }

  TEST_CASE("1,000 connections opened at once are all answered") {
    Victim v;
    const Outcome out =
        ManyAtOnce(v.server.port(), 1000, BuildRequest("GET", "/healthz"), seconds(60));
    MESSAGE("ok " << out.ok << " busy " << out.busy << " closed " << out.closed << " hung "
                  << out.hung);
    INFO("server counters:\n" << ConnectionCounters(v.http));
    CHECK(out.hung == 0);
    CHECK(out.other == 0);
    CHECK(out.ok == 1000);  // --max-connections is 1280 by default
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("beyond --max-connections, new connections get 503 at once") {
    ServerOptions options;
    options.extra_args = {"--max-connections", "10"};
    Victim v(options);
    const auto start = Clock::now();
    const Outcome out =
        ManyAtOnce(v.server.port(), 500, BuildRequest("GET", "/healthz"), seconds(60));
    MESSAGE("ok " << out.ok << " busy " << out.busy << " closed " << out.closed << " hung "
                  << out.hung << " in "
                  << std::chrono::duration<double>(Clock::now() - start).count() << " s");
    CHECK(out.hung == 0);
    CHECK(out.other == 0);
    CHECK(out.ok >= 2);
    CHECK(out.busy > 0);
    CHECK(out.ok + out.busy + out.closed == 500);
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("300 concurrent keep-alive clients are all served") {
    Victim v;
    constexpr int kClients = 300;
    constexpr int kEach = 5;
    std::atomic<int> stored{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.emplace_back([&, i] {
        HttpClient client(v.server);
        for (int k = 0; k < kEach; ++k) {
          HttpResponse r = client.PostTag(
              MakeTag(kT0 + 60'000 + i * kEach + k, "client" + std::to_string(i)).ToJson());
          if (r.status == 204) stored.fetch_add(1);
        }
      });
    }
    for (std::thread& t : clients) t.join();
    CHECK(stored.load() == kClients * kEach);
    HttpResponse count = v.http.Aggregates(
        "time_range=2022-03-01T12:01:00_2022-03-01T12:02:00&action=VIEW&aggregates=COUNT");
    CHECK_MESSAGE(
        count.body.find("\"" + std::to_string(kClients * kEach) + "\"") != std::string::npos,
        count.body);
  }
}

}  // namespace
}  // namespace allezon_hardening
