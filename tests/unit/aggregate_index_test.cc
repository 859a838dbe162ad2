#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <tuple>
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

AggregateQuery MakeQuery(EpochMillis begin, EpochMillis end, Action action,
                         std::optional<std::string> origin = std::nullopt,
                         std::optional<std::string> brand = std::nullopt,
                         std::optional<std::string> category = std::nullopt) {
  AggregateQuery query;
  query.range = {begin, end};
  query.action = action;
  query.origin = std::move(origin);
  query.brand_id = std::move(brand);
  query.category_id = std::move(category);
  query.aggregates = {AggregateFunction::kCount, AggregateFunction::kSumPrice};
  return query;
}

TEST_CASE("one row per bucket, zeros included, 64-bit sums, JSON as SPEC §5") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  std::vector<UserTag> tags;
  for (int i = 0; i < 3; ++i) {
    tags.push_back(MakeTag(kStreamStart + 60000 + i, "c", Action::kBuy, INT32_MAX, "o", "Nike"));
  }
  tags.push_back(MakeTag(kStreamStart + 3 * 60000 - 1, "c", Action::kBuy, 5, "o", "Adidas"));
  tags.push_back(MakeTag(kStreamStart + 60000, "c", Action::kView, 1, "o", "Nike"));
  REQUIRE(db->AddTags(tags).ok());
  AggregateQuery query = MakeQuery(kStreamStart, kStreamStart + 4 * 60000, Action::kBuy,
                                   std::nullopt, std::string("Nike"));
  absl::StatusOr<AggregateResult> result = db->aggregates().Query(query);
  REQUIRE(result.ok());
  REQUIRE(result->rows.size() == 4);
  CHECK(result->rows[0].count == 0);
  CHECK(result->rows[1].count == 3);
  CHECK(result->rows[1].sum_price == 3LL * INT32_MAX);
  CHECK(result->rows[2].count == 0);
  CHECK(result->rows[3].count == 0);
  query.aggregates = {AggregateFunction::kSumPrice, AggregateFunction::kCount};
  CHECK(AggregatesToJson(query, *result) ==
        R"({"columns":["1m_bucket","action","brand_id","sum_price","count"],"rows":[)"
        R"(["2022-03-01T00:00:00","BUY","Nike","0","0"],)"
        R"(["2022-03-01T00:01:00","BUY","Nike","6442450941","3"],)"
        R"(["2022-03-01T00:02:00","BUY","Nike","0","0"],)"
        R"(["2022-03-01T00:03:00","BUY","Nike","0","0"]]})");
  // No filter: both brands; an unknown value: zeros.
  result = db->aggregates().Query(MakeQuery(kStreamStart, kStreamStart + 3 * 60000, Action::kBuy));
  CHECK(result->rows[1].count == 3);
  CHECK(result->rows[2].count == 1);
  result = db->aggregates().Query(MakeQuery(kStreamStart, kStreamStart + 3 * 60000, Action::kBuy,
                                            std::string("nope")));
  for (const AggregateRow& row : result->rows) CHECK(row.count == 0);
}

TEST_CASE("aggregate queries are validated") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  CHECK_FALSE(db->aggregates().Query(MakeQuery(kStreamStart + 1, kStreamStart + 60001, Action::kView)).ok());
  CHECK_FALSE(db->aggregates().Query(MakeQuery(kStreamStart + 60000, kStreamStart, Action::kView)).ok());
  CHECK(db->aggregates().Query(MakeQuery(kStreamStart, kStreamStart, Action::kView))->rows.empty());
  AggregateQuery none = MakeQuery(kStreamStart, kStreamStart + 60000, Action::kView);
  none.aggregates.clear();
  CHECK_FALSE(db->aggregates().Query(none).ok());
  CHECK(absl::IsInvalidArgument(db->aggregates()
                                    .Query(MakeQuery(kStreamStart, kStreamStart + 60000,
                                                     Action::kView, std::nullopt, "\xc3("))
                                    .status()));
  const EpochMillis day = 24LL * 3600 * 1000;
  CHECK(db->aggregates().Query(MakeQuery(kStreamStart, kStreamStart + 366 * day, Action::kView)).ok());
  CHECK_FALSE(
      db->aggregates().Query(MakeQuery(kStreamStart, kStreamStart + 367 * day, Action::kView)).ok());
}

// Brute-force model: the SQL of SPEC §5 over every accepted tag.
struct Model {
  std::vector<UserTag> tags;
  AggregateRow Row(const AggregateQuery& q, EpochMillis minute) const {
    AggregateRow row{minute, 0, 0};
    for (const UserTag& t : tags) {
      if (t.time < minute || t.time >= minute + 60000 || t.action != q.action) continue;
      if (q.origin && t.origin != *q.origin) continue;
      if (q.brand_id && t.brand_id != *q.brand_id) continue;
      if (q.category_id && t.category_id != *q.category_id) continue;
      ++row.count;
      row.sum_price += t.price;
    }
    return row;
  }
};

void CheckAgainstModel(const Database& db, const Model& model, std::mt19937_64& random,
                       int queries) {
  const char* origins[] = {"o1", "o2", "o3"};
  const char* brands[] = {"b1", "b2"};
  const char* categories[] = {"c1", "c2", "c3", "c4"};
  for (int i = 0; i < queries; ++i) {
    const EpochMillis begin = kStreamStart + static_cast<EpochMillis>(random() % 12) * 60000;
    const EpochMillis end = begin + static_cast<EpochMillis>(random() % 6) * 60000;
    const unsigned mask = static_cast<unsigned>(random() % 8);
    AggregateQuery q = MakeQuery(
        begin, end, random() % 2 ? Action::kBuy : Action::kView,
        mask & 4 ? std::optional<std::string>(origins[random() % 3]) : std::nullopt,
        mask & 2 ? std::optional<std::string>(brands[random() % 2]) : std::nullopt,
        mask & 1 ? std::optional<std::string>(categories[random() % 4]) : std::nullopt);
    absl::StatusOr<AggregateResult> result = db.aggregates().Query(q);
    REQUIRE(result.ok());
    REQUIRE(result->rows.size() == static_cast<size_t>((end - begin) / 60000));
    for (size_t r = 0; r < result->rows.size(); ++r) {
      const AggregateRow expected = model.Row(q, begin + static_cast<EpochMillis>(r) * 60000);
      CAPTURE(mask);
      CAPTURE(r);
      CHECK(result->rows[r].bucket_start == expected.bucket_start);
      CHECK(result->rows[r].count == expected.count);
      CHECK(result->rows[r].sum_price == expected.sum_price);
    }
  }
}

TEST_CASE("every filter subset matches the SQL model, in memory, folded and after reopen") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  bool fold_eagerly = false;
  SUBCASE("open minutes in memory") {}
  SUBCASE("minutes folded as soon as they close") {
    fold_eagerly = true;
    options.tuning.aggregate_fold_delay_ms = 0;
    options.tuning.aggregate_fold_interval_ms = 0;
  }
  SUBCASE("profiles fold at once, so only the aggregates keep the log's open minutes") {
    options.tuning.profile_staging_tags = 0;
  }
  std::mt19937_64 random(11);
  Model model;
  const char* origins[] = {"o1", "o2", "o3"};
  const char* brands[] = {"b1", "b2"};
  const char* categories[] = {"c1", "c2", "c3", "c4"};
  {
    auto db = OpenOrDie(options);
    for (int round = 0; round < 30; ++round) {
      std::vector<UserTag> batch;
      for (int i = 0; i < 40; ++i) {
        // Mostly advancing time, some out of order into minutes already folded.
        const EpochMillis time =
            kStreamStart + (random() % 5 == 0 ? static_cast<EpochMillis>(random() % (round * 20000 + 1))
                                              : round * 20000 + static_cast<EpochMillis>(random() % 20000));
        batch.push_back(MakeTag(time, absl::StrCat("c", random() % 50),
                                random() % 3 == 0 ? Action::kBuy : Action::kView,
                                static_cast<int32_t>(random() % 3 == 0 ? INT32_MAX - random() % 10
                                                                       : random() % 1000),
                                origins[random() % 3], brands[random() % 2],
                                categories[random() % 4]));
      }
      REQUIRE(db->AddTags(batch).ok());
      model.tags.insert(model.tags.end(), batch.begin(), batch.end());
      CheckAgainstModel(*db, model, random, 5);
    }
    if (fold_eagerly) {
      // Let the writer fold, then query folded blocks plus what is still open.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      REQUIRE(db->AddTag(MakeTag(kStreamStart + 5, "late", Action::kView, 3, "o1", "b1", "c1")).ok());
      model.tags.push_back(MakeTag(kStreamStart + 5, "late", Action::kView, 3, "o1", "b1", "c1"));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      CHECK(db->Stats().open_minutes <= 2);
    }
    CheckAgainstModel(*db, model, random, 200);
  }
  // Reopen: the unfolded minutes are rebuilt from the durable log, nothing counted twice.
  auto db = OpenOrDie(options);
  CheckAgainstModel(*db, model, random, 200);
}

TEST_CASE("aggregates older than the retention are dropped; recent ones stay exact") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.retention_ms = 10 * 60000;
  options.tuning.aggregate_fold_delay_ms = 0;
  options.tuning.aggregate_fold_interval_ms = 0;
  auto db = OpenOrDie(options);
  for (int minute = 0; minute < 30; ++minute) {
    REQUIRE(db->AddTag(MakeTag(kStreamStart + minute * 60000 + 10, "c", Action::kView, 2)).ok());
  }
  // The writer folds and drops after the commit; wait for it.
  const auto query = MakeQuery(kStreamStart, kStreamStart + 30 * 60000, Action::kView);
  for (int attempt = 0; attempt < 200 && db->Stats().open_minutes > 1; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Give the writer one more maintenance round after the last fold.
  REQUIRE(db->AddTag(MakeTag(kStreamStart + 29 * 60000 + 20, "c", Action::kView, 2)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  absl::StatusOr<AggregateResult> result = db->aggregates().Query(query);
  REQUIRE(result.ok());
  // Newest is minute 29; minutes >= 19 lie in the window [29:00:20 - 10 min, ...).
  for (int minute = 0; minute < 30; ++minute) {
    CAPTURE(minute);
    const int64_t expected = minute < 19 ? 0 : (minute == 29 ? 2 : 1);
    CHECK(result->rows[minute].count == expected);
  }
  // A tag older than the retention is still stored in its profile, not in aggregates.
  REQUIRE(db->AddTag(MakeTag(kStreamStart + 60000, "old", Action::kView, 2)).ok());
  CHECK(db->aggregates().Query(query)->rows[1].count == 0);
  CHECK(db->user_tags().GetProfile("old", {kMinTime, kMaxTime}, 10)->views.size() == 1);
}

}  // namespace
}  // namespace allezon
