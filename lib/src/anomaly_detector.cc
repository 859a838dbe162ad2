// The anomaly detector of analytics.h as a pure function of minute counts, apart from where
// the counts come from: one database (AnalyticsImpl::Anomalies) and a cluster that sums its
// partition groups' counts (server/cluster/analyst_fanout.cc) judge by the same code.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "allezon/analytics.h"
#include "minute_series.h"

namespace allezon {
namespace {

bool SeriesBefore(const ValueMinuteCounts& a, const ValueMinuteCounts& b) {
  if (a.value != b.value) return a.value < b.value;
  return a.action < b.action;
}

// Both sorted by minute; equal minutes add.
std::vector<std::pair<EpochMillis, int64_t>> MergeMinutes(
    std::vector<std::pair<EpochMillis, int64_t>> a,
    std::vector<std::pair<EpochMillis, int64_t>> b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  std::vector<std::pair<EpochMillis, int64_t>> out;
  out.reserve(a.size() + b.size());
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].first < b[j].first)) {
      out.push_back(a[i++]);
    } else if (i == a.size() || b[j].first < a[i].first) {
      out.push_back(b[j++]);
    } else {
      out.emplace_back(a[i].first, a[i].second + b[j].second);
      ++i;
      ++j;
    }
  }
  return out;
}

}  // namespace

void MergeAnomalyCounts(AnomalyCounts other, AnomalyCounts* into) {
  into->newest_time = std::max(into->newest_time, other.newest_time);
  into->first_minute = std::min(into->first_minute, other.first_minute);
  // A later retention start means the other's minutes before it were dropped there: the
  // sum is known only from the latest start on (single-node: the start of the newest time).
  into->retained_from = std::max(into->retained_from, other.retained_from);
  std::vector<ValueMinuteCounts> merged;
  merged.reserve(std::max(into->series.size(), other.series.size()));
  auto a = into->series.begin(), b = other.series.begin();
  while (a != into->series.end() || b != other.series.end()) {
    if (b == other.series.end() || (a != into->series.end() && SeriesBefore(*a, *b))) {
      merged.push_back(std::move(*a++));
    } else if (a == into->series.end() || SeriesBefore(*b, *a)) {
      merged.push_back(std::move(*b++));
    } else {
      a->minutes = MergeMinutes(std::move(a->minutes), std::move(b->minutes));
      merged.push_back(std::move(*a++));
      ++b;
    }
  }
  into->series = std::move(merged);
}

std::vector<Anomaly> DetectAnomalies(const AnomalyQuery& query, const AnomalyCounts& counts) {
  std::vector<Anomaly> anomalies;
  const EpochMillis newest = counts.newest_time;
  if (newest == kMinTime || counts.first_minute == kMaxTime ||
      query.range.begin >= query.range.end) {
    return anomalies;
  }
  // Judged: minutes whose whole window lies within the data, up to the newest event time's.
  const int64_t window_ms = kAnomalyWindowMinutes * kMillisPerMinute;
  const EpochMillis data_from = std::max(counts.first_minute, counts.retained_from);
  const EpochMillis judged_begin = std::max(query.range.begin, data_from + window_ms);
  const EpochMillis judged_end = std::min(query.range.end, MinuteStart(newest) + kMillisPerMinute);
  if (judged_begin >= judged_end) return anomalies;

  // Every series from the first minute read (one first seen later had zeros before, which is
  // what a window of zeros holds); in the counts' order, so each minute's finds are in
  // (value, action) order as they are made.
  const size_t n = counts.series.size();
  internal::MinuteSeries series(kAnomalyWindowMinutes);
  std::vector<size_t> next(n);  // per series: its first minute not yet counted
  for (size_t s = 0; s < n; ++s) {
    series.Index(s);
    const auto& minutes = counts.series[s].minutes;
    next[s] = static_cast<size_t>(
        std::lower_bound(minutes.begin(), minutes.end(),
                         std::pair<EpochMillis, int64_t>{judged_begin - window_ms,
                                                         std::numeric_limits<int64_t>::min()}) -
        minutes.begin());
  }
  for (EpochMillis minute = judged_begin - window_ms; minute < judged_end;
       minute += kMillisPerMinute) {
    for (size_t s = 0; s < n; ++s) {
      const auto& minutes = counts.series[s].minutes;
      while (next[s] < minutes.size() && minutes[next[s]].first <= minute) {
        if (minutes[next[s]].first == minute) series.Add(s, minutes[next[s]].second);
        ++next[s];
      }
    }
    if (minute >= judged_begin) {
      const bool ended = minute + kMillisPerMinute <= newest;
      for (size_t s = 0; s < n; ++s) {
        const int64_t count = series.current(s);
        // A spike needs count >= median + margin >= margin; a drop needs no tag at all.
        if (count != 0 && count < kSpikeMargin) continue;
        const double median = series.Median(s);
        AnomalyKind kind;
        const double observed = static_cast<double>(count);
        if (count != 0 && observed >= static_cast<double>(kSpikeFactor) * median &&
            observed >= median + static_cast<double>(kSpikeMargin)) {
          kind = AnomalyKind::kSpike;
        } else if (count == 0 && ended && median >= static_cast<double>(kDropMedian)) {
          kind = AnomalyKind::kDrop;
        } else {
          continue;
        }
        anomalies.push_back(
            {minute, counts.series[s].value, counts.series[s].action, count, median, kind});
      }
    }
    series.Advance();
  }
  return anomalies;
}

}  // namespace allezon
