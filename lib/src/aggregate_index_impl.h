// Internal: the AggregateIndex.
//
// Every tag adds to 8 cells of its (minute, action): one per subset ("mask") of {origin,
// brand_id, category_id}, so each query is one lookup per minute.
//
// Recent minutes live in memory (all 8 masks, hash maps); durably they are in the tag log
// (profile_log.h) that every commit appends to anyway. When a minute is old enough
// (Options::aggregate_fold_delay_ms past its end) its cells are folded into compact sorted
// blocks in `agg_blocks`, together with the minute's mark in `agg_marks`: the newest log
// sequence folded into it. After a crash the log's tags newer than their minute's mark are replayed
// into memory, so a minute's count is always blocks + replayed tags, exactly once; the log keeps
// every tag of the open minutes (LogNeededFrom). Blocks are stored for masks {}, {c}, {b},
// {b,c}, {o}, {o,b,c}; {o,b} and {o,c} are summed from the {o,b,c} block's contiguous range
// for that origin, which keeps the largest cells stored once.
//
// Block format: an array of fixed-width entries sorted by their id bytes: the ids of the
// mask's fields (origin, brand, category order) as 4-byte big-endian, then count and sum as
// 8-byte little-endian integers.
#ifndef ALLEZON_SRC_AGGREGATE_INDEX_IMPL_H_
#define ALLEZON_SRC_AGGREGATE_INDEX_IMPL_H_

#include <array>
#include <atomic>
#include <shared_mutex>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "allezon/aggregate_index.h"
#include "allezon/analytics.h"
#include "aggregate_blocks.h"
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
  uint64_t sequence = 0;  // the tag's log sequence
};

// One cell of a one-field mask ({origin}, {brand} or {category}), for the analyst queries.
struct FieldCell {
  int64_t minute = 0;
  uint8_t action = 0;
  uint32_t id = 0;  // the field's string pool id
  int64_t count = 0;
  int64_t sum = 0;
};

class AggregateIndexImpl final : public AggregateIndex {
 public:
  explicit AggregateIndexImpl(const Storage* storage) : storage_(storage) {}

  absl::StatusOr<AggregateResult> Query(const AggregateQuery& query) const override;

  // Any thread: calls visit(cell) for every cell of the one-field mask of `dimension`
  // (origin, brand_id or category_id) in the minutes of `range` (whole minutes), of `action`
  // (both when not set), in nondecreasing minute order. A minute may give a cell twice — its
  // folded block, then the tags since it was folded — which the visitor sums. One consistent
  // state, as Query sees it.
  absl::Status VisitFieldCells(TimeRange range, Dimension dimension, std::optional<Action> action,
                               absl::FunctionRef<void(const FieldCell&)> visit) const;
  // Any thread: the first minute holding any tag (kMaxTime when none), and the first minute
  // the retention keeps (kMinTime before any tag).
  absl::StatusOr<EpochMillis> FirstMinute() const;
  EpochMillis RetainedFrom() const { return RetainedFrom(0, newest_time()); }

  // At open, before any other call: restores the newest time and replays the open minutes
  // from the tag log. A database of the previous format also has `legacy_log` (0 when not):
  // its minutes are folded into blocks and it is dropped, and the tags logged up to
  // `legacy_folded_through` are marked as folded.
  absl::Status Recover(const Txn& txn, MDB_dbi legacy_log, uint64_t legacy_folded_through);

  // Writer: takes the batch's contributions (the tags have the log sequences
  // first_sequence, first_sequence + 1, ...) into `deltas`, to be passed to Apply once `txn`
  // has committed, and records the newest time in `txn`. Tags older than the retention are
  // skipped.
  absl::Status Write(const Txn& txn, std::span<const UserTag* const> tags,
                     std::span<const TagIds> ids, uint64_t first_sequence,
                     std::vector<AggregateDelta>* deltas);
  // Writer: the transaction given to Write committed; make its deltas visible.
  void Apply(std::span<const AggregateDelta> deltas);
  // Writer: the transaction given to Write aborted; forget what it advanced.
  void Rollback();

  // Writer: folds minutes that are due and drops minutes past the retention, in a
  // transaction of its own. Cheap when nothing is due. `force` folds every open minute.
  absl::Status Maintain(bool force);

  // Writer: the oldest log sequence an open minute still needs (UINT64_MAX: none).
  uint64_t LogNeededFrom() const;

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

  static CellKey CellOf(const AggregateDelta& delta, uint8_t mask);
  static void AddToCells(MinuteCells& cells, const AggregateDelta& delta);
  // The first bucket of `level` (aggregate_blocks.h) that its retention keeps.
  EpochMillis RetainedFrom(int level, EpochMillis newest) const;
  absl::Status FoldInto(const Txn& txn, int64_t minute, const MinuteCells& cells) const;
  // Adds every cell matching `lookup` in [from, to) (whole buckets of `level`) to `add`,
  // at the finest level that holds it: this level's blocks up to rolled_through_, the open
  // minutes, then the levels below for what is not rolled up yet. mu_ held shared.
  absl::Status Collect(const Txn& txn, int level, int64_t from, int64_t to,
                       const CellLookup& lookup,
                       absl::FunctionRef<void(int64_t time, int64_t count, int64_t sum)> add) const;
  // Writer: sums the blocks of level - 1 into blocks of `level` for every bucket starting in
  // [from, to) that has any (aggregate_rollups.cc).
  absl::Status RollUp(const Txn& txn, int level, int64_t from, int64_t to) const;
  absl::Status RollBucket(const Txn& txn, int level, int64_t start) const;
  absl::Status LoadRollupState(const Txn& txn);
  absl::Status ReplayLegacyLog(const Txn& txn, MDB_dbi legacy_log);
  absl::StatusOr<uint64_t> FoldedThrough(const Txn& txn, int64_t minute) const;

  const Storage* storage_;
  // Shared by queries; exclusive while the writer changes what memory or blocks hold, so a
  // query never sees a minute both folded into a block and still in memory.
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<int64_t, MinuteCells> open_;  // guarded by mu_
  // [level]: every bucket of that level starting before it has its blocks in agg_rollups
  // (the folded minutes' sums; minutes folded later are added to them). [0] is unused.
  // Written by the writer under mu_ exclusively, read by queries under mu_ shared.
  std::array<EpochMillis, kLevels> rolled_through_{kMinTime, kMinTime, kMinTime, kMinTime};

  std::atomic<EpochMillis> newest_{kMinTime};
  // Writer only.
  EpochMillis committed_newest_ = kMinTime;
  absl::flat_hash_map<int64_t, uint64_t> open_first_seq_;  // open minute -> its oldest tag
  uint64_t committed_through_ = 0;                         // the newest log sequence in memory
  uint64_t pending_through_ = 0;  // ... once the last Write's transaction commits
  int64_t last_maintenance_ms_ = 0;
  std::array<EpochMillis, kLevels> dropped_before_{kMinTime, kMinTime, kMinTime, kMinTime};
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_AGGREGATE_INDEX_IMPL_H_
