// SPEC §10 through a real server: POST /user_tags/batch, GET /export (NDJSON, CSV), and
// allezon-server --import of an export into a fresh data directory, which must then answer
// the same profiles, aggregates and export, byte for byte.
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace allezon_it {
namespace {

const char* kRange = "2022-03-01T11:00:00.000_2022-03-01T13:00:00.000";

ServerOptions RawServer(std::vector<std::string> more = {}) {
  ServerOptions options;
  options.extra_args = {"--raw-retention-hours", "24"};
  options.extra_args.insert(options.extra_args.end(), more.begin(), more.end());
  return options;
}

// Tags over five minutes: out of order, equal times, odd cookies, string product ids.
std::vector<Tag> SampleTags() {
  std::vector<Tag> tags;
  // Strings from fixed tables: GCC 12 warns falsely (-Wrestrict) on "literal" + to_string.
  const std::vector<std::string> cookies = {"odd, \"cookie\" 0",
                                            "odd, \"cookie\" 1",
                                            "c0",
                                            "c1",
                                            "c2",
                                            "c3",
                                            "c4",
                                            "c5",
                                            "c6",
                                            "c7",
                                            "c8",
                                            "c9"};
  const std::vector<std::string> origins = {"O0", "O1", "O2", "O3", "O4", "O5"};
  const std::vector<std::string> brands = {"Brand, Inc.", "B0", "B1", "B2"};
  for (int i = 0; i < 600; ++i) {
    Tag t = MakeTag(kT0 + (i * 7919) % (5 * kMinute), cookies[i % cookies.size()],
                    i % 4 == 0 ? "BUY" : "VIEW");
    if (i % 9 == 0) t.ms = t.ms - t.ms % 1000;  // equal times
    t.time = FormatTagTime(t.ms);
    t.origin = origins[i % origins.size()];
    t.brand_id = brands[i % brands.size()];
    if (i % 11 == 0) t.product_id = std::to_string(i);  // a string of digits
    t.price = 100 + i;
    tags.push_back(t);
  }
  return tags;
}

std::string Lines(const std::vector<Tag>& tags, size_t begin, size_t end) {
  std::string body;
  for (size_t i = begin; i < end; ++i) body += tags[i].ToJson() + "\n";
  return body;
}

std::string Export(HttpClient& http, const std::string& range, const std::string& format = "") {
  HttpResponse r =
      http.Get("/export?time_range=" + range + (format.empty() ? "" : "&format=" + format));
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  return r.body;
}

int RunServer(const std::vector<std::string>& args, std::string* output) {
  std::string command = DefaultServerBinary();
  for (const std::string& arg : args) command += " '" + arg + "'";
  command += " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output->append(buffer, n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_SUITE("history") {
  TEST_CASE("export, import into a fresh server: same profiles, aggregates and export") {
    Server a(RawServer());
    std::vector<Tag> tags = SampleTags();
    // Batches and single tags, interleaved.
    for (size_t i = 0; i < tags.size(); i += 150) {
      HttpResponse r = a.http.Post("/user_tags/batch", Lines(tags, i, i + 100));
      REQUIRE_MESSAGE(r.status == 204, r.Describe());
      for (size_t j = i + 100; j < i + 150; ++j) AddTag(a.http, tags[j]);
    }
    const std::string ndjson = Export(a.http, kRange);
    const std::string csv = Export(a.http, kRange, "csv");
    CHECK(static_cast<size_t>(std::count(ndjson.begin(), ndjson.end(), '\n')) == tags.size());
    CHECK(csv.rfind("time,cookie,country,device,action,origin,product_id,brand_id,category_id,"
                    "price\r\n",
                    0) == 0);
    // Time order.
    std::string previous;
    for (size_t at = 0; at < ndjson.size();) {
      const size_t eol = ndjson.find('\n', at);
      const std::string time = ndjson.substr(at + 9, 24);
      CHECK(previous <= time);
      previous = time;
      at = eol + 1;
    }

    TempDir scratch;
    const std::string file = (scratch.path() / "export.ndjson").string();
    std::ofstream(file) << ndjson;
    const std::string fresh = (scratch.path() / "fresh").string();
    std::string output;
    REQUIRE_MESSAGE(RunServer({"--import", file, "--data-dir", fresh, "--raw-retention-hours", "24",
                               "--max-batch-tags", "250"},
                              &output) == 0,
                    output);
    ServerProcess imported(fresh, RawServer());
    HttpClient bh(imported);

    std::set<std::string> cookies;
    for (const Tag& t : tags) cookies.insert(t.cookie);
    for (const std::string& cookie : cookies) {
      HttpResponse pa = a.http.Profile(cookie, kRange, std::nullopt);
      HttpResponse pb = bh.Profile(cookie, kRange, std::nullopt);
      REQUIRE(pa.status == 200);
      CHECK_MESSAGE(pa.body == pb.body, cookie);
    }
    for (const char* action : {"VIEW", "BUY"}) {
      AggregateQuery q;
      q.begin_ms = kT0 - kMinute;
      q.end_ms = kT0 + 6 * kMinute;
      q.action = action;
      q.aggregates = {"COUNT", "SUM_PRICE"};
      CHECK(a.http.Aggregates(q.ToQuery()).body == bh.Aggregates(q.ToQuery()).body);
      q.brand_id = "Brand, Inc.";
      CHECK(a.http.Aggregates(q.ToQuery()).body == bh.Aggregates(q.ToQuery()).body);
    }
    CHECK(Export(bh, kRange) == ndjson);
    CHECK(Export(bh, kRange, "csv") == csv);
  }

  TEST_CASE("a bad batch stores nothing: 400 naming the line, 413 beyond --max-batch-tags") {
    Server s(RawServer({"--max-batch-tags", "3"}));
    std::vector<Tag> tags = SampleTags();
    std::string bad = Lines(tags, 0, 1) + "\n" + R"({"time":"2022-03-01T12:00:00Z"})" + "\n";
    HttpResponse r = s.http.Post("/user_tags/batch", bad);
    ExpectError(r, 400, bad);
    CHECK(r.body.find("line 3: ") != std::string::npos);
    r = s.http.Post("/user_tags/batch", Lines(tags, 0, 4));
    ExpectError(r, 413, "4 tags");
    r = s.http.Post("/user_tags/batch", "");
    ExpectError(r, 400, "empty batch");
    CHECK(Export(s.http, kRange).empty());
    r = s.http.Post("/user_tags/batch", Lines(tags, 0, 3));
    CHECK(r.status == 204);
    const std::string stored = Export(s.http, kRange);
    CHECK(std::count(stored.begin(), stored.end(), '\n') == 3);
    ExpectError(s.http.Get("/user_tags/batch"), 405, "GET /user_tags/batch");
  }

  TEST_CASE("export errors: bad parameters, a range before what is kept, retention off") {
    Server s(RawServer({"--raw-retention-hours", "1"}));
    ExpectError(s.http.Get("/export"), 400, "no time_range");
    ExpectError(s.http.Get("/export?time_range=2022-03-01T12:00:00_x"), 400, "bad time_range");
    ExpectError(s.http.Get(std::string("/export?time_range=") + kRange + "&format=xml"), 400,
                "bad format");
    ExpectError(s.http.Post(std::string("/export?time_range=") + kRange), 405, "POST /export");
    AddTag(s.http, MakeTag(kT0, "a"));
    AddTag(s.http, MakeTag(kT0 + 3 * 60 * kMinute, "b"));  // 3 h later: trims the first
    HttpResponse r;
    std::string target = "/export?time_range=";  // appended, not operator+: GCC 12's
    target += kRange;                            // -Warray-bounds misfires on the temporary
    // The writer trims in its maintenance, about once a second.
    for (int i = 0; i < 100; ++i) {
      r = s.http.Get(target);
      if (r.status == 400) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ExpectError(r, 400, "range before what is kept");
    CHECK(r.body.find("earliest time available is 2022-03-01T14:00:00.000Z") != std::string::npos);

    Server off;
    r = off.http.Get(std::string("/export?time_range=") + kRange);
    ExpectError(r, 400, "retention off");
    CHECK(r.body.find("raw retention is off") != std::string::npos);
  }

  TEST_CASE("--import names the first bad line and exits 1") {
    TempDir scratch;
    const std::string file = (scratch.path() / "bad.ndjson").string();
    std::vector<Tag> tags = SampleTags();
    std::ofstream(file) << Lines(tags, 0, 2) << "{\"cookie\":1}\n";
    std::string output;
    CHECK(RunServer({"--import", file, "--data-dir", (scratch.path() / "d").string()}, &output) ==
          1);
    CHECK_MESSAGE(output.find("line 3: ") != std::string::npos, output);
    output.clear();
    CHECK(RunServer({"--import", (scratch.path() / "missing").string(), "--data-dir",
                     (scratch.path() / "d").string()},
                    &output) == 1);
  }
}

}  // namespace
}  // namespace allezon_it
