// Database::GetProperty: the one table of property names and the counter each reads.
//
// Names are listed here and nowhere else: PropertyNames() is derived from the table, so
// the tests and the C ABI (allezon_property_name) enumerate exactly what GetProperty answers.
// The getters read a DatabaseStats snapshot, which every Database implements; a counter
// added later that DatabaseStats does not hold is answered by the implementation's own
// GetProperty override before it falls back to this one.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl_compat.h"
#include "allezon/database.h"

namespace allezon {
namespace {

struct Property {
  std::string_view name;
  uint64_t (*get)(const DatabaseStats& stats);
};

template <size_t kBucket>
uint64_t CommitsInBucket(const DatabaseStats& stats) {
  static_assert(kBucket < DatabaseStats::kBatchSizeBuckets);
  return stats.commits_by_batch_size[kBucket];
}

constexpr Property kProperties[] = {
    {"allezon.tags-written", [](const DatabaseStats& s) { return s.tags_written; }},
    {"allezon.commits", [](const DatabaseStats& s) { return s.commits; }},
    {"allezon.largest-batch", [](const DatabaseStats& s) { return s.largest_batch; }},
    {"allezon.commits-by-batch-size-0", &CommitsInBucket<0>},
    {"allezon.commits-by-batch-size-1", &CommitsInBucket<1>},
    {"allezon.commits-by-batch-size-2", &CommitsInBucket<2>},
    {"allezon.commits-by-batch-size-3", &CommitsInBucket<3>},
    {"allezon.commits-by-batch-size-4", &CommitsInBucket<4>},
    {"allezon.commits-by-batch-size-5", &CommitsInBucket<5>},
    {"allezon.commits-by-batch-size-6", &CommitsInBucket<6>},
    {"allezon.commits-by-batch-size-7", &CommitsInBucket<7>},
    {"allezon.commits-by-batch-size-8", &CommitsInBucket<8>},
    {"allezon.commits-by-batch-size-9", &CommitsInBucket<9>},
    {"allezon.commits-by-batch-size-10", &CommitsInBucket<10>},
    {"allezon.commits-by-batch-size-11", &CommitsInBucket<11>},
    {"allezon.commits-by-batch-size-12", &CommitsInBucket<12>},
    {"allezon.commits-by-batch-size-13", &CommitsInBucket<13>},
    {"allezon.commits-by-batch-size-14", &CommitsInBucket<14>},
    {"allezon.commits-by-batch-size-15", &CommitsInBucket<15>},
    {"allezon.staged-profile-tags", [](const DatabaseStats& s) { return s.staged_profile_tags; }},
    {"allezon.profile-log-tags", [](const DatabaseStats& s) { return s.profile_log_tags; }},
    {"allezon.map-size", [](const DatabaseStats& s) { return s.map_size; }},
    {"allezon.map-used", [](const DatabaseStats& s) { return s.map_used; }},
    {"allezon.profile-records", [](const DatabaseStats& s) { return s.profile_records; }},
    {"allezon.open-minutes", [](const DatabaseStats& s) { return s.open_minutes; }},
    // A signed time in an unsigned value: the conversion is modular, so casting the value
    // back to int64_t gives the time exactly, kMinTime (no tag yet) included.
    {"allezon.newest-time",
     [](const DatabaseStats& s) { return static_cast<uint64_t>(s.newest_time); }},
};

constexpr size_t CountNamed(std::string_view prefix) {
  size_t n = 0;
  for (const Property& property : kProperties) n += property.name.starts_with(prefix) ? 1 : 0;
  return n;
}
// The histogram's names above must cover its buckets exactly, should kBatchSizeBuckets change.
static_assert(CountNamed("allezon.commits-by-batch-size-") == DatabaseStats::kBatchSizeBuckets);

}  // namespace

absl::StatusOr<uint64_t> Database::GetProperty(std::string_view name) const {
  for (const Property& property : kProperties) {
    if (property.name == name) return property.get(Stats());
  }
  return absl::NotFoundError(absl::StrCat("no property named \"", internal::Sv(name), "\""));
}

std::span<const std::string_view> Database::PropertyNames() {
  // Built once (thread-safe static initialization) from the table, so the names live in
  // one place.
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> result;
    result.reserve(std::size(kProperties));
    for (const Property& property : kProperties) result.push_back(property.name);
    return result;
  }();
  return names;
}

}  // namespace allezon
