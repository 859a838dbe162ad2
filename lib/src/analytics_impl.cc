#include "analytics_impl.h"

#include <algorithm>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "minute_series.h"

namespace allezon {
namespace {

constexpr std::string_view kDimensionNames[kDimensionCount] = {"origin", "brand_id", "category_id",
                                                               "country", "device"};

}  // namespace

std::string_view DimensionName(Dimension dimension) {
  const size_t i = static_cast<size_t>(dimension);
  return i < std::size(kDimensionNames) ? kDimensionNames[i] : std::string_view("unknown");
}

std::optional<Dimension> ParseDimension(std::string_view name) {
  for (size_t i = 0; i < std::size(kDimensionNames); ++i) {
    if (kDimensionNames[i] == name) return static_cast<Dimension>(i);
  }
  return std::nullopt;
}

std::string_view TopMetricName(TopMetric metric) {
  return metric == TopMetric::kSumPrice ? "sum_price" : "count";
}

std::optional<TopMetric> ParseTopMetric(std::string_view name) {
  if (name == "count") return TopMetric::kCount;
  if (name == "sum_price") return TopMetric::kSumPrice;
  return std::nullopt;
}

std::string_view AnomalyKindName(AnomalyKind kind) {
  return kind == AnomalyKind::kDrop ? "drop" : "spike";
}

namespace internal {
namespace {

// Cell walks take the aggregates' lock shared, which holds off the writer's publication of
// its next commit: a long range is read in slices of this many minutes, each a consistent
// state of its own (minutes are disjoint between slices, so none is counted twice).
constexpr int64_t kSliceMinutes = 60;

absl::Status CheckCellDimension(Dimension dimension) {
  if (dimension == Dimension::kOrigin || dimension == Dimension::kBrandId ||
      dimension == Dimension::kCategoryId) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("dimension must be origin, brand_id or category_id");
}

// Visits the cells of [range.begin, range.end) a slice at a time.
absl::Status VisitSliced(const AggregateIndexImpl& aggregates, TimeRange range, Dimension dimension,
                         std::optional<Action> action,
                         absl::FunctionRef<void(const FieldCell&)> visit) {
  for (EpochMillis begin = range.begin; begin < range.end;) {
    const EpochMillis end = std::min(range.end, begin + kSliceMinutes * kMillisPerMinute);
    if (absl::Status s = aggregates.VisitFieldCells({begin, end}, dimension, action, visit);
        !s.ok()) {
      return s;
    }
    begin = end;
  }
  return absl::OkStatus();
}

uint64_t SeriesKey(uint32_t id, uint8_t action) { return uint64_t{id} << 1 | action; }

}  // namespace

absl::Status AnalyticsImpl::CheckMinuteRange(TimeRange range) const {
  if (range.begin > range.end) {
    return absl::InvalidArgumentError("invalid time_range: begin is after end");
  }
  if (MinuteStart(range.begin) != range.begin || MinuteStart(range.end) != range.end) {
    return absl::InvalidArgumentError("time_range must be whole minutes");
  }
  if ((range.end - range.begin) / kMillisPerMinute > storage_->options.max_query_buckets) {
    return absl::InvalidArgumentError(absl::StrCat(
        "time_range is longer than ", storage_->options.max_query_buckets, " minutes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<TopResult> AnalyticsImpl::Top(const TopQuery& query) const {
  if (absl::Status s = CheckCellDimension(query.dimension); !s.ok()) return s;
  if (query.limit < 0 || query.limit > kMaxTopLimit) {
    return absl::InvalidArgumentError(absl::StrCat("limit must be 0..", kMaxTopLimit));
  }
  if (query.metric != TopMetric::kCount && query.metric != TopMetric::kSumPrice) {
    return absl::InvalidArgumentError("metric must be count or sum_price");
  }
  if (absl::Status s = CheckMinuteRange(query.range); !s.ok()) return s;
  TopResult result;
  const TimeRange range{std::max(query.range.begin, aggregates_->RetainedFrom()), query.range.end};
  if (query.limit == 0 || range.begin >= range.end) return result;

  // Indexed by string id: ids are dense and few (a realistic stream has ~1,400 strings), and
  // a 24-hour range visits ~1.4 million cells, where a hash lookup each would dominate.
  struct Sum {
    int64_t count = 0;
    int64_t sum = 0;
  };
  std::vector<Sum> sums;
  if (absl::Status s = VisitSliced(*aggregates_, range, query.dimension, query.action,
                                   [&](const FieldCell& cell) {
                                     if (cell.id >= sums.size()) {
                                       sums.resize(std::max<size_t>(cell.id + 1, 2 * sums.size()));
                                     }
                                     sums[cell.id].count += cell.count;
                                     sums[cell.id].sum += cell.sum;
                                   });
      !s.ok()) {
    return s;
  }
  std::vector<uint32_t> ids;
  for (size_t id = 0; id < sums.size(); ++id) {
    if (sums[id].count > 0) ids.push_back(static_cast<uint32_t>(id));
  }
  const StringPool& pool = storage_->strings_pool;
  const bool by_count = query.metric == TopMetric::kCount;
  const auto before = [&](uint32_t a, uint32_t b) {
    const int64_t ma = by_count ? sums[a].count : sums[a].sum;
    const int64_t mb = by_count ? sums[b].count : sums[b].sum;
    if (ma != mb) return ma > mb;
    return pool.Get(a) < pool.Get(b);
  };
  const size_t n = std::min(ids.size(), static_cast<size_t>(query.limit));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(), before);
  result.rows.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    result.rows.push_back({std::string(pool.Get(ids[i])), sums[ids[i]].count, sums[ids[i]].sum});
  }
  return result;
}

absl::StatusOr<std::vector<CatalogueEntry>> AnalyticsImpl::Catalogue(
    const CatalogueQuery& query) const {
  if (static_cast<int>(query.dimension) >= kDimensionCount) {
    return absl::InvalidArgumentError(
        "dimension must be origin, brand_id, category_id, country or device");
  }
  const StringPool& pool = storage_->strings_pool;
  std::vector<CatalogueEntry> entries;
  for (const internal::Catalogue::Value& value : catalogue_->Values(query.dimension)) {
    if (query.new_since && value.first < *query.new_since) continue;
    if (query.silent_since && value.last >= *query.silent_since) continue;
    CatalogueEntry& entry = entries.emplace_back();
    entry.value = query.dimension == Dimension::kDevice
                      ? std::string(DeviceName(static_cast<Device>(value.id)))
                      : std::string(pool.Get(value.id));
    entry.first_seen = value.first;
    entry.last_seen = value.last;
    entry.tags = value.tags;
  }
  std::sort(entries.begin(), entries.end(),
            [](const CatalogueEntry& a, const CatalogueEntry& b) { return a.value < b.value; });
  return entries;
}

absl::StatusOr<std::vector<Anomaly>> AnalyticsImpl::Anomalies(const AnomalyQuery& query) const {
  if (absl::Status s = CheckCellDimension(query.dimension); !s.ok()) return s;
  if (query.action && *query.action != Action::kView && *query.action != Action::kBuy) {
    return absl::InvalidArgumentError("action must be VIEW or BUY");
  }
  if (absl::Status s = CheckMinuteRange(query.range); !s.ok()) return s;
  std::vector<Anomaly> anomalies;
  const EpochMillis newest = aggregates_->newest_time();
  if (newest == kMinTime || query.range.begin == query.range.end) return anomalies;
  absl::StatusOr<EpochMillis> first_minute = aggregates_->FirstMinute();
  if (!first_minute.ok()) return first_minute.status();
  if (*first_minute == kMaxTime) return anomalies;

  // Judged: minutes whose whole window lies within the data, up to the newest event time's.
  const int64_t window_ms = kAnomalyWindowMinutes * kMillisPerMinute;
  const EpochMillis data_from = std::max(*first_minute, aggregates_->RetainedFrom());
  const EpochMillis judged_begin = std::max(query.range.begin, data_from + window_ms);
  const EpochMillis judged_end = std::min(query.range.end, MinuteStart(newest) + kMillisPerMinute);
  if (judged_begin >= judged_end) return anomalies;

  const StringPool& pool = storage_->strings_pool;
  MinuteSeries series(kAnomalyWindowMinutes);
  EpochMillis minute = judged_begin - window_ms;  // the minute being counted
  std::vector<Anomaly> found;                     // the current minute's
  const auto finish_minute = [&] {
    if (minute >= judged_begin) {
      const bool ended = minute + kMillisPerMinute <= newest;
      for (size_t s = 0; s < series.size(); ++s) {
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
        const uint64_t key = series.key(s);
        found.push_back({minute, std::string(pool.Get(static_cast<uint32_t>(key >> 1))),
                         static_cast<Action>(key & 1), count, median, kind});
      }
      std::sort(found.begin(), found.end(), [](const Anomaly& a, const Anomaly& b) {
        if (a.value != b.value) return a.value < b.value;
        return a.action < b.action;
      });
      std::move(found.begin(), found.end(), std::back_inserter(anomalies));
      found.clear();
    }
    series.Advance();
    minute += kMillisPerMinute;
  };
  if (absl::Status s =
          VisitSliced(*aggregates_, {minute, judged_end}, query.dimension, query.action,
                      [&](const FieldCell& cell) {
                        while (minute < cell.minute) finish_minute();
                        series.Add(series.Index(SeriesKey(cell.id, cell.action)), cell.count);
                      });
      !s.ok()) {
    return s;
  }
  while (minute < judged_end) finish_minute();
  return anomalies;
}

absl::StatusOr<std::vector<Session>> AnalyticsImpl::UserSessions(std::string_view cookie,
                                                                 const SessionQuery& query) const {
  if (query.limit < 0) return absl::InvalidArgumentError("limit must be a non-negative integer");
  if (query.gap_ms < 1) return absl::InvalidArgumentError("session gap must be at least 1 ms");
  struct Point {
    EpochMillis time;
    Action action;
    int32_t price;
  };
  std::vector<Point> points;
  // Every stored tag of the range: the lists are capped anyway (Options::profile_cap).
  absl::Status visited =
      user_tags_->VisitProfile(cookie, query.range, INT32_MAX, [&](const UserTagView& tag) {
        points.push_back({tag.time, tag.action, tag.price});
      });
  if (!visited.ok()) return visited;
  std::sort(points.begin(), points.end(),
            [](const Point& a, const Point& b) { return a.time < b.time; });
  std::vector<Session> sessions;
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& point = points[i];
    if (i == 0 || point.time - points[i - 1].time >= query.gap_ms) {
      sessions.push_back({point.time, point.time, 0, 0, 0});
    }
    Session& session = sessions.back();
    session.end = point.time;
    if (point.action == Action::kBuy) {
      ++session.buys;
      session.revenue += point.price;
    } else {
      ++session.views;
    }
  }
  std::reverse(sessions.begin(), sessions.end());
  if (sessions.size() > static_cast<size_t>(query.limit)) {
    sessions.resize(static_cast<size_t>(query.limit));
  }
  return sessions;
}

}  // namespace internal
}  // namespace allezon
