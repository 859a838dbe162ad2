// Full storage (issue 4): when the database reaches its configured maximum size, POST
// /user_tags answers 503 with a JSON error, queries keep working, nothing stored is damaged,
// and ingestion resumes without a restart once the limit is raised at run time.
#include "stream.h"

namespace allezon_dur {
namespace {

constexpr int64_t kFullStorageCap = 1000;

int64_t StatsField(HttpClient& http, const char* name) {
  HttpResponse r = http.Get("/admin/stats");
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  rapidjson::Document d = ParseJson(r.body);
  REQUIRE_MESSAGE((d.IsObject() && d.HasMember(name) && d[name].IsInt64()), r.body);
  return d[name].GetInt64();
}

TEST_SUITE("full") {
  TEST_CASE(
      "a full database answers 503, keeps answering queries, resumes when the limit is "
      "raised") {
    ServerOptions options;
    options.profile_cap = kFullStorageCap;
    options.extra_args = {"--initial-map-size-mb", "1", "--max-map-size-mb", "2"};
    ServerProcess server(options);
    HttpClient http(server);

    // Phase 1: 8 writers, large tags (220-byte product ids), until the first 503.
    Endpoint endpoint;
    StreamShape shape;
    shape.writers = 8;
    shape.cookies_per_writer = 64;
    shape.step_ms = 1000;
    shape.product_bytes = 220;
    shape.max_tags_per_writer = 20000;
    shape.stop_on_503 = true;
    Stream full(shape, &endpoint);
    endpoint.Publish(server.port());
    full.Start();
    // A server that died (a crash, or a sanitizer's halt_on_error) would leave the writers
    // retrying for ever: fail at once instead, with its log.
    while (!full.Finished()) {
      REQUIRE_MESSAGE(server.Running(), "the server died; log:\n" << server.Log());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    full.Stop();
    const std::vector<Sent> phase1 = full.Results();
    const Tally c1 = Count(phase1);
    MESSAGE("until full: " << Describe(c1));
    REQUIRE_MESSAGE(full.Saw503(), "2 MiB never filled up: " << Describe(c1));
    CHECK(c1.errors == 0);
    CHECK(c1.unknown == 0);
    CHECK(c1.acked > 1000);
    for (const Sent& s : phase1) {
      if (s.status == 503) {
        CHECK_MESSAGE(s.outcome == Outcome::kRejected, "503 without a JSON error body");
        break;
      }
    }
    CHECK(StatsField(http, "map_size") <= (2 << 20));

    // Still full: new tags are refused with a JSON error and change nothing. (A single tag may
    // still fit where the writers' last group commit did not: those are acknowledged and kept.)
    std::vector<Sent> all = phase1;
    const auto probe = [&](int writer, int64_t index) -> HttpResponse {
      Sent s;
      s.tag = StreamTag(shape, writer, index);
      s.key = std::get<std::string>(s.tag.product_id);
      s.writer = writer;
      s.index = index;
      HttpResponse r = http.PostTag(s.tag.ToJson());
      s.status = r.status;
      s.outcome = r.status == 204   ? Outcome::kAcked
                  : r.status == 503 ? Outcome::kRejected
                  : r.status == 0   ? Outcome::kUnknown
                                    : Outcome::kError;
      all.push_back(std::move(s));
      return r;
    };
    {
      HttpResponse r;
      int64_t probes = 0;
      while (probes < 5000) {
        r = probe(99, probes++);
        if (r.status != 204) break;
      }
      MESSAGE(probes << " single tags sent until the next 503");
      CHECK_MESSAGE(r.status == 503, r.Describe());
      CHECK_MESSAGE(r.MediaType() == "application/json", r.Describe());
      CHECK_MESSAGE(CheckErrorBody(r.body).empty(), CheckErrorBody(r.body));
    }
    // Queries work and everything acknowledged is intact.
    {
      HttpResponse r = http.Profile("w0c0", ProfileRange(TimeMs(2000, 1, 1), TimeMs(2100, 1, 1)));
      CHECK_MESSAGE(r.status == 200, r.Describe());
      AggregateQuery q;
      q.begin_ms = kT0;
      q.end_ms = kT0 + 10 * kMinute;
      HttpResponse a = http.Aggregates(q.ToQuery());
      CHECK_MESSAGE(a.status == 200, a.Describe());
    }
    VerifyAcked(http, all, kFullStorageCap);

    // Raise the limit at run time: ingestion resumes, no restart.
    {
      HttpResponse r = http.Post("/admin/max-map-size?mb=64");
      REQUIRE_MESSAGE(r.status == 200, r.Describe());
    }
    {
      HttpResponse r = probe(98, 0);
      CHECK_MESSAGE(r.status == 204, "first tag after raising the limit: " << r.Describe());
    }
    StreamShape more = shape;
    more.first_writer = 8;  // new identities
    more.max_tags_per_writer = 300;
    Stream resumed(more, &endpoint);
    resumed.Start();
    while (!resumed.Finished()) {
      REQUIRE_MESSAGE(server.Running(), "the server died; log:\n" << server.Log());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    resumed.Stop();
    for (Sent& s : resumed.Results()) {
      CHECK_MESSAGE(s.outcome == Outcome::kAcked, "after raising the limit: status " << s.status);
      all.push_back(std::move(s));
    }
    CHECK(StatsField(http, "map_size") > (2 << 20));
    VerifyAcked(http, all, kFullStorageCap);

    // And the data that lived through "full" survives a crash too.
    server.KillAndRestart();
    HttpClient after(server);
    VerifyAcked(after, all, kFullStorageCap);
  }
}

}  // namespace
}  // namespace allezon_dur
