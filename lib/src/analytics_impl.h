// Internal: the Analytics queries (allezon/analytics.h) over the state the Database keeps:
// the aggregate cells (Top, Anomalies), the catalogue (Catalogue) and the profile lists
// (UserSessions). Holds no state of its own.
#ifndef ALLEZON_SRC_ANALYTICS_IMPL_H_
#define ALLEZON_SRC_ANALYTICS_IMPL_H_

#include "aggregate_index_impl.h"
#include "allezon/analytics.h"
#include "allezon/user_tag_store.h"
#include "catalogue.h"
#include "storage.h"

namespace allezon::internal {

class AnalyticsImpl final : public Analytics {
 public:
  AnalyticsImpl(const Storage* storage, const AggregateIndexImpl* aggregates,
                const internal::Catalogue* catalogue, const UserTagStore* user_tags)
      : storage_(storage), aggregates_(aggregates), catalogue_(catalogue), user_tags_(user_tags) {}

  absl::StatusOr<TopResult> Top(const TopQuery& query) const override;
  absl::StatusOr<std::vector<TopRow>> TopTotals(const TopQuery& query) const override;
  absl::StatusOr<std::vector<CatalogueEntry>> Catalogue(const CatalogueQuery& query) const override;
  absl::StatusOr<std::vector<Anomaly>> Anomalies(const AnomalyQuery& query) const override;
  absl::StatusOr<AnomalyCounts> AnomalyMinuteCounts(const AnomalyQuery& query) const override;
  absl::StatusOr<std::vector<Session>> UserSessions(std::string_view cookie,
                                                    const SessionQuery& query) const override;

 private:
  // InvalidArgument unless begin <= end, both whole minutes, at most max_query_buckets long.
  absl::Status CheckMinuteRange(TimeRange range) const;
  // InvalidArgument for a dimension or action Anomalies does not take, or a bad range.
  absl::Status CheckAnomalyQuery(const AnomalyQuery& query) const;

  const Storage* storage_;
  const AggregateIndexImpl* aggregates_;
  const internal::Catalogue* catalogue_;
  const UserTagStore* user_tags_;
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_ANALYTICS_IMPL_H_
