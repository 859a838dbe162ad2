// TagLog (lib/src/tag_log.h) against a model, through commits, aborted transactions and
// reopens of the environment: sequences are consecutive and never reused, every tag some
// consumer may still need is in the log with the bytes it was appended with, and what no
// consumer needs is trimmed (Trim with room enough leaves no record every mark is past).
#include "tag_log.h"

#include <doctest/doctest.h>
#include <lmdb.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "profile_log.h"
#include "profile_record.h"
#include "test_util.h"

namespace allezon {
namespace {

using internal::TagLog;
using testing::TempDir;
using Consumer = TagLog::Consumer;

// An LMDB environment with the two tables the log uses, as Database opens them.
class Env {
 public:
  explicit Env(const std::string& dir) {
    REQUIRE(mdb_env_create(&storage.env) == 0);
    REQUIRE(mdb_env_set_maxdbs(storage.env, 4) == 0);
    REQUIRE(mdb_env_set_mapsize(storage.env, size_t{64} << 20) == 0);
    REQUIRE(mdb_env_open(storage.env, dir.c_str(), MDB_NOTLS, 0644) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(storage.env, nullptr, 0, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, "meta", MDB_CREATE, &storage.meta) == 0);
    REQUIRE(mdb_dbi_open(txn, "profile_log", MDB_CREATE, &storage.profile_log) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
  }
  ~Env() { mdb_env_close(storage.env); }
  internal::Storage storage;
};

struct TagLogModel {
  std::map<uint64_t, std::string> cookies;  // committed sequence -> its tag's cookie
  uint64_t next = 1;
  uint64_t needed[TagLog::kConsumers] = {1, 1, 1};
  uint64_t NeededFrom() const { return *std::min_element(std::begin(needed), std::end(needed)); }
};

// What the log holds: sequence -> cookie, and whether its records are consecutive.
std::map<uint64_t, std::string> LogContents(const internal::Storage& storage) {
  std::map<uint64_t, std::string> out;
  absl::StatusOr<internal::Txn> txn = internal::Txn::Begin(storage.env, /*read_only=*/true);
  REQUIRE(txn.ok());
  REQUIRE(internal::ForEachLoggedTag(*txn, storage.profile_log, [&](const internal::LoggedTag& t) {
            out.emplace(t.sequence, std::string(t.cookie));
          }).ok());
  return out;
}

void Check(const TagLog& log, const internal::Storage& storage, const TagLogModel& model) {
  CHECK(log.next_sequence() == model.next);
  const std::map<uint64_t, std::string> held = LogContents(storage);
  // Consecutive, ending at the last sequence given out.
  if (!held.empty()) {
    CHECK(held.rbegin()->first == model.next - 1);
    CHECK(held.rbegin()->first - held.begin()->first + 1 == held.size());
  }
  CHECK(log.log_tags() == held.size());
  // Everything still needed is there, with its bytes.
  for (uint64_t s = model.NeededFrom(); s < model.next; ++s) {
    auto it = held.find(s);
    REQUIRE_MESSAGE(it != held.end(),
                    "sequence " << s << " trimmed while still needed from " << model.NeededFrom());
    CHECK(it->second == model.cookies.at(s));
  }
}

TEST_CASE("tag log: consecutive sequences, nothing needed trimmed, the rest trimmed") {
  TempDir dir;
  std::mt19937_64 random(20261204);
  TagLogModel model;
  auto env = std::make_unique<Env>(dir.path());
  auto log = std::make_unique<TagLog>(&env->storage);
  REQUIRE(log->Recover(*internal::Txn::Begin(env->storage.env, true)).ok());
  for (Consumer c : {Consumer::kProfiles, Consumer::kAggregates, Consumer::kCatalogue}) {
    log->SetNeededFrom(c, 1);
  }
  int reopens = 0, aborts = 0, trims_checked = 0;
  for (int step = 0; step < 1500; ++step) {
    const int what = static_cast<int>(random() % 10);
    if (what == 0) {
      // Reopen: the marks are the consumers' to set again, as they recover.
      log.reset();
      env.reset();
      env = std::make_unique<Env>(dir.path());
      log = std::make_unique<TagLog>(&env->storage);
      REQUIRE(log->Recover(*internal::Txn::Begin(env->storage.env, true)).ok());
      for (size_t c = 0; c < TagLog::kConsumers; ++c) {
        log->SetNeededFrom(static_cast<Consumer>(c), model.needed[c]);
      }
      ++reopens;
    } else if (what <= 2) {
      // A consumer outside the transaction moves its mark forward (the aggregates after a
      // fold, the catalogue after a flush).
      const size_t c = 1 + random() % 2;
      model.needed[c] = std::min(model.next, model.needed[c] + random() % 40);
      log->SetNeededFrom(static_cast<Consumer>(c), model.needed[c]);
    } else {
      // A write transaction: profiles move their mark inside it, then trim and append.
      log->Begin();
      absl::StatusOr<internal::Txn> txn = internal::Txn::Begin(env->storage.env, false);
      REQUIRE(txn.ok());
      const uint64_t profiles = std::min(model.next, model.needed[0] + random() % 40);
      log->SetNeededFrom(Consumer::kProfiles, profiles);
      const bool room = random() % 2 == 0;
      REQUIRE(log->Trim(*txn, room ? SIZE_MAX : random() % 20).ok());
      std::vector<UserTag> tags(random() % 6);
      std::vector<std::string> bodies(tags.size());
      std::vector<const UserTag*> pointers;
      std::vector<std::string_view> views;
      for (size_t i = 0; i < tags.size(); ++i) {
        // absl::StrCat: GCC 12 warns falsely (-Wrestrict) on "literal" + std::to_string.
        tags[i].cookie = absl::StrCat("c", random() % 1000, "-", step);
        tags[i].time = static_cast<int64_t>(random() % 1'000'000);
        tags[i].product_id = static_cast<int64_t>(i);
        internal::AppendBody(tags[i], internal::TagIds{}, &bodies[i]);
        pointers.push_back(&tags[i]);
        views.push_back(bodies[i]);
      }
      absl::StatusOr<uint64_t> first = log->Append(*txn, pointers, views);
      REQUIRE(first.ok());
      CHECK(*first == model.next);
      if (random() % 8 == 0) {
        txn->Abort();
        log->Rollback();
        ++aborts;
        CHECK(log->next_sequence() == model.next);
      } else {
        REQUIRE(txn->Commit().ok());
        log->Commit();
        model.needed[0] = profiles;
        for (size_t i = 0; i < tags.size(); ++i) model.cookies[model.next + i] = tags[i].cookie;
        model.next += tags.size();
        if (room && tags.empty()) {
          // Trim had room and nothing was appended after it: no record every mark is past.
          CHECK_FALSE(log->HasTrimmable());
          ++trims_checked;
        }
      }
    }
    Check(*log, env->storage, model);
  }
  CHECK(reopens > 10);
  CHECK(aborts > 10);
  CHECK(trims_checked > 10);
}

}  // namespace
}  // namespace allezon
