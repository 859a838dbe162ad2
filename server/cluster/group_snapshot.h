// Group snapshots: how a node whose data was wiped rebuilds a group from the other owner's
// copy plus the log, rather than from the log alone (which keeps only its MaxAge, while
// profiles and coarse aggregates reach back months).
//
// Both owners of a group apply the same partitions in log order and store each partition's
// position in the same transaction as its tags (SourcePosition), so a consistent copy of
// one owner's database is a valid state of the other's: the rebuilt node resumes reading
// each partition after the copy's position, and every entry is still applied exactly once.
//
// The owner makes the copy with Database::Backup (consistent, compacted, while it serves)
// into DATA_DIR/snapshots/<id> and hands it out in chunks (GET /cluster/snapshot), so a
// copy of any size travels in ordinary, bounded HTTP answers. Copies are removed when the
// fetcher says it is done, or after `expire_after` (a fetcher that died).
//
// Thread-safety: SnapshotStore's methods may be called from any thread.
#ifndef ALLEZON_SERVER_CLUSTER_GROUP_SNAPSHOT_H_
#define ALLEZON_SERVER_CLUSTER_GROUP_SNAPSHOT_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "allezon/database.h"
#include "cluster_config.h"

namespace allezon::cluster {

class SnapshotStore {
 public:
  using Clock = std::chrono::steady_clock;
  SnapshotStore(std::string directory, std::chrono::milliseconds expire_after)
      : directory_(std::move(directory)), expire_after_(expire_after) {}

  // Copies `db` and answers {"id": "...", "bytes": N} (the copy's data.mdb size).
  absl::StatusOr<std::string> Prepare(const Database& db);
  // Up to `max_bytes` of the copy from `offset`; empty at the end. NotFound for an unknown
  // or expired id.
  absl::StatusOr<std::string> Read(std::string_view id, uint64_t offset, uint64_t max_bytes);
  void Finish(std::string_view id);

 private:
  struct Copy {
    std::string path;  // the copy's data.mdb
    uint64_t bytes = 0;
    Clock::time_point expires;
  };
  void ExpireLocked(Clock::time_point now);

  const std::string directory_;
  const std::chrono::milliseconds expire_after_;
  std::mutex mu_;
  std::map<std::string, Copy, std::less<>> copies_;  // guarded by mu_
  uint64_t next_id_ = 1;                             // guarded by mu_
};

struct SnapshotFetchOptions {
  std::chrono::milliseconds connect_timeout{1000};
  // Preparing the copy reads the owner's whole database.
  std::chrono::milliseconds prepare_timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds chunk_timeout{30'000};
  uint64_t chunk_bytes = 8 << 20;
};

// Fetches group `group_key`'s copy from `owner` into `target_dir`/data.mdb (`target_dir`
// must exist and be empty). Returns the bytes fetched. Unavailable when the owner cannot
// serve it (down, not ready, not an owner of the group).
absl::StatusOr<uint64_t> FetchSnapshot(const NodeSpec& owner, std::string_view group_key,
                                       const std::string& target_dir,
                                       const SnapshotFetchOptions& options);

}  // namespace allezon::cluster

#endif  // ALLEZON_SERVER_CLUSTER_GROUP_SNAPSHOT_H_
