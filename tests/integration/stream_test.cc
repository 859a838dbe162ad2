// A realistic-ish mini stream: a few thousand tags from a seeded RNG (a hot cookie over the
// profile cap, out-of-order and equal times, every time spelling, both product_id types), each
// batch followed by profile and aggregates queries, with debug-mode bodies, checked against the
// reference model right after the batch's 204s.
#include <random>
#include <string>
#include <vector>

#include "common.h"

namespace allezon_it {
namespace {

class StreamGen {
 public:
  explicit StreamGen(uint64_t seed) : rng_(seed) {
    static const char kAlnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < 40; ++i) {
      std::string c;
      for (int k = 0; k < 20; ++k) c += kAlnum[Uniform(0, 61)];
      cookies_.push_back(c);
    }
  }

  Tag Next() {
    // The clock advances 100 ms per tag; some tags come late, some share the previous time.
    clock_ += 100;
    int64_t ms = clock_;
    int r = Uniform(0, 99);
    if (r < 10) {
      ms = clock_ - Uniform(1, 120000);
    } else if (r < 15) {
      ms = last_ms_;
    }
    last_ms_ = ms;
    const std::string& cookie = Uniform(0, 3) == 0 ? cookies_[0] : cookies_[Uniform(1, 39)];
    Tag t = MakeTag(ms, cookie, Uniform(0, 3) == 0 ? "BUY" : "VIEW");
    switch (Uniform(0, 5)) {  // how the time is spelled
      case 0:
        t.time = ms;
        break;
      case 1: {  // the fraction without trailing zeros, none at all when zero (Instant.toString)
        std::string frac = FormatTagTime(ms).substr(20, 3);
        while (!frac.empty() && frac.back() == '0') frac.pop_back();
        t.time = FormatSeconds(ms) + (frac.empty() ? "" : "." + frac) + "Z";
      } break;
      case 2:
        t.time = FormatRangeMs(ms) + "456789Z";
        break;
      default:
        break;  // canonical
    }
    static const char* const kCountries[] = {"PL", "DE", "US", "FR"};
    static const char* const kDevices[] = {"PC", "MOBILE", "TV"};
    t.country = kCountries[Uniform(0, 3)];
    t.device = kDevices[Uniform(0, 2)];
    t.origin = "ORIGIN_" + std::to_string(Uniform(0, 5));
    t.brand_id = "BRAND_" + std::to_string(Uniform(0, 4));
    t.category_id = "CATEGORY_" + std::to_string(Uniform(0, 3));
    if (Uniform(0, 9) < 7) {
      t.product_id = int64_t{Uniform(1, 999999)};
    } else {
      t.product_id = "P" + std::to_string(Uniform(1, 999999));
    }
    int p = Uniform(0, 99);
    t.price = p < 2 ? -Uniform(1, 5000) : p < 3 ? 2147483647 : Uniform(1, 100000);
    return t;
  }

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  const std::vector<std::string>& cookies() const { return cookies_; }
  int64_t clock() const { return clock_; }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> cookies_;
  int64_t clock_ = kStreamStart;
  int64_t last_ms_ = kStreamStart;
};

TEST_SUITE("stream") {
  TEST_CASE("3,000 seeded tags with queries after every batch match the model") {
    Server s;
    Model m;
    StreamGen gen(20220301);
    const int64_t lo = kStreamStart - 3 * kMinute;
    int profile_queries = 0, aggregate_queries = 0;
    for (int batch = 0; batch < 12; ++batch) {
      for (int i = 0; i < 250; ++i) AddTag(s.http, gen.Next(), &m);
      const int64_t hi = gen.clock() + 1;
      CAPTURE(batch);

      for (int k = 0; k < 8; ++k) {
        const std::string& cookie = k == 0 ? gen.cookies()[0] : gen.cookies()[gen.Uniform(0, 39)];
        int64_t b = lo, e = hi + kMinute;
        if (gen.Uniform(0, 2) != 0) {
          b = lo + gen.Uniform(0, static_cast<int>(hi - lo));
          e = b + gen.Uniform(0, static_cast<int>(hi - b + 1000));
        }
        static const int kLimits[] = {-1, 0, 1, 5, 50, 200, 1000};
        int limit = kLimits[gen.Uniform(0, 6)];
        ProfileAnswer want = m.Profile(cookie, b, e, limit < 0 ? 200 : static_cast<size_t>(limit));
        std::optional<std::string> limit_text;
        if (limit >= 0) limit_text = std::to_string(limit);
        HttpResponse r = s.http.Profile(cookie, ProfileRange(b, e), limit_text,
                                        ProfileJson(cookie, want));  // debug-mode body
        INFO("request: POST /user_profiles/" << cookie << "?time_range=" << ProfileRange(b, e)
                                             << (limit_text ? "&limit=" + *limit_text : ""));
        REQUIRE_MESSAGE(r.status == 200, r.Describe());
        std::string diff = DiffProfile(r.body, cookie, want);
        CHECK_MESSAGE(diff.empty(), diff);
        ++profile_queries;
      }

      for (int k = 0; k < 4; ++k) {
        AggregateQuery q;
        const int64_t first = lo - lo % kMinute;
        const int buckets = static_cast<int>((hi - first) / kMinute) + 2;
        int bb = gen.Uniform(0, buckets - 1);
        int eb = gen.Uniform(bb, buckets);
        q.begin_ms = first + bb * kMinute;
        q.end_ms = first + eb * kMinute;
        q.action = gen.Uniform(0, 1) ? "VIEW" : "BUY";
        int mask = gen.Uniform(0, 7);
        auto value = [&](const std::string& prefix, int n) {
          return gen.Uniform(0, 9) == 0 ? prefix + "NONE"
                                        : prefix + std::to_string(gen.Uniform(0, n));
        };
        if (mask & 1) q.origin = value("ORIGIN_", 5);
        if (mask & 2) q.brand_id = value("BRAND_", 4);
        if (mask & 4) q.category_id = value("CATEGORY_", 3);
        static const std::vector<std::vector<std::string>> kAggs = {
            {"COUNT"}, {"SUM_PRICE"}, {"COUNT", "SUM_PRICE"}, {"SUM_PRICE", "COUNT"}};
        q.aggregates = kAggs[gen.Uniform(0, 3)];
        AggregateAnswer want = m.Aggregate(q);
        HttpResponse r = s.http.Aggregates(q.ToQuery(), want.ToJson());  // debug-mode body
        INFO("request: POST /aggregates?" << q.ToQuery());
        REQUIRE_MESSAGE(r.status == 200, r.Describe());
        std::string diff = DiffAggregate(r.body, want);
        CHECK_MESSAGE(diff.empty(), diff);
        ++aggregate_queries;
      }
    }
    // The stream exercised what it is meant to: the hot cookie is over the cap.
    ProfileAnswer hot = m.Profile(gen.cookies()[0], lo, gen.clock() + 1, 100000);
    CHECK(hot.views.size() == 200);
    CHECK(profile_queries == 96);
    CHECK(aggregate_queries == 48);
  }
}

}  // namespace
}  // namespace allezon_it
