// Internal: the on-disk form of aggregate cells (see aggregate_index_impl.h for the design).
//
// A *block* holds the cells of one bucket, one action and one stored mask: an array of
// fixed-width entries sorted by their id bytes (the mask's fields' string ids in origin,
// brand, category order, 4-byte big-endian each), then count and sum as 8-byte little-endian.
//   agg_blocks:  TimeKey(minute) + action + mask                 (10-byte keys)
//   agg_rollups: level + TimeKey(bucket start) + action + mask   (11-byte keys; level 1..3 =
//                15m, 1h, 1d)
// Level 0 names the minutes, so walking "the blocks of a level" is one loop for all four.
#ifndef ALLEZON_SRC_AGGREGATE_BLOCKS_H_
#define ALLEZON_SRC_AGGREGATE_BLOCKS_H_

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "allezon/aggregate_index.h"
#include "lmdb_env.h"
#include "storage.h"

namespace allezon::internal {

inline constexpr uint8_t kOriginBit = 4;
inline constexpr uint8_t kBrandBit = 2;
inline constexpr uint8_t kCategoryBit = 1;
// {o,b} and {o,c} are summed from the {o,b,c} block's range for the origin.
inline constexpr std::array<uint8_t, 6> kStoredMasks = {0, 1, 2, 3, 4, 7};
inline constexpr int kLevels = 4;  // 1m, 15m, 1h, 1d: BucketSize's values

inline int64_t LevelMillis(int level) { return BucketMillis(static_cast<BucketSize>(level)); }
// Floors a time to the start of its bucket of `level` (correct before 1970 too).
inline int64_t BucketStartOf(int64_t time, int level) {
  const int64_t size = LevelMillis(level);
  const int64_t rem = time % size;
  return rem < 0 ? time - rem - size : time - rem;
}

std::string BlockKey(int level, int64_t start, uint8_t action, uint8_t mask);

// The id bytes of a cell in a block of `mask`: the present fields' ids, big-endian.
size_t PutIds(char* out, uint8_t mask, uint32_t origin, uint32_t brand, uint32_t category);
inline size_t EntryWidth(uint8_t mask) { return 4 * static_cast<size_t>(std::popcount(mask)) + 16; }

struct BlockItem {
  std::array<char, 12> ids;
  int64_t count;
  int64_t sum;
};

// Adds `items` (sorted by id bytes, unique) into the block stored under `key` in `dbi`.
absl::Status MergeIntoBlock(const Txn& txn, MDB_dbi dbi, const std::string& key, uint8_t mask,
                            const std::vector<BlockItem>& items);

// Calls visit(start, action, mask, block) for every block of `level` whose bucket starts in
// [from, to), in key order (time, then action, then mask).
absl::Status ForEachBlock(const Txn& txn, const Storage& storage, int level, int64_t from,
                          int64_t to,
                          absl::FunctionRef<absl::Status(int64_t start, uint8_t action,
                                                         uint8_t mask, std::string_view block)>
                              visit);

// The same for the blocks of one action and mask only: one seek per bucket rather than a
// walk over the bucket's other blocks (a long coarse range reads a twelfth of the keys).
absl::Status ForEachBlockOf(const Txn& txn, const Storage& storage, int level, int64_t from,
                            int64_t to, uint8_t action, uint8_t mask,
                            absl::FunctionRef<absl::Status(int64_t start, std::string_view block)>
                                visit);

// Deletes every block of `level` (and, for minutes, their marks) whose bucket starts before
// `before`.
absl::Status DeleteBlocksBefore(const Txn& txn, const Storage& storage, int level, int64_t before);

// One aggregate query's lookup: which stored mask to read and which entries of it to sum.
struct CellLookup {
  uint8_t action = 0;
  uint8_t mask = 0;         // the query's filters
  uint8_t stored_mask = 0;  // the block that holds them
  uint32_t ids[3] = {0, 0, 0};
  char prefix[12] = {};
  size_t prefix_len = 0;
  bool filter_category = false;  // {o,c}: the category is the {o,b,c} entry's third id

  CellLookup(uint8_t action, uint8_t mask, uint32_t origin, uint32_t brand, uint32_t category);
  // Adds the block's entries that match to *count and *sum.
  absl::Status Sum(std::string_view block, int64_t* count, int64_t* sum) const;
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_AGGREGATE_BLOCKS_H_
