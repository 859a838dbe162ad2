// Staged profile writes (lib/src/profile_staging.h): whatever mix of staged, folded and
// recovered tags a list is made of, queries answer as if every tag had been merged at once.
#include <doctest/doctest.h>
#include <lmdb.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <thread>
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

constexpr int32_t kCap = 7;
constexpr EpochMillis kSpan = 60;  // a narrow time span: many equal and out-of-order times

// Per (cookie, action): every tag as (time, serial); the store must answer with the kCap
// newest, equal times later-accepted (higher serial) first.
using Model = std::map<std::pair<std::string, int>, std::vector<std::pair<EpochMillis, int64_t>>>;

std::vector<int64_t> Expected(std::vector<std::pair<EpochMillis, int64_t>> entries,
                              TimeRange range, int32_t limit) {
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second > b.second;
  });
  entries.resize(std::min<size_t>(entries.size(), kCap));
  std::vector<int64_t> ids;
  for (const auto& [time, id] : entries) {
    if (time >= range.begin && time < range.end && static_cast<int32_t>(ids.size()) < limit) {
      ids.push_back(id);
    }
  }
  return ids;
}

void CheckAgainstModel(const Database& db, const Model& model, std::mt19937_64& random) {
  for (const auto& [key, entries] : model) {
    for (int probe = 0; probe < 4; ++probe) {
      const EpochMillis begin = kStreamStart + static_cast<EpochMillis>(random() % kSpan) - 5;
      const EpochMillis end = begin + static_cast<EpochMillis>(random() % (kSpan + 10));
      const TimeRange range = probe == 0 ? TimeRange{kMinTime, kMaxTime} : TimeRange{begin, end};
      const int32_t limit = probe == 0 ? 1000 : static_cast<int32_t>(random() % (kCap + 3));
      absl::StatusOr<Profile> profile = db.user_tags().GetProfile(key.first, range, limit);
      REQUIRE(profile.ok());
      const auto& list = key.second == static_cast<int>(Action::kBuy) ? profile->buys
                                                                       : profile->views;
      std::vector<int64_t> got;
      for (const UserTag& tag : list) got.push_back(std::get<int64_t>(tag.product_id));
      CHECK_MESSAGE(got == Expected(entries, range, limit), key.first, " action ", key.second);
    }
  }
}

// Waits (up to 10 s) until idle folding has merged every staged tag and emptied the log.
void WaitForIdleFolds(const Database& db) {
  for (int wait = 0; wait < 1000; ++wait) {
    const DatabaseStats stats = db.Stats();
    if (stats.staged_profile_tags == 0 && stats.profile_log_tags == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Adds `batches` random batches to `db`, recording them in the model.
void AddRandom(Database& db, Model& model, int64_t& serial, std::mt19937_64& random,
               int batches) {
  for (int round = 0; round < batches; ++round) {
    std::vector<UserTag> batch;
    const int size = 1 + static_cast<int>(random() % 30);
    for (int i = 0; i < size; ++i) {
      UserTag tag = MakeTag(kStreamStart + static_cast<EpochMillis>(random() % kSpan),
                            "cookie-" + std::to_string(random() % 23),
                            random() % 3 == 0 ? Action::kBuy : Action::kView);
      tag.product_id = serial++;
      model[{tag.cookie, static_cast<int>(tag.action)}].push_back(
          {tag.time, std::get<int64_t>(tag.product_id)});
      batch.push_back(std::move(tag));
    }
    REQUIRE(db.AddTags(batch).ok());
  }
}

TEST_CASE("staged, folded and recovered tags answer like a plain merge") {
  // 0: fold everything at each commit; small budgets: most commits fold a slice, passes wrap
  // often; a huge budget: everything stays staged until idle or reopen.
  for (uint64_t budget : {uint64_t{0}, uint64_t{1}, uint64_t{9}, uint64_t{60}, uint64_t{1} << 40}) {
    CAPTURE(budget);
    TempDir dir;
    Options options = TestOptions(dir.path());
    options.profile_cap = kCap;
    options.tuning.profile_staging_tags = budget;
    options.tuning.max_batch_tags = 16;  // folds of at most 16 tags: passes take many commits
    options.tuning.aggregate_fold_interval_ms = 60'000;  // no idle folding until asked for below
    std::mt19937_64 random(budget + 1);
    Model model;
    int64_t serial = 0;
    for (int life = 0; life < 4; ++life) {  // each life ends with a close and a reopen
      auto db = OpenOrDie(options);
      CheckAgainstModel(*db, model, random);
      for (int step = 0; step < 6; ++step) {
        AddRandom(*db, model, serial, random, 5);
        CheckAgainstModel(*db, model, random);
      }
      if (budget != 0) CHECK(db->Stats().staged_profile_tags > 0);
    }
    // Idle folding drains the staged tags and the log; answers do not change.
    options.tuning.aggregate_fold_interval_ms = 0;
    auto db = OpenOrDie(options);
    WaitForIdleFolds(*db);
    CHECK(db->Stats().staged_profile_tags == 0);
    CHECK(db->Stats().profile_log_tags == 0);
    CheckAgainstModel(*db, model, random);
    CHECK(db->Stats().profile_records == model.size());
    db.reset();
    db = OpenOrDie(options);
    CHECK(db->Stats().staged_profile_tags == 0);
    CheckAgainstModel(*db, model, random);
  }
}

// Like CheckAgainstModel, over about `keys` of the model's keys, chosen at random.
void CheckSampleAgainstModel(const Database& db, const Model& model, std::mt19937_64& random,
                             size_t keys) {
  Model sample;
  for (const auto& [key, entries] : model) {
    if (random() % model.size() < keys) sample.emplace(key, entries);
  }
  CheckAgainstModel(db, sample, random);
}

TEST_CASE("passes over tens of thousands of keys (sorted on a thread) answer like a plain merge") {
  // A pass over more than 16,384 keys has them sorted on a thread while commits go on
  // without folding: this drives passes that large through closes, reopens and idle folds.
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.profile_cap = kCap;
  options.tuning.profile_staging_tags = 30'000;
  options.tuning.aggregate_fold_interval_ms = 60'000;
  std::mt19937_64 random(99);
  Model model;
  int64_t serial = 0;
  uint64_t most_staged = 0;
  for (int life = 0; life < 3; ++life) {
    auto db = OpenOrDie(options);
    CheckSampleAgainstModel(*db, model, random, 200);
    for (int round = 0; round < 50; ++round) {
      std::vector<UserTag> batch;
      for (int i = 0; i < 1000; ++i) {
        UserTag tag = MakeTag(kStreamStart + static_cast<EpochMillis>(random() % kSpan),
                              absl::StrCat("c", random() % 40'000),
                              random() % 3 == 0 ? Action::kBuy : Action::kView);
        tag.product_id = serial++;
        model[{tag.cookie, static_cast<int>(tag.action)}].push_back(
            {tag.time, std::get<int64_t>(tag.product_id)});
        batch.push_back(std::move(tag));
      }
      REQUIRE(db->AddTags(batch).ok());
      most_staged = std::max(most_staged, db->Stats().staged_profile_tags);
    }
    CheckSampleAgainstModel(*db, model, random, 500);
  }
  // Most keys hold one staged tag, so this many staged tags means passes of > 16,384 keys.
  CHECK(most_staged > 25'000);
  options.tuning.aggregate_fold_interval_ms = 0;
  auto db = OpenOrDie(options);
  WaitForIdleFolds(*db);
  CHECK(db->Stats().staged_profile_tags == 0);
  CHECK(db->Stats().profile_log_tags == 0);
  CHECK(db->Stats().profile_records == model.size());
  CheckSampleAgainstModel(*db, model, random, 2'000);
}

TEST_CASE("the profile log is trimmed once its tags are in their lists") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.profile_cap = kCap;
  options.tuning.profile_staging_tags = 100;
  options.tuning.aggregate_fold_interval_ms = 0;
  std::mt19937_64 random(3);
  Model model;
  int64_t serial = 0;
  auto db = OpenOrDie(options);
  // Rounds of writes, each followed by an idle drain: once every staged tag is in its list,
  // the whole log goes, so it never holds more than the tags since the last drain.
  for (int round = 0; round < 20; ++round) {
    AddRandom(*db, model, serial, random, 40);
    CHECK(db->Stats().profile_log_tags > 0);
    WaitForIdleFolds(*db);
    REQUIRE(db->Stats().staged_profile_tags == 0);
    REQUIRE(db->Stats().profile_log_tags == 0);
  }
  CheckAgainstModel(*db, model, random);
}

TEST_CASE("a very active cookie's staged tags are folded out of turn") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.profile_cap = kCap;
  options.tuning.profile_staging_tags = uint64_t{1} << 40;  // the pass alone would never fold
  options.tuning.aggregate_fold_interval_ms = 60'000;
  auto db = OpenOrDie(options);
  std::mt19937_64 random(5);
  Model model;
  int64_t serial = 0;
  for (int round = 0; round < 200; ++round) {
    std::vector<UserTag> batch;
    for (int i = 0; i < 10; ++i) {
      UserTag tag = MakeTag(kStreamStart + static_cast<EpochMillis>(random() % kSpan),
                            i == 0 ? "quiet-" + std::to_string(round) : "bot");
      tag.product_id = serial++;
      model[{tag.cookie, static_cast<int>(tag.action)}].push_back(
          {tag.time, std::get<int64_t>(tag.product_id)});
      batch.push_back(std::move(tag));
    }
    REQUIRE(db->AddTags(batch).ok());
    // 1,800 tags of "bot" at the end; its staged list stays within a few caps (the limit is
    // 64 bytes a cap slot, and a staged entry takes more than 8).
    CHECK(db->Stats().staged_profile_tags <= static_cast<uint64_t>(round + 1) + 8 * kCap + 9);
  }
  CheckAgainstModel(*db, model, random);
}

TEST_CASE("readers racing folds never miss an acknowledged tag nor see one twice") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.profile_cap = 1000;  // nothing drops out: every acknowledged tag must be there
  options.tuning.profile_staging_tags = 20;  // folds at nearly every commit, passes wrap constantly
  options.tuning.max_batch_tags = 8;
  options.tuning.aggregate_fold_interval_ms = 0;  // and idle folds between bursts
  auto db = OpenOrDie(options);
  constexpr int kCookies = 6;
  constexpr int kWriters = 3;
  constexpr int kPerWriter = 150;
  // acknowledged[w]: how many of writer w's tags have returned OK (its product ids are
  // w * kPerWriter + 0 .. acknowledged - 1, each on cookie id % kCookies).
  std::array<std::atomic<int>, kWriters> acknowledged{};
  std::atomic<bool> done{false};
  std::atomic<int> problems{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&, r] {
      int cookie = r;
      while (!done) {
        cookie = (cookie + 1) % kCookies;
        std::array<int, kWriters> before;
        for (int w = 0; w < kWriters; ++w) before[w] = acknowledged[w].load();
        absl::StatusOr<Profile> profile = db->user_tags().GetProfile(
            "c" + std::to_string(cookie), {kMinTime, kMaxTime}, 100000);
        if (!profile.ok()) {
          ++problems;
          continue;
        }
        std::vector<int64_t> ids;
        for (const UserTag& tag : profile->views) ids.push_back(std::get<int64_t>(tag.product_id));
        std::sort(ids.begin(), ids.end());
        if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) ++problems;  // twice
        for (int w = 0; w < kWriters; ++w) {
          for (int i = 0; i < before[w]; ++i) {
            const int64_t id = w * kPerWriter + i;
            if (id % kCookies == cookie && !std::binary_search(ids.begin(), ids.end(), id)) {
              ++problems;  // acknowledged before the query began, yet missing
            }
          }
        }
      }
    });
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        const int64_t id = w * kPerWriter + i;
        UserTag tag = MakeTag(kStreamStart + id % 37, "c" + std::to_string(id % kCookies));
        tag.product_id = id;
        if (!db->AddTag(tag).ok()) ++problems;
        acknowledged[w].store(i + 1);
        if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(15));
      }
    });
  }
  for (std::thread& t : writers) t.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // idle folds race readers too
  done = true;
  for (std::thread& t : threads) t.join();
  CHECK(problems == 0);
  size_t total = 0;
  for (int cookie = 0; cookie < kCookies; ++cookie) {
    total += db->user_tags().GetProfile("c" + std::to_string(cookie), {kMinTime, kMaxTime}, 100000)
                 ->views.size();
  }
  CHECK(total == kWriters * kPerWriter);
}

TEST_CASE("a damaged list is rebuilt from new tags instead of blocking every commit") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.tuning.profile_staging_tags = 0;  // fold at the next commit
  {
    auto db = OpenOrDie(options);
    REQUIRE(db->AddTag(MakeTag(kStreamStart, "victim")).ok());
    REQUIRE(db->AddTag(MakeTag(kStreamStart + 1, "other")).ok());  // folds "victim"
  }
  {
    // Overwrite the stored VIEW list of "victim" with bytes that are no list at all.
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 16);
    REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0644) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi profiles;
    REQUIRE(mdb_dbi_open(txn, "profiles", 0, &profiles) == 0);
    std::string key = std::string("victim") + '\0';
    std::string garbage = "\xff\xff\xff";
    MDB_val k{key.size(), key.data()}, v{garbage.size(), garbage.data()};
    REQUIRE(mdb_put(txn, profiles, &k, &v, 0) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  auto db = OpenOrDie(options);
  CHECK(absl::IsDataLoss(db->user_tags().GetProfile("victim", {kMinTime, kMaxTime}, 10).status()));
  // Commits go on (the fold reaching the damaged list does not fail them), and the list
  // restarts from the logged tags of its key.
  UserTag fresh = MakeTag(kStreamStart + 2, "victim");
  fresh.product_id = int64_t{77};
  REQUIRE(db->AddTag(fresh).ok());
  REQUIRE(db->AddTag(MakeTag(kStreamStart + 3, "other")).ok());
  absl::StatusOr<Profile> profile = db->user_tags().GetProfile("victim", {kMinTime, kMaxTime}, 10);
  REQUIRE(profile.ok());
  // The fresh tag, and the first one too: its log entry was not trimmed yet, and a list
  // rebuilt after damage takes every logged tag of its key.
  REQUIRE(profile->views.size() == 2);
  CHECK(profile->views[0] == fresh);
  CHECK(profile->views[1] == MakeTag(kStreamStart, "victim"));
  CHECK(db->user_tags().GetProfile("other", {kMinTime, kMaxTime}, 10)->views.size() == 2);
}

}  // namespace
}  // namespace allezon
