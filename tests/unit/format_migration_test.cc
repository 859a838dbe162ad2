// Databases of earlier formats open and are converted in place with nothing counted twice:
// allezon/2, which kept the aggregates' open minutes in a log of their own (`agg_log`), and
// allezon/3, which had no catalogue (it is built from the tags the database holds).
#include <doctest/doctest.h>
#include <lmdb.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "allezon/database.h"
#include "codec.h"
#include "test_util.h"

namespace allezon {
namespace {

using testing::kStreamStart;
using testing::MakeTag;
using testing::OpenOrDie;
using testing::TempDir;
using testing::TestOptions;

constexpr EpochMillis kMinuteMs = 60000;

void CheckLmdb(int rc, const char* what) {
  REQUIRE_MESSAGE(rc == 0, what << ": " << mdb_strerror(rc));
}

// Raw access to the environment, as the previous build left it or to rewrite it so.
class RawLmdb {
 public:
  explicit RawLmdb(const std::string& dir) {
    CheckLmdb(mdb_env_create(&env_), "mdb_env_create");
    mdb_env_set_maxdbs(env_, 16);
    CheckLmdb(mdb_env_open(env_, dir.c_str(), 0, 0644), "mdb_env_open");
    CheckLmdb(mdb_txn_begin(env_, nullptr, 0, &txn_), "mdb_txn_begin");
  }
  ~RawLmdb() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    mdb_env_close(env_);
  }
  void Commit() {
    CheckLmdb(mdb_txn_commit(txn_), "mdb_txn_commit");
    txn_ = nullptr;
  }
  // MDB_NOTFOUND when the table does not exist (create = false).
  int Open(const char* name, bool create, MDB_dbi* dbi) {
    return mdb_dbi_open(txn_, name, create ? MDB_CREATE : 0, dbi);
  }
  void Put(MDB_dbi dbi, const std::string& key, const std::string& value) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    CheckLmdb(mdb_put(txn_, dbi, &k, &v, 0), "mdb_put");
  }
  std::string Get(MDB_dbi dbi, const std::string& key) {
    MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
    CheckLmdb(mdb_get(txn_, dbi, &k, &v), "mdb_get");
    return std::string(static_cast<const char*>(v.mv_data), v.mv_size);
  }
  // Deletes the table (which the previous format did not have).
  void Drop(MDB_dbi dbi) { CheckLmdb(mdb_drop(txn_, dbi, 1), "mdb_drop"); }
  void Delete(MDB_dbi dbi, const std::string& key) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    CheckLmdb(mdb_del(txn_, dbi, &k, nullptr), "mdb_del");
  }
  uint32_t StringId(MDB_dbi strings, const std::string& text) {
    return internal::GetBigEndian32(Get(strings, "s" + text).data());
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
};

int64_t Count(const Database& db, EpochMillis minute, Action action) {
  AggregateQuery query;
  query.range = {minute, minute + kMinuteMs};
  query.action = action;
  query.aggregates = {AggregateFunction::kCount};
  absl::StatusOr<AggregateResult> result = db.aggregates().Query(query);
  REQUIRE(result.ok());
  return result->rows.at(0).count;
}

TEST_CASE("a database of the previous format is converted in place, nothing counted twice") {
  TempDir dir;
  Options eager = TestOptions(dir.path());
  eager.tuning.aggregate_fold_delay_ms = 0;
  eager.tuning.aggregate_fold_interval_ms = 0;
  Options lazy = TestOptions(dir.path());
  lazy.tuning.aggregate_fold_delay_ms = 3'600'000;  // nothing folds while the test runs
  const EpochMillis m0 = kStreamStart, m1 = m0 + kMinuteMs, m2 = m0 + 2 * kMinuteMs,
                    m5 = m0 + 5 * kMinuteMs;
  // Tags still open (in the old format: in agg_log) at the end, with their action.
  std::vector<UserTag> open_tags;
  {
    // Minute 2 is folded into blocks once minute 5 has a tag.
    auto db = OpenOrDie(eager);
    std::vector<UserTag> folded;
    for (int i = 0; i < 4; ++i) folded.push_back(MakeTag(m2 + i, "f" + std::to_string(i)));
    REQUIRE(db->AddTags(folded).ok());
    open_tags.push_back(MakeTag(m5, "late", Action::kBuy, 9));
    REQUIRE(db->AddTag(open_tags.back()).ok());
    for (int attempt = 0; attempt < 300 && db->Stats().open_minutes > 1; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(db->Stats().open_minutes == 1);
  }
  {
    auto db = OpenOrDie(lazy);
    std::vector<UserTag> batch;
    for (int i = 0; i < 3; ++i) batch.push_back(MakeTag(m0 + i, "a" + std::to_string(i)));
    for (int i = 0; i < 2; ++i) batch.push_back(MakeTag(m1 + i, "b", Action::kBuy, 7));
    REQUIRE(db->AddTags(batch).ok());
    open_tags.insert(open_tags.end(), batch.begin(), batch.end());
  }
  {
    // Rewrite it as the previous build would have left it: the format marker, its own
    // aggregate log holding the open minutes' tags, no folded-minute marks.
    RawLmdb raw(dir.path());
    MDB_dbi meta, strings, marks, legacy;
    CheckLmdb(raw.Open("meta", false, &meta), "meta");
    CheckLmdb(raw.Open("strings", false, &strings), "strings");
    CheckLmdb(raw.Open("agg_marks", false, &marks), "agg_marks");
    CheckLmdb(raw.Open("agg_log", true, &legacy), "agg_log");
    raw.Put(meta, "format", "allezon/2");
    raw.Put(meta, "sequence", std::string(8, '\0'));
    raw.Drop(marks);
    uint64_t sequence = 0;
    for (const UserTag& tag : open_tags) {
      std::string key(16, '\0');
      internal::PutBigEndian64(key.data(), internal::TimeKey(tag.time - tag.time % kMinuteMs));
      internal::PutBigEndian64(key.data() + 8, ++sequence);
      std::string value(1, static_cast<char>(tag.action));
      internal::PutVarint(&value, raw.StringId(strings, tag.origin));
      internal::PutVarint(&value, raw.StringId(strings, tag.brand_id));
      internal::PutVarint(&value, raw.StringId(strings, tag.category_id));
      internal::PutVarint(&value, internal::ZigZag(tag.price));
      raw.Put(legacy, key, value);
    }
    raw.Commit();
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    CAPTURE(reopen);
    auto db = OpenOrDie(lazy);
    CHECK(Count(*db, m0, Action::kView) == 3 + reopen);
    CHECK(Count(*db, m1, Action::kBuy) == 2);
    CHECK(Count(*db, m2, Action::kView) == 4);
    CHECK(Count(*db, m5, Action::kBuy) == 1);
    // New tags of a converted database count as usual.
    if (reopen == 0) {
      REQUIRE(db->AddTag(MakeTag(m0 + 10, "new")).ok());
      CHECK(Count(*db, m0, Action::kView) == 4);
    }
  }
  RawLmdb raw(dir.path());
  MDB_dbi meta, legacy;
  CheckLmdb(raw.Open("meta", false, &meta), "meta");
  CHECK(raw.Get(meta, "format") == "allezon/5");
  CHECK(raw.Open("agg_log", false, &legacy) == MDB_NOTFOUND);
}

std::string DescribeCatalogue(const Database& db, Dimension dimension) {
  absl::StatusOr<std::vector<CatalogueEntry>> got =
      db.analytics().Catalogue({dimension, std::nullopt, std::nullopt});
  REQUIRE(got.ok());
  std::string out;
  for (const CatalogueEntry& e : *got) {
    absl::StrAppend(&out, e.value, " ", e.first_seen - kStreamStart, " ",
                    e.last_seen - kStreamStart, " ", e.tags, "\n");
  }
  return out;
}

TEST_CASE("a database without a catalogue (allezon/3) gets one built from the tags it holds") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.tuning.profile_staging_tags = 0;  // some tags folded into their lists, some only logged
  std::vector<UserTag> tags;
  for (int i = 0; i < 40; ++i) {
    tags.push_back(MakeTag(kStreamStart + i * 1000, "c" + std::to_string(i % 7),
                           i % 3 ? Action::kView : Action::kBuy, i, "o" + std::to_string(i % 4)));
  }
  {
    auto db = OpenOrDie(options);
    for (size_t i = 0; i < tags.size(); i += 8) {
      REQUIRE(db->AddTags(std::vector<UserTag>(tags.begin() + i, tags.begin() + i + 8)).ok());
    }
  }
  const std::string want = DescribeCatalogue(*OpenOrDie(options), Dimension::kOrigin);
  CHECK(want == "o0 0 36000 10\no1 1000 37000 10\no2 2000 38000 10\no3 3000 39000 10\n");
  {
    // As the previous build left it: no catalogue table, no mark.
    RawLmdb raw(dir.path());
    MDB_dbi meta, catalogue;
    CheckLmdb(raw.Open("meta", false, &meta), "meta");
    CheckLmdb(raw.Open("catalogue", false, &catalogue), "catalogue");
    raw.Put(meta, "format", "allezon/3");
    raw.Delete(meta, "catalogue_through");
    raw.Drop(catalogue);
    raw.Commit();
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto db = OpenOrDie(options);
    CHECK(DescribeCatalogue(*db, Dimension::kOrigin) == want);
  }
  RawLmdb raw(dir.path());
  MDB_dbi meta;
  CheckLmdb(raw.Open("meta", false, &meta), "meta");
  CHECK(raw.Get(meta, "format") == "allezon/5");
}

TEST_CASE("an allezon/4 database (no rollups) gets its coarse buckets from its minutes") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.tuning.aggregate_fold_delay_ms = 0;
  options.tuning.aggregate_fold_interval_ms = 0;
  const EpochMillis hour = 3'600'000;
  {
    auto db = OpenOrDie(options);
    for (int i = 0; i < 120; ++i) {
      REQUIRE(db->AddTag(MakeTag(kStreamStart + i * kMinuteMs + 7, "c", Action::kBuy)).ok());
    }
  }
  {
    // What the previous format held: the same minutes, no rollups and no rollup state.
    RawLmdb raw(dir.path());
    MDB_dbi meta, rollups;
    CheckLmdb(raw.Open("meta", false, &meta), "meta");
    CheckLmdb(raw.Open("agg_rollups", false, &rollups), "agg_rollups");
    raw.Drop(rollups);
    for (int level = 1; level < 4; ++level)
      raw.Delete(meta, "rolled_through/" + std::to_string(level));
    raw.Put(meta, "format", "allezon/4");
    raw.Commit();
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto db = OpenOrDie(options);
    // Let the first maintenance roll the converted minutes up.
    REQUIRE(db->AddTag(MakeTag(kStreamStart + 120 * kMinuteMs + 7, "c", Action::kView)).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    AggregateQuery query;
    query.bucket = BucketSize::k1h;
    query.range = {kStreamStart, kStreamStart + 2 * hour};
    query.action = Action::kBuy;
    query.aggregates = {AggregateFunction::kCount};
    absl::StatusOr<AggregateResult> result = db->aggregates().Query(query);
    REQUIRE(result.ok());
    REQUIRE(result->rows.size() == 2);
    CHECK(result->rows[0].count == 60);
    CHECK(result->rows[1].count == 60);
  }
  RawLmdb raw(dir.path());
  MDB_dbi meta;
  CheckLmdb(raw.Open("meta", false, &meta), "meta");
  CHECK(raw.Get(meta, "format") == "allezon/5");
}

}  // namespace
}  // namespace allezon
