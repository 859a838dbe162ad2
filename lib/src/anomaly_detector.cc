// The anomaly detector of analytics.h, apart from where the counts come from: one database
// (AnalyticsImpl::Anomalies, straight from its cells) and a cluster that sums its partition
// groups' counts (DetectAnomalies over MergeAnomalyCounts, server/cluster/analyst_fanout.cc)
// judge with the same AnomalyDetector.
#include "anomaly_detector.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <utility>
#include <vector>

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
  internal::AnomalyDetector detector(query, counts.newest_time, counts.first_minute,
                                     counts.retained_from,
                                     [&counts](uint64_t key, Anomaly* anomaly) {
                                       anomaly->value = counts.series[key].value;
                                       anomaly->action = counts.series[key].action;
                                     });
  if (detector.empty()) return {};
  // The detector takes minutes in order: the series' counts, interleaved by minute.
  struct Count {
    EpochMillis minute;
    size_t series;
    int64_t count;
  };
  std::vector<Count> in_order;
  for (size_t s = 0; s < counts.series.size(); ++s) {
    detector.Series(s);  // series s is number s
    for (const auto& [minute, count] : counts.series[s].minutes) {
      if (minute >= detector.read_from() && minute < detector.read_to()) {
        in_order.push_back({minute, s, count});
      }
    }
  }
  std::stable_sort(in_order.begin(), in_order.end(),
                   [](const Count& a, const Count& b) { return a.minute < b.minute; });
  for (const Count& c : in_order) detector.Add(c.minute, c.series, c.count);
  return detector.Finish();
}

namespace internal {

AnomalyDetector::AnomalyDetector(const AnomalyQuery& query, EpochMillis newest,
                                 EpochMillis first_minute, EpochMillis retained_from,
                                 Describe describe)
    : newest_(newest), describe_(std::move(describe)) {
  if (newest == kMinTime || first_minute == kMaxTime || query.range.begin >= query.range.end) {
    return;  // empty
  }
  // Judged: minutes whose whole window lies within the data, up to the newest event time's.
  const EpochMillis data_from = std::max(first_minute, retained_from);
  judged_begin_ = std::max(query.range.begin, data_from + kWindowMs);
  judged_end_ = std::min(query.range.end, MinuteStart(newest) + kMillisPerMinute);
  minute_ = read_from();
}

void AnomalyDetector::FinishMinute() {
  if (minute_ >= judged_begin_) {
    const bool ended = minute_ + kMillisPerMinute <= newest_;
    for (size_t s = 0; s < series_.size(); ++s) {
      const int64_t count = series_.current(s);
      // A spike needs count >= median + margin >= margin; a drop needs no tag at all.
      if (count != 0 && count < kSpikeMargin) continue;
      const double median = series_.Median(s);
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
      Anomaly& anomaly = found_.emplace_back();
      anomaly.minute = minute_;
      anomaly.observed = count;
      anomaly.expected = median;
      anomaly.kind = kind;
      describe_(series_.key(s), &anomaly);
    }
    std::sort(found_.begin(), found_.end(), [](const Anomaly& a, const Anomaly& b) {
      if (a.value != b.value) return a.value < b.value;
      return a.action < b.action;
    });
    std::move(found_.begin(), found_.end(), std::back_inserter(anomalies_));
    found_.clear();
  }
  series_.Advance();
  minute_ += kMillisPerMinute;
}

std::vector<Anomaly> AnomalyDetector::Finish() {
  while (minute_ < judged_end_) FinishMinute();
  return std::move(anomalies_);
}

}  // namespace internal
}  // namespace allezon
