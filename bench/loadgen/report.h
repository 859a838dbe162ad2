// Counting, latency percentiles and the score of a run (SPEC §6), and the final report as
// text and as JSON. Plain value types; not thread-safe (the driver's thread owns them and
// publishes copies).
#ifndef ALLEZON_BENCH_LOADGEN_REPORT_H_
#define ALLEZON_BENCH_LOADGEN_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace allezon::loadgen {

// Latencies in a log-linear histogram: 64 sub-buckets per power of two, so any percentile
// is within ~1.6 % of the true value at a fixed 20 KB whatever the number of samples (a full
// day is 86 million tag latencies).
class LatencyHistogram {
 public:
  LatencyHistogram();
  void Record(int64_t nanos);
  uint64_t count() const { return count_; }
  int64_t max_nanos() const { return max_; }
  // The value at percentile `p` in [0, 100]: the upper edge of the bucket holding that
  // rank, capped at the exact maximum. 0 when empty.
  int64_t PercentileNanos(double p) const;

 private:
  static size_t BucketOf(uint64_t micros);
  static int64_t UpperEdgeMicros(size_t bucket);
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  int64_t max_ = 0;
};

// One endpoint's outcomes. Each request lands in exactly one of correct / wrong / late /
// failed; `skipped` queries were never sent (their answer could not be known).
struct EndpointStats {
  LatencyHistogram latency;
  uint64_t correct = 0;  // tags: 2xx within the deadline; queries: right answer in time
  uint64_t wrong = 0;    // queries only: an answer that is not the expected one
  uint64_t late = 0;     // right answer (or 2xx), after the deadline
  uint64_t failed = 0;   // error status, dropped connection, timeout
  uint64_t skipped = 0;
  uint64_t answered() const { return correct + wrong + late + failed; }
};

// SPEC §6: correct ÷ (correct + wrong) × 100 where late, error and dropped answers count as
// wrong. A query type that was never asked scores 100: nothing was answered wrongly.
double QueryScore(const EndpointStats& stats);
// progress % × (profile score + aggregates score); at most 20,000.
double TotalScore(double progress_percent, double profile_score, double aggregate_score);

struct Sample {
  std::string endpoint;  // "user_tags", "user_profiles", "aggregates"
  std::string request;   // "POST /user_profiles/…"
  std::string problem;   // the diff, or the failure
};

struct RunReport {
  uint64_t seed = 0;
  std::string host;
  int port = 0;
  double throughput = 0;      // requested tags/s (0 = as fast as possible)
  uint64_t tags_planned = 0;  // 0 when the run was open-ended
  uint64_t tags_sent = 0;
  double elapsed_seconds = 0;
  double cpu_seconds = 0;
  // Running time until the last tag was answered: the tag rate's denominator (the end of
  // a run may wait for queries whose data must first age by --profile-latency).
  double tag_phase_seconds = 0;
  double tags_per_second() const {
    return tag_phase_seconds > 0 ? static_cast<double>(tags_sent) / tag_phase_seconds : 0.0;
  }  // the load generator's own CPU time (user + system)
  double progress_percent = 0;
  std::string state;  // "finished", "closed", "running", "paused", "created"
  std::string digest;
  EndpointStats tags, profiles, aggregates;
  std::vector<Sample> samples;  // first mismatches and failures

  double profile_score() const { return QueryScore(profiles); }
  double aggregate_score() const { return QueryScore(aggregates); }
  double score() const;
};

// The report as JSON (pretty when `pretty`); the score is the top-level "score" number.
std::string ReportJson(const RunReport& report, bool pretty);
// The report as a human-readable block of text.
std::string ReportText(const RunReport& report);
// One status line for a terminal ("\r" not included).
std::string ProgressLine(const RunReport& report);

}  // namespace allezon::loadgen

#endif  // ALLEZON_BENCH_LOADGEN_REPORT_H_
