// Internal: the AggregateIndex.
//
// Every tag adds to 8 cells of its (minute, action): one per subset ("mask") of {origin,
// brand_id, category_id}, so each query is one lookup per minute.
//
// Recent minutes live in memory (all 8 masks, hash maps) and, durably, as one small log
// record per tag in `agg_log` written in the tag's own transaction. When a minute is old
// enough (Options::aggregate_fold_delay_ms past its end) its cells are folded into compact
// sorted blocks in `agg_blocks` and its log records deleted, in one transaction. After a
// crash the log is replayed into memory, so a minute's count is always blocks + log, exactly
// once. Blocks are stored for masks {}, {c}, {b}, {b,c}, {o}, {o,b,c}; {o,b} and {o,c} are
// summed from the {o,b,c} block's contiguous range for that origin, which keeps the largest
// cells stored once.
//
// Block format: an array of fixed-width entries sorted by their id bytes: the ids of the
// mask's fields (origin, brand, category order) as 4-byte big-endian, then count and sum as
// 8-byte little-endian integers.
#ifndef ALLEZON_SRC_AGGREGATE_INDEX_IMPL_H_
#define ALLEZON_SRC_AGGREGATE_INDEX_IMPL_H_

#include <atomic>
#include <shared_mutex>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "allezon/aggregate_index.h"
#include "storage.h"

namespace allezon::internal {

// One tag's contribution to the aggregates.
struct AggregateDelta {
  int64_t minute = 0;
  uint8_t action = 0;
  uint32_t origin = 0;
  uint32_t brand = 0;
  uint32_t category = 0;
  int32_t price = 0;
};

class AggregateIndexImpl final : public AggregateIndex {
 public:
  explicit AggregateIndexImpl(const Storage* storage) : storage_(storage) {}

  absl::StatusOr<AggregateResult> Query(const AggregateQuery& query) const override;

  // At open, before any other call: restores the newest time and replays the log.
  absl::Status Recover(const Txn& txn);

  // Writer: logs the batch's contributions in `txn` and returns them in `deltas`, to be
  // passed to Apply once `txn` has committed. Tags older than the retention are skipped.
  absl::Status Write(const Txn& txn, std::span<const UserTag* const> tags,
                     std::span<const TagIds> ids, std::vector<AggregateDelta>* deltas);
  // Writer: the transaction given to Write committed; make its deltas visible.
  void Apply(std::span<const AggregateDelta> deltas);
  // Writer: the transaction given to Write aborted; forget what it advanced.
  void Rollback();

  // Writer: folds minutes that are due and drops minutes past the retention, in a
  // transaction of its own. Cheap when nothing is due. `force` folds every open minute.
  absl::Status Maintain(bool force);

  EpochMillis newest_time() const { return newest_.load(std::memory_order_relaxed); }
  size_t open_minutes() const;

 private:
  struct CellKey {
    uint8_t action;
    uint8_t mask;
    uint32_t origin, brand, category;
    friend bool operator==(const CellKey&, const CellKey&) = default;
    template <typename H>
    friend H AbslHashValue(H h, const CellKey& k) {
      return H::combine(std::move(h), k.action, k.mask, k.origin, k.brand, k.category);
    }
  };
  struct CellValue {
    int64_t count = 0;
    int64_t sum = 0;
  };
  using MinuteCells = absl::flat_hash_map<CellKey, CellValue>;

  static void AddToCells(MinuteCells& cells, const AggregateDelta& delta);
  EpochMillis RetainedFrom(EpochMillis newest) const;
  absl::Status FoldInto(const Txn& txn, int64_t minute, const MinuteCells& cells) const;

  const Storage* storage_;
  // Shared by queries; exclusive while the writer changes what memory or blocks hold, so a
  // query never sees a minute both folded into a block and still in memory.
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<int64_t, MinuteCells> open_;  // guarded by mu_

  std::atomic<EpochMillis> newest_{kMinTime};
  // Writer only.
  EpochMillis committed_newest_ = kMinTime;
  uint64_t sequence_ = 0;
  uint64_t committed_sequence_ = 0;
  int64_t last_maintenance_ms_ = 0;
  EpochMillis dropped_before_ = kMinTime;
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_AGGREGATE_INDEX_IMPL_H_
