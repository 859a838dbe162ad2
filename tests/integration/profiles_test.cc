// SPEC §2 (profile time ranges) and §4: order, ranges, limit, the per-action cap, unknown
// cookies and cookies that need URL encoding.
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "common.h"

namespace allezon_it {
namespace {

TEST_SUITE("profiles") {
  TEST_CASE("newest first; out-of-order arrivals are sorted by time") {
    Server s;
    Model m;
    int pid = 0;
    for (int64_t offset : {5, 1, 9, 3, 7, 0, 8}) {
      for (const char* action : {"VIEW", "BUY"}) {
        Tag t = MakeTag(kT0 + offset, "ooo", action);
        t.product_id = int64_t{++pid};
        AddTag(s.http, t, &m);
      }
    }
    ExpectModelProfile(s.http, m, "ooo", kAllBegin, kAllEnd);
    // And independent of the model: the views are at 9,8,7,5,3,1,0 ms.
    HttpResponse r = s.http.Profile("ooo", ProfileRange(kAllBegin, kAllEnd));
    REQUIRE(r.status == 200);
    rapidjson::Document d = ParseJson(r.body);
    REQUIRE((d.IsObject() && d.HasMember("views") && d["views"].IsArray()));
    std::vector<std::string> times;
    for (const auto& v : d["views"].GetArray()) {
      times.push_back(v.IsObject() && v.HasMember("time") && v["time"].IsString()
                          ? v["time"].GetString()
                          : "?");
    }
    std::vector<std::string> want;
    for (int64_t o : {9, 8, 7, 5, 3, 1, 0}) want.push_back(FormatTagTime(kT0 + o));
    CHECK(times == want);
  }

  TEST_CASE("equal times: the tag accepted later comes first, whatever the time's spelling") {
    Server s;
    Model m;
    const int64_t sec = kT0 + 7000;  // a whole second
    std::vector<std::variant<std::string, int64_t>> spellings = {
        FormatSeconds(sec) + "Z", FormatTagTime(sec), sec, FormatSeconds(sec) + ".0Z",
        FormatSeconds(sec) + ".000000000Z"};
    int pid = 0;
    for (const char* action : {"VIEW", "BUY"}) {
      for (const auto& spelling : spellings) {
        Tag t = MakeTag(sec, "ties", action);
        t.time = spelling;
        t.product_id = int64_t{++pid};
        AddTag(s.http, t, &m);
      }
      // One later and one earlier tag around the tied ones.
      Tag later = MakeTag(sec + 1, "ties", action);
      later.product_id = int64_t{++pid};
      AddTag(s.http, later, &m);
      Tag earlier = MakeTag(sec - 1, "ties", action);
      earlier.product_id = int64_t{++pid};
      AddTag(s.http, earlier, &m);
    }
    ExpectModelProfile(s.http, m, "ties", kAllBegin, kAllEnd);
    ExpectModelProfile(s.http, m, "ties", kAllBegin, kAllEnd, 3);
    ExpectModelProfile(s.http, m, "ties", sec, sec + 1);
    ExpectModelProfile(s.http, m, "ties", sec, sec + 1, 2);
  }

  TEST_CASE("time range: begin inclusive, end exclusive, at millisecond precision") {
    Server s;
    Model m;
    const int64_t b = kT0 + 1000, e = kT0 + 5000;
    for (int64_t t : {b - 1, b, b + 1, e - 1, e, e + 1, b + 2000}) {
      AddTag(s.http, MakeTag(t, "edges", "VIEW"), &m);
      AddTag(s.http, MakeTag(t, "edges", "BUY"), &m);
    }
    // The model checks the rule; spell out the main case too.
    ProfileAnswer main = m.Profile("edges", b, e);
    REQUIRE(main.views.size() == 4);
    CHECK(main.views.front().ms == e - 1);
    CHECK(main.views.back().ms == b);
    for (auto [begin, end] : std::vector<std::pair<int64_t, int64_t>>{{b, e},
                                                                      {b, b + 1},
                                                                      {e - 1, e},
                                                                      {b - 1, e + 1},
                                                                      {b + 1, e - 1},
                                                                      {e, e + 1},
                                                                      {b, b},
                                                                      {e + 2, e + 1000},
                                                                      {kT0, kT0 + 1}}) {
      ExpectModelProfile(s.http, m, "edges", begin, end);
    }
  }

  TEST_CASE("a second-precision time range is accepted") {
    Server s;
    Model m;
    const int64_t sec = kT0 + 3000;
    for (int64_t t : {sec - 1, sec, sec + 500, sec + 999, sec + 1000}) {
      AddTag(s.http, MakeTag(t, "secs"), &m);
    }
    ExpectProfile(s.http, "secs", SecondsRange(sec, sec + 1000), std::nullopt, "secs",
                  m.Profile("secs", sec, sec + 1000));
    // Mixed precision: second begin, millisecond end.
    ExpectProfile(s.http, "secs", FormatSeconds(sec) + "_" + FormatRangeMs(sec + 999), std::nullopt,
                  "secs", m.Profile("secs", sec, sec + 999));
  }

  TEST_CASE("limit caps each list separately: 0, 1, n, larger than stored, beyond int32") {
    Server s;
    Model m;
    for (int i = 0; i < 6; ++i) AddTag(s.http, MakeTag(kT0 + i * 10, "lim", "VIEW"), &m);
    for (int i = 0; i < 3; ++i) AddTag(s.http, MakeTag(kT0 + i * 10 + 5, "lim", "BUY"), &m);
    const std::string range = ProfileRange(kAllBegin, kAllEnd);
    for (size_t limit : {0, 1, 2, 3, 4, 6, 7, 200, 1000}) {
      ExpectModelProfile(s.http, m, "lim", kAllBegin, kAllEnd, limit);
    }
    ProfileAnswer all = m.Profile("lim", kAllBegin, kAllEnd);
    for (const char* huge : {"2147483647", "2147483648", "4294967296", "9223372036854775807",
                             "99999999999999999999999", "007"}) {
      ExpectProfile(s.http, "lim", range, std::string(huge), "lim", all);
    }
    // Without limit: the default (200) is more than stored.
    ExpectProfile(s.http, "lim", range, std::nullopt, "lim", all);
  }

  TEST_CASE("default limit is 200 (server cap raised to 300)") {
    ServerOptions o;
    o.profile_cap = 300;
    Server s(o);
    Model m(300);
    for (int i = 0; i < 250; ++i) AddTag(s.http, MakeTag(kT0 + i, "many"), &m);
    for (int i = 0; i < 210; ++i) AddTag(s.http, MakeTag(kT0 + i, "many", "BUY"), &m);
    ExpectModelProfile(s.http, m, "many", kAllBegin, kAllEnd);  // default: 200 each
    ProfileAnswer d = m.Profile("many", kAllBegin, kAllEnd);
    CHECK(d.views.size() == 200);
    CHECK(d.buys.size() == 200);
    ExpectModelProfile(s.http, m, "many", kAllBegin, kAllEnd, 250);
    ExpectModelProfile(s.http, m, "many", kAllBegin, kAllEnd, 1000);
    CHECK(m.Profile("many", kAllBegin, kAllEnd, 1000).views.size() == 250);
  }

  TEST_CASE("more than 200 tags of one action: only the 200 newest remain, per action") {
    Server s;
    Model m(200);
    // 260 VIEWs in shuffled time order, 15 BUYs: the BUYs are not pushed out by the VIEWs.
    std::vector<int64_t> times;
    for (int i = 0; i < 260; ++i) times.push_back(kT0 + i * 7);
    std::mt19937 rng(42);
    std::shuffle(times.begin(), times.end(), rng);
    for (int64_t t : times) AddTag(s.http, MakeTag(t, "capped", "VIEW"), &m);
    for (int i = 0; i < 15; ++i) AddTag(s.http, MakeTag(kT0 + i * 3, "capped", "BUY"), &m);
    ProfileAnswer want = m.Profile("capped", kAllBegin, kAllEnd, 1000);
    REQUIRE(want.views.size() == 200);
    REQUIRE(want.buys.size() == 15);
    CHECK(want.views.back().ms == kT0 + 60 * 7);  // the 60 oldest are gone
    ExpectModelProfile(s.http, m, "capped", kAllBegin, kAllEnd, 1000);
    ExpectModelProfile(s.http, m, "capped", kAllBegin, kAllEnd);
    ExpectProfile(s.http, "capped", ProfileRange(kAllBegin, kAllEnd), "4294967296", "capped", want);
    // A range over the dropped part only is empty for views.
    ExpectModelProfile(s.http, m, "capped", kT0, kT0 + 60 * 7, 1000);
    // An old tag arriving now stays out: it is not among the 200 newest.
    AddTag(s.http, MakeTag(kT0 - 1, "capped", "VIEW"), &m);
    // New ones push the oldest out.
    for (int i = 0; i < 10; ++i) AddTag(s.http, MakeTag(kT0 + 5000 + i, "capped", "VIEW"), &m);
    // Now the BUYs exceed the cap too; the VIEWs stay as they are.
    for (int i = 15; i < 230; ++i) AddTag(s.http, MakeTag(kT0 + i * 3, "capped", "BUY"), &m);
    ExpectModelProfile(s.http, m, "capped", kAllBegin, kAllEnd, 1000);
    ExpectModelProfile(s.http, m, "capped", kT0 + 100 * 7, kT0 + 200 * 7, 1000);
    // Another cookie is unaffected by this one's cap.
    AddTag(s.http, MakeTag(kT0, "other", "VIEW"), &m);
    ExpectModelProfile(s.http, m, "other", kAllBegin, kAllEnd, 1000);
  }

  TEST_CASE("the cap is configurable (--profile-cap 3)") {
    ServerOptions o;
    o.profile_cap = 3;
    Server s(o);
    Model m(3);
    for (int64_t t : {10, 50, 20, 40, 30}) AddTag(s.http, MakeTag(kT0 + t, "small"), &m);
    AddTag(s.http, MakeTag(kT0 + 15, "small", "BUY"), &m);
    AddTag(s.http, MakeTag(kT0 + 1, "small"), &m);  // older than every kept view
    ExpectModelProfile(s.http, m, "small", kAllBegin, kAllEnd, 1000);
    ExpectModelProfile(s.http, m, "small", kAllBegin, kAllEnd);
    CHECK(m.Profile("small", kAllBegin, kAllEnd).views.size() == 3);
  }

  TEST_CASE("a cookie never seen gets 200 with empty lists and its cookie echoed") {
    Server s;
    AddTag(s.http, MakeTag(kT0, "someone-else"));
    for (const std::string cookie :
         {"never-seen", "someone-els", "someone-else2", "x y/\xC5\xBC"}) {
      ExpectProfile(s.http, cookie, ProfileRange(kAllBegin, kAllEnd), std::nullopt, cookie, {});
      ExpectProfile(s.http, cookie, ProfileRange(kAllBegin, kAllEnd), "0", cookie, {});
    }
  }

  TEST_CASE("cookies that need URL encoding in the path") {
    Server s;
    Model m;
    const std::vector<std::string> cookies = {"a b",
                                              "a+b",
                                              "a/b",
                                              "a?b=c&d=e",
                                              "100%",
                                              "%41",
                                              "a#b",
                                              "a;b,c",
                                              "é",
                                              "\xF0\x9F\x8D\xAA",
                                              "zażółć gęślą jaźń",
                                              "tab\t",
                                              "quote\"'<>",
                                              "back\\slash",
                                              "~_.-",
                                              "a%2Fb",
                                              "[]{}|^`"};
    int i = 0;
    for (const auto& c : cookies) {
      AddTag(s.http, MakeTag(kT0 + i, c, "VIEW"), &m);
      AddTag(s.http, MakeTag(kT0 + i, c, "BUY"), &m);
      ++i;
    }
    for (const auto& c : cookies) {
      CAPTURE(c);
      ExpectModelProfile(s.http, m, c, kAllBegin, kAllEnd);
    }
    // Lower-case percent escapes mean the same bytes.
    const std::string range = ProfileRange(kAllBegin, kAllEnd);
    {
      HttpResponse r = s.http.Post("/user_profiles/%c3%a9?time_range=" + range);
      INFO("request: POST /user_profiles/%c3%a9?time_range=" << range);
      REQUIRE_MESSAGE(r.status == 200, r.Describe());
      std::string diff = DiffProfile(r.body, "é", m.Profile("é", kAllBegin, kAllEnd));
      CHECK_MESSAGE(diff.empty(), diff);
    }
    // In a path '+' is a plus, not a space (RFC 3986): the "a+b" cookie, not "a b".
    {
      HttpResponse r = s.http.Post("/user_profiles/a+b?time_range=" + range);
      INFO("request: POST /user_profiles/a+b?time_range=" << range);
      REQUIRE_MESSAGE(r.status == 200, r.Describe());
      std::string diff = DiffProfile(r.body, "a+b", m.Profile("a+b", kAllBegin, kAllEnd));
      CHECK_MESSAGE(diff.empty(), diff);
    }
    // Unencoded characters that are legal in a path segment need no encoding.
    {
      HttpResponse r = s.http.Post("/user_profiles/~_.-?time_range=" + range);
      INFO("request: POST /user_profiles/~_.-?time_range=" << range);
      REQUIRE_MESSAGE(r.status == 200, r.Describe());
      std::string diff = DiffProfile(r.body, "~_.-", m.Profile("~_.-", kAllBegin, kAllEnd));
      CHECK_MESSAGE(diff.empty(), diff);
    }
  }

  TEST_CASE("a 256-byte cookie works in queries") {
    Server s;
    Model m;
    const std::string cookie(256, 'k');
    AddTag(s.http, MakeTag(kT0, cookie), &m);
    ExpectModelProfile(s.http, m, cookie, kAllBegin, kAllEnd);
  }

  TEST_CASE("query parameters in either order, and the request body is ignored") {
    Server s;
    Model m;
    for (int i = 0; i < 4; ++i) AddTag(s.http, MakeTag(kT0 + i, "params"), &m);
    const std::string range = ProfileRange(kAllBegin, kAllEnd);
    HttpResponse r = s.http.Post("/user_profiles/params?limit=2&time_range=" + range,
                                 "{\"not\":\"the answer\"}");
    INFO("request: POST /user_profiles/params?limit=2&time_range=" << range);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    std::string diff = DiffProfile(r.body, "params", m.Profile("params", kAllBegin, kAllEnd, 2));
    CHECK_MESSAGE(diff.empty(), diff);
  }

  TEST_CASE("profiles of different cookies and actions do not mix") {
    Server s;
    Model m;
    std::mt19937 rng(7);
    for (int i = 0; i < 120; ++i) {
      std::string cookie = "mix-" + std::to_string(rng() % 4);
      AddTag(s.http,
             MakeTag(kT0 + static_cast<int64_t>(rng() % 5000), cookie, rng() % 3 ? "VIEW" : "BUY"),
             &m);
    }
    for (int c = 0; c < 4; ++c) {
      ExpectModelProfile(s.http, m, "mix-" + std::to_string(c), kAllBegin, kAllEnd);
      ExpectModelProfile(s.http, m, "mix-" + std::to_string(c), kT0 + 1000, kT0 + 3000, 5);
    }
  }

  TEST_CASE("cookies that are prefixes of each other or differ in one low byte do not mix") {
    Server s;
    Model m;
    const std::vector<std::string> cookies = {"a",
                                              "ab",
                                              "abc",
                                              "b",
                                              "A",
                                              "a ",
                                              std::string("a\x01", 2),
                                              std::string("a\x1f", 2),
                                              std::string("a\x7f", 2),
                                              std::string("a\0b", 3),
                                              std::string("a\0", 2),
                                              "a\xC3\xA9",
                                              "\xC3\xA9"
                                              "a",
                                              "a\xC3\x80"};
    int64_t i = 0;
    for (const auto& c : cookies) {
      for (int k = 0; k < 3; ++k) {
        Tag t = MakeTag(kT0 + (i * 37 + k * 11) % 500, c, k == 1 ? "BUY" : "VIEW");
        t.product_id = int64_t{i * 10 + k};
        AddTag(s.http, t, &m);
      }
      ++i;
    }
    for (const auto& c : cookies) {
      CAPTURE(c);
      ExpectModelProfile(s.http, m, c, kAllBegin, kAllEnd);
      ExpectModelProfile(s.http, m, c, kT0 + 100, kT0 + 400, 1);
    }
  }

  TEST_CASE("profiles are not subject to the aggregates' 24-hour retention") {
    Server s;
    Model m;
    AddTag(s.http, MakeTag(kT0, "early"), &m);
    AddTag(s.http, MakeTag(kT0 + 1, "early", "BUY"), &m);
    // Event time moves three days on (other cookies).
    for (int d = 1; d <= 3; ++d) AddTag(s.http, MakeTag(kT0 + d * kDay, "later"), &m);
    ExpectModelProfile(s.http, m, "early", kAllBegin, kAllEnd);
    ExpectModelProfile(s.http, m, "early", kT0, kT0 + 2);
    // And a new tag for the early cookie merges with its old ones.
    AddTag(s.http, MakeTag(kT0 + 3 * kDay + 5, "early"), &m);
    ExpectModelProfile(s.http, m, "early", kAllBegin, kAllEnd);
  }

  TEST_CASE("a tag older than the aggregates' retention window is still kept in the profile") {
    Server s;
    Model m;
    AddTag(s.http, MakeTag(kT0 + 3 * kDay, "now"), &m);
    AddTag(s.http, MakeTag(kT0, "late-arrival"), &m);  // 3 days behind the newest: 204 too
    AddTag(s.http, MakeTag(kT0 + 1, "late-arrival", "BUY"), &m);
    ExpectModelProfile(s.http, m, "late-arrival", kAllBegin, kAllEnd);
  }

  TEST_CASE("times far from the stream round-trip: the epoch, 2099, and the stream's start") {
    Server s;
    Model m;
    const std::vector<std::pair<std::variant<std::string, int64_t>, int64_t>> times = {
        {std::string("1970-01-01T00:00:00.000Z"), 0},
        {std::string("1970-01-01T00:00:00.001Z"), 1},
        {int64_t{0}, 0},
        {std::string("2099-12-31T23:59:59.999Z"), TimeMs(2099, 12, 31, 23, 59, 59, 999)},
        {std::string("2022-03-01T00:00:00Z"), kStreamStart},
    };
    int pid = 0;
    for (const auto& [sent, ms] : times) {
      Tag t = MakeTag(ms, "far");
      t.time = sent;
      t.product_id = int64_t{++pid};
      AddTag(s.http, t, &m);
    }
    ExpectModelProfile(s.http, m, "far", 0, TimeMs(2100, 1, 1));
    ExpectModelProfile(s.http, m, "far", 0, 1);
  }

  TEST_CASE("a time_range with percent-encoded characters means the same range") {
    Server s;
    Model m;
    for (int i = 0; i < 5; ++i) AddTag(s.http, MakeTag(kT0 + i * 1000, "pct"), &m);
    std::string range = ProfileRange(kT0 + 1000, kT0 + 4000);
    ExpectProfile(s.http, "pct", UrlEncode(range), std::nullopt, "pct",
                  m.Profile("pct", kT0 + 1000, kT0 + 4000));
    ExpectProfile(s.http, "pct", range, UrlEncode("3"), "pct",
                  m.Profile("pct", kT0 + 1000, kT0 + 4000, 3));
  }
}

}  // namespace
}  // namespace allezon_it
