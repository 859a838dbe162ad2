// A data.mdb shorter than the pages its meta page records: legitimate after kill -9 when the
// missing pages were never written (nothing reaches them), damage when a tree still reaches
// one (an interrupted copy). The first must open with every tag; the second must be refused
// with a clear error and without touching the file — never a crash.
#include <lmdb.h>

#include <cstring>
#include <filesystem>
#include <fstream>
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

namespace fs = std::filesystem;

constexpr int kCookies = 40;
constexpr int kTagsPerCookie = 75;

void Fill(const std::string& dir) {
  auto db = OpenOrDie(TestOptions(dir));
  std::vector<UserTag> batch;
  for (int i = 0; i < kCookies * kTagsPerCookie; ++i) {
    batch.push_back(MakeTag(kStreamStart + i * 1000, "cookie-" + std::to_string(i % kCookies),
                            Action::kView, i));
    if (batch.size() == 100) {
      REQUIRE(db->AddTags(batch).ok());
      batch.clear();
    }
  }
}

void CheckAllTagsThere(const Database& db) {
  for (int c = 0; c < kCookies; ++c) {
    absl::StatusOr<Profile> profile =
        db.user_tags().GetProfile("cookie-" + std::to_string(c), {kMinTime, kMaxTime}, 500);
    REQUIRE(profile.ok());
    CHECK(profile->views.size() == kTagsPerCookie);
  }
  AggregateQuery query;
  query.range = {kStreamStart, kStreamStart + 60 * 60000};
  query.aggregates = {AggregateFunction::kCount};
  absl::StatusOr<AggregateResult> result = db.aggregates().Query(query);
  REQUIRE(result.ok());
  int64_t total = 0;
  for (const auto& row : result->rows) total += row.count;
  CHECK(total == kCookies * kTagsPerCookie);
}

struct Layout {
  size_t page_size = 0;
  uint64_t last_page = 0;
};

Layout ReadLayout(const std::string& dir) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 16);
  REQUIRE(mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOLOCK, 0644) == 0);
  MDB_stat stat;
  MDB_envinfo info;
  mdb_env_stat(env, &stat);
  mdb_env_info(env, &info);
  mdb_env_close(env);
  return Layout{stat.ms_psize, info.me_last_pgno};
}

// LMDB 0.9's meta page: a 16-byte page header, then magic, version, address, map size, two
// 48-byte database records, the last page number and the transaction id.
constexpr size_t kLastPageOffset = 16 + 4 + 4 + 8 + 8 + 2 * 48;
constexpr size_t kTxnIdOffset = kLastPageOffset + 8;

// Makes the newest meta page claim `extra` more pages than were ever written: what kill -9
// leaves when the last pages of a commit were allocated and freed again without being written.
void ClaimUnwrittenPages(const std::string& dir, const Layout& layout, uint64_t extra) {
  std::fstream file(dir + "/data.mdb", std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(file.good());
  uint64_t newest_txn = 0;
  size_t newest_meta = 0;
  for (size_t meta = 0; meta < 2; ++meta) {
    uint64_t txn = 0;
    file.seekg(static_cast<std::streamoff>(meta * layout.page_size + kTxnIdOffset));
    file.read(reinterpret_cast<char*>(&txn), sizeof txn);
    if (txn >= newest_txn) newest_txn = txn, newest_meta = meta;
  }
  const auto at = static_cast<std::streamoff>(newest_meta * layout.page_size + kLastPageOffset);
  uint64_t last_page = 0;
  file.seekg(at);
  file.read(reinterpret_cast<char*>(&last_page), sizeof last_page);
  REQUIRE_MESSAGE(last_page == layout.last_page, "unexpected LMDB meta page layout");
  last_page += extra;
  file.seekp(at);
  file.write(reinterpret_cast<const char*>(&last_page), sizeof last_page);
  REQUIRE(file.good());
}

TEST_CASE("a data.mdb cut where its trees reach is refused, naming the directory") {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  Fill(dir);
  const uintmax_t size = fs::file_size(dir + "/data.mdb");
  const uintmax_t cut = size / 4 / 4096 * 4096;
  fs::resize_file(dir + "/data.mdb", cut);
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(TestOptions(dir));
  REQUIRE_FALSE(db.ok());
  CHECK(absl::IsFailedPrecondition(db.status()));
  const std::string message(db.status().message());
  CHECK(message.find(dir) != std::string::npos);
  CHECK(message.find("damaged") != std::string::npos);
  CHECK(fs::file_size(dir + "/data.mdb") == cut);  // refused without being changed
}

TEST_CASE("a data.mdb missing only pages nothing reaches opens with every tag") {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  Fill(dir);
  const Layout layout = ReadLayout(dir);
  REQUIRE(fs::file_size(dir + "/data.mdb") == (layout.last_page + 1) * layout.page_size);
  ClaimUnwrittenPages(dir, layout, 4);
  {
    auto db = OpenOrDie(TestOptions(dir));
    CHECK(fs::file_size(dir + "/data.mdb") >= (layout.last_page + 5) * layout.page_size);
    CheckAllTagsThere(*db);
    REQUIRE(db->AddTag(MakeTag(kStreamStart + 10'000'000, "after")).ok());
  }
  auto reopened = OpenOrDie(TestOptions(dir));
  CheckAllTagsThere(*reopened);
  CHECK(reopened->user_tags().GetProfile("after", {kMinTime, kMaxTime}, 5)->views.size() == 1);
}

}  // namespace
}  // namespace allezon
