// Fuzzes the time parsers of SPEC §1-2 (ParseTagTime, ParseRangeTime, ParseTimeRange) with
// parse -> format -> parse consistency: an accepted time lies in [kMinTime, kMaxTime], its
// canonical form parses back to the same instant, and an accepted range has begin <= end and
// survives the same round trip. The input is tried as all three.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "allezon/time.h"

namespace {

[[noreturn]] void Fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "%s: \"%.*s\"\n", what, static_cast<int>(input.size()), input.data());
  std::abort();
}

// "YYYY-MM-DDTHH:MM:SS.mmm": a range bound at millisecond precision.
std::string RangeBound(allezon::EpochMillis t) {
  std::string text = allezon::FormatTagTime(t);
  text.pop_back();  // the 'Z'
  return text;
}

void CheckTime(allezon::EpochMillis t, std::string_view input) {
  if (t < allezon::kMinTime || t > allezon::kMaxTime) Fail("time out of range", input);
  const std::string text = allezon::FormatTagTime(t);
  absl::StatusOr<allezon::EpochMillis> tag_again = allezon::ParseTagTime(text);
  if (!tag_again.ok() || *tag_again != t) Fail("FormatTagTime does not parse back", text);
  absl::StatusOr<allezon::EpochMillis> range_again = allezon::ParseRangeTime(RangeBound(t));
  if (!range_again.ok() || *range_again != t) Fail("range bound does not parse back", text);
  // The bucket form drops the seconds' fraction: it parses to the start of that second.
  absl::StatusOr<allezon::EpochMillis> bucket =
      allezon::ParseRangeTime(allezon::FormatBucketTime(t));
  if (!bucket.ok() || *bucket > t || t - *bucket >= 1000) Fail("bucket form is off", text);
  if (allezon::MinuteStart(t) > t || t - allezon::MinuteStart(t) >= allezon::kMillisPerMinute) {
    Fail("MinuteStart is off", text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (absl::StatusOr<allezon::EpochMillis> t = allezon::ParseTagTime(input); t.ok()) {
    CheckTime(*t, input);
  }
  if (absl::StatusOr<allezon::EpochMillis> t = allezon::ParseRangeTime(input); t.ok()) {
    CheckTime(*t, input);
  }
  if (absl::StatusOr<allezon::TimeRange> r = allezon::ParseTimeRange(input); r.ok()) {
    if (r->begin > r->end) Fail("range with begin > end accepted", input);
    CheckTime(r->begin, input);
    CheckTime(r->end, input);
    const std::string text = RangeBound(r->begin) + "_" + RangeBound(r->end);
    absl::StatusOr<allezon::TimeRange> again = allezon::ParseTimeRange(text);
    if (!again.ok() || again->begin != r->begin || again->end != r->end) {
      Fail("range does not parse back", text);
    }
  }
  if (size == 8) {
    int64_t millis;
    __builtin_memcpy(&millis, data, 8);
    absl::StatusOr<allezon::EpochMillis> t = allezon::CheckEpochMillis(millis);
    const bool in_range = millis >= allezon::kMinTime && millis <= allezon::kMaxTime;
    if (t.ok() != in_range) Fail("CheckEpochMillis disagrees with [kMinTime, kMaxTime]", input);
    if (t.ok()) CheckTime(*t, input);
  }
  return 0;
}
