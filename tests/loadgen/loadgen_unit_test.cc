// Unit tests of allezon-loadgen's parts: time text, the stream's determinism and shape, the
// oracle's semantics, the semantic JSON comparison (shared with the server's debug mode),
// the score and the latency histogram.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "debug_compare.h"
#include "oracle.h"
#include "report.h"
#include "stream.h"
#include "time_text.h"

namespace allezon::loadgen {
namespace {

using server::CompareAnswerBodies;
using server::CompareOutcome;

constexpr int64_t kStart = kStreamStartMillis;

std::string Body(const StreamItem& item, const Catalog& catalog) {
  std::string out;
  switch (item.kind) {
    case StreamItem::Kind::kTag:
      AppendStreamTagJson(item.tag, catalog, &out);
      return out;
    case StreamItem::Kind::kProfileQuery:
      return item.profile.path;
    case StreamItem::Kind::kAggregateQuery:
      return item.aggregate.path;
  }
  return out;
}

TEST_CASE("time text: the forms of SPEC §1 and §5") {
  CHECK(FormatTime(kStart, FractionStyle::kAlways, true) == "2022-03-01T00:00:00.000Z");
  CHECK(FormatTime(kStart + 1000, FractionStyle::kOmitWhenZero, true) == "2022-03-01T00:00:01Z");
  CHECK(FormatTime(kStart + 1001, FractionStyle::kOmitWhenZero, true) ==
        "2022-03-01T00:00:01.001Z");
  CHECK(FormatTime(kStart + 61'999, FractionStyle::kNever, false) == "2022-03-01T00:01:01");
  CHECK(FormatTime(-1, FractionStyle::kAlways, true) == "1969-12-31T23:59:59.999Z");
  // 2024-02-29T12:00:00Z, a leap day.
  CHECK(FormatTime(1'709'208'000'000, FractionStyle::kAlways, true) == "2024-02-29T12:00:00.000Z");
  CHECK(FloorToMinute(kStart + 59'999) == kStart);
  CHECK(FloorToMinute(-1) == -60'000);
}

TEST_CASE("time text agrees with the comparison's parser over many instants") {
  Random random(7);
  for (int i = 0; i < 20'000; ++i) {
    const int64_t millis = random.Between(-2'000'000'000'000, 4'000'000'000'000);
    int64_t nanos = 0;
    const std::string text = FormatTime(millis, FractionStyle::kOmitWhenZero, true);
    REQUIRE(server::ParseIsoInstant(text, &nanos));
    CHECK(nanos == millis * 1'000'000);
  }
}

TEST_CASE("stream: the same seed gives the same items, another seed other ones") {
  StreamOptions options;
  options.seed = 42;
  options.cookie_population = 10'000;
  Catalog catalog_a(options.seed, options.cookie_population);
  Catalog catalog_b(options.seed, options.cookie_population);
  StreamGenerator a(options, &catalog_a);
  StreamGenerator b(options, &catalog_b);
  StreamOptions other_options = options;
  other_options.seed = 43;
  Catalog catalog_c(other_options.seed, other_options.cookie_population);
  StreamGenerator c(other_options, &catalog_c);
  StreamDigest digest_a, digest_b, digest_c;
  StreamItem item_a, item_b, item_c;
  for (int i = 0; i < 30'000; ++i) {
    a.Next(&item_a);
    b.Next(&item_b);
    c.Next(&item_c);
    const std::string body_a = Body(item_a, catalog_a);
    REQUIRE(body_a == Body(item_b, catalog_b));
    digest_a.Update(body_a);
    digest_b.Update(Body(item_b, catalog_b));
    digest_c.Update(Body(item_c, catalog_c));
  }
  CHECK(digest_a.Hex() == digest_b.Hex());
  CHECK(digest_a.Hex() != digest_c.Hex());
}

TEST_CASE("stream: query options never change the tags") {
  StreamOptions plain;
  plain.cookie_population = 5'000;
  StreamOptions lagged = plain;
  lagged.profile_lag_ms = 10'000;
  lagged.aggregate_lag_ms = 60'000;
  Catalog catalog(plain.seed, plain.cookie_population);
  StreamGenerator a(plain, &catalog);
  StreamGenerator b(lagged, &catalog);
  StreamItem item_a, item_b;
  for (int i = 0; i < 5'000; ++i) {
    a.Next(&item_a);
    b.Next(&item_b);
    REQUIRE(item_a.kind == item_b.kind);
    if (item_a.kind == StreamItem::Kind::kTag)
      REQUIRE(Body(item_a, catalog) == Body(item_b, catalog));
  }
}

TEST_CASE("stream: shape of tags and queries") {
  StreamOptions options;
  options.seed = 3;
  options.cookie_population = 10'000;  // 20 heavy cookies
  options.aggregate_lag_ms = 60'000;
  options.profile_lag_ms = 5'000;
  Catalog catalog(options.seed, options.cookie_population);
  StreamGenerator generator(options, &catalog);
  StreamItem item;
  uint64_t tags = 0, views = 0, profiles = 0, aggregates = 0, whole_seconds = 0, big_prices = 0;
  std::map<uint32_t, std::pair<int, int>> per_cookie;  // views, buys
  std::set<int> filter_sets;
  std::set<std::string> orders;
  std::set<int> limits;
  int64_t previous_time = kStart - 1;
  while (tags < 100'000 || generator.query_due()) {
    generator.Next(&item);
    if (item.kind == StreamItem::Kind::kTag) {
      const Tag& tag = item.tag;
      CHECK(tag.time_ms == previous_time + 1);  // exactly 1 ms per tag by default
      previous_time = tag.time_ms;
      ++tags;
      views += tag.action == Action::kView;
      (tag.action == Action::kView ? per_cookie[tag.cookie].first
                                   : per_cookie[tag.cookie].second)++;
      big_prices += tag.price > 2'000'000'000;
      const std::string body = Body(item, catalog);
      if (tag.time_ms % 1000 == 0) {
        ++whole_seconds;
        CHECK(body.find(".000Z") == std::string::npos);
      }
      CHECK(body.find("\"product_id\":\"") == std::string::npos);  // an integer
      const std::string cookie = catalog.Cookie(tag.cookie);
      CHECK(cookie.size() == 20);
      CHECK(std::all_of(cookie.begin(), cookie.end(), [](char c) { return std::isalnum(c) != 0; }));
    } else if (item.kind == StreamItem::Kind::kProfileQuery) {
      ++profiles;
      CHECK(tags % 10 == 0);
      const ProfileQuery& query = item.profile;
      CHECK(query.end_ms - query.begin_ms >= 1);
      CHECK(query.end_ms - query.begin_ms <= kMaxProfileRangeMs);
      CHECK(query.end_ms <= generator.newest_tag_time_ms() + 1 - options.profile_lag_ms);
      limits.insert(query.limit);
      CHECK(query.path.rfind("/user_profiles/", 0) == 0);
    } else {
      ++aggregates;
      CHECK(tags % 1000 == 0);
      const AggregateQuery& query = item.aggregate;
      CHECK(query.begin_ms % kMillisPerMinute == 0);
      CHECK(query.end_ms % kMillisPerMinute == 0);
      const int64_t minutes = (query.end_ms - query.begin_ms) / kMillisPerMinute;
      CHECK(minutes >= 1);
      CHECK(minutes <= 10);
      // Only closed minutes, at least the latency old in event time.
      CHECK(query.end_ms <= generator.newest_tag_time_ms() - options.aggregate_lag_ms);
      filter_sets.insert((query.origin >= 0) + 2 * (query.brand >= 0) + 4 * (query.category >= 0));
      std::string order;
      for (Aggregate aggregate : query.aggregates)
        order += aggregate == Aggregate::kCount ? "C" : "S";
      orders.insert(order);
    }
  }
  CHECK(tags == 100'000);
  CHECK(profiles == 10'000);
  CHECK(aggregates == 100);
  CHECK(views > tags * 7 / 10);  // mostly VIEWs
  CHECK(whole_seconds == 100);
  CHECK(big_prices > 100);  // some prices near 2^31-1
  CHECK(filter_sets.size() == 8);
  CHECK(orders == std::set<std::string>{"C", "S", "CS", "SC"});
  CHECK(limits.count(200) == 1);
  CHECK(limits.count(-1) == 1);
  CHECK(*limits.begin() == -1);
  int heavy_over_cap = 0, seen_a_few_times = 0;
  for (const auto& [cookie, counts] : per_cookie) {
    heavy_over_cap += counts.first > 200 && counts.second > 200;
    seen_a_few_times += counts.first + counts.second <= 10;
  }
  CHECK(heavy_over_cap >= 10);  // the heavy tier passes the cap on both actions
  CHECK(seen_a_few_times > static_cast<int>(per_cookie.size()) * 9 / 10);
}

TEST_CASE("catalog: value sets of SPEC §1, escaped for JSON and URLs") {
  Catalog catalog(1, 1000);
  CHECK(catalog.countries().size() == 100);
  CHECK(catalog.devices().size() == 3);
  CHECK(catalog.origins().size() == 1000);
  CHECK(catalog.brands().size() == 250);
  CHECK(catalog.categories().size() == 67);
  std::set<std::string> countries;
  for (const auto& country : catalog.countries()) countries.insert(country.text);
  CHECK(countries.size() == 100);
  const auto& brands = catalog.brands();
  auto dolce = std::find_if(brands.begin(), brands.end(), [](const Catalog::Name& name) {
    return name.text == "Dolce & Gabbana";
  });
  REQUIRE(dolce != brands.end());
  CHECK(dolce->url == "Dolce%20%26%20Gabbana");
  CHECK(dolce->json == "\"Dolce & Gabbana\"");
}

Tag MakeTag(uint32_t cookie, int64_t time, uint64_t sequence, Action action, int32_t price = 100) {
  Tag tag;
  tag.cookie = cookie;
  tag.time_ms = time;
  tag.sequence = sequence;
  tag.action = action;
  tag.price = price;
  tag.product_id = static_cast<uint32_t>(sequence + 1);
  return tag;
}

std::vector<uint32_t> ProductIds(const std::string& body, const std::string& list) {
  // Product ids in order of one list of a profile body (ids are unique per test tag).
  std::vector<uint32_t> ids;
  const size_t start = body.find("\"" + list + "\":[");
  const size_t end = body.find(']', start);
  for (size_t at = body.find("\"product_id\":", start); at < end;
       at = body.find("\"product_id\":", at + 1)) {
    ids.push_back(static_cast<uint32_t>(std::stoul(body.substr(at + 13))));
  }
  return ids;
}

ProfileQuery Query(uint32_t cookie, int64_t begin, int64_t end, int limit = 200) {
  ProfileQuery query;
  query.cookie = cookie;
  query.begin_ms = begin;
  query.end_ms = end;
  query.limit = limit;
  return query;
}

TEST_CASE("oracle: profiles newest first, half-open range, limit per list") {
  Catalog catalog(1, 100);
  Oracle oracle(&catalog, 200);
  for (uint64_t i = 0; i < 10; ++i)
    oracle.AddTag(MakeTag(5, kStart + 10 * static_cast<int64_t>(i), i,
                          i % 3 == 0 ? Action::kBuy : Action::kView));
  std::string body;
  REQUIRE(oracle.ExpectedProfile(Query(5, kStart + 10, kStart + 80), &body));
  CHECK(ProductIds(body, "views") == std::vector<uint32_t>{8, 6, 5, 3, 2});  // [10, 80): not 80
  CHECK(ProductIds(body, "buys") == std::vector<uint32_t>{7, 4});
  body.clear();
  REQUIRE(oracle.ExpectedProfile(Query(5, kStart, kStart + 1000, 2), &body));
  CHECK(ProductIds(body, "views") == std::vector<uint32_t>{9, 8});
  CHECK(ProductIds(body, "buys") == std::vector<uint32_t>{10, 7});
  body.clear();
  REQUIRE(oracle.ExpectedProfile(Query(5, kStart, kStart + 1000, 0), &body));
  CHECK(body.find("\"views\":[],\"buys\":[]") != std::string::npos);
  body.clear();
  REQUIRE(oracle.ExpectedProfile(Query(99, kStart, kStart + 1000), &body));  // never seen
  CHECK(body == "{\"cookie\":\"" + catalog.Cookie(99) + "\",\"views\":[],\"buys\":[]}");
}

TEST_CASE("oracle: equal times, the later accepted first") {
  Catalog catalog(1, 100);
  Oracle oracle(&catalog, 200);
  oracle.AddTag(MakeTag(1, kStart + 5, 0, Action::kView));
  oracle.AddTag(MakeTag(1, kStart + 5, 1, Action::kView));
  oracle.AddTag(MakeTag(1, kStart + 3, 2, Action::kView));  // out of order
  std::string body;
  REQUIRE(oracle.ExpectedProfile(Query(1, kStart, kStart + 10), &body));
  CHECK(ProductIds(body, "views") == std::vector<uint32_t>{2, 1, 3});
}

TEST_CASE("oracle: the server keeps only the cap most recent per action") {
  Catalog catalog(1, 100);
  Oracle oracle(&catalog, 3);
  for (uint64_t i = 0; i < 6; ++i)
    oracle.AddTag(MakeTag(2, kStart + 100 * static_cast<int64_t>(i), i, Action::kView));
  oracle.AddTag(MakeTag(2, kStart, 6, Action::kBuy));       // the other action has its own cap
  oracle.AddTag(MakeTag(2, kStart + 1, 7, Action::kView));  // late and older than all kept
  std::string body;
  REQUIRE(oracle.ExpectedProfile(Query(2, kStart, kStart + 10'000), &body));
  CHECK(ProductIds(body, "views") == std::vector<uint32_t>{6, 5, 4});
  CHECK(ProductIds(body, "buys") == std::vector<uint32_t>{7});
  // A range over only dropped tags is empty, as on a server that keeps 3.
  body.clear();
  REQUIRE(oracle.ExpectedProfile(Query(2, kStart, kStart + 250), &body));
  CHECK(ProductIds(body, "views").empty());
}

TEST_CASE("oracle: a canonical tag in answers") {
  Catalog catalog(1, 100);
  Oracle oracle(&catalog, 200);
  Tag tag = MakeTag(7, kStart + 1000, 0, Action::kBuy, 1999);
  tag.product_id = 519264;
  oracle.AddTag(tag);
  std::string body;
  REQUIRE(oracle.ExpectedProfile(Query(7, kStart, kStart + 2000), &body));
  const std::string cookie = catalog.Cookie(7);
  CHECK(body ==
        "{\"cookie\":\"" + cookie +
            "\",\"views\":[],\"buys\":[{\"time\":\"2022-03-01T00:00:01.000Z\","
            "\"cookie\":\"" +
            cookie +
            "\",\"country\":\"PL\",\"device\":\"PC\",\"action\":\"BUY\","
            "\"origin\":\"NIKE_WOMEN_SHOES_CAMPAIGN_0\",\"product_info\":{\"product_id\":519264,"
            "\"brand_id\":\"Nike\",\"category_id\":\"WOMEN_SHOES\",\"price\":1999}}]}");
}

TEST_CASE("oracle: aggregates, a row per bucket, zeros, column order, 64-bit sums") {
  Catalog catalog(1, 100);
  Oracle oracle(&catalog, 200);
  const int32_t kMax = 2'147'483'647;
  Tag tag = MakeTag(1, kStart + 60'000, 0, Action::kBuy, kMax);
  tag.brand = 4;
  oracle.AddTag(tag);
  tag.sequence = 1;
  tag.time_ms = kStart + 119'999;
  oracle.AddTag(tag);
  tag.sequence = 2;
  tag.brand = 5;  // filtered out by brand
  oracle.AddTag(tag);
  tag.sequence = 3;
  tag.brand = 4;
  tag.action = Action::kView;  // filtered out by action
  oracle.AddTag(tag);

  AggregateQuery query;
  query.begin_ms = kStart;
  query.end_ms = kStart + 3 * 60'000;
  query.action = Action::kBuy;
  query.brand = 4;
  query.aggregates = {Aggregate::kSumPrice, Aggregate::kCount};
  std::string body;
  REQUIRE(oracle.ExpectedAggregates(query, &body));
  CHECK(body ==
        "{\"columns\":[\"1m_bucket\",\"action\",\"brand_id\",\"sum_price\",\"count\"],\"rows\":["
        "[\"2022-03-01T00:00:00\",\"BUY\",\"Dolce & Gabbana\",\"0\",\"0\"],"
        "[\"2022-03-01T00:01:00\",\"BUY\",\"Dolce & Gabbana\",\"4294967294\",\"2\"],"
        "[\"2022-03-01T00:02:00\",\"BUY\",\"Dolce & Gabbana\",\"0\",\"0\"]]}");

  query.brand = -1;
  query.origin = 0;
  query.category = 0;
  query.aggregates = {Aggregate::kCount};
  body.clear();
  REQUIRE(oracle.ExpectedAggregates(query, &body));
  CHECK(body.rfind("{\"columns\":[\"1m_bucket\",\"action\",\"origin\",\"category_id\",\"count\"]",
                   0) == 0);
  CHECK(body.find("\"3\"]") != std::string::npos);

  oracle.TaintMinute(kStart + 60'000);
  body.clear();
  CHECK_FALSE(oracle.ExpectedAggregates(query, &body));
  oracle.TaintCookie(1);
  CHECK_FALSE(oracle.ExpectedProfile(Query(1, kStart, kStart + 1), &body));
}

TEST_CASE("oracle: pruning forgets only what no query can reach") {
  Catalog catalog(1, 10);
  Oracle oracle(&catalog, 200);
  for (uint64_t i = 0; i < 100; ++i)
    oracle.AddTag(MakeTag(static_cast<uint32_t>(i % 10), kStart + 1000 * static_cast<int64_t>(i), i,
                          Action::kView));
  for (int i = 0; i < 10; ++i) oracle.PruneBefore(kStart + 50'000);
  CHECK(oracle.stored_profile_tags() == 50);
  std::string body;
  REQUIRE(oracle.ExpectedProfile(Query(3, kStart + 50'000, kStart + 100'000), &body));
  CHECK(ProductIds(body, "views") == std::vector<uint32_t>{94, 84, 74, 64, 54});
}

TEST_CASE("comparison: times by value, product_id by type, key order irrelevant") {
  const std::string expected =
      R"({"cookie":"c","views":[{"time":"2022-03-01T00:00:01.000Z","product_info":{"product_id":12,"price":5}}],"buys":[]})";
  CHECK(CompareAnswerBodies(expected, expected).outcome == CompareOutcome::kMatch);
  CHECK(
      CompareAnswerBodies(
          expected,
          R"({"buys":[],"cookie":"c","views":[{"product_info":{"price":5,"product_id":12},"time":"2022-03-01T00:00:01Z"}]})")
          .outcome == CompareOutcome::kMatch);
  auto wrong_type = CompareAnswerBodies(
      expected,
      R"({"cookie":"c","views":[{"time":"2022-03-01T00:00:01.000Z","product_info":{"product_id":"12","price":5}}],"buys":[]})");
  CHECK(wrong_type.outcome == CompareOutcome::kMismatch);
  CHECK(wrong_type.diff.find("$.views[0].product_info.product_id") != std::string::npos);
  auto wrong_time = CompareAnswerBodies(
      expected,
      R"({"cookie":"c","views":[{"time":"2022-03-01T00:00:01.001Z","product_info":{"product_id":12,"price":5}}],"buys":[]})");
  CHECK(wrong_time.outcome == CompareOutcome::kMismatch);
  auto missing = CompareAnswerBodies(expected, R"({"cookie":"c","views":[],"buys":[]})");
  CHECK(missing.outcome == CompareOutcome::kMismatch);
  CHECK(missing.diff.find("$.views: expected 1 elements, got 0") != std::string::npos);
  CHECK(missing.diff.find("$.views[0]: missing") != std::string::npos);
  auto extra_key = CompareAnswerBodies(R"({"a":1})", R"({"a":1,"b":2})");
  CHECK(extra_key.outcome == CompareOutcome::kMismatch);
  CHECK(extra_key.diff.find("$.b: unexpected") != std::string::npos);
  // Aggregate values are strings and compare as strings (buckets as times).
  CHECK(CompareAnswerBodies(R"({"rows":[["2022-03-01T00:05:00","3"]]})",
                            R"({"rows":[["2022-03-01T00:05:00.000","3"]]})")
            .outcome == CompareOutcome::kMatch);
  CHECK(CompareAnswerBodies(R"({"rows":[["2022-03-01T00:05:00","3"]]})",
                            R"({"rows":[["2022-03-01T00:05:00",3]]})")
            .outcome == CompareOutcome::kMismatch);
  CHECK(CompareAnswerBodies("", "{}").outcome == CompareOutcome::kSkipped);
  CHECK(CompareAnswerBodies("not json", "{}").outcome == CompareOutcome::kSkipped);
  CHECK(CompareAnswerBodies("{}", "not json").outcome == CompareOutcome::kMismatch);
  int64_t nanos = 0;
  CHECK_FALSE(server::ParseIsoInstant("2022-02-30T00:00:00Z", &nanos));
  CHECK_FALSE(server::ParseIsoInstant("2022-03-01T00:00:00.Z", &nanos));
  CHECK(server::ParseIsoInstant("2022-03-01T00:00:00.123456789", &nanos));
}

TEST_CASE("debug comparator: counts per kind, skips, rate-limited log") {
  std::vector<std::string> logged;
  server::DebugComparator::Options options;
  options.log_first = 2;
  options.log_interval = absl::Hours(1);
  options.log_sink = [&logged](std::string_view line) { logged.emplace_back(line); };
  server::DebugComparator comparator(options);
  using server::QueryKind;
  CHECK(comparator.Compare(QueryKind::kProfile, R"({"a":1})", R"({"a":1})") ==
        CompareOutcome::kMatch);
  CHECK(comparator.Compare(QueryKind::kProfile, "", R"({"a":1})") == CompareOutcome::kSkipped);
  CHECK(comparator.Compare(QueryKind::kProfile, "<html>", R"({"a":1})") ==
        CompareOutcome::kSkipped);
  for (int i = 0; i < 4; ++i) {
    CHECK(comparator.Compare(QueryKind::kAggregates, R"({"a":1})", R"({"a":2})", "/aggregates?x") ==
          CompareOutcome::kMismatch);
  }
  CHECK(logged.size() == 2);
  CHECK(logged[0].find("aggregates mismatch for /aggregates?x") != std::string::npos);
  CHECK(logged[0].find("$.a: expected 1, got 2") != std::string::npos);
  CHECK(
      comparator.StatsJson() ==
      R"({"profiles":{"matches":1,"mismatches":0,"skipped":2},"aggregates":{"matches":0,"mismatches":4,"skipped":0}})");
}

TEST_CASE("score: SPEC §6") {
  EndpointStats none;
  CHECK(QueryScore(none) == 100.0);
  EndpointStats some;
  some.correct = 90;
  some.wrong = 5;
  some.late = 3;
  some.failed = 2;
  some.skipped = 50;  // never sent: not part of the score
  CHECK(QueryScore(some) == doctest::Approx(90.0));
  CHECK(TotalScore(100, 100, 100) == doctest::Approx(20'000));
  CHECK(TotalScore(50, 90, 100) == doctest::Approx(9'500));
  RunReport report;
  report.progress_percent = 100;
  report.profiles = some;
  CHECK(report.score() == doctest::Approx(19'000));
  const std::string json = ReportJson(report, false);
  CHECK(json.rfind("{\"score\":19000", 0) == 0);
}

TEST_CASE("latency histogram: percentiles within 2 %") {
  LatencyHistogram histogram;
  for (int64_t micros = 1; micros <= 100'000; ++micros) histogram.Record(micros * 1000);
  CHECK(histogram.count() == 100'000);
  CHECK(histogram.PercentileNanos(50) == doctest::Approx(50'000'000).epsilon(0.02));
  CHECK(histogram.PercentileNanos(99) == doctest::Approx(99'000'000).epsilon(0.02));
  CHECK(histogram.PercentileNanos(99.9) == doctest::Approx(99'900'000).epsilon(0.02));
  CHECK(histogram.PercentileNanos(100) == 100'000'000);
  CHECK(histogram.max_nanos() == 100'000'000);
}

}  // namespace
}  // namespace allezon::loadgen

namespace allezon::loadgen {
namespace {

TEST_CASE("weighted picker: the same index as a binary search over the weights") {
  std::vector<uint64_t> cdf;
  double total = 0;
  for (int k = 0; k < 1000; ++k) total += 1.0 / (k + 1);
  double running = 0;
  for (int k = 0; k < 1000; ++k) {
    running += 1.0 / (k + 1);
    cdf.push_back(static_cast<uint64_t>(running / total * 4294967296.0));
  }
  cdf.back() = uint64_t{1} << 32;
  WeightedPicker picker(cdf);
  Random a(11), b(11);
  for (int i = 0; i < 200'000; ++i) {
    const uint64_t r = b.Next() >> 32;
    const size_t expected =
        static_cast<size_t>(std::upper_bound(cdf.begin(), cdf.end(), r) - cdf.begin());
    REQUIRE(picker.Pick(&a) == expected);
  }
}

}  // namespace
}  // namespace allezon::loadgen
