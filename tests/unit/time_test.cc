#include <doctest/doctest.h>

#include <random>

#include "absl/time/time.h"
#include "allezon/time.h"
#include "test_util.h"

namespace allezon {
namespace {

using testing::kStreamStart;

TEST_CASE("tag times parse in every accepted form") {
  CHECK(*ParseTagTime("2022-03-01T00:00:00.000Z") == kStreamStart);
  CHECK(*ParseTagTime("2022-03-01T00:00:01Z") == kStreamStart + 1000);
  CHECK(*ParseTagTime("2022-03-01T00:00:01.Z") == kStreamStart + 1000);
  CHECK(*ParseTagTime("2022-03-01T00:00:01.5Z") == kStreamStart + 1500);
  CHECK(*ParseTagTime("2022-03-01T00:00:01.05Z") == kStreamStart + 1050);
  CHECK(*ParseTagTime("2022-03-01T00:00:01.123Z") == kStreamStart + 1123);
  // Digits past the millisecond are truncated, never rounded up.
  CHECK(*ParseTagTime("2022-03-01T00:00:01.123999Z") == kStreamStart + 1123);
  CHECK(*ParseTagTime("2022-03-01T00:00:01.999999999Z") == kStreamStart + 1999);
  CHECK(*ParseTagTime("1970-01-01T00:00:00Z") == 0);
  CHECK(*ParseTagTime("1969-12-31T23:59:59.999Z") == -1);
  CHECK(*ParseTagTime("0001-01-01T00:00:00Z") == kMinTime);
  CHECK(*ParseTagTime("9999-12-31T23:59:59.999Z") == kMaxTime);
  CHECK(*ParseTagTime("2024-02-29T12:00:00Z") == 1709208000000);
}

TEST_CASE("malformed tag times are rejected") {
  for (const char* bad :
       {"", "2022-03-01", "2022-03-01T00:00:00", "2022-03-01T00:00:00.000", "2022-03-01 00:00:00Z",
        "2022-3-01T00:00:00Z", "2022-03-01T00:00:00.0000000000Z", "2022-03-01T00:00:00.12aZ",
        "2022-03-01T00:00:00Zjunk", "2022-02-29T00:00:00Z", "2022-02-30T00:00:00Z",
        "2022-13-01T00:00:00Z", "2022-00-01T00:00:00Z", "2022-04-31T00:00:00Z",
        "2022-03-01T24:00:00Z", "2022-03-01T00:60:00Z", "2022-03-01T00:00:60Z",
        "0000-01-01T00:00:00Z", "+022-03-01T00:00:00Z", "2022-03-01T00:00:00+01:00",
        "2022-03-01t00:00:00z"}) {
    CAPTURE(bad);
    absl::StatusOr<EpochMillis> parsed = ParseTagTime(bad);
    CHECK_FALSE(parsed.ok());
    if (!parsed.ok()) CHECK(absl::IsInvalidArgument(parsed.status()));
  }
}

TEST_CASE("epoch milliseconds are range-checked") {
  CHECK(*CheckEpochMillis(kStreamStart) == kStreamStart);
  CHECK(CheckEpochMillis(kMaxTime).ok());
  CHECK_FALSE(CheckEpochMillis(kMaxTime + 1).ok());
  CHECK_FALSE(CheckEpochMillis(kMinTime - 1).ok());
}

TEST_CASE("formatting agrees with Abseil and round-trips") {
  std::mt19937_64 random(42);
  std::uniform_int_distribution<int64_t> any_time(kMinTime, kMaxTime);
  for (int i = 0; i < 20000; ++i) {
    const EpochMillis t = i < 10 ? kStreamStart + i * 999 : any_time(random);
    const std::string formatted = FormatTagTime(t);
    CAPTURE(formatted);
    CHECK(formatted == absl::FormatTime("%E4Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(t),
                                        absl::UTCTimeZone()));
    CHECK(*ParseTagTime(formatted) == t);
    CHECK(FormatBucketTime(t) ==
          absl::FormatTime("%E4Y-%m-%dT%H:%M:%S", absl::FromUnixMillis(t), absl::UTCTimeZone()));
  }
}

TEST_CASE("minute start floors, also before 1970") {
  CHECK(MinuteStart(kStreamStart + 59999) == kStreamStart);
  CHECK(MinuteStart(kStreamStart + 60000) == kStreamStart + 60000);
  CHECK(MinuteStart(-1) == -60000);
  CHECK(MinuteStart(-60000) == -60000);
  CHECK(MinuteStart(0) == 0);
}

TEST_CASE("time ranges") {
  absl::StatusOr<TimeRange> range =
      ParseTimeRange("2022-03-01T00:00:00.000_2022-03-01T00:00:01.500");
  REQUIRE(range.ok());
  CHECK(range->begin == kStreamStart);
  CHECK(range->end == kStreamStart + 1500);
  range = ParseTimeRange("2022-03-01T00:05:00_2022-03-01T00:08:00");
  REQUIRE(range.ok());
  CHECK(range->end - range->begin == 180000);
  CHECK(ParseTimeRange("2022-03-01T00:05:00_2022-03-01T00:05:00").ok());  // empty
  CHECK(ParseTimeRange("2022-03-01T00:05:00Z_2022-03-01T00:06:00Z").ok());
  for (const char* bad :
       {"", "_", "2022-03-01T00:05:00", "2022-03-01T00:05:00_", "_2022-03-01T00:05:00",
        "2022-03-01T00:06:00_2022-03-01T00:05:00", "2022-03-01T00:05:00_2022-03-01T00:06:00_x",
        "2022-03-01T00:05:00-2022-03-01T00:06:00", "2022-02-30T00:05:00_2022-03-01T00:06:00"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseTimeRange(bad).ok());
  }
}

}  // namespace
}  // namespace allezon
