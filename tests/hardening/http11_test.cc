// HTTP/1.1 framing of the one connection layer (Boost.Beast's parser, kept per connection):
// pipelined tags answered in order with errors in between, Expect: 100-continue, chunked
// bodies, Connection: close, HTTP/1.0, a graceful stop with tags in flight, and the strict
// points of RFC 9112 (bare LF, Host, no 100 Continue to HTTP/1.0).
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "hardening.h"

namespace allezon_hardening {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string ProfileOf(HttpClient& http, const std::string& cookie, int limit = 1000) {
  HttpResponse r = http.Post(
      "/user_profiles/" + cookie +
      "?time_range=2022-03-01T00:00:00_2022-03-02T00:00:00&limit=" + std::to_string(limit));
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  return r.body;
}

// Tags of `cookie` in a profile answer (not counting the answer's own "cookie" field).
size_t TagsOf(const std::string& profile, const std::string& cookie) {
  const std::string what = "\"cookie\":\"" + cookie + "\",\"country\"";
  size_t n = 0;
  for (size_t at = profile.find(what); at != std::string::npos; at = profile.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// These cases store tags on purpose: the server must still answer.
void ExpectAlive(Victim& v) {
  REQUIRE_MESSAGE(v.server.Running(), "the server died:\n" << v.server.Log());
  HttpClient client(v.server);
  CHECK(client.Get("/healthz").status == 200);
}

TEST_SUITE("http11") {
  TEST_CASE("300 pipelined tags with bad ones among them are answered in order") {
    ServerOptions options;
    options.profile_cap = 1000;
    Victim v(options);
    RawConnection c(v.server);
    std::string batch;
    for (int i = 0; i < 300; ++i) {
      if (i % 50 == 7) {
        batch += BuildRequest("POST", "/user_tags", R"({"cookie": "pipe"})");  // 400
      } else {
        batch += BuildRequest("POST", "/user_tags", TagJson("pipe", i));
      }
    }
    batch += BuildRequest("POST",
                          "/user_profiles/pipe?time_range=2022-03-01T00:00:00_2022-03-02T00:00:00"
                          "&limit=1000");
    REQUIRE(c.SendAll(batch));
    int answered = 0;
    for (int i = 0; i < 300; ++i) {
      HttpResponse r = c.ReadResponse();
      const int expected = i % 50 == 7 ? 400 : 204;
      CHECK_MESSAGE(r.status == expected, "request " << i << ": " << r.Describe());
      if (expected == 400) CHECK(r.body.find("\"error\"") != std::string::npos);
      answered += r.status == expected ? 1 : 0;
    }
    CHECK(answered == 300);
    // The query after them on the same connection sees every stored tag.
    HttpResponse profile = c.ReadResponse();
    REQUIRE_MESSAGE(profile.status == 200, profile.Describe());
    CHECK(TagsOf(profile.body, "pipe") == 294);
    ExpectAlive(v);
  }

  TEST_CASE("Expect: 100-continue gets one interim answer, then the real one") {
    Victim v;
    RawConnection c(v.server);
    const std::string tag = TagJson("expecting", 1);
    std::string head =
        BuildRequest("POST", "/user_tags", tag, "application/json", {"Expect: 100-continue"});
    head.resize(head.size() - tag.size());  // headers only, as curl sends them first
    REQUIRE(c.SendAll(head));
    HttpResponse interim = c.ReadResponse(seconds(5));
    CHECK_MESSAGE(interim.status == 100, interim.Describe());
    REQUIRE(c.SendAll(tag));
    HttpResponse stored = c.ReadResponse();
    CHECK_MESSAGE(stored.status == 204, stored.Describe());
    // And a query with the header (its body sent at once) is answered once.
    REQUIRE(c.SendAll(BuildRequest(
        "POST", "/user_profiles/expecting?time_range=2022-03-01T00:00:00_2022-03-02T00:00:00", "",
        "application/json", {"Expect: 100-continue"})));
    HttpResponse profile = c.ReadResponse();
    if (profile.status == 100) profile = c.ReadResponse();
    REQUIRE_MESSAGE(profile.status == 200, profile.Describe());
    CHECK(TagsOf(profile.body, "expecting") == 1);
    CHECK(c.RoundTrip("GET", "/healthz").status == 200);
    ExpectAlive(v);
  }

  TEST_CASE("a chunked tag is stored like any other") {
    Victim v;
    const std::string tag = TagJson("chunky", 2);
    std::string request =
        "POST /user_tags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    const size_t half = tag.size() / 2;
    for (std::string_view part :
         {std::string_view(tag).substr(0, half), std::string_view(tag).substr(half)}) {
      char size[16];
      std::snprintf(size, sizeof(size), "%zx\r\n", part.size());
      request += size;
      request += part;
      request += "\r\n";
    }
    request += "0\r\n\r\n";
    RawConnection c(v.server);
    REQUIRE(c.SendAll(request));
    HttpResponse r = c.ReadResponse();
    CHECK_MESSAGE(r.status == 204, r.Describe());
    HttpClient http(v.server);
    CHECK(TagsOf(ProfileOf(http, "chunky"), "chunky") == 1);
    ExpectAlive(v);
  }

  TEST_CASE("Connection: close and HTTP/1.0 tags are stored, answered, then closed") {
    Victim v;
    {
      RawConnection c(v.server);
      REQUIRE(c.SendAll(BuildRequest("POST", "/user_tags", TagJson("closing", 1),
                                     "application/json", {"Connection: close"}) +
                        BuildRequest("POST", "/user_tags", TagJson("closing", 2))));
      HttpResponse r = c.ReadResponse();
      CHECK_MESSAGE(r.status == 204, r.Describe());
      CHECK(c.PeerClosed(seconds(5)));  // the second request is never handled
    }
    {
      RawConnection c(v.server);
      const std::string tag = TagJson("closing", 3);
      REQUIRE(
          c.SendAll("POST /user_tags HTTP/1.0\r\nContent-Type: application/json\r\n"
                    "Content-Length: " +
                    std::to_string(tag.size()) + "\r\n\r\n" + tag));
      HttpResponse r = c.ReadResponse();
      CHECK_MESSAGE(r.status == 204, r.Describe());
      CHECK(c.PeerClosed(seconds(5)));
    }
    HttpClient http(v.server);
    const std::string profile = ProfileOf(http, "closing");
    CHECK(TagsOf(profile, "closing") == 2);
    CHECK(profile.find("12:00:00.002Z") == std::string::npos);
    ExpectAlive(v);
  }

  TEST_CASE("pipelined queries whose answers exceed the output backlog are all answered") {
    ServerOptions options;
    options.profile_cap = 1000;
    Victim v(options);
    {
      RawConnection c(v.server);
      std::string tags;
      for (int i = 0; i < 1000; ++i) tags += BuildRequest("POST", "/user_tags", TagJson("big", i));
      REQUIRE(c.SendAll(tags));
      for (int i = 0; i < 1000; ++i) REQUIRE(c.ReadResponse().status == 204);
    }
    // ≈ 40 × 250 KB of answers in one write: more than the 4 MiB the epoll engine buffers for
    // a connection before it stops handling its requests until the client reads.
    RawConnection c(v.server);
    std::string queries;
    const std::string target =
        "/user_profiles/big?time_range=2022-03-01T00:00:00_2022-03-02T00:00:00&limit=1000";
    for (int i = 0; i < 40; ++i) queries += BuildRequest("POST", target);
    REQUIRE(c.SendAll(queries));
    for (int i = 0; i < 40; ++i) {
      INFO("answer " << i);
      // Well inside the 5 s read timeout: a stalled connection would get its 408 only later.
      HttpResponse r = c.ReadResponse(milliseconds(3000));
      REQUIRE_MESSAGE(r.status == 200, r.Describe());
      CHECK(TagsOf(r.body, "big") == 1000);
    }
  }

  TEST_CASE("an empty line after a request is not a request that timed out") {
    Victim v;
    RawConnection c(v.server);
    REQUIRE(c.SendAll(BuildRequest("POST", "/user_tags", TagJson("crlf", 1)) + "\r\n"));
    CHECK(c.ReadResponse().status == 204);
    // Past the 5 s read timeout: the connection may be closed as idle, but must not be
    // answered 408 as if a request had stalled.
    HttpResponse r = c.ReadResponse(milliseconds(8000));
    CHECK_MESSAGE(r.status != 408, r.Describe());
  }

  TEST_CASE("Connection: Close in any spelling closes after the answer") {
    Victim v;
    RawConnection c(v.server);
    REQUIRE(
        c.SendAll(BuildRequest("GET", "/healthz", "", "application/json", {"Connection: Close"}) +
                  BuildRequest("GET", "/healthz")));
    CHECK(c.ReadResponse().status == 200);
    CHECK(c.PeerClosed(seconds(5)));
  }

  TEST_CASE("a client that half-closes after its requests still gets every answer") {
    Victim v;
    RawConnection c(v.server);
    std::string batch;
    for (int i = 0; i < 20; ++i) batch += BuildRequest("POST", "/user_tags", TagJson("half", i));
    batch += BuildRequest("GET", "/healthz");
    REQUIRE(c.SendAll(batch));
    c.ShutdownWrite();
    for (int i = 0; i < 20; ++i) CHECK(c.ReadResponse().status == 204);
    CHECK(c.ReadResponse().status == 200);
    CHECK(c.PeerClosed(seconds(5)));
    HttpClient http(v.server);
    CHECK(TagsOf(ProfileOf(http, "half"), "half") == 20);
  }

  TEST_CASE("SIGTERM with tags in flight: every tag answered 204 is stored") {
    ServerOptions options;
    options.profile_cap = 1'000'000;
    Victim v(options);
    std::atomic<bool> stop{false};
    std::atomic<int> acknowledged{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 8; ++w) {
      writers.emplace_back([&, w] {
        RawConnection c(v.server);
        for (int i = 0; !stop.load(); ++i) {
          if (!c.SendAll(
                  BuildRequest("POST", "/user_tags", TagJson("term" + std::to_string(w), i)))) {
            return;
          }
          HttpResponse r = c.ReadResponse(seconds(10));
          if (r.status != 204) return;
          acknowledged.fetch_add(1);
        }
      });
    }
    std::this_thread::sleep_for(milliseconds(500));
    const ExitInfo exit = v.server.SignalAndWait(SIGTERM, Scaled(seconds(30)));
    stop = true;
    for (std::thread& t : writers) t.join();
    CHECK(exit.exited);
    CHECK(exit.exit_code == 0);
    REQUIRE(acknowledged.load() > 0);
    // Reopen the same data and count.
    v.server.Start();
    HttpClient http(v.server);
    int stored = 0;
    for (int w = 0; w < 8; ++w) {
      const std::string cookie = "term" + std::to_string(w);
      stored += static_cast<int>(TagsOf(ProfileOf(http, cookie, 100000), cookie));
    }
    CHECK(stored >= acknowledged.load());
  }
}

}  // namespace
}  // namespace allezon_hardening
