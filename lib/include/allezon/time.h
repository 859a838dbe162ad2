// Time values and their text forms (SPEC §1, §2).
//
// Inside the library every instant is an int64_t count of milliseconds since the Unix epoch,
// UTC. Text is parsed and written only at the edges, by the functions here. All functions are
// pure and thread-safe.
#ifndef ALLEZON_TIME_H_
#define ALLEZON_TIME_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "allezon/export.h"

namespace allezon {

// Milliseconds since 1970-01-01T00:00:00Z.
using EpochMillis = int64_t;

inline constexpr EpochMillis kMillisPerMinute = 60'000;

// Earliest and latest instants with a four-digit year: 0001-01-01T00:00:00.000Z and
// 9999-12-31T23:59:59.999Z. Every accepted time lies in [kMinTime, kMaxTime].
inline constexpr EpochMillis kMinTime = -62135596800000;
inline constexpr EpochMillis kMaxTime = 253402300799999;

// A half-open interval [begin, end) of instants. Valid when begin <= end.
struct TimeRange {
  EpochMillis begin = 0;
  EpochMillis end = 0;
};

// Parses a user tag's time: "YYYY-MM-DDTHH:MM:SS[.fraction]Z" with 0–9 fraction digits
// (digits past the millisecond are truncated, never rounded up). Returns InvalidArgument
// on anything else, including impossible dates such as February 30th.
ALLEZON_EXPORT absl::StatusOr<EpochMillis> ParseTagTime(std::string_view text);

// Checks that epoch milliseconds given as a JSON integer lie in [kMinTime, kMaxTime].
ALLEZON_EXPORT absl::StatusOr<EpochMillis> CheckEpochMillis(int64_t millis);

// Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (always three fraction digits).
ALLEZON_EXPORT std::string FormatTagTime(EpochMillis time);

// Writes "YYYY-MM-DDTHH:MM:SS", the 1m_bucket column of aggregates (seconds are dropped,
// not rounded).
ALLEZON_EXPORT std::string FormatBucketTime(EpochMillis time);

// Parses one end of a query's time range: "YYYY-MM-DDTHH:MM:SS[.fraction]" without a zone
// (UTC); a trailing "Z" is tolerated.
ALLEZON_EXPORT absl::StatusOr<EpochMillis> ParseRangeTime(std::string_view text);

// Parses "<begin>_<end>" (SPEC §2). InvalidArgument when either end does not parse or
// begin > end. begin == end is a valid, empty range.
ALLEZON_EXPORT absl::StatusOr<TimeRange> ParseTimeRange(std::string_view text);

// Floors a time to the start of its minute (correct for times before 1970 too).
inline constexpr EpochMillis MinuteStart(EpochMillis time) {
  EpochMillis rem = time % kMillisPerMinute;
  return rem < 0 ? time - rem - kMillisPerMinute : time - rem;
}

}  // namespace allezon

#endif  // ALLEZON_TIME_H_
