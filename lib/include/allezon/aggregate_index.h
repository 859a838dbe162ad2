// AggregateIndex: per-minute count and sum of price of the stored tags (SPEC §5), and the
// same in coarser buckets of 15 minutes, 1 hour and 1 day kept for longer (SPEC §10).
//
// Obtained from Database::aggregates(); owned by the Database and valid while it is open.
// Thread-safe: queries run concurrently with each other and with the writer, and see every
// tag whose AddTags call has returned OK.
#ifndef ALLEZON_AGGREGATE_INDEX_H_
#define ALLEZON_AGGREGATE_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "allezon/export.h"
#include "allezon/time.h"
#include "allezon/user_tag.h"

namespace allezon {

enum class AggregateFunction : uint8_t { kCount = 0, kSumPrice = 1 };

// A bucket's length. Buckets start at multiples of their length since the epoch (UTC). Each
// has its own retention (Options::retention_ms, retention_15m_ms, ...).
enum class BucketSize : uint8_t { k1m = 0, k15m = 1, k1h = 2, k1d = 3 };
inline constexpr int64_t BucketMillis(BucketSize size) {
  constexpr int64_t kMillis[] = {60'000, 15 * 60'000, 3'600'000, 86'400'000};
  return kMillis[static_cast<int>(size)];
}
// "1m", "15m", "1h", "1d" (the `bucket` parameter's values; the first column is
// "<name>_bucket").
inline constexpr std::string_view BucketName(BucketSize size) {
  constexpr std::string_view kNames[] = {"1m", "15m", "1h", "1d"};
  return kNames[static_cast<int>(size)];
}
inline std::optional<BucketSize> ParseBucketSize(std::string_view name) {
  for (BucketSize size : {BucketSize::k1m, BucketSize::k15m, BucketSize::k1h, BucketSize::k1d}) {
    if (BucketName(size) == name) return size;
  }
  return std::nullopt;
}

struct AggregateQuery {
  // Whole buckets, begin <= end; one result row per bucket of [begin, end).
  TimeRange range;
  BucketSize bucket = BucketSize::k1m;
  Action action = Action::kView;
  std::optional<std::string> origin;
  std::optional<std::string> brand_id;
  std::optional<std::string> category_id;
  // Columns wanted, in order (may repeat). Must not be empty.
  std::vector<AggregateFunction> aggregates;
};

struct AggregateRow {
  EpochMillis bucket_start = 0;  // of a bucket of the query's size
  int64_t count = 0;
  int64_t sum_price = 0;  // 64-bit: a minute of int32 prices overflows 32 bits
};

struct AggregateResult {
  std::vector<AggregateRow> rows;  // one per bucket of the range, in time order
};

class ALLEZON_EXPORT AggregateIndex {
 public:
  virtual ~AggregateIndex() = default;

  // Runs the query. A bucket's values are exactly the sums of its minutes' (also for tags
  // that arrived late or out of order); buckets past their size's retention (behind the
  // newest event time) answer zeros. InvalidArgument when the range is not whole buckets,
  // begin > end, the range has more than Options::max_query_buckets buckets, or no aggregate
  // is requested.
  virtual absl::StatusOr<AggregateResult> Query(const AggregateQuery& query) const = 0;
};

}  // namespace allezon

#endif  // ALLEZON_AGGREGATE_INDEX_H_
