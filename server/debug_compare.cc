#include "debug_compare.h"

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace allezon::server {
namespace {

constexpr size_t kMaxShownValueChars = 200;

bool ReadDigits(std::string_view text, size_t pos, size_t count, int* value) {
  if (pos + count > text.size()) return false;
  int result = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    char c = text[i];
    if (c < '0' || c > '9') return false;
    result = result * 10 + (c - '0');
  }
  *value = result;
  return true;
}

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// Days from 1970-01-01 to the given proleptic Gregorian date (the classic era-based
// conversion: 400-year eras of 146097 days, years starting in March).
int64_t DaysFromCivil(int year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

std::string Show(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  std::string text(buffer.GetString(), buffer.GetSize());
  if (text.size() > kMaxShownValueChars) {
    text.resize(kMaxShownValueChars);
    text += "…";
  }
  return text;
}

bool StringsEqual(const rapidjson::Value& expected, const rapidjson::Value& actual) {
  std::string_view e(expected.GetString(), expected.GetStringLength());
  std::string_view a(actual.GetString(), actual.GetStringLength());
  if (e == a) return true;
  int64_t e_nanos = 0;
  int64_t a_nanos = 0;
  return ParseIsoInstant(e, &e_nanos) && ParseIsoInstant(a, &a_nanos) && e_nanos == a_nanos;
}

bool NumbersEqual(const rapidjson::Value& expected, const rapidjson::Value& actual) {
  if (expected.IsInt64() && actual.IsInt64()) return expected.GetInt64() == actual.GetInt64();
  if (expected.IsUint64() && actual.IsUint64()) return expected.GetUint64() == actual.GetUint64();
  return expected.GetDouble() == actual.GetDouble();
}

// Whether the two values differ only in ways the rules call equal. Kept separate from the
// diff walk so the walk can ask "is this element the same?" without producing output.
bool SemanticallyEqual(const rapidjson::Value& expected, const rapidjson::Value& actual) {
  if (expected.IsNumber() && actual.IsNumber()) return NumbersEqual(expected, actual);
  if (expected.GetType() != actual.GetType()) return false;
  switch (expected.GetType()) {
    case rapidjson::kNullType:
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return true;
    case rapidjson::kStringType:
      return StringsEqual(expected, actual);
    case rapidjson::kNumberType:
      return NumbersEqual(expected, actual);
    case rapidjson::kArrayType: {
      if (expected.Size() != actual.Size()) return false;
      for (rapidjson::SizeType i = 0; i < expected.Size(); ++i) {
        if (!SemanticallyEqual(expected[i], actual[i])) return false;
      }
      return true;
    }
    case rapidjson::kObjectType: {
      if (expected.MemberCount() != actual.MemberCount()) return false;
      for (const auto& member : expected.GetObject()) {
        auto found = actual.FindMember(member.name);
        if (found == actual.MemberEnd() || !SemanticallyEqual(member.value, found->value)) {
          return false;
        }
      }
      return true;
    }
  }
  return false;
}

class DiffWalker {
 public:
  explicit DiffWalker(int max_lines) : max_lines_(max_lines) {}

  void Walk(const rapidjson::Value& expected, const rapidjson::Value& actual,
            const std::string& path) {
    if (Full()) return;
    const bool both_numbers = expected.IsNumber() && actual.IsNumber();
    if (!both_numbers && expected.GetType() != actual.GetType()) {
      Add(absl::StrCat(path, ": expected ", Show(expected), ", got ", Show(actual)));
      return;
    }
    if (expected.IsArray()) return WalkArray(expected, actual, path);
    if (expected.IsObject()) return WalkObject(expected, actual, path);
    if (!SemanticallyEqual(expected, actual)) {
      Add(absl::StrCat(path, ": expected ", Show(expected), ", got ", Show(actual)));
    }
  }

  std::string TakeText() { return std::move(text_); }

 private:
  bool Full() const { return lines_ >= max_lines_; }

  void Add(std::string line) {
    if (Full()) return;
    absl::StrAppend(&text_, line, "\n");
    ++lines_;
  }

  void WalkArray(const rapidjson::Value& expected, const rapidjson::Value& actual,
                 const std::string& path) {
    const rapidjson::SizeType e_size = expected.Size();
    const rapidjson::SizeType a_size = actual.Size();
    if (e_size == a_size) {
      for (rapidjson::SizeType i = 0; i < e_size && !Full(); ++i) {
        Walk(expected[i], actual[i], absl::StrCat(path, "[", i, "]"));
      }
      return;
    }
    // With different lengths an element-by-element walk reports every element after the
    // first missing one; the first divergence is what a reader needs.
    Add(absl::StrCat(path, ": expected ", e_size, " elements, got ", a_size));
    rapidjson::SizeType i = 0;
    while (i < e_size && i < a_size && SemanticallyEqual(expected[i], actual[i])) ++i;
    if (i < e_size && i < a_size) {
      Add(absl::StrCat(path, "[", i, "]: first difference: expected ", Show(expected[i]), ", got ",
                       Show(actual[i])));
    } else if (i < e_size) {
      Add(absl::StrCat(path, "[", i, "]: missing: ", Show(expected[i])));
    } else {
      Add(absl::StrCat(path, "[", i, "]: unexpected: ", Show(actual[i])));
    }
  }

  void WalkObject(const rapidjson::Value& expected, const rapidjson::Value& actual,
                  const std::string& path) {
    for (const auto& member : expected.GetObject()) {
      if (Full()) return;
      std::string member_path = absl::StrCat(
          path, ".", std::string(member.name.GetString(), member.name.GetStringLength()));
      auto found = actual.FindMember(member.name);
      if (found == actual.MemberEnd()) {
        Add(absl::StrCat(member_path, ": missing (expected ", Show(member.value), ")"));
      } else {
        Walk(member.value, found->value, member_path);
      }
    }
    for (const auto& member : actual.GetObject()) {
      if (Full()) return;
      if (!expected.HasMember(member.name)) {
        Add(absl::StrCat(path, ".",
                         std::string(member.name.GetString(), member.name.GetStringLength()),
                         ": unexpected ", Show(member.value)));
      }
    }
  }

  int max_lines_;
  int lines_ = 0;
  std::string text_;
};

void WriteToStderr(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

const char* KindName(QueryKind kind) {
  return kind == QueryKind::kProfile ? "profiles" : "aggregates";
}

}  // namespace

bool ParseIsoInstant(std::string_view text, int64_t* nanos_since_epoch) {
  int year, month, day, hour, minute, second;
  if (text.size() < 19 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':') {
    return false;
  }
  if (!ReadDigits(text, 0, 4, &year) || !ReadDigits(text, 5, 2, &month) ||
      !ReadDigits(text, 8, 2, &day) || !ReadDigits(text, 11, 2, &hour) ||
      !ReadDigits(text, 14, 2, &minute) || !ReadDigits(text, 17, 2, &second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return false;
  }
  size_t pos = 19;
  int64_t fraction_nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int64_t scale = 100'000'000;
    size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (++digits > 9) return false;
      fraction_nanos += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (digits == 0) return false;
  }
  if (pos < text.size() && text[pos] == 'Z') ++pos;
  if (pos != text.size()) return false;
  const int64_t seconds =
      DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  *nanos_since_epoch = seconds * 1'000'000'000 + fraction_nanos;
  return true;
}

CompareResult CompareAnswerBodies(std::string_view expected, std::string_view actual,
                                  int max_differences) {
  CompareResult result;
  rapidjson::Document expected_doc;
  expected_doc.Parse(expected.data(), expected.size());
  if (expected.empty() || expected_doc.HasParseError()) {
    result.outcome = CompareOutcome::kSkipped;
    return result;
  }
  rapidjson::Document actual_doc;
  actual_doc.Parse(actual.data(), actual.size());
  if (actual_doc.HasParseError()) {
    result.outcome = CompareOutcome::kMismatch;
    std::string shown(actual.substr(0, kMaxShownValueChars));
    result.diff = absl::StrCat("$: the answer is not JSON: ", shown, "\n");
    return result;
  }
  if (SemanticallyEqual(expected_doc, actual_doc)) {
    result.outcome = CompareOutcome::kMatch;
    return result;
  }
  DiffWalker walker(max_differences < 1 ? 1 : max_differences);
  walker.Walk(expected_doc, actual_doc, "$");
  result.outcome = CompareOutcome::kMismatch;
  result.diff = walker.TakeText();
  return result;
}

DebugComparator::DebugComparator() : DebugComparator(Options()) {}

DebugComparator::DebugComparator(Options options) : options_(std::move(options)) {
  if (!options_.log_sink) options_.log_sink = WriteToStderr;
}

DebugComparator::AtomicCounts& DebugComparator::CountsFor(QueryKind kind) {
  return kind == QueryKind::kProfile ? profiles_ : aggregates_;
}

const DebugComparator::AtomicCounts& DebugComparator::CountsFor(QueryKind kind) const {
  return kind == QueryKind::kProfile ? profiles_ : aggregates_;
}

CompareOutcome DebugComparator::Compare(QueryKind kind, std::string_view expected_body,
                                        std::string_view actual_answer, std::string_view what) {
  CompareResult result;
  try {
    result = CompareAnswerBodies(expected_body, actual_answer);
  } catch (...) {
    // Only allocation can throw here; a debugging aid must never take a request down.
    result.outcome = CompareOutcome::kSkipped;
  }
  AtomicCounts& counts = CountsFor(kind);
  switch (result.outcome) {
    case CompareOutcome::kMatch:
      counts.matches.fetch_add(1, std::memory_order_relaxed);
      break;
    case CompareOutcome::kSkipped:
      counts.skipped.fetch_add(1, std::memory_order_relaxed);
      break;
    case CompareOutcome::kMismatch:
      counts.mismatches.fetch_add(1, std::memory_order_relaxed);
      MaybeLog(kind, what, result.diff);
      break;
  }
  return result.outcome;
}

void DebugComparator::MaybeLog(QueryKind kind, std::string_view what, const std::string& diff) {
  std::string line;
  {
    std::lock_guard<std::mutex> lock(log_mutex_);
    const absl::Time now = absl::Now();
    if (logged_ >= options_.log_first && now - last_log_ < options_.log_interval) {
      ++unlogged_;
      return;
    }
    ++logged_;
    last_log_ = now;
    line = absl::StrCat("debug-compare: ", KindName(kind), " mismatch");
    if (!what.empty()) absl::StrAppend(&line, " for ", std::string(what));
    if (unlogged_ > 0) absl::StrAppend(&line, " (", unlogged_, " more since the last one logged)");
    unlogged_ = 0;
  }
  absl::StrAppend(&line, ":\n", diff);
  if (line.back() != '\n') line += '\n';
  try {
    options_.log_sink(line);
  } catch (...) {
    // A failing log sink must not fail the request that triggered it.
  }
}

DebugComparator::Counts DebugComparator::counts(QueryKind kind) const {
  const AtomicCounts& counts = CountsFor(kind);
  return Counts{counts.matches.load(std::memory_order_relaxed),
                counts.mismatches.load(std::memory_order_relaxed),
                counts.skipped.load(std::memory_order_relaxed)};
}

std::string DebugComparator::StatsJson() const {
  auto one = [](const Counts& c) {
    return absl::StrCat("{\"matches\":", c.matches, ",\"mismatches\":", c.mismatches,
                        ",\"skipped\":", c.skipped, "}");
  };
  return absl::StrCat("{\"profiles\":", one(counts(QueryKind::kProfile)),
                      ",\"aggregates\":", one(counts(QueryKind::kAggregates)), "}");
}

}  // namespace allezon::server
