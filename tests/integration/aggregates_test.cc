// SPEC §2 (aggregate ranges) and §5: one row per minute bucket, zero rows, column order, every
// filter subset, both aggregates in either order, 64-bit sums, values as strings.
#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include "common.h"

namespace allezon_it {
namespace {

const std::vector<std::vector<std::string>> kAggregateOrders = {
    {"COUNT"}, {"SUM_PRICE"}, {"COUNT", "SUM_PRICE"}, {"SUM_PRICE", "COUNT"}};

// A small data set over minutes 0..5 (2 and 4 empty), with boundary times and two values for
// every filter attribute.
void AddDataSet(HttpClient& http, Model& m) {
  struct Row {
    int64_t ms;
    const char* action;
    const char* origin;
    const char* brand;
    const char* category;
    int64_t price;
  };
  const std::vector<Row> rows = {
      {Min(0), "VIEW", "O1", "B1", "C1", 100},
      {Min(0) + 1, "VIEW", "O1", "B2", "C1", 250},
      {Min(0) + 30000, "VIEW", "O2", "B1", "C2", 7},
      {Min(1) - 1, "VIEW", "O2", "B2", "C2", 1000},  // last ms of minute 0
      {Min(1), "VIEW", "O1", "B1", "C1", 1},         // first ms of minute 1
      {Min(1) + 5, "BUY", "O1", "B1", "C1", 5000},
      {Min(1) + 6, "BUY", "O2", "B1", "C1", -300},
      {Min(1) + 59999, "VIEW", "O1", "B1", "C2", 42},
      {Min(3) + 123, "VIEW", "O2", "B2", "C1", 99},
      {Min(3) + 124, "BUY", "O2", "B2", "C1", 2},
      {Min(0) + 10, "BUY", "O1", "B2", "C2", 3},
      {Min(5) - 1, "VIEW", "O1", "B1", "C1", 11},  // last ms of minute 4
      {Min(5), "VIEW", "O1", "B1", "C1", 13},      // outside [0, 5) queries
      {Min(0) - 1, "VIEW", "O1", "B1", "C1", 17},  // before them
  };
  int i = 0;
  for (const Row& r : rows) {
    Tag t = MakeTag(r.ms, "agg-" + std::to_string(i++ % 3), r.action);
    t.origin = r.origin;
    t.brand_id = r.brand;
    t.category_id = r.category;
    t.price = r.price;
    AddTag(http, t, &m);
  }
}

TEST_SUITE("aggregates") {
  TEST_CASE("the SPEC example, spelled out: three buckets, an empty bucket gives \"0\"") {
    Server s;
    Tag t = MakeTag(TimeMs(2022, 3, 22, 12, 25, 30), "c", "BUY");
    t.brand_id = "Nike";
    t.price = 1000;
    AddTag(s.http, t);
    Tag t2 = t;
    t2.time = std::string("2022-03-22T12:27:59.999Z");
    t2.ms = TimeMs(2022, 3, 22, 12, 27, 59, 999);
    t2.price = 24;
    AddTag(s.http, t2);
    const std::string query =
        "time_range=2022-03-22T12:25:00_2022-03-22T12:28:00&action=BUY&brand_id=Nike"
        "&aggregates=COUNT&aggregates=SUM_PRICE";
    HttpResponse r = s.http.Aggregates(query);
    INFO("request: POST /aggregates?" << query);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    CHECK(r.MediaType() == "application/json");
    AggregateAnswer want;
    want.columns = {"1m_bucket", "action", "brand_id", "count", "sum_price"};
    want.rows = {{"2022-03-22T12:25:00", "BUY", "Nike", "1", "1000"},
                 {"2022-03-22T12:26:00", "BUY", "Nike", "0", "0"},
                 {"2022-03-22T12:27:00", "BUY", "Nike", "1", "24"}};
    std::string diff = DiffAggregate(r.body, want);
    CHECK_MESSAGE(diff.empty(), diff);
  }

  TEST_CASE("columns: filters always as action, origin, brand_id, category_id; then aggregates") {
    Server s;
    AddTag(s.http, MakeTag(Min(0), "c"));
    // Query parameters deliberately in a different order than the columns.
    const std::string query =
        "aggregates=SUM_PRICE&category_id=Category&brand_id=Brand"
        "&aggregates=COUNT&origin=ORIGIN&action=VIEW&time_range=" +
        SecondsRange(Min(0), Min(1));
    HttpResponse r = s.http.Aggregates(query);
    INFO("request: POST /aggregates?" << query);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    AggregateAnswer want;
    want.columns = {"1m_bucket",   "action",    "origin", "brand_id",
                    "category_id", "sum_price", "count"};
    want.rows = {{FormatSeconds(Min(0)), "VIEW", "ORIGIN", "Brand", "Category", "100", "1"}};
    std::string diff = DiffAggregate(r.body, want);
    CHECK_MESSAGE(diff.empty(), diff);
  }

  TEST_CASE("every filter subset x every aggregate order x both actions matches the model") {
    Server s;
    Model m;
    AddDataSet(s.http, m);
    int checked = 0;
    for (const char* action : {"VIEW", "BUY"}) {
      for (int mask = 0; mask < 8; ++mask) {
        for (const auto& aggs : kAggregateOrders) {
          // Values that exist, and (in the last combination) ones that do not.
          for (int variant = 0; variant < 2; ++variant) {
            AggregateQuery q;
            q.begin_ms = Min(0);
            q.end_ms = Min(5);
            q.action = action;
            q.aggregates = aggs;
            if (mask & 1) q.origin = variant ? "O2" : "O1";
            if (mask & 2) q.brand_id = variant ? "B2" : "B1";
            if (mask & 4) q.category_id = variant ? "C2" : "C1";
            ExpectAggregate(s.http, m, q);
            ++checked;
          }
        }
      }
    }
    CHECK(checked == 128);
    AggregateQuery none;
    none.begin_ms = Min(0);
    none.end_ms = Min(5);
    none.origin = "no-such-origin";
    none.aggregates = {"COUNT", "SUM_PRICE"};
    ExpectAggregate(s.http, m, none);
    // Sub-ranges: a single bucket, an empty bucket, the range's edges.
    for (auto [b, e] : std::vector<std::pair<int, int>>{
             {0, 1}, {1, 2}, {2, 3}, {4, 5}, {-1, 6}, {3, 4}, {5, 6}}) {
      AggregateQuery q;
      q.begin_ms = Min(b);
      q.end_ms = Min(e);
      q.aggregates = {"COUNT", "SUM_PRICE"};
      ExpectAggregate(s.http, m, q);
      q.action = "BUY";
      ExpectAggregate(s.http, m, q);
    }
    // The model itself: minute 0 VIEW has 4 tags summing 1357 (the boundary tags counted right).
    AggregateQuery q0;
    q0.begin_ms = Min(0);
    q0.end_ms = Min(1);
    q0.aggregates = {"COUNT", "SUM_PRICE"};
    AggregateAnswer a0 = m.Aggregate(q0);
    REQUIRE(a0.rows.size() == 1);
    CHECK(a0.rows[0] == std::vector<std::string>{FormatSeconds(Min(0)), "VIEW", "4", "1357"});
  }

  TEST_CASE("a store with no tags answers one \"0\" row per bucket") {
    Server s;
    const std::string query = "time_range=" + SecondsRange(Min(0), Min(10)) +
                              "&action=VIEW&aggregates=COUNT&aggregates=SUM_PRICE";
    HttpResponse r = s.http.Aggregates(query);
    INFO("request: POST /aggregates?" << query);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    AggregateAnswer want;
    want.columns = {"1m_bucket", "action", "count", "sum_price"};
    for (int k = 0; k < 10; ++k) want.rows.push_back({FormatSeconds(Min(k)), "VIEW", "0", "0"});
    std::string diff = DiffAggregate(r.body, want);
    CHECK_MESSAGE(diff.empty(), diff);
  }

  TEST_CASE("begin == end gives zero rows") {
    Server s;
    AddTag(s.http, MakeTag(Min(0), "c"));
    const std::string query =
        "time_range=" + SecondsRange(Min(0), Min(0)) + "&action=VIEW&aggregates=COUNT";
    HttpResponse r = s.http.Aggregates(query);
    INFO("request: POST /aggregates?" << query);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    AggregateAnswer want;
    want.columns = {"1m_bucket", "action", "count"};
    std::string diff = DiffAggregate(r.body, want);
    CHECK_MESSAGE(diff.empty(), diff);
  }

  TEST_CASE("sums go beyond 2^31 (64-bit), both ways") {
    Server s;
    Model m;
    for (int i = 0; i < 3; ++i) {
      Tag t = MakeTag(Min(0) + i, "rich", "BUY");
      t.price = std::numeric_limits<int32_t>::max();
      AddTag(s.http, t, &m);
    }
    for (int i = 0; i < 3; ++i) {
      Tag t = MakeTag(Min(1) + i, "refund", "BUY");
      t.price = std::numeric_limits<int32_t>::min();
      AddTag(s.http, t, &m);
    }
    const std::string query = "time_range=" + SecondsRange(Min(0), Min(2)) +
                              "&action=BUY&aggregates=SUM_PRICE&aggregates=COUNT";
    HttpResponse r = s.http.Aggregates(query);
    INFO("request: POST /aggregates?" << query);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    AggregateAnswer want;
    want.columns = {"1m_bucket", "action", "sum_price", "count"};
    want.rows = {{FormatSeconds(Min(0)), "BUY", "6442450941", "3"},
                 {FormatSeconds(Min(1)), "BUY", "-6442450944", "3"}};
    std::string diff = DiffAggregate(r.body, want);
    CHECK_MESSAGE(diff.empty(), diff);
    // 2^32 exactly: 2 x 2^31 would overflow uint32 too; 4 tags of max price and -4 after.
    for (int i = 0; i < 5; ++i) {
      Tag t = MakeTag(Min(2) + i, "rich2", "BUY");
      t.price = std::numeric_limits<int32_t>::max();
      t.brand_id = "Lux";
      AddTag(s.http, t, &m);
    }
    AggregateQuery q;
    q.begin_ms = Min(0);
    q.end_ms = Min(3);
    q.action = "BUY";
    q.aggregates = {"SUM_PRICE"};
    ExpectAggregate(s.http, m, q);
    q.brand_id = "Lux";
    ExpectAggregate(s.http, m, q);
  }

  TEST_CASE("every value in columns and rows is a JSON string") {
    Server s;
    AddTag(s.http, MakeTag(Min(0), "c", "BUY"));
    const std::string query = "time_range=" + SecondsRange(Min(0), Min(3)) +
                              "&action=BUY&origin=ORIGIN&aggregates=COUNT&aggregates=SUM_PRICE";
    HttpResponse r = s.http.Aggregates(query);
    INFO("request: POST /aggregates?" << query << " -> " << r.body);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    rapidjson::Document d = ParseJson(r.body);
    REQUIRE(!d.HasParseError());
    REQUIRE((d.IsObject() && d.HasMember("columns") && d.HasMember("rows")));
    REQUIRE(d["rows"].IsArray());
    CHECK(d["rows"].Size() == 3);
    for (const auto& row : d["rows"].GetArray()) {
      REQUIRE(row.IsArray());
      CHECK(row.Size() == 5);
      for (const auto& v : row.GetArray()) CHECK_MESSAGE(v.IsString(), ToJson(row));
    }
  }

  TEST_CASE("filter values that need URL encoding, and '+' meaning plus") {
    Server s;
    Model m;
    const std::vector<std::string> origins = {"Summer Sale 50% & more/\xE2\x82\xAC", "A+B", "A B",
                                              "x=y?z#w;", "zażółć"};
    int i = 0;
    for (const auto& o : origins) {
      for (int k = 0; k <= i; ++k) {  // a different count per origin
        Tag t = MakeTag(Min(0) + i * 100 + k, "enc", "VIEW");
        t.origin = o;
        t.brand_id = o + "-brand";
        t.category_id = "cat " + o;
        t.price = 10 + i;
        AddTag(s.http, t, &m);
      }
      ++i;
    }
    for (const auto& o : origins) {
      CAPTURE(o);
      AggregateQuery q;
      q.begin_ms = Min(0);
      q.end_ms = Min(2);
      q.aggregates = {"COUNT", "SUM_PRICE"};
      q.origin = o;
      ExpectAggregate(s.http, m, q);
      q.brand_id = o + "-brand";
      q.category_id = "cat " + o;
      ExpectAggregate(s.http, m, q);
    }
  }

  TEST_CASE("an empty filter value filters for the empty string") {
    Server s;
    Model m;
    for (int i = 0; i < 3; ++i) {
      Tag t = MakeTag(Min(0) + i, "e");
      t.origin = i < 2 ? "" : "X";
      t.brand_id = i == 0 ? "" : "Y";
      AddTag(s.http, t, &m);
    }
    const std::string query =
        "time_range=" + SecondsRange(Min(0), Min(1)) + "&action=VIEW&origin=&aggregates=COUNT";
    HttpResponse r = s.http.Aggregates(query);
    INFO("request: POST /aggregates?" << query);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    AggregateAnswer want;
    want.columns = {"1m_bucket", "action", "origin", "count"};
    want.rows = {{FormatSeconds(Min(0)), "VIEW", "", "2"}};
    std::string diff = DiffAggregate(r.body, want);
    CHECK_MESSAGE(diff.empty(), diff);
    AggregateQuery q;
    q.begin_ms = Min(0);
    q.end_ms = Min(1);
    q.origin = "";
    q.brand_id = "";
    ExpectAggregate(s.http, m, q);
  }

  TEST_CASE("buckets use the time's value: every spelling lands in the right minute") {
    Server s;
    Model m;
    struct Form {
      std::variant<std::string, int64_t> sent;
      int64_t ms;
    };
    const std::vector<Form> forms = {
        {FormatSeconds(Min(0) + 59000) + ".999999999Z", Min(1) - 1},
        {FormatSeconds(Min(1)) + "Z", Min(1)},
        {Min(1) + 30000, Min(1) + 30000},
        {FormatSeconds(Min(2)) + ".5Z", Min(2) + 500},
        {Min(3) - 1, Min(3) - 1},
    };
    for (const auto& f : forms) {
      Tag t = MakeTag(f.ms, "spell");
      t.time = f.sent;
      t.price = f.ms % 1000 + 1;
      AddTag(s.http, t, &m);
    }
    AggregateQuery q;
    q.begin_ms = Min(0);
    q.end_ms = Min(4);
    q.aggregates = {"COUNT", "SUM_PRICE"};
    ExpectAggregate(s.http, m, q);
    CHECK(m.Aggregate(q).rows[1][2] == "2");
  }

  TEST_CASE("out-of-order tags are counted in their own (older) buckets") {
    Server s;
    Model m;
    for (int k : {5, 1, 3, 0, 4, 1, 5}) AddTag(s.http, MakeTag(Min(k) + k, "late", "BUY"), &m);
    AggregateQuery q;
    q.begin_ms = Min(0);
    q.end_ms = Min(7);
    q.action = "BUY";
    q.aggregates = {"COUNT", "SUM_PRICE"};
    ExpectAggregate(s.http, m, q);
  }

  TEST_CASE("retention: the last 24 hours of event time stay answerable") {
    Server s;
    Model m;
    AddTag(s.http, MakeTag(Min(0), "old"), &m);
    AddTag(s.http, MakeTag(Min(0) + 23 * kHour + 59 * kMinute, "new"), &m);
    AggregateQuery q;
    q.begin_ms = Min(0);
    q.end_ms = Min(2);
    ExpectAggregate(s.http, m, q);
    // Late arrival for an old-but-retained minute.
    AddTag(s.http, MakeTag(Min(1), "late"), &m);
    ExpectAggregate(s.http, m, q);
  }

  TEST_CASE("retention is configurable (--retention-hours 1): the last hour stays answerable") {
    ServerOptions o;
    o.retention_hours = 1;
    Server s(o);
    Model m;
    AddTag(s.http, MakeTag(Min(0) + 10, "old"), &m);
    AddTag(s.http, MakeTag(Min(59), "new"), &m);
    AggregateQuery q;
    q.begin_ms = Min(0);
    q.end_ms = Min(60);
    q.aggregates = {"COUNT", "SUM_PRICE"};
    ExpectAggregate(s.http, m, q);
  }

  TEST_CASE("a day-long range (1440 rows) is answered correctly and quickly") {
    Server s;
    Model m;
    const int64_t day = TimeMs(2022, 3, 2);
    for (int k : {0, 1, 719, 1439}) AddTag(s.http, MakeTag(day + k * kMinute + k, "day"), &m);
    AggregateQuery q;
    q.begin_ms = day;
    q.end_ms = day + kDay;
    q.aggregates = {"COUNT", "SUM_PRICE"};
    auto start = std::chrono::steady_clock::now();
    ExpectAggregate(s.http, m, q);
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(took).count() < 2000);
  }

  TEST_CASE("filter values that could collide in a key layout stay apart") {
    Server s;
    Model m;
    struct Attr {
      std::string origin, brand, category;
    };
    const std::vector<Attr> attrs = {{"x|y", "z", "c"},
                                     {"x", "y|z", "c"},
                                     {"x", "y", "c"},
                                     {"xy", "", "c"},
                                     {"", "xy", "c"},
                                     {"x", "yc", ""},
                                     {"x:y", "z", "c"},
                                     {std::string("x\0y", 3), "z", "c"},
                                     {"x", std::string("\0", 1), "c"},
                                     {"X", "Y", "C"},
                                     {"x\ty", "z", "c"}};
    int i = 0;
    for (const auto& a : attrs) {
      for (int k = 0; k <= i % 3; ++k) {
        Tag t = MakeTag(Min(0) + i * 10 + k, "keys");
        t.origin = a.origin;
        t.brand_id = a.brand;
        t.category_id = a.category;
        t.price = 1 << i;
        AddTag(s.http, t, &m);
      }
      ++i;
    }
    for (const auto& a : attrs) {
      for (int mask = 1; mask < 8; ++mask) {
        AggregateQuery q;
        q.begin_ms = Min(0);
        q.end_ms = Min(1);
        q.aggregates = {"COUNT", "SUM_PRICE"};
        if (mask & 1) q.origin = a.origin;
        if (mask & 2) q.brand_id = a.brand;
        if (mask & 4) q.category_id = a.category;
        ExpectAggregate(s.http, m, q);
      }
    }
  }

  TEST_CASE("a time_range with percent-encoded colons means the same range") {
    Server s;
    Model m;
    AddTag(s.http, MakeTag(Min(1) + 5, "pct"), &m);
    AggregateQuery q;
    q.begin_ms = Min(0);
    q.end_ms = Min(3);
    q.aggregates = {"COUNT"};
    const std::string query =
        "time_range=" + UrlEncode(SecondsRange(Min(0), Min(3))) + "&action=VIEW&aggregates=COUNT";
    HttpResponse r = s.http.Aggregates(query);
    INFO("request: POST /aggregates?" << query);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    std::string diff = DiffAggregate(r.body, m.Aggregate(q));
    CHECK_MESSAGE(diff.empty(), diff);
  }

  TEST_CASE("a range older than the retention window is still answered, one row per bucket") {
    Server s;
    AddTag(s.http, MakeTag(Min(0), "old"));
    AddTag(s.http, MakeTag(Min(0) + 3 * kDay, "new"));
    const std::string query =
        "time_range=" + SecondsRange(Min(-2), Min(3)) + "&action=VIEW&aggregates=COUNT";
    HttpResponse r = s.http.Aggregates(query);
    INFO("request: POST /aggregates?" << query);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    rapidjson::Document d = ParseJson(r.body);
    REQUIRE((d.IsObject() && d.HasMember("rows") && d["rows"].IsArray()));
    REQUIRE(d["rows"].Size() == 5);
    for (rapidjson::SizeType k = 0; k < 5; ++k) {
      const auto& row = d["rows"][k];
      REQUIRE((row.IsArray() && row.Size() == 3 && row[0].IsString() && row[2].IsString()));
      CHECK(std::string(row[0].GetString()) == FormatSeconds(Min(static_cast<int>(k) - 2)));
      // Dropped or kept, a count is "0" or "1" here.
      const std::string count = row[2].GetString();
      CHECK((count == "0" || (k == 2 && count == "1")));
    }
  }

  TEST_CASE("bucket=15m|1h|1d: each row is exactly the sum of its minutes (SPEC §10)") {
    Server s;
    Model m;
    AddDataSet(s.http, m);
    // Spread over 20 hours (across two UTC days), out of order; all within the 24 hours
    // behind the newest time that aggregates count.
    for (int k = 0; k < 40; ++k) {
      Tag t = MakeTag(Min(0) + (k * 7919 % 20) * 3'600'000 + k * 1000,
                      "spread-" + std::to_string(k % 4), k % 3 ? "VIEW" : "BUY");
      t.origin = k % 2 ? "O1" : "O2";
      t.price = k * 11;
      AddTag(s.http, t, &m);
    }
    for (const char* bucket : {"15m", "1h", "1d"}) {
      for (const char* action : {"VIEW", "BUY"}) {
        for (int filtered = 0; filtered < 2; ++filtered) {
          AggregateQuery q;
          q.bucket = bucket;
          q.action = action;
          q.aggregates = {"SUM_PRICE", "COUNT"};
          const int64_t size = q.BucketMs();
          q.begin_ms = (Min(0) - kDay) / size * size;
          q.end_ms = (Min(0) + 3 * kDay) / size * size;
          if (filtered) q.origin = "O1";
          ExpectAggregate(s.http, m, q);
        }
      }
    }
  }

  TEST_CASE("bucket errors: unknown size, a range not whole buckets: 400 with a JSON error") {
    Server s;
    const std::string range = "time_range=" + SecondsRange(Min(0), Min(0) + 3'600'000);
    ExpectError(s.http.Aggregates(range + "&action=VIEW&aggregates=COUNT&bucket=2h"), 400,
                "bucket=2h");
    ExpectError(s.http.Aggregates(range + "&action=VIEW&aggregates=COUNT&bucket="), 400, "bucket=");
    const std::string off = "time_range=" + SecondsRange(Min(1), Min(1) + 3'600'000);
    ExpectError(s.http.Aggregates(off + "&action=VIEW&aggregates=COUNT&bucket=1h"), 400,
                "a range not whole hours");
    HttpResponse ok = s.http.Aggregates(range + "&action=VIEW&aggregates=COUNT&bucket=1h");
    REQUIRE_MESSAGE(ok.status == 200, ok.Describe());
    CHECK(ok.body.find("\"1h_bucket\"") != std::string::npos);
  }
}

}  // namespace
}  // namespace allezon_it
