// Operator endpoints and logs (issue 7): GET /metrics (Prometheus text), /healthz, /readyz
// (503 while writes fail for want of space, ready again without a restart), structured
// one-line logs with a start-up line stating the configuration, and the access log.
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "hardening.h"

namespace allezon_hardening {
namespace {

// The value of the sample `series` (name with labels, exactly as printed), or -1.
double Sample(const std::string& metrics, const std::string& series) {
  std::istringstream lines(metrics);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

TEST_SUITE("operators") {
  TEST_CASE("GET /metrics in Prometheus text format") {
    Victim v;
    v.http.Get("/nope");
    v.http.Profile("victim", "2022-03-01T12:00:00_2022-03-02T00:00:00", std::nullopt,
                   R"({"cookie":"victim","views":[],"buys":[]})");
    HttpResponse r = v.http.Get("/metrics");
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    CHECK(r.Header("content-type").find("text/plain") == 0);
    const std::string& m = r.body;
    INFO(m.substr(0, 6000));
    CHECK(Sample(m, R"(allezon_http_requests_total{endpoint="user_tags",status="204"})") == 2);
    CHECK(Sample(m, R"(allezon_http_requests_total{endpoint="other",status="404"})") == 1);
    CHECK(Sample(m, R"(allezon_http_requests_total{endpoint="user_profiles",status="200"})") >= 1);
    CHECK(Sample(m, R"(allezon_http_request_duration_seconds_count{endpoint="user_tags"})") == 2);
    CHECK(
        Sample(m,
               R"(allezon_http_request_duration_seconds_bucket{endpoint="user_tags",le="+Inf"})") ==
        2);
    CHECK(Sample(m, "allezon_tags_written_total") == 2);
    CHECK(Sample(m, "allezon_commits_total") >= 1);
    // Lists count once folded: here by idle folding, a second after the last write (polled
    // for up to 30 s, as sanitizer builds are slow).
    std::string folded = m;
    for (int wait = 0; wait < 300 && Sample(folded, "allezon_profile_lists") != 2; ++wait) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      folded = v.http.Get("/metrics").body;
    }
    CHECK(Sample(folded, "allezon_profile_lists") == 2);
    CHECK(Sample(folded, "allezon_cookies_lower_bound") == 1);
    CHECK(Sample(m, "allezon_db_map_size_bytes") > 0);
    CHECK(Sample(m, "allezon_db_map_used_bytes") > 0);
    CHECK(Sample(m, "allezon_db_disk_bytes") > 0);
    CHECK(Sample(m, "allezon_aggregate_open_minutes") >= 0);
    CHECK(Sample(m, R"(allezon_debug_compare_total{query="user_profiles",outcome="mismatch"})") ==
          1);
    CHECK(Sample(m, "allezon_http_connections_active") >= 1);
    CHECK(Sample(m, "process_open_fds") > 0);
    CHECK(Sample(m, "process_resident_memory_bytes") > 0);
    // A cookie never becomes a label: one series per route, not per shopper.
    CHECK(m.find("victim") == std::string::npos);
    // Every sample line belongs to a family announced by # TYPE.
    std::istringstream lines(m);
    std::string line, family;
    while (std::getline(lines, line)) {
      if (line.rfind("# TYPE ", 0) == 0) {
        family = line.substr(7, line.find(' ', 7) - 7);
      } else if (!line.empty() && line[0] != '#') {
        CHECK_MESSAGE(line.rfind(family, 0) == 0, line << " outside " << family);
      }
    }
  }

  TEST_CASE("/healthz and /readyz; 503 while the database is full, ready again without restart") {
    ServerOptions options;
    options.extra_args = {"--initial-map-size-mb", "1", "--max-map-size-mb", "1", "--no-sync"};
    Victim v(options);
    CHECK(v.http.Get("/healthz").status == 200);
    CHECK(v.http.Get("/readyz").status == 200);
    int status = 204;
    int i = 0;
    for (; i < 200000 && status == 204; ++i) {
      Tag tag = MakeTag(kT0 + i, "filler" + std::to_string(i));
      tag.origin = "origin-" + std::to_string(i % 5000);
      status = v.http.PostTag(tag.ToJson()).status;
    }
    REQUIRE_MESSAGE(status == 503, "after " << i << " tags: " << status);
    HttpResponse not_ready = v.http.Get("/readyz");
    CHECK_MESSAGE(not_ready.status == 503, not_ready.Describe());
    CHECK(CheckErrorBody(not_ready.body).empty());
    CHECK(v.http.Get("/healthz").status == 200);  // up, just not writable
    // Raising the limit makes it writable and ready at once.
    HttpResponse raise = v.http.Post("/admin/max-map-size?mb=0");
    REQUIRE_MESSAGE(raise.status == 200, raise.Describe());
    CHECK(v.http.Get("/readyz").status == 200);
    CHECK(v.http.PostTag(TagJson("after-full")).status == 204);
  }

  TEST_CASE("structured logs: start-up line with the configuration; access log") {
    TempDir dir("allezon-access-log");
    const std::string access = (dir.path() / "access.log").string();
    ServerOptions options;
    options.extra_args = {"--access-log", access, "--event-loops", "2"};
    Victim v(options);
    v.http.Get("/nope?x=%0Ainjected%20level=error");
    v.server.Stop();
    const std::string log = v.server.Log();
    const size_t start = log.find("level=info msg=listening");
    REQUIRE_MESSAGE(start != std::string::npos, log);
    const std::string first = log.substr(start, log.find('\n', start) - start);
    for (const char* key : {"event_loops=2", "max_connections=", "max_body_bytes=65536",
                            "request_timeout_s=", "data_dir=", "port=", "access_log="}) {
      CHECK_MESSAGE(first.find(key) != std::string::npos, key << " not in " << first);
    }
    // Every line is one key=value record starting with ts= and level=.
    std::istringstream lines(log);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty() || line.rfind("===", 0) == 0) continue;  // ServerProcess's own lines
      CHECK_MESSAGE(line.rfind("ts=", 0) == 0, line);
      CHECK_MESSAGE(line.find(" level=") != std::string::npos, line);
    }
    std::ifstream in(access);
    std::string content((std::istreambuf_iterator<char>(in)), {});
    CHECK_MESSAGE(content.find("method=POST target=/user_tags status=204") != std::string::npos,
                  content);
    CHECK_MESSAGE(content.find("status=404") != std::string::npos, content);
    // Client bytes cannot forge a line: one line per request.
    int count = 0;
    for (char c : content) count += c == '\n' ? 1 : 0;
    CHECK_MESSAGE(count == 6, content);  // 2 tags, 3 snapshot queries, the 404
    CHECK(content.find("\ninjected") == std::string::npos);
  }
}

}  // namespace
}  // namespace allezon_hardening
