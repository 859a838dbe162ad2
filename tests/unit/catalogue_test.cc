// The catalogue (SPEC §9): first/last seen and tag counts per value of every dimension,
// against a model, across reopening, and across a crash (a child process that exits
// without closing the database, as after kill -9).
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
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

constexpr EpochMillis kCatalogueMinute = kMillisPerMinute;

UserTag RandomTag(std::mt19937& random, EpochMillis time) {
  UserTag tag = MakeTag(time, absl::StrCat("c", random() % 50),
                        random() % 4 == 0 ? Action::kBuy : Action::kView,
                        static_cast<int32_t>(random() % 1000), absl::StrCat("o", random() % 12),
                        absl::StrCat("b", random() % 6), absl::StrCat("k", random() % 4));
  tag.country = absl::StrCat("C", random() % 5);
  tag.device = static_cast<Device>(random() % 3);
  return tag;
}

std::string Field(const UserTag& tag, Dimension dimension) {
  switch (dimension) {
    case Dimension::kOrigin:
      return tag.origin;
    case Dimension::kBrandId:
      return tag.brand_id;
    case Dimension::kCategoryId:
      return tag.category_id;
    case Dimension::kCountry:
      return tag.country;
    case Dimension::kDevice:
      return std::string(DeviceName(tag.device));
  }
  return "";
}

std::string Describe(const std::vector<CatalogueEntry>& entries) {
  std::string out;
  for (const CatalogueEntry& e : entries) {
    absl::StrAppend(&out, e.value, " ", e.first_seen, " ", e.last_seen, " ", e.tags, "\n");
  }
  return out;
}

std::string Model(const std::vector<UserTag>& tags, const CatalogueQuery& q) {
  std::map<std::string, CatalogueEntry> by_value;
  for (const UserTag& tag : tags) {
    const std::string value = Field(tag, q.dimension);
    auto [it, inserted] = by_value.try_emplace(value, CatalogueEntry{value, tag.time, tag.time, 0});
    it->second.first_seen = std::min(it->second.first_seen, tag.time);
    it->second.last_seen = std::max(it->second.last_seen, tag.time);
    ++it->second.tags;
  }
  std::vector<CatalogueEntry> entries;
  for (const auto& [value, entry] : by_value) {
    if (q.new_since && entry.first_seen < *q.new_since) continue;
    if (q.silent_since && entry.last_seen >= *q.silent_since) continue;
    entries.push_back(entry);
  }
  return Describe(entries);
}

std::string Got(const Database& db, const CatalogueQuery& q) {
  absl::StatusOr<std::vector<CatalogueEntry>> got = db.analytics().Catalogue(q);
  REQUIRE_MESSAGE(got.ok(), std::string(got.status().message()));
  return Describe(*got);
}

// Every dimension, with and without filters (at times that are some value's first and last
// seen, so that the boundaries are exercised).
void CheckAgainstModel(const Database& db, const std::vector<UserTag>& tags) {
  std::vector<std::optional<EpochMillis>> times = {std::nullopt};
  for (size_t i = 0; i < tags.size(); i += std::max<size_t>(1, tags.size() / 5)) {
    times.push_back(tags[i].time);
  }
  for (int d = 0; d < kDimensionCount; ++d) {
    for (const auto& new_since : times) {
      for (const auto& silent_since : times) {
        const CatalogueQuery q{static_cast<Dimension>(d), new_since, silent_since};
        CAPTURE(d);
        CAPTURE(new_since.value_or(0));
        CAPTURE(silent_since.value_or(0));
        CHECK(Got(db, q) == Model(tags, q));
      }
    }
  }
}

TEST_CASE("the catalogue equals a model of all tags, over all time, and survives reopening") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.retention_ms = 10 * kCatalogueMinute;  // the catalogue is never dropped by retention
  std::mt19937 random(3);
  std::vector<UserTag> all;
  {
    auto db = OpenOrDie(options);
    for (int batch = 0; batch < 20; ++batch) {
      std::vector<UserTag> tags;
      for (int i = 0; i < 50; ++i) {
        // Times far apart and out of order: first and last seen are by value, not arrival.
        tags.push_back(RandomTag(random, kStreamStart + static_cast<int64_t>(random() % 100000) *
                                                            kCatalogueMinute / 100));
      }
      REQUIRE(db->AddTags(tags).ok());
      all.insert(all.end(), tags.begin(), tags.end());
    }
    CheckAgainstModel(*db, all);
  }
  auto db = OpenOrDie(options);
  CheckAgainstModel(*db, all);
  std::vector<UserTag> more = {RandomTag(random, kStreamStart - 7), RandomTag(random, kMaxTime)};
  REQUIRE(db->AddTags(more).ok());
  all.insert(all.end(), more.begin(), more.end());
  CheckAgainstModel(*db, all);
}

TEST_CASE("catalogue JSON and argument checks") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  UserTag tag = MakeTag(kStreamStart + 5, "c", Action::kView, 1, "N\"1");
  REQUIRE(db->AddTag(tag).ok());
  tag.time = kStreamStart + 61001;
  tag.device = Device::kTv;
  REQUIRE(db->AddTag(tag).ok());
  absl::StatusOr<std::vector<CatalogueEntry>> got =
      db->analytics().Catalogue({Dimension::kOrigin, std::nullopt, std::nullopt});
  REQUIRE(got.ok());
  CHECK(
      CatalogueToJson(Dimension::kOrigin, *got) ==
      R"({"dimension":"origin","values":[{"value":"N\"1","first_seen":"2022-03-01T00:00:00.005Z",)"
      R"("last_seen":"2022-03-01T00:01:01.001Z","tags":2}]})");
  got = db->analytics().Catalogue({Dimension::kDevice, std::nullopt, std::nullopt});
  REQUIRE(got.ok());
  CHECK(Describe(*got) == absl::StrCat("PC ", kStreamStart + 5, " ", kStreamStart + 5, " 1\n",
                                       "TV ", kStreamStart + 61001, " ", kStreamStart + 61001,
                                       " 1\n"));
  CHECK(absl::IsInvalidArgument(
      db->analytics().Catalogue({static_cast<Dimension>(9), std::nullopt, std::nullopt}).status()));
}

// Runs `body` in a child process that then exits at once, skipping every destructor: the
// database is left as a kill -9 would leave it. The child must not touch doctest.
template <typename Body>
void InChildThenCrash(Body body) {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(body() ? 0 : 1);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

std::vector<UserTag> CrashStream(int seed, int minutes) {
  std::mt19937 random(static_cast<unsigned>(seed));
  std::vector<UserTag> tags;
  for (int m = 0; m < minutes; ++m) {
    for (int i = 0; i < 5; ++i)
      tags.push_back(RandomTag(random, kStreamStart + m * kCatalogueMinute + i));
  }
  return tags;
}

TEST_CASE("the catalogue survives a crash: what was flushed, and the log's tags after it") {
  for (int64_t flush_interval_ms : {int64_t{0}, int64_t{3'600'000}}) {
    CAPTURE(flush_interval_ms);
    TempDir dir;
    Options options = TestOptions(dir.path());
    options.tuning.aggregate_fold_interval_ms = flush_interval_ms;  // 1 h: nothing flushed
    options.tuning.aggregate_fold_delay_ms = 0;
    options.tuning.profile_staging_tags = 0;  // the log trimmed as soon as nothing else needs it
    // 100 minutes: past the 64 open minutes the aggregates fold (and release the log) even
    // when their interval has not passed, so only the catalogue's mark keeps the log then.
    const std::vector<UserTag> tags = CrashStream(static_cast<int>(flush_interval_ms), 100);
    InChildThenCrash([&] {
      absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(options);
      if (!db.ok()) return false;
      for (const UserTag& tag : tags) {
        if (!(*db)->AddTag(tag).ok()) return false;
      }
      return true;
    });
    auto db = OpenOrDie(options);
    CheckAgainstModel(*db, tags);
    // And once more, after the reopened database flushed what it replayed.
    db.reset();
    db = OpenOrDie(options);
    CheckAgainstModel(*db, tags);
  }
}

}  // namespace
}  // namespace allezon
