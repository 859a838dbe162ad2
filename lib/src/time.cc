#include "allezon/time.h"

#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl_compat.h"

#include "json_writer.h"

namespace allezon {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
constexpr int64_t DaysFromCivil(int64_t year, int64_t month, int64_t day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

struct CivilTime {
  int64_t year, month, day, hour, minute, second, millis;
};

constexpr CivilTime CivilFromMillis(EpochMillis time) {
  int64_t days = time / 86'400'000;
  int64_t rem = time % 86'400'000;
  if (rem < 0) {
    rem += 86'400'000;
    --days;
  }
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t day_of_era = days - era * 146097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t mp = (5 * day_of_year + 2) / 153;
  const int64_t day = day_of_year - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
  return {year,
          month,
          day,
          rem / 3'600'000,
          rem / 60'000 % 60,
          rem / 1000 % 60,
          rem % 1000};
}

constexpr bool IsLeapYear(int64_t year) {
  return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

constexpr int DaysInMonth(int64_t year, int64_t month) {
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// Reads exactly `width` decimal digits at text[pos].
bool ReadDigits(std::string_view text, size_t pos, size_t width, int64_t* value) {
  if (pos + width > text.size()) return false;
  int64_t result = 0;
  for (size_t i = pos; i < pos + width; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    result = result * 10 + (c - '0');
  }
  *value = result;
  return true;
}

// Parses "YYYY-MM-DDTHH:MM:SS[.f{0,9}]" followed by `suffix` handling:
// zone_required: a 'Z' must follow; otherwise an optional 'Z'.
absl::StatusOr<EpochMillis> ParseIsoTime(std::string_view text, bool zone_required,
                                         std::string_view what) {
  auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", internal::Sv(what), " \"", internal::Sv(text.substr(0, 64)), "\": expected ",
                     zone_required ? "YYYY-MM-DDTHH:MM:SS[.mmm]Z" : "YYYY-MM-DDTHH:MM:SS[.mmm]"));
  };
  int64_t year, month, day, hour, minute, second;
  if (!ReadDigits(text, 0, 4, &year) || text.size() < 19 || text[4] != '-' ||
      !ReadDigits(text, 5, 2, &month) || text[7] != '-' || !ReadDigits(text, 8, 2, &day) ||
      text[10] != 'T' || !ReadDigits(text, 11, 2, &hour) || text[13] != ':' ||
      !ReadDigits(text, 14, 2, &minute) || text[16] != ':' ||
      !ReadDigits(text, 17, 2, &second)) {
    return invalid();
  }
  size_t pos = 19;
  int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits > 9) return invalid();
    for (int i = digits; i < 3; ++i) millis *= 10;
  }
  if (pos < text.size() && text[pos] == 'Z') {
    ++pos;
  } else if (zone_required) {
    return invalid();
  }
  if (pos != text.size()) return invalid();
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) ||
      hour > 23 || minute > 59 || second > 59) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", internal::Sv(what), " \"", internal::Sv(text.substr(0, 64)), "\": no such date or time"));
  }
  return ((DaysFromCivil(year, month, day) * 24 + hour) * 60 + minute) * 60'000 + second * 1000 +
         millis;
}

}  // namespace

absl::StatusOr<EpochMillis> ParseTagTime(std::string_view text) {
  return ParseIsoTime(text, /*zone_required=*/true, "time");
}

absl::StatusOr<EpochMillis> CheckEpochMillis(int64_t millis) {
  if (millis < kMinTime || millis > kMaxTime) {
    return absl::InvalidArgumentError(
        absl::StrCat("time ", millis, " (epoch milliseconds) is outside years 0001-9999"));
  }
  return millis;
}

namespace {

inline char* PutDigits(char* out, int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out + width;
}

// "YYYY-MM-DDTHH:MM:SS" (+ ".mmmZ" with millis) for years 0000-9999 by hand (snprintf took a
// quarter of ProfileToJson's time); nullptr for other years (the caller falls back).
char* FormatFast(EpochMillis time, bool millis, char* out) {
  const CivilTime c = CivilFromMillis(time);
  if (c.year < 0 || c.year > 9999) return nullptr;
  out = PutDigits(out, c.year, 4);
  *out++ = '-';
  out = PutDigits(out, c.month, 2);
  *out++ = '-';
  out = PutDigits(out, c.day, 2);
  *out++ = 'T';
  out = PutDigits(out, c.hour, 2);
  *out++ = ':';
  out = PutDigits(out, c.minute, 2);
  *out++ = ':';
  out = PutDigits(out, c.second, 2);
  if (millis) {
    *out++ = '.';
    out = PutDigits(out, c.millis, 3);
    *out++ = 'Z';
  }
  return out;
}

// Any year: by hand for 0000-9999 (every validated time), snprintf for the rest. Returns the
// length written into `buffer` (at least 40 bytes).
size_t FormatTime(EpochMillis time, bool millis, char* buffer) {
  if (char* end = FormatFast(time, millis, buffer)) return static_cast<size_t>(end - buffer);
  const CivilTime c = CivilFromMillis(time);
  // The format without milliseconds ignores the last argument.
  const int n = std::snprintf(buffer, 40,
                              millis ? "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ"
                                     : "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld",
                              static_cast<long long>(c.year), static_cast<long long>(c.month),
                              static_cast<long long>(c.day), static_cast<long long>(c.hour),
                              static_cast<long long>(c.minute), static_cast<long long>(c.second),
                              static_cast<long long>(c.millis));
  return static_cast<size_t>(n);
}

}  // namespace

void internal::AppendTagTime(EpochMillis time, std::string* out) {
  char buffer[40];
  out->append(buffer, FormatTime(time, /*millis=*/true, buffer));
}

std::string FormatTagTime(EpochMillis time) {
  char buffer[40];
  return std::string(buffer, FormatTime(time, /*millis=*/true, buffer));
}

std::string FormatBucketTime(EpochMillis time) {
  char buffer[40];
  return std::string(buffer, FormatTime(time, /*millis=*/false, buffer));
}

absl::StatusOr<EpochMillis> ParseRangeTime(std::string_view text) {
  return ParseIsoTime(text, /*zone_required=*/false, "time_range bound");
}

absl::StatusOr<TimeRange> ParseTimeRange(std::string_view text) {
  const size_t separator = text.find('_');
  if (separator == std::string_view::npos || text.find('_', separator + 1) != text.npos) {
    return absl::InvalidArgumentError(
        "invalid time_range: expected <begin>_<end>, e.g. "
        "2022-03-22T12:15:00.000_2022-03-22T12:30:00.000");
  }
  absl::StatusOr<EpochMillis> begin = ParseRangeTime(text.substr(0, separator));
  if (!begin.ok()) return begin.status();
  absl::StatusOr<EpochMillis> end = ParseRangeTime(text.substr(separator + 1));
  if (!end.ok()) return end.status();
  if (*begin > *end) {
    return absl::InvalidArgumentError("invalid time_range: begin is after end");
  }
  return TimeRange{*begin, *end};
}

}  // namespace allezon
