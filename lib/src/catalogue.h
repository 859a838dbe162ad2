// Internal: the event catalogue (SPEC §9) — per value of origin, brand_id, category_id,
// country and device, the smallest and largest event time and the number of tags, over all
// time (retention never drops it).
//
// In memory: one cell per (dimension, value id), the value id being the string pool's id (the
// Device for device), updated by the writer after each commit from the commit's tags.
//
// Durably: table `catalogue` (key: dimension byte + 4-byte big-endian value id; value: first,
// last and tags as 8-byte little-endian integers) and `meta` key "catalogue_through", the
// newest log sequence the table holds. The writer flushes the cells changed since its last
// flush, together with that mark, in a transaction of its own, at most every
// Options::aggregate_fold_interval_ms and whenever it is idle. The tag log (profile_log.h)
// keeps every tag after the mark (LogNeededFrom) and Recover replays them, so after a crash
// the catalogue holds each committed tag exactly once: the aggregates' scheme.
// Why not put the cells in the tags' own transaction: a commit of realistic tags changes
// about one cell per tag (1,000 origins, 250 brands, ...), which would add a B-tree put per
// tag to the write path; a flush per second writes each changed cell once per second.
//
// Thread-safety: Recover, Apply, Maintain and LogNeededFrom from the writer thread only
// (Recover before it starts); Values from any thread.
#ifndef ALLEZON_SRC_CATALOGUE_H_
#define ALLEZON_SRC_CATALOGUE_H_

#include <array>
#include <cstdint>
#include <shared_mutex>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "allezon/analytics.h"
#include "allezon/user_tag.h"
#include "storage.h"

namespace allezon::internal {

class Catalogue {
 public:
  explicit Catalogue(const Storage* storage) : storage_(storage) {}

  // At open, inside the opening transaction, after the tag log's sequences are known
  // (`logged_through`: the newest sequence logged). Loads the table and replays the log's
  // tags past its mark. With `rebuild` (a database of a format without the catalogue) it is
  // built instead from every tag the database still holds — the profile lists and the log —
  // and written out whole with the mark at `logged_through`.
  absl::Status Recover(const Txn& txn, bool rebuild, uint64_t logged_through);

  // Writer: the transaction holding `tags` (log sequences through `last_sequence`) committed.
  void Apply(std::span<const UserTag* const> tags, std::span<const TagIds> ids,
             uint64_t last_sequence);

  // Writer: writes the changed cells and the mark in a transaction of its own when due
  // (`force`: whenever anything changed). A failure changes nothing and is retried later.
  absl::Status Maintain(bool force);

  // Writer: the oldest log sequence not yet in the table (UINT64_MAX: none).
  uint64_t LogNeededFrom() const {
    return applied_through_ > flushed_through_ ? flushed_through_ + 1 : UINT64_MAX;
  }

  struct Value {
    uint32_t id = 0;  // string pool id; the Device for Dimension::kDevice
    EpochMillis first = 0;
    EpochMillis last = 0;
    int64_t tags = 0;
  };
  // Any thread: every value of `dimension` seen so far, in id order.
  std::vector<Value> Values(Dimension dimension) const;

 private:
  struct Cell {
    EpochMillis first = kMaxTime;
    EpochMillis last = kMinTime;
    int64_t tags = 0;
  };
  static constexpr size_t kDimensions = static_cast<size_t>(kDimensionCount);

  // Writer, with mu_ held exclusively (or before the writer starts).
  void Merge(size_t dimension, uint32_t id, const Cell& add);
  void AddTag(EpochMillis time, Device device, const TagIds& ids);
  absl::Status Load(const Txn& txn);
  absl::Status ReplayLog(const Txn& txn, uint64_t after);
  absl::Status RebuildFromStoredTags(const Txn& txn);
  absl::Status WriteDirty(const Txn& txn, uint64_t through) const;

  const Storage* storage_;
  mutable std::shared_mutex mu_;  // cells_: written by the writer under it, read under it
  std::array<std::vector<Cell>, kDimensions> cells_;
  // Writer only: cells changed since the last flush, and a flag per cell to list each once.
  std::vector<std::pair<uint8_t, uint32_t>> dirty_;
  std::array<std::vector<uint8_t>, kDimensions> dirty_flags_;
  uint64_t applied_through_ = 0;  // the newest log sequence in cells_
  uint64_t flushed_through_ = 0;  // ... in the table
  int64_t last_flush_ms_ = 0;     // steady clock
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_CATALOGUE_H_
