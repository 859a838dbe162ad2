// Coarse buckets (SPEC §10): 15m / 1h / 1d buckets are exactly the sums of their minutes,
// whether answered from memory, from minutes, from rolled-up blocks or after a reopen, also
// with late and out-of-order tags; each size keeps its own retention.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "allezon/database.h"
#include "allezon/json.h"
#include "test_util.h"

namespace allezon {
namespace {

using testing::kStreamStart;
using testing::MakeTag;
using testing::OpenOrDie;
using testing::TempDir;
using testing::TestOptions;

constexpr int64_t kRollupMinute = 60'000;
constexpr int64_t kDay = 86'400'000;

AggregateQuery Query(BucketSize bucket, EpochMillis begin, EpochMillis end, Action action,
                     std::optional<std::string> origin = std::nullopt,
                     std::optional<std::string> brand = std::nullopt,
                     std::optional<std::string> category = std::nullopt) {
  AggregateQuery query;
  query.bucket = bucket;
  query.range = {begin, end};
  query.action = action;
  query.origin = std::move(origin);
  query.brand_id = std::move(brand);
  query.category_id = std::move(category);
  query.aggregates = {AggregateFunction::kCount, AggregateFunction::kSumPrice};
  return query;
}

// The tags the aggregates count: those whose minute was within the 1-minute retention of
// the newest time when they arrived (older ones are kept in profiles only).
struct RollupModel {
  Options options;
  EpochMillis newest = kMinTime;
  std::vector<UserTag> counted;

  void Add(const std::vector<UserTag>& batch) {
    for (const UserTag& tag : batch) {
      newest = std::max(newest, tag.time);
      if (MinuteStart(tag.time) >= MinuteStart(newest - options.retention_ms)) {
        counted.push_back(tag);
      }
    }
  }
  AggregateRow Row(const AggregateQuery& q, EpochMillis start) const {
    AggregateRow row{start, 0, 0};
    const int64_t size = BucketMillis(q.bucket);
    // A bucket that began before (newest - its retention), floored to its size, is dropped.
    const int64_t retention[] = {options.retention_ms, options.retention_15m_ms,
                                 options.retention_1h_ms, options.retention_1d_ms};
    const int64_t kept_from = newest - retention[static_cast<int>(q.bucket)];
    const int64_t kept_bucket = kept_from >= 0 ? kept_from / size * size : kept_from;
    if (start < kept_bucket) return row;
    for (const UserTag& t : counted) {
      if (t.time < start || t.time >= start + size || t.action != q.action) continue;
      if (q.origin && t.origin != *q.origin) continue;
      if (q.brand_id && t.brand_id != *q.brand_id) continue;
      if (q.category_id && t.category_id != *q.category_id) continue;
      ++row.count;
      row.sum_price += t.price;
    }
    return row;
  }
};

const char* kOrigins[] = {"o1", "o2", "o3"};
const char* kBrands[] = {"b1", "b2"};
const char* kCategories[] = {"c1", "c2", "c3", "c4"};

void CheckAllSizes(const Database& db, const RollupModel& model, std::mt19937_64& random,
                   int queries, EpochMillis span_end) {
  for (int i = 0; i < queries; ++i) {
    const BucketSize bucket = static_cast<BucketSize>(random() % 4);
    const int64_t size = BucketMillis(bucket);
    const int64_t first = kStreamStart / size;
    const int64_t last = span_end / size + 1;
    const int64_t b =
        first + static_cast<int64_t>(random() % static_cast<uint64_t>(last - first + 1));
    const int64_t n = static_cast<int64_t>(random() % 6);
    const unsigned mask = static_cast<unsigned>(random() % 8);
    AggregateQuery q =
        Query(bucket, b * size, (b + n) * size, random() % 2 ? Action::kBuy : Action::kView,
              mask & 4 ? std::optional<std::string>(kOrigins[random() % 3]) : std::nullopt,
              mask & 2 ? std::optional<std::string>(kBrands[random() % 2]) : std::nullopt,
              mask & 1 ? std::optional<std::string>(kCategories[random() % 4]) : std::nullopt);
    absl::StatusOr<AggregateResult> result = db.aggregates().Query(q);
    REQUIRE_MESSAGE(result.ok(), std::string(result.status().message()));
    REQUIRE(result->rows.size() == static_cast<size_t>(n));
    for (size_t r = 0; r < result->rows.size(); ++r) {
      const AggregateRow expected = model.Row(q, q.range.begin + static_cast<int64_t>(r) * size);
      CAPTURE(BucketName(bucket));
      CAPTURE(mask);
      CAPTURE(r);
      CHECK(result->rows[r].bucket_start == expected.bucket_start);
      CHECK(result->rows[r].count == expected.count);
      CHECK(result->rows[r].sum_price == expected.sum_price);
    }
  }
}

TEST_CASE("coarse buckets are the sums of their minutes: live, rolled up, late tags, reopen") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  bool settle = false;
  SUBCASE("everything still in minutes and memory") {}
  SUBCASE("minutes folded and buckets rolled up as soon as they close") {
    settle = true;
    options.tuning.aggregate_fold_delay_ms = 0;
    options.tuning.aggregate_fold_interval_ms = 0;
  }
  std::mt19937_64 random(20);
  RollupModel model;
  model.options = options;
  // Three days, in steps of about 7 minutes: every size rolls up several buckets.
  constexpr int kRounds = 40;
  constexpr int64_t kStep = 3 * kDay / kRounds;
  {
    auto db = OpenOrDie(options);
    for (int round = 0; round < kRounds; ++round) {
      std::vector<UserTag> batch;
      for (int i = 0; i < 30; ++i) {
        // Mostly advancing; some late by up to 30 hours (past the minutes' retention, too).
        const int64_t now = kStreamStart + round * kStep;
        const EpochMillis time =
            random() % 5 == 0 ? now - static_cast<int64_t>(random() % (30 * 3'600'000ULL))
                              : now + static_cast<int64_t>(random() % static_cast<uint64_t>(kStep));
        batch.push_back(MakeTag(std::max(time, kStreamStart), absl::StrCat("c", random() % 50),
                                random() % 3 == 0 ? Action::kBuy : Action::kView,
                                static_cast<int32_t>(random() % 1000), kOrigins[random() % 3],
                                kBrands[random() % 2], kCategories[random() % 4]));
      }
      REQUIRE(db->AddTags(batch).ok());
      model.Add(batch);
      if (settle) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      CheckAllSizes(*db, model, random, 10, model.newest);
    }
    CheckAllSizes(*db, model, random, 200, model.newest);
  }
  // Reopen: rollups, their watermarks and the replayed open minutes add up, nothing twice.
  auto db = OpenOrDie(options);
  CheckAllSizes(*db, model, random, 200, model.newest);
}

TEST_CASE("each bucket size keeps its own retention") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.retention_ms = 2 * 3'600'000;       // minutes: 2 hours
  options.retention_15m_ms = 10 * 3'600'000;  // 15 minutes: 10 hours
  options.retention_1h_ms = 2 * kDay;
  options.retention_1d_ms = 10 * kDay;
  options.tuning.aggregate_fold_delay_ms = 0;
  options.tuning.aggregate_fold_interval_ms = 0;
  auto db = OpenOrDie(options);
  // One BUY of price 3 every 10 minutes for 5 days.
  for (int64_t t = kStreamStart; t < kStreamStart + 5 * kDay; t += 10 * kRollupMinute) {
    REQUIRE(db->AddTag(MakeTag(t, "c", Action::kBuy, 3)).ok());
  }
  const EpochMillis newest = kStreamStart + 5 * kDay - 10 * kRollupMinute;
  // Let maintenance fold, roll up and drop.
  REQUIRE(db->AddTag(MakeTag(newest, "c", Action::kView, 1)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  REQUIRE(db->AddTag(MakeTag(newest, "c", Action::kView, 1)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  const auto rows = [&](BucketSize bucket) {
    absl::StatusOr<AggregateResult> r =
        db->aggregates().Query(Query(bucket, kStreamStart, kStreamStart + 5 * kDay, Action::kBuy));
    REQUIRE(r.ok());
    return r->rows;
  };
  // Days: all five kept, each 144 BUYs.
  std::vector<AggregateRow> days = rows(BucketSize::k1d);
  REQUIRE(days.size() == 5);
  for (const AggregateRow& day : days) {
    CHECK(day.count == 144);
    CHECK(day.sum_price == 432);
  }
  // Hours: kept 2 days behind the newest time, 6 BUYs each; older ones are zero.
  const EpochMillis hours_from = (newest - 2 * kDay) / 3'600'000 * 3'600'000;
  for (const AggregateRow& hour : rows(BucketSize::k1h)) {
    CAPTURE(hour.bucket_start);
    CHECK(hour.count == (hour.bucket_start >= hours_from ? 6 : 0));
  }
  const EpochMillis quarters_from =
      (newest - 10 * 3'600'000) / (15 * kRollupMinute) * (15 * kRollupMinute);
  int64_t kept_quarters = 0;
  for (const AggregateRow& quarter : rows(BucketSize::k15m)) {
    if (quarter.bucket_start < quarters_from) {
      CHECK(quarter.count == 0);
    } else {
      ++kept_quarters;
      const int64_t expected = (quarter.bucket_start / kRollupMinute) % 30 == 0 ? 2 : 1;
      CHECK(quarter.count == expected);
    }
  }
  CHECK(kept_quarters == (MinuteStart(newest) - quarters_from) / (15 * kRollupMinute) + 1);
  const EpochMillis minutes_from = MinuteStart(newest - 2 * 3'600'000);
  for (const AggregateRow& minute : rows(BucketSize::k1m)) {
    if (minute.bucket_start < minutes_from) CHECK(minute.count == 0);
  }
  // The file stays flat: past their retention the blocks are gone, not merely hidden.
  CHECK(db->Stats().open_minutes <= 2);
}

TEST_CASE("bucket queries are validated and named in the JSON") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  REQUIRE(db->AddTag(MakeTag(kStreamStart + 5, "c", Action::kView, 7)).ok());
  // Not whole buckets (UTC).
  absl::StatusOr<AggregateResult> bad =
      db->aggregates().Query(Query(BucketSize::k15m, kStreamStart + kRollupMinute,
                                   kStreamStart + 16 * kRollupMinute, Action::kView));
  CHECK(absl::IsInvalidArgument(bad.status()));
  CHECK(std::string(bad.status().message()).find("15m") != std::string::npos);
  CHECK_FALSE(db->aggregates()
                  .Query(Query(BucketSize::k1d, kStreamStart + 3'600'000,
                               kStreamStart + kDay + 3'600'000, Action::kView))
                  .ok());
  AggregateQuery q =
      Query(BucketSize::k1h, kStreamStart, kStreamStart + 2 * 3'600'000, Action::kView);
  absl::StatusOr<AggregateResult> ok = db->aggregates().Query(q);
  REQUIRE(ok.ok());
  q.aggregates = {AggregateFunction::kCount};
  CHECK(AggregatesToJson(q, *ok) ==
        R"({"columns":["1h_bucket","action","count"],"rows":[)"
        R"(["2022-03-01T00:00:00","VIEW","1"],["2022-03-01T01:00:00","VIEW","0"]]})");
  CHECK(ParseBucketSize("1h") == BucketSize::k1h);
  CHECK_FALSE(ParseBucketSize("2h").has_value());
  Options bad_options = TestOptions(dir.Sub("other"));
  bad_options.retention_1h_ms = 1000;
  CHECK(absl::IsInvalidArgument(Database::Open(bad_options).status()));
}

}  // namespace
}  // namespace allezon
