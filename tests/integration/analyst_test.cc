// SPEC §9, the analyst queries over HTTP: GET /top, /catalogue, /anomalies and
// /user_sessions/{cookie} against a model of a small stream (with an injected spike, drop and
// new value), byte for byte; the catalogue across kill -9; --session-gap-minutes; the 400s
// and 405s.
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common.h"

namespace allezon_it {
namespace {

std::string Field(const Tag& t, const std::string& dimension) {
  if (dimension == "origin") return t.origin;
  if (dimension == "brand_id") return t.brand_id;
  if (dimension == "category_id") return t.category_id;
  if (dimension == "country") return t.country;
  return t.device;
}

// The stream: background tags of a few values in every minute 0..33, "A" VIEWs steady at 20
// a minute then missing in minute 31 (a drop) and 100 in minute 32 (a spike), "NEW" BUYs
// appearing in minute 31, and one shopper's visits (one of them two hours earlier).
std::vector<Tag> MakeStream() {
  std::mt19937 random(5);
  std::vector<Tag> tags;
  const char* devices[] = {"PC", "MOBILE", "TV"};
  const auto add = [&](int64_t ms, const std::string& cookie, const std::string& action,
                       const std::string& origin) {
    Tag t = MakeTag(ms, cookie, action);
    t.origin = origin;
    t.brand_id = "brand" + std::to_string(random() % 4);
    t.category_id = "cat" + std::to_string(random() % 3);
    t.country = random() % 2 ? "PL" : "DE";
    t.device = devices[random() % 3];
    t.price = static_cast<int64_t>(random() % 500) - 50;
    tags.push_back(t);
  };
  for (int m = 0; m <= 33; ++m) {
    const int a = m == 31 ? 0 : m == 32 ? 100 : 20;
    for (int i = 0; i < a; ++i)
      add(Min(m) + 100 * i + 7, "crowd" + std::to_string(i % 9), "VIEW", "A");
    for (int i = 0; i < static_cast<int>(random() % 4); ++i) {
      add(Min(m) + static_cast<int64_t>(random() % 60000), "bg" + std::to_string(random() % 5),
          random() % 3 ? "VIEW" : "BUY", "O" + std::to_string(random() % 3));
    }
    if (m == 31) {
      for (int i = 0; i < 20; ++i) add(Min(m) + 500 + i, "newcomer", "BUY", "NEW");
    }
  }
  add(kT0 - 2 * kHour, "visitor", "VIEW", "O1");
  add(kT0 - 2 * kHour + 30 * kMinute - 1, "visitor", "BUY", "O1");  // 1 ms short of the gap
  add(kT0 - kHour + 1, "visitor", "VIEW", "O2");                    // 30 min + 2 ms later
  add(Min(5), "visitor", "BUY", "O2");
  std::shuffle(tags.begin(), tags.end(), random);  // arrival order is not time order
  return tags;
}

std::string TopJson(const std::vector<Tag>& tags, int64_t begin, int64_t end,
                    const std::string& action, const std::string& dimension,
                    const std::string& metric, size_t limit) {
  std::map<std::string, std::pair<int64_t, int64_t>> sums;
  for (const Tag& t : tags) {
    if (t.action != action || t.ms < begin || t.ms >= end) continue;
    auto& s = sums[Field(t, dimension)];
    s.first += 1;
    s.second += t.price;
  }
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> rows(sums.begin(), sums.end());
  std::stable_sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) {
    return metric == "count" ? a.second.first > b.second.first : a.second.second > b.second.second;
  });
  if (rows.size() > limit) rows.resize(limit);
  std::string out =
      "{\"columns\":[" + JsonQuote(dimension) + ",\"count\",\"sum_price\"],\"rows\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    out += (i ? "," : "") + std::string("[") + JsonQuote(rows[i].first) + ",\"" +
           std::to_string(rows[i].second.first) + "\",\"" + std::to_string(rows[i].second.second) +
           "\"]";
  }
  return out + "]}";
}

std::string CatalogueJson(const std::vector<Tag>& tags, const std::string& dimension,
                          std::optional<int64_t> new_since, std::optional<int64_t> silent_since) {
  std::map<std::string, std::tuple<int64_t, int64_t, int64_t>> values;
  for (const Tag& t : tags) {
    auto [it, inserted] = values.try_emplace(Field(t, dimension), t.ms, t.ms, 0);
    auto& [first, last, n] = it->second;
    first = std::min(first, t.ms);
    last = std::max(last, t.ms);
    ++n;
  }
  std::string out = "{\"dimension\":" + JsonQuote(dimension) + ",\"values\":[";
  bool comma = false;
  for (const auto& [value, v] : values) {
    const auto& [first, last, n] = v;
    if ((new_since && first < *new_since) || (silent_since && last >= *silent_since)) continue;
    out += (comma ? "," : "") + std::string("{\"value\":") + JsonQuote(value) +
           ",\"first_seen\":\"" + FormatTagTime(first) + "\",\"last_seen\":\"" +
           FormatTagTime(last) + "\",\"tags\":" + std::to_string(n) + "}";
    comma = true;
  }
  return out + "]}";
}

// SPEC §9's rule by brute force, with the README's judged minutes: a full window of data
// before the minute, no minute past the newest tag's, drops only in ended minutes.
std::string AnomaliesJson(const std::vector<Tag>& tags, int64_t begin, int64_t end,
                          const std::string& dimension, std::optional<std::string> action) {
  std::map<std::tuple<std::string, int, int64_t>, int64_t> counts;
  std::set<std::pair<std::string, int>> series;  // (value, 0 = VIEW / 1 = BUY)
  int64_t first = INT64_MAX, newest = INT64_MIN;
  for (const Tag& t : tags) {
    first = std::min(first, t.ms - t.ms % kMinute);
    newest = std::max(newest, t.ms);
    if (action && t.action != *action) continue;
    const int a = t.action == "BUY";
    ++counts[{Field(t, dimension), a, t.ms - t.ms % kMinute}];
    series.insert({Field(t, dimension), a});
  }
  std::string out = "{\"anomalies\":[";
  bool comma = false;
  for (int64_t m = begin; m < end; m += kMinute) {
    if (m - 30 * kMinute < first || m > newest) continue;
    for (const auto& [value, a] : series) {
      std::vector<int64_t> window;
      for (int k = 1; k <= 30; ++k) {
        auto it = counts.find({value, a, m - k * kMinute});
        window.push_back(it == counts.end() ? 0 : it->second);
      }
      std::sort(window.begin(), window.end());
      const double median = (window[14] + window[15]) / 2.0;
      auto it = counts.find({value, a, m});
      const int64_t c = it == counts.end() ? 0 : it->second;
      const char* kind = c >= 5 * median && c >= median + 20               ? "spike"
                         : c == 0 && median >= 20 && m + kMinute <= newest ? "drop"
                                                                           : nullptr;
      if (kind == nullptr) continue;
      char expected[32];
      std::snprintf(expected, sizeof expected, "%.1f", median);
      out += (comma ? "," : "") + std::string("{\"minute\":\"") + FormatSeconds(m) +
             "\",\"dimension\":" + JsonQuote(dimension) + ",\"value\":" + JsonQuote(value) +
             ",\"action\":\"" + (a ? "BUY" : "VIEW") + "\",\"observed\":" + std::to_string(c) +
             ",\"expected\":" + expected + ",\"kind\":\"" + kind + "\"}";
      comma = true;
    }
  }
  return out + "]}";
}

std::string SessionsJson(const std::vector<Tag>& tags, const std::string& cookie, int64_t begin,
                         int64_t end, size_t limit, int64_t gap) {
  std::vector<const Tag*> mine;
  for (const Tag& t : tags) {
    if (t.cookie == cookie && t.ms >= begin && t.ms < end) mine.push_back(&t);
  }
  std::stable_sort(mine.begin(), mine.end(),
                   [](const Tag* a, const Tag* b) { return a->ms < b->ms; });
  struct S {
    int64_t start, end, views = 0, buys = 0, revenue = 0;
  };
  std::vector<S> sessions;
  for (size_t i = 0; i < mine.size(); ++i) {
    if (i == 0 || mine[i]->ms - mine[i - 1]->ms >= gap) sessions.push_back({mine[i]->ms, 0});
    sessions.back().end = mine[i]->ms;
    if (mine[i]->action == "BUY") {
      ++sessions.back().buys;
      sessions.back().revenue += mine[i]->price;
    } else {
      ++sessions.back().views;
    }
  }
  std::reverse(sessions.begin(), sessions.end());
  if (sessions.size() > limit) sessions.resize(limit);
  std::string out = "{\"cookie\":" + JsonQuote(cookie) + ",\"sessions\":[";
  for (size_t i = 0; i < sessions.size(); ++i) {
    const S& s = sessions[i];
    out += (i ? "," : "") + std::string("{\"start\":\"") + FormatTagTime(s.start) +
           "\",\"end\":\"" + FormatTagTime(s.end) + "\",\"views\":" + std::to_string(s.views) +
           ",\"buys\":" + std::to_string(s.buys) + ",\"revenue\":" + std::to_string(s.revenue) +
           "}";
  }
  return out + "]}";
}

void ExpectJson(HttpClient& http, const std::string& target, const std::string& want) {
  HttpResponse r = http.Get(target);
  INFO("request: GET " << target);
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  CHECK(r.MediaType() == "application/json");
  CHECK(r.body == want);
}

void CheckCatalogue(HttpClient& http, const std::vector<Tag>& tags) {
  for (const char* d : {"origin", "brand_id", "category_id", "country", "device"}) {
    ExpectJson(http, std::string("/catalogue?dimension=") + d,
               CatalogueJson(tags, d, std::nullopt, std::nullopt));
  }
  ExpectJson(http, "/catalogue?dimension=origin&new_since=" + FormatRangeMs(Min(31) + 500),
             CatalogueJson(tags, "origin", Min(31) + 500, std::nullopt));
  ExpectJson(http, "/catalogue?dimension=origin&silent_since=" + FormatSeconds(kT0),
             CatalogueJson(tags, "origin", std::nullopt, kT0));
  ExpectJson(http,
             "/catalogue?dimension=device&new_since=" + FormatSeconds(kT0 - 3 * kHour) +
                 "&silent_since=" + FormatSeconds(Min(40)),
             CatalogueJson(tags, "device", kT0 - 3 * kHour, Min(40)));
}

TEST_SUITE("analyst") {
  TEST_CASE("top, catalogue, anomalies and sessions equal a model of the stream") {
    Server s;
    const std::vector<Tag> tags = MakeStream();
    for (const Tag& t : tags) AddTag(s.http, t);

    for (const char* action : {"VIEW", "BUY"}) {
      for (const char* d : {"origin", "brand_id", "category_id"}) {
        for (const char* metric : {"count", "sum_price"}) {
          for (auto [begin, end] :
               {std::pair{kT0 - 3 * kHour, Min(60)}, std::pair{Min(30), Min(33)}}) {
            const std::string query = "/top?time_range=" + SecondsRange(begin, end) +
                                      "&action=" + action + "&dimension=" + d + "&metric=" + metric;
            ExpectJson(s.http, query, TopJson(tags, begin, end, action, d, metric, 10));
            ExpectJson(s.http, query + "&limit=2", TopJson(tags, begin, end, action, d, metric, 2));
          }
        }
      }
    }
    CheckCatalogue(s.http, tags);
    for (const char* d : {"origin", "brand_id", "category_id"}) {
      for (std::optional<std::string> action :
           {std::optional<std::string>(), std::optional<std::string>("VIEW"),
            std::optional<std::string>("BUY")}) {
        const int64_t begin = kT0 - 3 * kHour, end = Min(60);
        ExpectJson(s.http,
                   "/anomalies?time_range=" + SecondsRange(begin, end) + "&dimension=" + d +
                       (action ? "&action=" + *action : ""),
                   AnomaliesJson(tags, begin, end, d, action));
      }
    }
    // The injected ones, spelled out: A's drop and spike, NEW's first minute.
    const std::string injected =
        s.http.Get("/anomalies?time_range=" + SecondsRange(Min(31), Min(33)) + "&dimension=origin")
            .body;
    CHECK(
        injected.find(
            R"("minute":"2022-03-01T12:31:00","dimension":"origin","value":"A","action":"VIEW","observed":0,"expected":20.0,"kind":"drop")") !=
        std::string::npos);
    CHECK(injected.find(
              R"("value":"A","action":"VIEW","observed":100,"expected":20.0,"kind":"spike")") !=
          std::string::npos);
    CHECK(injected.find(
              R"("value":"NEW","action":"BUY","observed":20,"expected":0.0,"kind":"spike")") !=
          std::string::npos);

    const int64_t all_begin = kT0 - 3 * kHour, all_end = Min(60);
    for (const char* cookie : {"visitor", "crowd3", "newcomer", "nobody"}) {
      const std::string target = std::string("/user_sessions/") + cookie +
                                 "?time_range=" + ProfileRange(all_begin, all_end);
      ExpectJson(s.http, target, SessionsJson(tags, cookie, all_begin, all_end, 20, 30 * kMinute));
      ExpectJson(s.http, target + "&limit=1",
                 SessionsJson(tags, cookie, all_begin, all_end, 1, 30 * kMinute));
    }
    ExpectJson(s.http, "/user_sessions/visitor?time_range=" + ProfileRange(kT0 - kHour, Min(6)),
               SessionsJson(tags, "visitor", kT0 - kHour, Min(6), 20, 30 * kMinute));
  }

  TEST_CASE("the catalogue survives kill -9, and --session-gap-minutes sets the gap") {
    ServerOptions options;
    options.extra_args = {"--session-gap-minutes", "90"};
    Server s(options);
    std::vector<Tag> tags = MakeStream();
    tags.resize(300);
    for (const Tag& t : tags) AddTag(s.http, t);
    s.process.KillAndRestart();  // right after the last 204
    HttpClient http(s.process);
    CheckCatalogue(http, tags);
    const int64_t begin = kT0 - 3 * kHour, end = Min(60);
    for (const char* cookie : {"visitor", "crowd3"}) {
      ExpectJson(
          http, std::string("/user_sessions/") + cookie + "?time_range=" + ProfileRange(begin, end),
          SessionsJson(tags, cookie, begin, end, 20, 90 * kMinute));
    }
  }

  TEST_CASE("bad analyst queries are 400, other methods 405, each with a JSON error") {
    Server s;
    AddTag(s.http, MakeTag(kT0, "c"));
    const std::string minutes = "time_range=" + SecondsRange(kT0, Min(3));
    const std::string top = "/top?" + minutes + "&action=VIEW&dimension=origin&metric=count";
    const std::vector<std::string> bad = {
        "/top?action=VIEW&dimension=origin&metric=count",  // no range
        "/top?time_range=" + SecondsRange(kT0, kT0 + 61000) +
            "&action=VIEW&dimension=origin&metric=count",
        "/top?time_range=" + SecondsRange(Min(3), kT0) +
            "&action=VIEW&dimension=origin&metric=count",
        "/top?time_range=garbage&action=VIEW&dimension=origin&metric=count",
        "/top?" + minutes + "&dimension=origin&metric=count",  // no action
        "/top?" + minutes + "&action=view&dimension=origin&metric=count",
        "/top?" + minutes + "&action=VIEW&dimension=country&metric=count",
        "/top?" + minutes + "&action=VIEW&dimension=city&metric=count",
        "/top?" + minutes + "&action=VIEW&metric=count",
        "/top?" + minutes + "&action=VIEW&dimension=origin&metric=COUNT",
        "/top?" + minutes + "&action=VIEW&dimension=origin",
        top + "&limit=1001",
        top + "&limit=-1",
        top + "&limit=ten",
        top + "&limit=1&limit=2",
        top + "&dimension=brand_id",  // repeated
        "/top?" + minutes + "&action=VIEW&dimension=origin&metric=count&origin=%zz",
        "/catalogue",
        "/catalogue?dimension=city",
        "/catalogue?dimension=origin&new_since=yesterday",
        "/catalogue?dimension=origin&silent_since=2022-02-30T00:00:00",
        "/anomalies?" + minutes,
        "/anomalies?dimension=origin",
        "/anomalies?" + minutes + "&dimension=device",
        "/anomalies?" + minutes + "&dimension=origin&action=CLICK",
        "/anomalies?time_range=" + SecondsRange(kT0 + 1000, Min(3)) + "&dimension=origin",
        "/user_sessions/c",
        "/user_sessions/c?time_range=" + ProfileRange(kT0 + 1, kT0),
        "/user_sessions/c?time_range=" + ProfileRange(kT0, kT0 + 1) + "&limit=x",
        "/user_sessions/" + std::string(300, 'x') + "?time_range=" + ProfileRange(kT0, kT0 + 1),
    };
    for (const std::string& target : bad) ExpectError(s.http.Get(target), 400, "GET " + target);
    for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
      for (const std::string& target :
           {top, std::string("/catalogue?dimension=origin"), std::string("/anomalies"),
            "/user_sessions/c?time_range=" + ProfileRange(kT0, kT0 + 1)}) {
        HttpResponse r = s.http.Send(method, target);
        ExpectError(r, 405, std::string(method) + " " + target);
        CHECK(r.Header("allow") == "GET");
      }
    }
    ExpectJson(s.http, top + "&limit=0", R"({"columns":["origin","count","sum_price"],"rows":[]})");
  }
}

}  // namespace
}  // namespace allezon_it
