#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <vector>

#include "allezon/database.h"
#include "test_util.h"

namespace allezon {
namespace {

using testing::kStreamStart;
using testing::MakeTag;
using testing::OpenOrDie;
using testing::TempDir;
using testing::TestOptions;

TEST_CASE("options are validated") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.profile_cap = 0;
  CHECK(absl::IsInvalidArgument(Database::Open(options).status()));
  options = TestOptions("");
  CHECK(absl::IsInvalidArgument(Database::Open(options).status()));
  options = TestOptions(dir.Sub("missing"));
  options.create_if_missing = false;
  CHECK_FALSE(Database::Open(options).ok());
}

TEST_CASE("one owner per data directory") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  absl::StatusOr<std::unique_ptr<Database>> second = Database::Open(TestOptions(dir.path()));
  REQUIRE_FALSE(second.ok());
  CHECK(absl::IsFailedPrecondition(second.status()));
  CHECK(std::string(second.status().message()).find("in use") != std::string::npos);
  db.reset();
  CHECK(Database::Open(TestOptions(dir.path())).ok());
}

TEST_CASE("a foreign or damaged data directory is a clear error") {
  TempDir dir;
  {
    std::ofstream junk(dir.Sub("data.mdb"));
    junk << std::string(100000, 'x');
  }
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(TestOptions(dir.path()));
  REQUIRE_FALSE(db.ok());
  CHECK(absl::IsFailedPrecondition(db.status()));
  std::ofstream file(dir.Sub("plain-file"));
  CHECK_FALSE(Database::Open(TestOptions(dir.Sub("plain-file"))).ok());
}

TEST_CASE("the map grows by itself; a maximum size gives ResourceExhausted until raised") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.initial_map_size = 1 << 20;
  options.max_map_size = 4 << 20;
  auto db = OpenOrDie(options);
  int stored = 0;
  absl::Status status;
  std::vector<UserTag> batch;
  for (int round = 0; round < 200 && status.ok(); ++round) {
    batch.clear();
    for (int i = 0; i < 500; ++i) {
      batch.push_back(MakeTag(kStreamStart + round * 500 + i,
                              "cookie-" + std::to_string(round * 500 + i), Action::kView, i));
    }
    status = db->AddTags(batch);
    if (status.ok()) stored += 500;
  }
  REQUIRE(absl::IsResourceExhausted(status));
  CHECK(stored > 0);
  CHECK(db->Stats().map_size == (4u << 20));
  // Queries keep working; data is intact; the failed batch left nothing behind.
  CHECK(db->user_tags().GetProfile("cookie-0", {kMinTime, kMaxTime}, 10)->views.size() == 1);
  CHECK(db->user_tags().GetProfile(batch[0].cookie, {kMinTime, kMaxTime}, 10)->views.empty());
  CHECK(absl::IsResourceExhausted(db->AddTags(batch)));
  REQUIRE(db->SetMaxMapSize(64 << 20).ok());
  CHECK(db->AddTags(batch).ok());
  CHECK(db->user_tags().GetProfile(batch[0].cookie, {kMinTime, kMaxTime}, 10)->views.size() == 1);
  CHECK(db->user_tags().GetProfile(batch[499].cookie, {kMinTime, kMaxTime}, 10)->views.size() == 1);
}

TEST_CASE("backup is a consistent copy that opens as a database") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.Sub("live")));
  std::vector<UserTag> tags;
  for (int i = 0; i < 1000; ++i) tags.push_back(MakeTag(kStreamStart + i, "c" + std::to_string(i % 10)));
  REQUIRE(db->AddTags(tags).ok());
  std::filesystem::create_directories(dir.Sub("copy"));
  REQUIRE(db->Backup(dir.Sub("copy")).ok());
  CHECK_FALSE(db->Backup(dir.Sub("copy")).ok());  // not empty any more
  REQUIRE(db->AddTag(MakeTag(kStreamStart + 5000, "after-backup")).ok());
  auto restored = OpenOrDie(TestOptions(dir.Sub("copy")));
  CHECK(restored->user_tags().GetProfile("c3", {kMinTime, kMaxTime}, 500)->views.size() == 100);
  CHECK(restored->user_tags().GetProfile("after-backup", {kMinTime, kMaxTime}, 5)->views.empty());
  AggregateQuery query;
  query.range = {kStreamStart, kStreamStart + 60000};
  query.aggregates = {AggregateFunction::kCount};
  CHECK(restored->aggregates().Query(query)->rows[0].count == 1000);
}

TEST_CASE("readers run concurrently with writers and always see whole commits") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  std::atomic<bool> done{false};
  std::atomic<int> problems{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&] {
      AggregateQuery query;
      query.range = {kStreamStart, kStreamStart + 10 * 60000};
      query.aggregates = {AggregateFunction::kCount};
      while (!done) {
        // Each writer call adds 10 tags in one transaction: counts stay multiples of 10.
        absl::StatusOr<AggregateResult> result = db->aggregates().Query(query);
        if (!result.ok()) {
          ++problems;
          continue;
        }
        int64_t total = 0;
        for (const AggregateRow& row : result->rows) total += row.count;
        if (total % 10 != 0) ++problems;
        absl::StatusOr<Profile> profile = db->user_tags().GetProfile("shared", {kMinTime, kMaxTime}, 1000);
        if (!profile.ok() || profile->views.size() % 10 != 0) ++problems;
      }
    });
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 10; ++i) {
        std::vector<UserTag> batch;
        for (int j = 0; j < 10; ++j) {
          batch.push_back(MakeTag(kStreamStart + (w * 100 + i * 10 + j) * 1000, "shared"));
        }
        if (!db->AddTags(batch).ok()) ++problems;
      }
    });
  }
  for (std::thread& t : writers) t.join();
  done = true;
  for (std::thread& t : readers) t.join();
  CHECK(problems == 0);
  CHECK(db->user_tags().GetProfile("shared", {kMinTime, kMaxTime}, 1000)->views.size() == 200);
  CHECK(db->Stats().tags_written == 400);
}

}  // namespace
}  // namespace allezon
