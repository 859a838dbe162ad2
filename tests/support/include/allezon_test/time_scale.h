// A scale for the time bounds of the tests that drive a real server (durability, hardening).
//
// Under ThreadSanitizer everything runs 5-15x slower, so a bound that is generous in a normal
// build (a kill every few hundred ms still lets hundreds of requests through; a graceful stop
// takes well under 5 s) can fail for no other reason. Tests multiply such bounds, and the
// pauses that pace them, by TimeScale(): 1 in a normal build, so nothing is weakened there.
//
//   $ALLEZON_TEST_TIME_SCALE  a number >= 1, when set (scripts/test.sh sets it for its TSan
//                             pass); an invalid value aborts the test;
//   otherwise                 kTsanDefaultTimeScale when this code is built with
//                             -fsanitize=thread (so `ctest` in a TSan build works as is), else 1.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#if defined(__SANITIZE_THREAD__)
#define ALLEZON_TEST_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ALLEZON_TEST_TSAN_BUILD 1
#endif
#endif

namespace allezon_test {

inline constexpr double kTsanDefaultTimeScale = 10;

inline double TimeScale() {
  static const double scale = [] {
    if (const char* env = std::getenv("ALLEZON_TEST_TIME_SCALE"); env != nullptr && *env != '\0') {
      char* end = nullptr;
      const double value = std::strtod(env, &end);
      if (end == env || *end != '\0' || !(value >= 1 && value <= 1000)) {
        std::fprintf(stderr, "ALLEZON_TEST_TIME_SCALE=%s: want a number from 1 to 1000\n", env);
        std::abort();
      }
      return value;
    }
#ifdef ALLEZON_TEST_TSAN_BUILD
    return kTsanDefaultTimeScale;
#else
    return 1.0;
#endif
  }();
  return scale;
}

// `d` times TimeScale(), in milliseconds.
template <class Rep, class Period>
std::chrono::milliseconds Scaled(std::chrono::duration<Rep, Period> d) {
  const double ms = std::chrono::duration<double, std::milli>(d).count() * TimeScale();
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

}  // namespace allezon_test
