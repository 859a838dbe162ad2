#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "allezon/database.h"
#include "test_util.h"

namespace allezon {
namespace {

using testing::kStreamStart;
using testing::MakeTag;
using testing::OpenOrDie;
using testing::TempDir;
using testing::TestOptions;

constexpr TimeRange kAllTime{kMinTime, kMaxTime};

std::vector<EpochMillis> Times(const std::vector<UserTag>& tags) {
  std::vector<EpochMillis> times;
  for (const UserTag& tag : tags) times.push_back(tag.time - kStreamStart);
  return times;
}

TEST_CASE("a stored tag comes back exactly as accepted") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  UserTag tag = MakeTag(kStreamStart + 5, "cookie-1", Action::kBuy, -7);
  tag.device = Device::kTv;
  tag.product_id = std::string("SKU-\xc5\xbc");
  tag.country = "";
  REQUIRE(db->AddTag(tag).ok());
  UserTag other = MakeTag(kStreamStart + 6, "cookie-1", Action::kView, INT32_MAX);
  other.product_id = int64_t{-9000000000};
  REQUIRE(db->AddTag(other).ok());
  absl::StatusOr<Profile> profile = db->user_tags().GetProfile("cookie-1", kAllTime, 200);
  REQUIRE(profile.ok());
  CHECK(profile->cookie == "cookie-1");
  REQUIRE(profile->buys.size() == 1);
  CHECK(profile->buys[0] == tag);
  REQUIRE(profile->views.size() == 1);
  CHECK(profile->views[0] == other);
}

TEST_CASE("unknown cookie gives empty lists") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  absl::StatusOr<Profile> profile = db->user_tags().GetProfile("nobody", kAllTime, 200);
  REQUIRE(profile.ok());
  CHECK(profile->cookie == "nobody");
  CHECK(profile->views.empty());
  CHECK(profile->buys.empty());
}

TEST_CASE("newest first, equal times later-accepted first, out of order, [begin, end)") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  // Arrival order: 10, 30, 20, 20 (second), 5, 30 (second), in one call and one by one.
  std::vector<UserTag> tags;
  int serial = 0;
  for (EpochMillis t : {10, 30, 20, 20, 5, 30}) {
    UserTag tag = MakeTag(kStreamStart + t, "c");
    tag.product_id = int64_t{serial++};
    tags.push_back(tag);
  }
  SUBCASE("one call") { REQUIRE(db->AddTags(tags).ok()); }
  SUBCASE("one by one") {
    for (const UserTag& tag : tags) REQUIRE(db->AddTag(tag).ok());
  }
  absl::StatusOr<Profile> profile = db->user_tags().GetProfile("c", kAllTime, 200);
  REQUIRE(profile.ok());
  CHECK(Times(profile->views) == std::vector<EpochMillis>{30, 30, 20, 20, 10, 5});
  std::vector<int64_t> serials;
  for (const UserTag& tag : profile->views) serials.push_back(std::get<int64_t>(tag.product_id));
  CHECK(serials == std::vector<int64_t>{5, 1, 3, 2, 0, 4});

  auto times_in = [&](EpochMillis begin, EpochMillis end, int32_t limit) {
    absl::StatusOr<Profile> p =
        db->user_tags().GetProfile("c", {kStreamStart + begin, kStreamStart + end}, limit);
    REQUIRE(p.ok());
    return Times(p->views);
  };
  CHECK(times_in(20, 30, 200) == std::vector<EpochMillis>{20, 20});
  CHECK(times_in(5, 21, 200) == std::vector<EpochMillis>{20, 20, 10, 5});
  CHECK(times_in(5, 21, 3) == std::vector<EpochMillis>{20, 20, 10});
  CHECK(times_in(5, 21, 1) == std::vector<EpochMillis>{20});
  CHECK(times_in(5, 21, 0).empty());
  CHECK(times_in(20, 20, 200).empty());
  CHECK(times_in(31, 100, 200).empty());
  CHECK(times_in(0, 5, 200).empty());
  CHECK_FALSE(db->user_tags().GetProfile("c", {kStreamStart + 2, kStreamStart + 1}, 5).ok());
  CHECK_FALSE(db->user_tags().GetProfile("c", kAllTime, -1).ok());
  // Query input is echoed in answers, so it must be UTF-8 like stored data.
  CHECK(absl::IsInvalidArgument(db->user_tags().GetProfile("\xff", kAllTime, 5).status()));
}

TEST_CASE("each action keeps its own cap of the most recent tags") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.profile_cap = 50;
  auto db = OpenOrDie(options);
  std::vector<EpochMillis> view_times(120);
  for (int i = 0; i < 120; ++i) view_times[i] = i * 7 % 120;  // a permutation: out of order
  std::vector<UserTag> batch;
  for (EpochMillis t : view_times) {
    batch.push_back(MakeTag(kStreamStart + t, "heavy", Action::kView));
    if (batch.size() == 13) {
      REQUIRE(db->AddTags(batch).ok());
      batch.clear();
    }
  }
  REQUIRE(db->AddTags(batch).ok());
  for (int i = 0; i < 10; ++i)
    REQUIRE(db->AddTag(MakeTag(kStreamStart + i, "heavy", Action::kBuy)).ok());
  absl::StatusOr<Profile> profile = db->user_tags().GetProfile("heavy", kAllTime, 1000);
  REQUIRE(profile.ok());
  REQUIRE(profile->views.size() == 50);
  CHECK(profile->views.front().time == kStreamStart + 119);
  CHECK(profile->views.back().time == kStreamStart + 70);
  CHECK(profile->buys.size() == 10);
  // A tag older than everything kept, on a full list, is not kept.
  REQUIRE(db->AddTag(MakeTag(kStreamStart + 1, "heavy", Action::kView)).ok());
  profile = db->user_tags().GetProfile("heavy", kAllTime, 1000);
  CHECK(profile->views.back().time == kStreamStart + 70);
  CHECK(profile->views.size() == 50);
}

TEST_CASE("profiles match a simple model under random traffic, across reopen") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.profile_cap = 20;
  std::mt19937_64 random(7);
  // Model: per (cookie, action), all tags with arrival serial; the store keeps the 20 newest.
  std::map<std::pair<std::string, int>, std::vector<std::pair<EpochMillis, int64_t>>> model;
  int64_t serial = 0;
  {
    auto db = OpenOrDie(options);
    for (int round = 0; round < 40; ++round) {
      std::vector<UserTag> batch;
      for (int i = 0; i < 50; ++i) {
        UserTag tag = MakeTag(kStreamStart + static_cast<EpochMillis>(random() % 500),
                              absl::StrCat("c", random() % 10),
                              random() % 3 == 0 ? Action::kBuy : Action::kView);
        tag.product_id = serial;
        model[{tag.cookie, static_cast<int>(tag.action)}].push_back({tag.time, serial});
        ++serial;
        batch.push_back(tag);
      }
      REQUIRE(db->AddTags(batch).ok());
    }
  }
  auto db = OpenOrDie(options);
  for (auto& [key, entries] : model) {
    // Newest first; equal times: higher serial (later accepted) first.
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second > b.second;
    });
    entries.resize(std::min<size_t>(entries.size(), 20));
    for (int probe = 0; probe < 20; ++probe) {
      EpochMillis begin = kStreamStart + static_cast<EpochMillis>(random() % 500);
      EpochMillis end = begin + static_cast<EpochMillis>(random() % 300);
      int32_t limit = static_cast<int32_t>(random() % 25);
      std::vector<int64_t> expected;
      for (const auto& [time, id] : entries) {
        if (time >= begin && time < end && static_cast<int32_t>(expected.size()) < limit) {
          expected.push_back(id);
        }
      }
      absl::StatusOr<Profile> profile = db->user_tags().GetProfile(key.first, {begin, end}, limit);
      REQUIRE(profile.ok());
      const auto& list = key.second == 1 ? profile->buys : profile->views;
      std::vector<int64_t> got;
      for (const UserTag& tag : list) got.push_back(std::get<int64_t>(tag.product_id));
      CHECK(got == expected);
    }
  }
}

}  // namespace
}  // namespace allezon
