#include "analytics_impl.h"

#include <algorithm>
#include <iterator>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "anomaly_detector.h"

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

absl::StatusOr<TopResult> TopFromTotals(const Analytics& analytics, const TopQuery& query) {
  if (query.limit < 0 || query.limit > kMaxTopLimit) {
    return absl::InvalidArgumentError(absl::StrCat("limit must be 0..", kMaxTopLimit));
  }
  if (query.metric != TopMetric::kCount && query.metric != TopMetric::kSumPrice) {
    return absl::InvalidArgumentError("metric must be count or sum_price");
  }
  absl::StatusOr<std::vector<TopRow>> totals = analytics.TopTotals(query);
  if (!totals.ok()) return totals.status();
  return RankTop(*std::move(totals), query.metric, query.limit);
}

TopResult RankTop(std::vector<TopRow> totals, TopMetric metric, int32_t limit) {
  const bool by_count = metric == TopMetric::kCount;
  const auto before = [by_count](const TopRow& a, const TopRow& b) {
    const int64_t ma = by_count ? a.count : a.sum_price;
    const int64_t mb = by_count ? b.count : b.sum_price;
    if (ma != mb) return ma > mb;
    return a.value < b.value;
  };
  const size_t n = std::min(totals.size(), static_cast<size_t>(std::max(limit, 0)));
  std::partial_sort(totals.begin(), totals.begin() + static_cast<std::ptrdiff_t>(n), totals.end(),
                    before);
  totals.resize(n);
  return TopResult{std::move(totals)};
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
  return TopFromTotals(*this, query);
}

absl::StatusOr<std::vector<TopRow>> AnalyticsImpl::TopTotals(const TopQuery& query) const {
  if (absl::Status s = CheckCellDimension(query.dimension); !s.ok()) return s;
  if (absl::Status s = CheckMinuteRange(query.range); !s.ok()) return s;
  std::vector<TopRow> totals;
  const TimeRange range{std::max(query.range.begin, aggregates_->RetainedFrom()), query.range.end};
  if (range.begin >= range.end) return totals;

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
  const StringPool& pool = storage_->strings_pool;
  for (size_t id = 0; id < sums.size(); ++id) {
    if (sums[id].count == 0) continue;
    totals.push_back(
        {std::string(pool.Get(static_cast<uint32_t>(id))), sums[id].count, sums[id].sum});
  }
  std::sort(totals.begin(), totals.end(),
            [](const TopRow& a, const TopRow& b) { return a.value < b.value; });
  return totals;
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

absl::Status AnalyticsImpl::CheckAnomalyQuery(const AnomalyQuery& query) const {
  if (absl::Status s = CheckCellDimension(query.dimension); !s.ok()) return s;
  if (query.action && *query.action != Action::kView && *query.action != Action::kBuy) {
    return absl::InvalidArgumentError("action must be VIEW or BUY");
  }
  return CheckMinuteRange(query.range);
}

absl::StatusOr<std::vector<Anomaly>> AnalyticsImpl::Anomalies(const AnomalyQuery& query) const {
  // What DetectAnomalies(query, AnomalyMinuteCounts(query)) answers, judged as the cells are
  // read: no copy of the counts, no string but the findings' (bench/RESULTS.md).
  if (absl::Status s = CheckAnomalyQuery(query); !s.ok()) return s;
  const EpochMillis newest = aggregates_->newest_time();
  if (newest == kMinTime || query.range.begin == query.range.end) return std::vector<Anomaly>();
  absl::StatusOr<EpochMillis> first_minute = aggregates_->FirstMinute();
  if (!first_minute.ok()) return first_minute.status();
  const StringPool& pool = storage_->strings_pool;
  const auto describe = [&pool](uint64_t key, Anomaly* anomaly) {
    anomaly->value = std::string(pool.Get(static_cast<uint32_t>(key >> 1)));
    anomaly->action = static_cast<Action>(key & 1);
  };
  AnomalyDetector detector(query, newest, *first_minute, aggregates_->RetainedFrom(), describe);
  if (detector.empty()) return std::vector<Anomaly>();
  if (absl::Status s = VisitSliced(
          *aggregates_, {detector.read_from(), detector.read_to()}, query.dimension, query.action,
          [&](const FieldCell& cell) {
            detector.Add(cell.minute, detector.Series(SeriesKey(cell.id, cell.action)), cell.count);
          });
      !s.ok()) {
    return s;
  }
  return detector.Finish();
}

absl::StatusOr<AnomalyCounts> AnalyticsImpl::AnomalyMinuteCounts(const AnomalyQuery& query) const {
  if (absl::Status s = CheckAnomalyQuery(query); !s.ok()) return s;
  AnomalyCounts counts;
  counts.newest_time = aggregates_->newest_time();
  if (counts.newest_time == kMinTime) return counts;
  absl::StatusOr<EpochMillis> first_minute = aggregates_->FirstMinute();
  if (!first_minute.ok()) return first_minute.status();
  counts.first_minute = *first_minute;
  counts.retained_from = aggregates_->RetainedFrom();
  if (counts.first_minute == kMaxTime || query.range.begin == query.range.end) return counts;

  // Only what the detector may read: no window reaches before the data, and nothing was
  // counted after the newest event time's minute.
  const EpochMillis from = std::max(query.range.begin - kAnomalyWindowMinutes * kMillisPerMinute,
                                    std::max(counts.first_minute, counts.retained_from));
  const EpochMillis to =
      std::min(query.range.end, MinuteStart(counts.newest_time) + kMillisPerMinute);
  if (from >= to) return counts;
  // By string id and action while reading (a hash lookup per cell, no string); the values
  // are written once per series at the end.
  struct Series {
    uint32_t id;
    Action action;
    std::vector<std::pair<EpochMillis, int64_t>> minutes;
  };
  std::vector<Series> found;
  absl::flat_hash_map<uint64_t, size_t> index;
  if (absl::Status s = VisitSliced(
          *aggregates_, {from, to}, query.dimension, query.action,
          [&](const FieldCell& cell) {
            if (cell.count == 0) return;
            auto [it, inserted] = index.try_emplace(SeriesKey(cell.id, cell.action), found.size());
            if (inserted) found.push_back({cell.id, static_cast<Action>(cell.action), {}});
            auto& minutes = found[it->second].minutes;
            if (!minutes.empty() && minutes.back().first == cell.minute) {
              minutes.back().second += cell.count;
            } else {
              minutes.emplace_back(cell.minute, cell.count);
            }
          });
      !s.ok()) {
    return s;
  }
  const StringPool& pool = storage_->strings_pool;
  counts.series.reserve(found.size());
  for (Series& series : found) {
    counts.series.push_back(
        {std::string(pool.Get(series.id)), series.action, std::move(series.minutes)});
  }
  std::sort(counts.series.begin(), counts.series.end(),
            [](const ValueMinuteCounts& a, const ValueMinuteCounts& b) {
              if (a.value != b.value) return a.value < b.value;
              return a.action < b.action;
            });
  return counts;
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
