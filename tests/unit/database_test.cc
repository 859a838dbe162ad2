#include "allezon/database.h"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

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
  options.tuning.initial_map_size = 1 << 20;
  options.max_map_size = 4 << 20;
  auto db = OpenOrDie(options);
  int stored = 0;
  absl::Status status;
  std::vector<UserTag> batch;
  for (int round = 0; round < 1000 && status.ok(); ++round) {
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

TEST_CASE("SubmitTags: called back once per submission, in order, after the tags are visible") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  constexpr int kSubmissions = 200;
  std::mutex mutex;
  std::condition_variable all_done;
  std::vector<int> order;  // guarded by mutex
  std::atomic<int> invisible{0};
  for (int s = 0; s < kSubmissions; ++s) {
    std::vector<UserTag> tags;
    for (int i = 0; i < 1 + s % 7; ++i)
      tags.push_back(MakeTag(kStreamStart + s * 10 + i, "sub" + std::to_string(s)));
    const size_t count = tags.size();
    db->SubmitTags(std::move(tags), [&, s, count](absl::Status status) {
      CHECK(status.ok());
      // Visible by the time the callback runs (it runs on the writer, after the commit).
      auto profile =
          db->user_tags().GetProfile("sub" + std::to_string(s), {kMinTime, kMaxTime}, 100);
      if (!profile.ok() || profile->views.size() != count) invisible.fetch_add(1);
      std::lock_guard<std::mutex> lock(mutex);
      order.push_back(s);
      all_done.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mutex);
  REQUIRE(all_done.wait_for(lock, std::chrono::seconds(60),
                            [&] { return order.size() == static_cast<size_t>(kSubmissions); }));
  CHECK(invisible.load() == 0);
  for (int s = 0; s < kSubmissions; ++s) CHECK(order[static_cast<size_t>(s)] == s);
}

TEST_CASE("SubmitTags: invalid tags and a closing database are answered at once") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  std::vector<UserTag> bad = {MakeTag(kStreamStart, "ok"), MakeTag(kStreamStart, "")};
  int calls = 0;
  absl::Status seen;
  db->SubmitTags(std::move(bad), [&](absl::Status status) {
    ++calls;
    seen = std::move(status);
  });
  CHECK(calls == 1);  // on this thread, before SubmitTags returned
  CHECK(absl::IsInvalidArgument(seen));
  CHECK(db->user_tags().GetProfile("ok", {kMinTime, kMaxTime}, 10)->views.empty());
  calls = 0;
  db->SubmitTags({}, [&](absl::Status status) {
    ++calls;
    seen = std::move(status);
  });
  CHECK(calls == 1);
  CHECK(seen.ok());
}

// Waits for a SubmitTags callback (the tests' submissions are few and small).
absl::Status SubmitAndWait(Database& db, std::vector<UserTag> tags,
                           std::vector<SourcePosition> positions) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::Status> result;
  db.SubmitTags(std::move(tags), std::move(positions), [&](absl::Status status) {
    std::lock_guard lock(mu);
    result = std::move(status);
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return result.has_value(); });
  return *result;
}

TEST_CASE("source positions commit with their tags, survive a reopen, and move with nothing else") {
  TempDir dir;
  {
    auto db = OpenOrDie(TestOptions(dir.path()));
    CHECK(*db->GetSourcePosition("tags.3") == 0);
    REQUIRE(SubmitAndWait(*db, {MakeTag(kStreamStart, "pos")}, {{"tags.3", 41}}).ok());
    CHECK(*db->GetSourcePosition("tags.3") == 41);
    CHECK(db->user_tags().GetProfile("pos", {kMinTime, kMaxTime}, 10)->views.size() == 1);
    // Positions alone (an entry without tags), two sources, and the later of two submissions.
    REQUIRE(SubmitAndWait(*db, {}, {{"tags.3", 42}, {"tags.4", 7}}).ok());
    REQUIRE(SubmitAndWait(*db, {}, {{"tags.4", 9}}).ok());
    CHECK(*db->GetSourcePosition("tags.4") == 9);
    // Refused tags move no position.
    CHECK(absl::IsInvalidArgument(
        SubmitAndWait(*db, {MakeTag(kStreamStart, "")}, {{"tags.3", 99}})));
    CHECK(absl::IsInvalidArgument(SubmitAndWait(*db, {}, {{"", 1}})));
    CHECK(absl::IsInvalidArgument(SubmitAndWait(*db, {}, {{std::string(201, 's'), 1}})));
  }
  auto reopened = OpenOrDie(TestOptions(dir.path()));
  CHECK(*reopened->GetSourcePosition("tags.3") == 42);
  CHECK(*reopened->GetSourcePosition("tags.4") == 9);
  CHECK(*reopened->GetSourcePosition("tags.5") == 0);
  CHECK(reopened->user_tags().GetProfile("pos", {kMinTime, kMaxTime}, 10)->views.size() == 1);
}

TEST_CASE("SubmitTags: submissions queued when the database closes are still stored") {
  TempDir dir;
  std::atomic<int> stored{0};
  {
    auto db = OpenOrDie(TestOptions(dir.path()));
    for (int s = 0; s < 50; ++s) {
      std::vector<UserTag> tags(20, MakeTag(kStreamStart + s, "closing"));
      db->SubmitTags(std::move(tags), [&](absl::Status status) {
        if (status.ok()) stored.fetch_add(20);
      });
    }
  }  // closing commits what is queued, then calls back
  CHECK(stored.load() == 1000);
  auto reopened = OpenOrDie(TestOptions(dir.path()));
  AggregateQuery query;
  query.range = {kStreamStart, kStreamStart + 60000};
  query.aggregates = {AggregateFunction::kCount};
  CHECK(reopened->aggregates().Query(query)->rows[0].count == 1000);
}

TEST_CASE("backup is a consistent copy that opens as a database") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.Sub("live")));
  std::vector<UserTag> tags;
  for (int i = 0; i < 1000; ++i)
    tags.push_back(MakeTag(kStreamStart + i, "c" + std::to_string(i % 10)));
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
        absl::StatusOr<Profile> profile =
            db->user_tags().GetProfile("shared", {kMinTime, kMaxTime}, 1000);
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
