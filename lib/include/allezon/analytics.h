// Analytics: the analyst queries of SPEC §9 — top values, the event catalogue, anomalies and
// shopper sessions — answered from the data the Database already keeps.
//
//   Top          sums the per-minute aggregate cells of one dimension over a range (the
//                same cells and the same retention as AggregateIndex).
//   Catalogue    first/last event time and tag count of every value a dimension ever had,
//                over all time (never dropped by retention), durable like the tags.
//   Anomalies    per (value, action, minute) counts from the aggregate cells, each compared
//                with the median of the minutes before it (see the constants below).
//   UserSessions a shopper's stored tags (the profile lists) cut into visits.
//
// Obtained from Database::analytics(); owned by the Database and valid while it is open.
// Thread-safety: every method may be called from any number of threads at once, concurrently
// with the writer; each answer includes every tag whose AddTags call has returned OK.
#ifndef ALLEZON_ANALYTICS_H_
#define ALLEZON_ANALYTICS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "allezon/export.h"
#include "allezon/time.h"
#include "allezon/user_tag.h"

namespace allezon {

// A tag field analysts group by. Top and Anomalies take the first three (the fields the
// aggregate cells are kept for); the catalogue takes all five.
enum class Dimension : uint8_t {
  kOrigin = 0,
  kBrandId = 1,
  kCategoryId = 2,
  kCountry = 3,
  kDevice = 4
};
inline constexpr int kDimensionCount = 5;

// "origin", "brand_id", "category_id", "country", "device": the JSON field names.
ALLEZON_EXPORT std::string_view DimensionName(Dimension dimension);
ALLEZON_EXPORT std::optional<Dimension> ParseDimension(std::string_view name);

// ---- Top --------------------------------------------------------------------------------

enum class TopMetric : uint8_t { kCount = 0, kSumPrice = 1 };
// "count" / "sum_price".
ALLEZON_EXPORT std::string_view TopMetricName(TopMetric metric);
ALLEZON_EXPORT std::optional<TopMetric> ParseTopMetric(std::string_view name);

inline constexpr int32_t kDefaultTopLimit = 10;
inline constexpr int32_t kMaxTopLimit = 1000;

struct TopQuery {
  // Whole minutes, begin <= end, at most Options::max_query_buckets minutes.
  TimeRange range;
  Action action = Action::kView;
  Dimension dimension = Dimension::kOrigin;  // origin, brand_id or category_id
  TopMetric metric = TopMetric::kCount;
  int32_t limit = kDefaultTopLimit;  // 0..kMaxTopLimit
};

struct TopRow {
  std::string value;
  int64_t count = 0;
  int64_t sum_price = 0;
};

struct TopResult {
  // The dimension's values among the tags of the action in the range, by the metric
  // descending, ties by value ascending (bytewise), at most `limit`. Values without a tag in
  // the range are not listed.
  std::vector<TopRow> rows;
};

// Top's ranking of per-value totals (Analytics::TopTotals): by `metric` descending, ties by
// value ascending, the first `limit` (a negative limit lists none). Totals of databases
// holding disjoint tags add per value, and the ranking of the sums is their exact Top; a
// top-N of each is not (a value can be N+1st everywhere and first overall).
ALLEZON_EXPORT TopResult RankTop(std::vector<TopRow> totals, TopMetric metric, int32_t limit);

class Analytics;
// Analytics::Top from TopTotals: checks the ranking's arguments (limit, metric; InvalidArgument
// with Top's messages), then RankTop(analytics.TopTotals(query), ...). For implementations of
// Analytics whose totals come from elsewhere (a cluster's owners).
ALLEZON_EXPORT absl::StatusOr<TopResult> TopFromTotals(const Analytics& analytics,
                                                       const TopQuery& query);

// ---- Catalogue --------------------------------------------------------------------------

struct CatalogueQuery {
  Dimension dimension = Dimension::kOrigin;
  // Keep values first seen at or after this time (new values).
  std::optional<EpochMillis> new_since;
  // Keep values last seen before this time (values that went quiet).
  std::optional<EpochMillis> silent_since;
};

struct CatalogueEntry {
  std::string value;           // for device: "PC", "MOBILE" or "TV"
  EpochMillis first_seen = 0;  // the smallest event time of an accepted tag with the value
  EpochMillis last_seen = 0;   // the largest
  int64_t tags = 0;            // accepted tags with the value
};

// ---- Anomalies --------------------------------------------------------------------------

// The detector: the count c of a (value, action) in a minute is compared with m, the median
// of its counts in the kAnomalyWindowMinutes minutes before (minutes without a tag count 0;
// the median of an even number of counts is the mean of the middle two).
//   spike: c >= kSpikeFactor * m and c >= m + kSpikeMargin
//   drop:  c == 0 and m >= kDropMedian
// A minute is judged only when its whole window lies within the data: at or after the first
// minute holding any tag, and not before the aggregates' retention (a window reaching before
// the data would compare with counts that are unknown, not zero). Spikes are judged up to
// the minute of the newest event time (its count can only grow), drops only in minutes that
// have ended (a tag at or after the minute's end has been accepted).
inline constexpr int kAnomalyWindowMinutes = 30;
inline constexpr int64_t kSpikeFactor = 5;
inline constexpr int64_t kSpikeMargin = 20;
inline constexpr int64_t kDropMedian = 20;

struct AnomalyQuery {
  // Whole minutes, begin <= end, at most Options::max_query_buckets minutes: the minutes
  // judged (their windows may reach before begin).
  TimeRange range;
  Dimension dimension = Dimension::kOrigin;  // origin, brand_id or category_id
  std::optional<Action> action;              // both when not set
};

enum class AnomalyKind : uint8_t { kSpike = 0, kDrop = 1 };
// "spike" / "drop".
ALLEZON_EXPORT std::string_view AnomalyKindName(AnomalyKind kind);

struct Anomaly {
  EpochMillis minute = 0;  // the minute's start
  std::string value;
  Action action = Action::kView;
  int64_t observed = 0;  // the minute's count
  double expected = 0;   // the median of the window
  AnomalyKind kind = AnomalyKind::kSpike;
};

// One (value, action)'s counts per minute.
struct ValueMinuteCounts {
  std::string value;
  Action action = Action::kView;
  // (minute start, count > 0), minutes ascending, each at most once; a minute not listed
  // counted nothing.
  std::vector<std::pair<EpochMillis, int64_t>> minutes;
};

// Everything the detector reads of the data for one AnomalyQuery
// (Analytics::AnomalyMinuteCounts): the minute counts of [range.begin - window, range.end),
// and what says which minutes may be judged (the rules above). The counts of databases
// holding disjoint tags merge exactly (MergeAnomalyCounts: counts summed, newest time the
// largest, first minute the smallest, retention start the latest), so DetectAnomalies over
// the merge is what one database holding every tag answers.
struct AnomalyCounts {
  EpochMillis newest_time = kMinTime;    // the newest event time accepted (kMinTime: none)
  EpochMillis first_minute = kMaxTime;   // the first minute holding any tag (kMaxTime: none)
  EpochMillis retained_from = kMinTime;  // the first minute the aggregates' retention keeps
  // Sorted by value (bytewise), then action (VIEW before BUY); (value, action) at most once.
  std::vector<ValueMinuteCounts> series;
};

// Adds `other` into `*into` (see AnomalyCounts).
ALLEZON_EXPORT void MergeAnomalyCounts(AnomalyCounts other, AnomalyCounts* into);

// The detector (the rules above) over `counts`, for the minutes of query.range; the counts
// must be of query's dimension and action. What Analytics::Anomalies answers, in its order.
ALLEZON_EXPORT std::vector<Anomaly> DetectAnomalies(const AnomalyQuery& query,
                                                    const AnomalyCounts& counts);

// ---- Sessions ---------------------------------------------------------------------------

inline constexpr int32_t kDefaultSessionLimit = 20;
inline constexpr int64_t kDefaultSessionGapMs = 30 * kMillisPerMinute;

struct SessionQuery {
  TimeRange range;                        // begin <= end; any millisecond
  int32_t limit = kDefaultSessionLimit;   // >= 0
  int64_t gap_ms = kDefaultSessionGapMs;  // >= 1
};

struct Session {
  EpochMillis start = 0;  // its first tag's time
  EpochMillis end = 0;    // its last tag's time
  int64_t views = 0;
  int64_t buys = 0;
  int64_t revenue = 0;  // the sum of its BUY prices
};

class ALLEZON_EXPORT Analytics {
 public:
  virtual ~Analytics() = default;

  // InvalidArgument for a dimension other than origin/brand_id/category_id, a limit outside
  // 0..kMaxTopLimit, begin > end, a range not whole minutes or longer than
  // Options::max_query_buckets. Minutes past the aggregates' retention count nothing.
  virtual absl::StatusOr<TopResult> Top(const TopQuery& query) const = 0;

  // What Top ranks: every value with a tag of the action in the range, with its count and
  // sum_price, sorted by value (bytewise); query.metric and query.limit are not used. Top is
  // RankTop(TopTotals(query), metric, limit). InvalidArgument as Top's range and dimension.
  virtual absl::StatusOr<std::vector<TopRow>> TopTotals(const TopQuery& query) const = 0;

  // Sorted by value (bytewise). InvalidArgument only for a dimension out of range.
  virtual absl::StatusOr<std::vector<CatalogueEntry>> Catalogue(
      const CatalogueQuery& query) const = 0;

  // In time order, then by value (bytewise), then action (VIEW before BUY). InvalidArgument
  // as Top's range and dimension.
  virtual absl::StatusOr<std::vector<Anomaly>> Anomalies(const AnomalyQuery& query) const = 0;

  // What Anomalies reads: Anomalies is DetectAnomalies(query, AnomalyMinuteCounts(query)).
  // Minutes before this database's data (its first minute, its retention) or after its newest
  // event time's are left out: they count nothing here. InvalidArgument as Anomalies.
  virtual absl::StatusOr<AnomalyCounts> AnomalyMinuteCounts(const AnomalyQuery& query) const = 0;

  // The cookie's stored tags (both actions, the profile lists: at most Options::profile_cap
  // per action) with time in the range, in time order; a tag starts a new session when it
  // comes gap_ms or more after the one before. Newest session first, at most `limit`. An
  // unknown (or empty) cookie has none. InvalidArgument for begin > end, limit < 0,
  // gap_ms < 1, or a cookie a profile query would refuse (over kMaxCookieBytes, not UTF-8).
  virtual absl::StatusOr<std::vector<Session>> UserSessions(std::string_view cookie,
                                                            const SessionQuery& query) const = 0;
};

}  // namespace allezon

#endif  // ALLEZON_ANALYTICS_H_
