// The load generator's own time formatting (it must not share code with the library it
// checks). Instants are int64 milliseconds since the Unix epoch, UTC. Pure functions.
#ifndef ALLEZON_BENCH_LOADGEN_TIME_TEXT_H_
#define ALLEZON_BENCH_LOADGEN_TIME_TEXT_H_

#include <cstdint>
#include <string>

namespace allezon::loadgen {

inline constexpr int64_t kMillisPerMinute = 60'000;

// 2022-03-01T00:00:00.000Z, where the standard stream starts (SPEC §1).
inline constexpr int64_t kStreamStartMillis = 1'646'092'800'000;

// Start of the minute holding `millis` (floors, also before 1970).
inline int64_t FloorToMinute(int64_t millis) {
  int64_t rem = millis % kMillisPerMinute;
  return rem < 0 ? millis - rem - kMillisPerMinute : millis - rem;
}

enum class FractionStyle {
  kAlways,        // "…:01.000"
  kOmitWhenZero,  // "…:01" when the millisecond is 0, as Java's Instant.toString writes it
  kNever,         // "…:01" (seconds precision; milliseconds dropped)
};

// Appends "YYYY-MM-DDTHH:MM:SS[.mmm]" and, when `zulu`, a trailing 'Z'.
void AppendTime(int64_t millis, FractionStyle fraction, bool zulu, std::string* out);

// Convenience wrappers for the forms of SPEC §1–§5.
inline void AppendTagTime(int64_t millis, std::string* out) {  // canonical answer form
  AppendTime(millis, FractionStyle::kAlways, true, out);
}
inline void AppendStreamTagTime(int64_t millis, std::string* out) {  // as the stream sends it
  AppendTime(millis, FractionStyle::kOmitWhenZero, true, out);
}
inline void AppendBucketTime(int64_t millis, std::string* out) {
  AppendTime(millis, FractionStyle::kNever, false, out);
}

std::string FormatTime(int64_t millis, FractionStyle fraction, bool zulu);

}  // namespace allezon::loadgen

#endif  // ALLEZON_BENCH_LOADGEN_TIME_TEXT_H_
