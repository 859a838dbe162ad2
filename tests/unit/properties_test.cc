// Database::GetProperty: every listed name answers, values follow the database, and an
// unknown name is NotFound.
#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
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

uint64_t Property(const Database& db, std::string_view name) {
  absl::StatusOr<uint64_t> value = db.GetProperty(name);
  REQUIRE_MESSAGE(value.ok(), (std::string(name) + ": " + std::string(value.status().message())));
  return *value;
}

TEST_CASE("property names: the documented ones, each once, all prefixed allezon.") {
  const std::span<const std::string_view> names = Database::PropertyNames();
  const std::set<std::string_view> unique(names.begin(), names.end());
  CHECK(unique.size() == names.size());
  for (std::string_view name : names) CHECK(name.starts_with("allezon."));
  for (std::string_view documented :
       {"allezon.tags-written", "allezon.commits", "allezon.largest-batch",
        "allezon.commits-by-batch-size-0", "allezon.commits-by-batch-size-15",
        "allezon.staged-profile-tags", "allezon.profile-log-tags", "allezon.map-size",
        "allezon.map-used", "allezon.profile-records", "allezon.open-minutes",
        "allezon.newest-time"}) {
    CHECK_MESSAGE(unique.count(documented) == 1, std::string(documented));
  }
  // Static storage: the same span every time.
  CHECK(Database::PropertyNames().data() == names.data());
}

TEST_CASE("every listed property answers and agrees with Stats()") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  for (std::string_view name : Database::PropertyNames()) {
    CHECK_MESSAGE(db->GetProperty(name).ok(), std::string(name));
  }
  CHECK(Property(*db, "allezon.tags-written") == 0);
  CHECK(Property(*db, "allezon.commits") == 0);
  CHECK(static_cast<int64_t>(Property(*db, "allezon.newest-time")) == kMinTime);
  CHECK(Property(*db, "allezon.map-size") == db->Stats().map_size);
  CHECK(Property(*db, "allezon.map-used") > 0);
}

TEST_CASE("property values move as tags are added") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  const uint64_t used_before = Property(*db, "allezon.map-used");

  std::vector<UserTag> batch;
  for (int i = 0; i < 5; ++i) {
    batch.push_back(MakeTag(kStreamStart + i, "cookie-" + std::to_string(i), Action::kView, 10));
  }
  REQUIRE(db->AddTags(batch).ok());
  REQUIRE(db->AddTag(MakeTag(kStreamStart + 90'000, "cookie-0", Action::kBuy, 5)).ok());

  CHECK(Property(*db, "allezon.tags-written") == 6);
  CHECK(Property(*db, "allezon.commits") >= 2);
  CHECK(Property(*db, "allezon.largest-batch") == 5);
  // One commit of one tag (bucket 0), one of five (bucket 3: 5..8 tags).
  CHECK(Property(*db, "allezon.commits-by-batch-size-0") >= 1);
  CHECK(Property(*db, "allezon.commits-by-batch-size-3") == 1);
  CHECK(static_cast<int64_t>(Property(*db, "allezon.newest-time")) == kStreamStart + 90'000);
  CHECK(Property(*db, "allezon.open-minutes") >= 1);
  CHECK(Property(*db, "allezon.map-used") >= used_before);

  // Each name reads the same counter as the Stats() field it replaces.
  const DatabaseStats stats = db->Stats();
  CHECK(Property(*db, "allezon.tags-written") == stats.tags_written);
  CHECK(Property(*db, "allezon.largest-batch") == stats.largest_batch);
  CHECK(Property(*db, "allezon.map-size") == stats.map_size);
  CHECK(Property(*db, "allezon.staged-profile-tags") == stats.staged_profile_tags);
  CHECK(Property(*db, "allezon.profile-log-tags") == stats.profile_log_tags);
  CHECK(Property(*db, "allezon.profile-records") == stats.profile_records);
  for (size_t i = 0; i < DatabaseStats::kBatchSizeBuckets; ++i) {
    CHECK(Property(*db, "allezon.commits-by-batch-size-" + std::to_string(i)) ==
          stats.commits_by_batch_size[i]);
  }
}

TEST_CASE("an unknown property is NotFound, naming it") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  for (std::string_view name : {"", "allezon.", "allezon.tags_written", "leveldb.stats",
                                "allezon.tags-written ", "allezon.commits-by-batch-size-16"}) {
    absl::StatusOr<uint64_t> value = db->GetProperty(name);
    REQUIRE_FALSE(value.ok());
    CHECK(absl::IsNotFound(value.status()));
  }
  absl::StatusOr<uint64_t> value = db->GetProperty("allezon.nope");
  CHECK(std::string(value.status().message()).find("allezon.nope") != std::string::npos);
}

}  // namespace
}  // namespace allezon
