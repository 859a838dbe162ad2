// AggregateIndex: per-minute count and sum of price of the stored tags (SPEC §5).
//
// Obtained from Database::aggregates(); owned by the Database and valid while it is open.
// Thread-safe: queries run concurrently with each other and with the writer, and see every
// tag whose AddTags call has returned OK.
#ifndef ALLEZON_AGGREGATE_INDEX_H_
#define ALLEZON_AGGREGATE_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "allezon/export.h"
#include "allezon/time.h"
#include "allezon/user_tag.h"

namespace allezon {

enum class AggregateFunction : uint8_t { kCount = 0, kSumPrice = 1 };

struct AggregateQuery {
  // Whole minutes, begin <= end; one result row per minute of [begin, end).
  TimeRange range;
  Action action = Action::kView;
  std::optional<std::string> origin;
  std::optional<std::string> brand_id;
  std::optional<std::string> category_id;
  // Columns wanted, in order (may repeat). Must not be empty.
  std::vector<AggregateFunction> aggregates;
};

struct AggregateRow {
  EpochMillis bucket_start = 0;
  int64_t count = 0;
  int64_t sum_price = 0;  // 64-bit: a minute of int32 prices overflows 32 bits
};

struct AggregateResult {
  std::vector<AggregateRow> rows;  // one per minute of the range, in time order
};

class ALLEZON_EXPORT AggregateIndex {
 public:
  virtual ~AggregateIndex() = default;

  // Runs the query. Minutes older than the retention window answer zeros. InvalidArgument
  // when the range is not whole minutes, begin > end, the range is longer than
  // Options::max_query_buckets, or no aggregate is requested.
  virtual absl::StatusOr<AggregateResult> Query(const AggregateQuery& query) const = 0;
};

}  // namespace allezon

#endif  // ALLEZON_AGGREGATE_INDEX_H_
