// Debug mode of the testing platform (SPEC §6): every query's request body carries the answer
// the platform expects. The server compares it with its own answer, counts matches and
// mismatches per query type, and logs the first mismatches with a readable diff. Its own
// answer is still what it sends; nothing here changes a response.
//
// Comparison is semantic, not textual: both bodies are parsed as JSON; objects compare by
// key set (key order is irrelevant), arrays element by element, numbers by value (an integer
// and a string never match, so `product_id` 12 differs from "12"), and two strings that both
// read as ISO-8601 times ("2022-03-01T00:00:01Z", "…:01.000Z", "2022-03-01T00:05:00")
// compare by the instant they denote. Every other string compares byte for byte.
//
// A request body that is empty, or is not JSON, is "skipped": it is counted, never an error.
//
// Thread-safety: DebugComparator is safe to call from any number of threads at once (counts
// are atomics; logging state is behind a mutex; the JSON work happens outside the lock).
// Ownership: the comparator owns nothing but its counters; it keeps no pointer to the
// strings it is given. Depends only on RapidJSON, Abseil and the standard library, so the
// load generator (bench/loadgen) compiles this same file to check answers by the same rules.
#ifndef ALLEZON_SERVER_DEBUG_COMPARE_H_
#define ALLEZON_SERVER_DEBUG_COMPARE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace allezon::server {

enum class QueryKind { kProfile, kAggregates };

enum class CompareOutcome { kMatch, kMismatch, kSkipped };

struct CompareResult {
  CompareOutcome outcome = CompareOutcome::kSkipped;
  // For kMismatch: one line per difference found (at most `max_differences`), each naming
  // the JSON path, e.g. `$.views[3].time: expected "…", got "…"`. Empty otherwise.
  std::string diff;
};

// Compares an expected answer with an actual one by the rules above. kSkipped when
// `expected` is empty or not JSON; an `actual` that is not JSON is a kMismatch.
// Pure function; thread-safe.
CompareResult CompareAnswerBodies(std::string_view expected, std::string_view actual,
                                  int max_differences = 5);

// Parses "YYYY-MM-DDTHH:MM:SS[.f{1,9}][Z]" into nanoseconds since the Unix epoch. Returns
// false for anything else (including impossible dates). Exposed for tests.
bool ParseIsoInstant(std::string_view text, int64_t* nanos_since_epoch);

class DebugComparator {
 public:
  struct Options {
    // The first `log_first` mismatches are all logged; after that at most one per
    // `log_interval`, each saying how many were left unlogged in between.
    int log_first = 20;
    absl::Duration log_interval = absl::Seconds(1);
    // Where log lines go (one call per mismatch, text ends with '\n'). Default: stderr.
    std::function<void(std::string_view)> log_sink;
  };

  struct Counts {
    uint64_t matches = 0;
    uint64_t mismatches = 0;
    uint64_t skipped = 0;
  };

  DebugComparator();
  explicit DebugComparator(Options options);
  DebugComparator(const DebugComparator&) = delete;
  DebugComparator& operator=(const DebugComparator&) = delete;

  // Compares and counts. `what` names the query in log lines (e.g. the request path and
  // query string); it may be empty. Never throws.
  CompareOutcome Compare(QueryKind kind, std::string_view expected_body,
                         std::string_view actual_answer, std::string_view what = {});

  Counts counts(QueryKind kind) const;

  // {"profiles":{"matches":N,"mismatches":M,"skipped":K},"aggregates":{...}}, for
  // GET /debug/stats.
  std::string StatsJson() const;

 private:
  struct AtomicCounts {
    std::atomic<uint64_t> matches{0};
    std::atomic<uint64_t> mismatches{0};
    std::atomic<uint64_t> skipped{0};
  };

  AtomicCounts& CountsFor(QueryKind kind);
  const AtomicCounts& CountsFor(QueryKind kind) const;
  void MaybeLog(QueryKind kind, std::string_view what, const std::string& diff);

  Options options_;
  AtomicCounts profiles_;
  AtomicCounts aggregates_;

  std::mutex log_mutex_;
  int logged_ = 0;                              // guarded by log_mutex_
  uint64_t unlogged_ = 0;                       // guarded by log_mutex_
  absl::Time last_log_ = absl::InfinitePast();  // guarded by log_mutex_
};

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_DEBUG_COMPARE_H_
