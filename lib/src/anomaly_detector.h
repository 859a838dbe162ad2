// Internal: the anomaly detector of analytics.h, fed minute counts in minute order. Both
// Analytics::Anomalies (straight from the aggregate cells, no copy of the counts) and
// DetectAnomalies (from AnomalyCounts, e.g. a cluster's merged counts) judge with it, so the
// two answer alike by construction.
//
// Use: construct for a query and the data's bounds; if not empty(), give it the counts of
// [read_from(), read_to()) with Add (minutes never decreasing; a series by the caller's key,
// numbered by Series), then Finish.
//
// Not thread-safe: one per query.
#ifndef ALLEZON_SRC_ANOMALY_DETECTOR_H_
#define ALLEZON_SRC_ANOMALY_DETECTOR_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "allezon/analytics.h"
#include "minute_series.h"

namespace allezon::internal {

class AnomalyDetector {
 public:
  // Fills an anomaly's value and action from its series' key (called only for findings).
  using Describe = std::function<void(uint64_t key, Anomaly* anomaly)>;

  // `newest`: the newest event time (kMinTime: none); `first_minute`: the first minute
  // holding a tag (kMaxTime: none); `retained_from`: the aggregates' retention start.
  AnomalyDetector(const AnomalyQuery& query, EpochMillis newest, EpochMillis first_minute,
                  EpochMillis retained_from, Describe describe);

  // No minute of the query can be judged: there is nothing to read.
  bool empty() const { return judged_begin_ >= judged_end_; }
  EpochMillis read_from() const { return judged_begin_ - kWindowMs; }
  EpochMillis read_to() const { return judged_end_; }

  // The number of the series `key`, added when new (numbered from 0 in order of first use).
  size_t Series(uint64_t key) { return series_.Index(key); }
  // Counts `count` for `series` in `minute` (a minute start in [read_from, read_to), not
  // before the previous call's).
  void Add(EpochMillis minute, size_t series, int64_t count) {
    while (minute_ < minute) FinishMinute();
    series_.Add(series, count);
  }
  // Judges the minutes not yet finished; the findings in time order, then value, then action.
  std::vector<Anomaly> Finish();

 private:
  static constexpr int64_t kWindowMs = kAnomalyWindowMinutes * kMillisPerMinute;
  void FinishMinute();

  EpochMillis newest_ = kMinTime;
  EpochMillis judged_begin_ = 0;
  EpochMillis judged_end_ = 0;
  Describe describe_;
  MinuteSeries series_{kAnomalyWindowMinutes};
  EpochMillis minute_ = 0;      // the minute being counted
  std::vector<Anomaly> found_;  // the current minute's
  std::vector<Anomaly> anomalies_;
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_ANOMALY_DETECTOR_H_
