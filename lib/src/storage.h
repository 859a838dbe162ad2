// Internal: the state shared by the Database, the UserTagStore and the AggregateIndex — the
// LMDB environment, its named databases, the string pool and the locks that order readers
// against the few writer steps that must exclude them.
#ifndef ALLEZON_SRC_STORAGE_H_
#define ALLEZON_SRC_STORAGE_H_

#include <lmdb.h>
#include <pthread.h>

#include <cstdint>
#include <mutex>
#include <shared_mutex>

#include "allezon/options.h"
#include "lmdb_env.h"
#include "string_pool.h"

namespace allezon::internal {

// A reader/writer lock that lets a waiting writer in ahead of new readers. std::shared_mutex
// (glibc's default rwlock) prefers readers, so a steady stream of profile queries could hold
// off the writer's brief exclusive step after every commit indefinitely.
class WriterPreferringLock {
 public:
  WriterPreferringLock() {
    pthread_rwlockattr_t attributes;
    pthread_rwlockattr_init(&attributes);
    pthread_rwlockattr_setkind_np(&attributes, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attributes);
    pthread_rwlockattr_destroy(&attributes);
  }
  ~WriterPreferringLock() { pthread_rwlock_destroy(&lock_); }
  WriterPreferringLock(const WriterPreferringLock&) = delete;
  WriterPreferringLock& operator=(const WriterPreferringLock&) = delete;
  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

// Interned ids of one tag's low-cardinality strings.
struct TagIds {
  uint32_t country = 0;
  uint32_t origin = 0;
  uint32_t brand = 0;
  uint32_t category = 0;
};

struct Storage {
  Options options;
  MDB_env* env = nullptr;
  MDB_dbi meta = 0;        // format marker, newest event time, log sequence
  MDB_dbi strings = 0;     // "s" + string -> id (4 bytes, big-endian)
  MDB_dbi string_ids = 0;  // id -> string
  MDB_dbi profiles = 0;    // cookie + action byte -> capped tag list (profile_record.h)
  // sequence -> a commit's tags, until profiles and aggregates both hold them (profile_log.h)
  MDB_dbi profile_log = 0;
  MDB_dbi agg_blocks = 0;  // minute + action + mask -> sorted cells (aggregate_index_impl.cc)
  MDB_dbi agg_marks = 0;   // folded minute -> the newest log sequence in its blocks
  // size + bucket + action + mask -> sorted cells of a 15m/1h/1d bucket (aggregate_index_impl)
  MDB_dbi agg_rollups = 0;
  MDB_dbi catalogue = 0;   // dimension + value id -> first/last seen, tags (catalogue.h)
  MDB_dbi raw_tags = 0;    // minute + sequence -> a block of whole tags (raw_tags.h)
  StringPool strings_pool;

  // Held shared by every read transaction, exclusively by the writer while it resizes the
  // map (LMDB forbids mdb_env_set_mapsize while any transaction is open).
  // std::shared_mutex rather than absl::Mutex: Debian's Abseil is not built for
  // ThreadSanitizer, which then cannot see absl locks and reports false races.
  mutable std::shared_mutex resize_mu;

  // Held shared by every read transaction from before its snapshot begins, exclusively by
  // the writer while it publishes staged profile tags (profile_staging.h), so a reader sees
  // the staged tags that match its snapshot.
  mutable WriterPreferringLock staging_mu;
};

// Every table of the format (docs/FORMAT.md), in one list: the open creates them all and
// refuses an environment holding any other.
struct TableSpec {
  const char* name;
  MDB_dbi Storage::*handle;
};
inline constexpr TableSpec kTables[] = {
    {"meta", &Storage::meta},
    {"strings", &Storage::strings},
    {"string_ids", &Storage::string_ids},
    {"profiles", &Storage::profiles},
    {"profile_log", &Storage::profile_log},
    {"agg_blocks", &Storage::agg_blocks},
    {"agg_marks", &Storage::agg_marks},
    {"agg_rollups", &Storage::agg_rollups},
    {"catalogue", &Storage::catalogue},
    {"raw_tags", &Storage::raw_tags},
};

// A read transaction that also keeps the map from being resized while it is open and
// pins the staged profile tags that belong with its snapshot.
class ReadScope {
 public:
  explicit ReadScope(const Storage& storage)
      : staging_lock_(storage.staging_mu), lock_(storage.resize_mu) {
    absl::StatusOr<Txn> txn = Txn::Begin(storage.env, /*read_only=*/true);
    if (txn.ok()) {
      txn_ = std::move(*txn);
    } else {
      status_ = txn.status();
    }
  }
  const absl::Status& status() const { return status_; }
  const Txn& txn() const { return txn_; }

 private:
  std::shared_lock<WriterPreferringLock> staging_lock_;
  std::shared_lock<std::shared_mutex> lock_;
  Txn txn_;
  absl::Status status_;
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_STORAGE_H_
