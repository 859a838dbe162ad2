#include "time_text.h"

namespace allezon::loadgen {
namespace {

struct CivilDate {
  int64_t year;
  int month;
  int day;
};

// Inverse of the era-based days-from-civil conversion: 400-year eras of 146097 days with
// years starting on March 1st, so the leap day is the last day of a "year".
CivilDate CivilFromDays(int64_t days_since_epoch) {
  const int64_t z = days_since_epoch + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t day_of_era = z - era * 146097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t shifted_month = (5 * day_of_year + 2) / 153;
  const int day = static_cast<int>(day_of_year - (153 * shifted_month + 2) / 5 + 1);
  const int month = static_cast<int>(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
  return {year_of_era + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

void AppendDigits(int64_t value, int width, std::string* out) {
  char buffer[20];
  for (int i = width - 1; i >= 0; --i) {
    buffer[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out->append(buffer, width);
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

}  // namespace

void AppendTime(int64_t millis, FractionStyle fraction, bool zulu, std::string* out) {
  const int64_t days = FloorDiv(millis, 86'400'000);
  int64_t millis_of_day = millis - days * 86'400'000;
  const CivilDate date = CivilFromDays(days);
  AppendDigits(date.year, 4, out);
  out->push_back('-');
  AppendDigits(date.month, 2, out);
  out->push_back('-');
  AppendDigits(date.day, 2, out);
  out->push_back('T');
  AppendDigits(millis_of_day / 3'600'000, 2, out);
  out->push_back(':');
  AppendDigits(millis_of_day / 60'000 % 60, 2, out);
  out->push_back(':');
  AppendDigits(millis_of_day / 1000 % 60, 2, out);
  const int64_t ms = millis_of_day % 1000;
  if (fraction == FractionStyle::kAlways || (fraction == FractionStyle::kOmitWhenZero && ms != 0)) {
    out->push_back('.');
    AppendDigits(ms, 3, out);
  }
  if (zulu) out->push_back('Z');
}

std::string FormatTime(int64_t millis, FractionStyle fraction, bool zulu) {
  std::string out;
  AppendTime(millis, fraction, zulu, &out);
  return out;
}

}  // namespace allezon::loadgen
