// Size limits (issue 7): tag body 64 KiB -> 413, query body 1 MiB -> 413, request line and
// headers 16 KiB -> 414/431, bodies announced or streamed past the limit cut quickly.
#include <chrono>
#include <string>

#include "hardening.h"

namespace allezon_hardening {
namespace {

using Clock = std::chrono::steady_clock;

TEST_SUITE("limits") {
  TEST_CASE("body limits: tag 64 KiB, query 1 MiB") {
    Victim v;
    // A valid tag padded with an unknown field past 64 KiB.
    std::string big = TagJson("victim", 7000);
    big.insert(1, "\"pad\":\"" + std::string(70000, 'x') + "\",");
    HttpResponse r = v.http.PostTag(big);
    ExpectRefused(r, "tag body over 64 KiB");
    CHECK_MESSAGE(r.status == 413, r.Describe());
    HttpResponse q = v.http.Profile("victim", "2022-03-01T12:00:00_2022-03-02T00:00:00",
                                    std::nullopt, std::string(1024 * 1024 + 1, ' '));
    ExpectRefused(q, "query body over 1 MiB");
    CHECK_MESSAGE(q.status == 413, q.Describe());
    // Just under the query limit is fine (debug bodies carry whole profiles).
    HttpResponse ok = v.http.Profile("victim", "2022-03-01T12:00:00_2022-03-02T00:00:00",
                                     std::nullopt, std::string(1000 * 1000, ' '));
    CHECK_MESSAGE(ok.status == 200, ok.Describe());
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("an announced huge body is refused without waiting for it") {
    Victim v;
    const auto start = Clock::now();
    HttpResponse r = SendRaw(v.server,
                             "POST /user_tags HTTP/1.1\r\nHost: x\r\nContent-Length: "
                             "1000000000000\r\n\r\n{\"time\":",
                             std::chrono::seconds(20));
    ExpectRefused(r, "Content-Length 10^12");
    CHECK_MESSAGE(r.status == 413, r.Describe());
    CHECK(Clock::now() - start < std::chrono::seconds(12));  // the request timeout at most
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("a streamed chunked body past the limit is cut with 413") {
    Victim v;
    RawConnection c(v.server);
    REQUIRE(
        c.SendAll("POST /user_profiles/victim?time_range=2022-03-01T00:00:00_"
                  "2022-03-02T00:00:00 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
    const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
    bool cut = false;
    for (int i = 0; i < 200 && !cut; ++i) cut = !c.SendAll(chunk);  // 12.8 MiB at most
    HttpResponse r = c.ReadResponse(std::chrono::seconds(10));
    ExpectRefused(r, "chunked body of 12 MiB");
    CHECK_MESSAGE((r.status == 413 || r.status == 0), r.Describe());
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("request line and header limits: 414 and 431") {
    Victim v;
    const std::string long_query =
        "/user_profiles/victim?time_range=2022-03-01T00:00:00_"
        "2022-03-02T00:00:00&pad=" +
        std::string(20000, 'p');
    HttpResponse uri = SendRaw(v.server, BuildRequest("POST", long_query));
    ExpectRefused(uri, "20 KB request line");
    CHECK_MESSAGE(uri.status == 414, uri.Describe());
    HttpResponse cookie = SendRaw(
        v.server,
        BuildRequest("POST", "/user_profiles/" + std::string(10000, 'c') + "?time_range=x_y"));
    ExpectRefused(cookie, "10 KB path");
    HttpResponse header = SendRaw(
        v.server, BuildRequest("GET", "/healthz", "", "", {"X-Big: " + std::string(20000, 'h')}));
    ExpectRefused(header, "20 KB header");
    CHECK_MESSAGE(header.status == 431, header.Describe());
    std::vector<std::string> many;
    for (int i = 0; i < 2000; ++i) many.push_back("X-H" + std::to_string(i) + ": v");
    HttpResponse headers = SendRaw(v.server, BuildRequest("GET", "/healthz", "", "", many));
    ExpectRefused(headers, "2000 headers");
    CHECK_MESSAGE(headers.status == 431, headers.Describe());
    // Headers that do fit are fine.
    HttpResponse fits = SendRaw(
        v.server, BuildRequest("GET", "/healthz", "", "", {"X-Ok: " + std::string(8000, 'h')}));
    CHECK_MESSAGE(fits.status == 200, fits.Describe());
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("limits follow their flags") {
    ServerOptions options;
    options.extra_args = {"--max-header-bytes",     "2048", "--max-body-bytes", "2048",
                          "--max-query-body-bytes", "4096"};
    Victim v(options);
    HttpResponse header = SendRaw(
        v.server, BuildRequest("GET", "/healthz", "", "", {"X-Big: " + std::string(3000, 'h')}));
    CHECK_MESSAGE(header.status == 431, header.Describe());
    std::string tag = TagJson("victim", 9000);
    tag.insert(1, "\"pad\":\"" + std::string(3000, 'x') + "\",");
    HttpResponse body = v.http.PostTag(tag);
    CHECK_MESSAGE(body.status == 413, body.Describe());
    HttpResponse query = v.http.Profile("victim", "2022-03-01T12:00:00_2022-03-02T00:00:00",
                                        std::nullopt, std::string(5000, ' '));
    CHECK_MESSAGE(query.status == 413, query.Describe());
    v.ExpectUnchangedAndAlive();
  }
}

}  // namespace
}  // namespace allezon_hardening
