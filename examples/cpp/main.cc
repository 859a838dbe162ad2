// A small C++ service embedding allezon through its C++ API (target allezon::allezon).
//
// ShopAnalytics is what a shop's backend might keep in-process: front-end threads record
// events as they happen (no HTTP, no JSON), a recommender asks what a shopper looked at
// recently, a dashboard asks for a campaign's per-minute numbers.
//
// Usage: allezon_example_cpp [data_dir]   (default: a new directory under /tmp, removed after)
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allezon/allezon.hpp"

namespace {

class ShopAnalytics {
 public:
  static absl::StatusOr<std::unique_ptr<ShopAnalytics>> Open(const std::string& dir) {
    allezon::Options options;
    options.data_dir = dir;
    options.profile_cap = 50;  // this shop's recommender looks at 50 events per shopper
    absl::StatusOr<std::unique_ptr<allezon::Database>> db = allezon::Database::Open(options);
    if (!db.ok()) return db.status();
    return std::unique_ptr<ShopAnalytics>(new ShopAnalytics(*std::move(db)));
  }

  // Called by any front-end thread; returns once the event is durable.
  absl::Status RecordBatch(const std::vector<allezon::UserTag>& events) {
    return db_->AddTags(events);
  }

  // Brands the shopper viewed in [begin, end), most viewed first.
  absl::StatusOr<std::vector<std::pair<std::string, int>>> TopBrands(const std::string& cookie,
                                                                     allezon::TimeRange range) {
    absl::StatusOr<allezon::Profile> profile = db_->user_tags().GetProfile(cookie, range, 200);
    if (!profile.ok()) return profile.status();
    std::map<std::string, int> counts;
    for (const allezon::UserTag& tag : profile->views) ++counts[tag.brand_id];
    std::vector<std::pair<std::string, int>> top(counts.begin(), counts.end());
    std::stable_sort(top.begin(), top.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    return top;
  }

  absl::StatusOr<allezon::AggregateResult> CampaignMinutes(const std::string& origin,
                                                           allezon::Action action,
                                                           allezon::TimeRange range) {
    allezon::AggregateQuery query;
    query.range = range;
    query.action = action;
    query.origin = origin;
    query.aggregates = {allezon::AggregateFunction::kCount, allezon::AggregateFunction::kSumPrice};
    return db_->aggregates().Query(query);
  }

  const allezon::Database& db() const { return *db_; }

 private:
  explicit ShopAnalytics(std::unique_ptr<allezon::Database> db) : db_(std::move(db)) {}
  std::unique_ptr<allezon::Database> db_;
};

// Front end number `shard` records 20 events per shopper for shoppers of its shard.
absl::Status SimulateFrontEnd(ShopAnalytics& shop, int shard, allezon::EpochMillis t0) {
  static const char* const kBrands[] = {"Nike", "Adidas", "Puma"};
  std::vector<allezon::UserTag> batch;
  for (int i = 0; i < 20; ++i) {
    allezon::UserTag tag;
    tag.time = t0 + i * 6'000 + shard;  // two minutes of traffic
    tag.cookie = "shopper-" + std::to_string(shard);
    tag.country = "PL";
    tag.device = allezon::Device::kMobile;
    tag.action = i % 5 == 4 ? allezon::Action::kBuy : allezon::Action::kView;
    tag.origin = shard % 2 == 0 ? "SPRING_SALE" : "NEWSLETTER";
    tag.product_id = int64_t{1000 + i};
    tag.brand_id = kBrands[(i * (shard + 1)) % 3];
    tag.category_id = "SHOES";
    tag.price = 100 * (i + 1);
    batch.push_back(std::move(tag));
    if (batch.size() == 5) {  // a front end flushes every 5 events
      if (absl::Status s = shop.RecordBatch(batch); !s.ok()) return s;
      batch.clear();
    }
  }
  return absl::OkStatus();
}

int Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const bool temporary = argc < 2;
  const fs::path dir =
      temporary ? fs::temp_directory_path() / ("allezon_example_cpp_" + std::to_string(::getpid()))
                : fs::path(argv[1]);
  std::printf("allezon %s, data in %s\n", allezon::Version(), dir.c_str());

  int rc = 0;
  {
    absl::StatusOr<std::unique_ptr<ShopAnalytics>> shop = ShopAnalytics::Open(dir.string());
    if (!shop.ok()) return Fail("open", shop.status());

    absl::StatusOr<allezon::EpochMillis> t0 = allezon::ParseTagTime("2022-03-01T12:00:00Z");
    if (!t0.ok()) return Fail("time", t0.status());

    // Four front ends write at once; their commits are grouped by the library.
    std::vector<absl::Status> results(4);
    std::vector<std::thread> front_ends;
    for (int shard = 0; shard < 4; ++shard) {
      front_ends.emplace_back(
          [&, shard] { results[shard] = SimulateFrontEnd(**shop, shard, *t0); });
    }
    for (std::thread& t : front_ends) t.join();
    for (const absl::Status& s : results) {
      if (!s.ok()) return Fail("record", s);
    }

    const allezon::TimeRange last_hour{*t0, *t0 + 3'600'000};
    absl::StatusOr<std::vector<std::pair<std::string, int>>> top =
        (*shop)->TopBrands("shopper-1", last_hour);
    if (!top.ok()) return Fail("top brands", top.status());
    std::printf("shopper-1 viewed:");
    for (const auto& [brand, n] : *top) std::printf(" %s x%d", brand.c_str(), n);
    std::printf("\n");

    absl::StatusOr<allezon::AggregateResult> minutes = (*shop)->CampaignMinutes(
        "SPRING_SALE", allezon::Action::kBuy, {*t0, *t0 + 3 * allezon::kMillisPerMinute});
    if (!minutes.ok()) return Fail("campaign", minutes.status());
    int64_t buys = 0;
    for (const allezon::AggregateRow& row : minutes->rows) {
      std::printf("SPRING_SALE %s: %lld buys, %lld revenue\n",
                  allezon::FormatBucketTime(row.bucket_start).c_str(),
                  static_cast<long long>(row.count), static_cast<long long>(row.sum_price));
      buys += row.count;
    }
    // Shoppers 0 and 2 are in SPRING_SALE, 4 buys each.
    if (buys != 8) {
      std::fprintf(stderr, "expected 8 SPRING_SALE buys, got %lld\n", static_cast<long long>(buys));
      rc = 1;
    }

    // The JSON the HTTP server would answer, for the same profile.
    absl::StatusOr<allezon::Profile> profile =
        (*shop)->db().user_tags().GetProfile("shopper-3", last_hour, 2);
    if (!profile.ok()) return Fail("profile", profile.status());
    std::printf("profile: %s\n", allezon::ProfileToJson(*profile).c_str());

    const allezon::DatabaseStats stats = (*shop)->db().Stats();
    std::printf("%llu tags in %llu commits\n", static_cast<unsigned long long>(stats.tags_written),
                static_cast<unsigned long long>(stats.commits));
  }  // closes the database before its files are removed
  if (temporary) fs::remove_all(dir);
  return rc;
}
