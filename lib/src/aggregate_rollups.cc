// The coarse buckets of the AggregateIndex (SPEC §10): 15 minutes, 1 hour and 1 day, each
// rolled up from the level below once it is settled, kept for its own retention.
//
// Why roll up settled buckets rather than add every minute to its coarse buckets at fold
// time: a day's {origin, brand, category} block is large, and rewriting it at every minute's
// fold would cost a day of copy-on-write pages per minute. A bucket not yet rolled up is
// answered from the level below (at most one bucket per level is), and a minute folded after
// its coarse buckets were rolled up (a late tag) is added to them at its fold, so a coarse
// bucket is always exactly the sum of its minutes.
#include <algorithm>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "aggregate_index_impl.h"
#include "codec.h"

namespace allezon::internal {
namespace {

// meta: "rolled_through/<level>" -> 8-byte TimeKey of AggregateIndexImpl::rolled_through_.
std::string RolledThroughKey(int level) { return absl::StrCat("rolled_through/", level); }

}  // namespace

absl::Status AggregateIndexImpl::LoadRollupState(const Txn& txn) {
  for (int level = 1; level < kLevels; ++level) {
    absl::StatusOr<std::string_view> stored = txn.Get(storage_->meta, RolledThroughKey(level));
    if (absl::IsNotFound(stored.status())) continue;  // nothing rolled up yet
    if (!stored.ok()) return stored.status();
    if (stored->size() != 8) return absl::DataLossError("rollup state damaged");
    rolled_through_[level] = TimeFromKey(GetBigEndian64(stored->data()));
  }
  return absl::OkStatus();
}

absl::Status AggregateIndexImpl::RollUp(const Txn& txn, int level, int64_t from, int64_t to) const {
  int64_t next = from;
  while (next < to) {
    // The next bucket with anything below it; empty stretches are skipped in one seek.
    int64_t first_child = kMaxTime;
    absl::Status found = ForEachBlock(txn, *storage_, level - 1, next, to,
                                      [&](int64_t start, uint8_t, uint8_t, std::string_view) {
                                        first_child = start;
                                        return absl::CancelledError();  // stop at the first
                                      });
    if (!found.ok() && !absl::IsCancelled(found)) return found;
    if (first_child >= to) break;
    const int64_t bucket = BucketStartOf(first_child, level);
    if (absl::Status s = RollBucket(txn, level, bucket); !s.ok()) return s;
    next = bucket + LevelMillis(level);
  }
  char key[8];
  PutBigEndian64(key, TimeKey(to));
  return txn.Put(storage_->meta, RolledThroughKey(level), std::string_view(key, 8));
}

absl::Status AggregateIndexImpl::RollBucket(const Txn& txn, int level, int64_t start) const {
  struct Sum {
    int64_t count = 0;
    int64_t sum = 0;
  };
  using Ids = std::array<char, 12>;
  std::array<absl::flat_hash_map<Ids, Sum>, 2 * 8> sums;  // [action * 8 + mask]
  absl::Status walked =
      ForEachBlock(txn, *storage_, level - 1, start, start + LevelMillis(level),
                   [&](int64_t, uint8_t action, uint8_t mask, std::string_view block) {
                     const size_t width = EntryWidth(mask);
                     if (action > 1 || mask > 7 || block.size() % width != 0) {
                       return absl::DataLossError("aggregate block damaged");
                     }
                     auto& cells = sums[action * 8 + mask];
                     const size_t ids_width = width - 16;
                     for (size_t offset = 0; offset < block.size(); offset += width) {
                       const char* entry = block.data() + offset;
                       Ids ids{};
                       std::memcpy(ids.data(), entry, ids_width);
                       Sum& cell = cells[ids];
                       cell.count += static_cast<int64_t>(GetFixed64(entry + ids_width));
                       cell.sum += static_cast<int64_t>(GetFixed64(entry + ids_width + 8));
                     }
                     return absl::OkStatus();
                   });
  if (!walked.ok()) return walked;
  std::vector<BlockItem> items;
  for (uint8_t action = 0; action < 2; ++action) {
    for (uint8_t mask : kStoredMasks) {
      const auto& cells = sums[action * 8 + mask];
      if (cells.empty()) continue;
      items.clear();
      items.reserve(cells.size());
      for (const auto& [ids, cell] : cells) items.push_back(BlockItem{ids, cell.count, cell.sum});
      const size_t ids_width = EntryWidth(mask) - 16;
      std::sort(items.begin(), items.end(), [ids_width](const BlockItem& a, const BlockItem& b) {
        return std::memcmp(a.ids.data(), b.ids.data(), ids_width) < 0;
      });
      // No block exists yet for a bucket not rolled up (FoldInto adds only to rolled ones).
      if (absl::Status s = MergeIntoBlock(txn, storage_->agg_rollups,
                                          BlockKey(level, start, action, mask), mask, items);
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace allezon::internal
