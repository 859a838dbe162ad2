// The analyst queries of SPEC §9 on a cluster node (README "Running a cluster"), exact: what
// one database holding every tag answers.
//
// A node holds only the partition groups it owns, and the groups hold disjoint tags, so the
// node asks one owner of every group (itself when it owns the group and has caught up, the
// others over GET /cluster/... in parallel) for the parts that add, merges them and finishes
// the query once:
//   /top        every value's count and sum_price over the range (Analytics::TopTotals),
//               summed per value, then ranked and cut (RankTop). Merging each group's top-N
//               would not be exact: a value N+1st in every group can be first overall.
//   /catalogue  each group's whole catalogue of the dimension (no new_since/silent_since
//               there), merged per value (first_seen min, last_seen max, tags summed), then
//               filtered and sorted.
//   /anomalies  each group's (value, action) minute counts over [begin - 30 min, end) and
//               its data bounds (Analytics::AnomalyMinuteCounts), summed
//               (MergeAnomalyCounts), then judged once (DetectAnomalies): the median and the
//               counts compared are the cluster's.
//   /user_sessions/{cookie}  from the cookie's owner, as profiles.
// A group none of whose owners answers makes the query Unavailable (503) naming it; a query
// an owner refuses as invalid is InvalidArgument (400) with its message.
//
// Peer answers are compact JSON (analyst_fanout.cc); the routes are registered by
// RegisterAnalystPeerRoutes on every node.
//
// Thread-safety: ClusterAnalytics' methods may run on any threads at once (the callbacks
// must allow it); it blocks its caller until every group has answered or timed out.
#ifndef ALLEZON_SERVER_CLUSTER_ANALYST_FANOUT_H_
#define ALLEZON_SERVER_CLUSTER_ANALYST_FANOUT_H_

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "allezon/analytics.h"
#include "cluster_config.h"

namespace allezon::server {
class HttpRouter;
}

namespace allezon::cluster {

// Where one partition group's answer (or one cookie's) comes from.
struct AnswerSource {
  std::string key;                     // the group's key, or the cookie's partition number
  const Analytics* local = nullptr;    // this node's data, when it owns it and has caught up
  std::vector<const NodeSpec*> peers;  // when not local: the other owners, asked in turn
};

struct FanoutOptions {
  std::chrono::milliseconds connect_timeout{300};
  std::chrono::milliseconds timeout{5000};
  // Every partition group, each once.
  std::function<std::vector<AnswerSource>()> groups;
  // The owners of the cookie's partition.
  std::function<AnswerSource(std::string_view cookie)> cookie_owners;
};

class ClusterAnalytics final : public Analytics {
 public:
  explicit ClusterAnalytics(FanoutOptions options) : options_(std::move(options)) {}

  absl::StatusOr<TopResult> Top(const TopQuery& query) const override;
  absl::StatusOr<std::vector<TopRow>> TopTotals(const TopQuery& query) const override;
  absl::StatusOr<std::vector<CatalogueEntry>> Catalogue(const CatalogueQuery& query) const override;
  absl::StatusOr<std::vector<Anomaly>> Anomalies(const AnomalyQuery& query) const override;
  absl::StatusOr<AnomalyCounts> AnomalyMinuteCounts(const AnomalyQuery& query) const override;
  absl::StatusOr<std::vector<Session>> UserSessions(std::string_view cookie,
                                                    const SessionQuery& query) const override;

 private:
  const FanoutOptions options_;
};

// This node's answers for its peers' ClusterAnalytics:
//   GET /cluster/top?group=G&begin=B&end=E&action=A&dimension=D
//   GET /cluster/catalogue?group=G&dimension=D
//   GET /cluster/anomaly_counts?group=G&begin=B&end=E&dimension=D[&action=A]
//   GET /cluster/sessions?cookie=C&begin=B&end=E&limit=L&gap=MS
// (times in epoch milliseconds), from `group(G)` / `cookie_owner(C)`: this node's data when
// it owns it and has caught up, else an Unavailable saying why (503 to the asking node, which
// then asks the other owner).
void RegisterAnalystPeerRoutes(
    server::HttpRouter& router,
    std::function<absl::StatusOr<const Analytics*>(std::string_view group)> group,
    std::function<absl::StatusOr<const Analytics*>(std::string_view cookie)> cookie_owner);

// The peer answers' wire forms (compact JSON; values are JSON strings, any bytes escaped):
//   top             {"rows":[["<value>",count,sum_price],...]}
//   catalogue       {"values":[["<value>",first_seen,last_seen,tags],...]}
//   anomaly counts  {"newest":T,"first_minute":T,"retained_from":T,"base":M,
//                    "series":[["<value>",action (0 VIEW, 1 BUY),[i,count,i,count,...]],...]}
//                   (a count's minute is base + i minutes)
//   sessions        {"sessions":[[start,end,views,buys,revenue],...]}
// A malformed answer parses as Unavailable (a peer that cannot be understood cannot answer).
std::string TopTotalsJson(const std::vector<TopRow>& rows);
absl::StatusOr<std::vector<TopRow>> ParseTopTotals(std::string_view body);
std::string CatalogueEntriesJson(const std::vector<CatalogueEntry>& entries);
absl::StatusOr<std::vector<CatalogueEntry>> ParseCatalogueEntries(std::string_view body);
std::string AnomalyCountsJson(const AnomalyCounts& counts);
absl::StatusOr<AnomalyCounts> ParseAnomalyCounts(std::string_view body);
std::string SessionListJson(const std::vector<Session>& sessions);
absl::StatusOr<std::vector<Session>> ParseSessionList(std::string_view body);

}  // namespace allezon::cluster

#endif  // ALLEZON_SERVER_CLUSTER_ANALYST_FANOUT_H_
