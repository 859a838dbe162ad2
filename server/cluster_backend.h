// ClusterBackend: what HttpApi asks of cluster mode (SPEC §8) instead of one local Database:
// tags go through the replicated log to their partition's owners, profiles and sessions come
// from the cookie's owner, aggregates and the other analyst queries (SPEC §9) are merged from
// one owner of every partition group. Implemented by
// cluster::ClusterNode (server/cluster/); HttpApi knows only this interface, so the
// single-node server does not depend on NATS.
//
// Thread-safety: every method may be called from any HTTP thread at once.
#ifndef ALLEZON_SERVER_CLUSTER_BACKEND_H_
#define ALLEZON_SERVER_CLUSTER_BACKEND_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allezon/aggregate_index.h"
#include "allezon/analytics.h"
#include "allezon/database.h"
#include "allezon/time.h"
#include "allezon/user_tag.h"

namespace allezon::server {

class HttpRouter;

class ClusterBackend {
 public:
  virtual ~ClusterBackend() = default;

  // Stores validated tags: OK (answer 204) once the log's quorum holds them and the owners
  // serving their cookies' profiles have committed them durably; Unavailable otherwise. As
  // Database::SubmitTags, `done` is called exactly once, possibly on another thread.
  virtual void Submit(std::vector<UserTag> tags, std::function<void(absl::Status)> done) = 0;

  // Appends the cookie's profile JSON (SPEC §4) to *out, from this node when it owns the
  // cookie's partition and has caught up, else from an owner. Unavailable when no owner can
  // answer.
  virtual absl::Status AppendProfileJson(std::string_view cookie, TimeRange range, int32_t limit,
                                         std::string* out) = 0;

  // Aggregates over every partition, each taken from exactly one owner. Unavailable when a
  // partition has no owner that can answer.
  virtual absl::StatusOr<AggregateResult> Aggregate(const AggregateQuery& query) = 0;

  // The analyst queries (SPEC §9) over the whole cluster, exact: what one database holding
  // every tag answers. A query needing a partition no owner can answer for is Unavailable.
  virtual const Analytics& analytics() const = 0;

  // Raw tags (SPEC §10) over every partition: the latest of the groups' earliest kept times
  // (FailedPrecondition when raw retention is off), and the range's tags in time order, read
  // from one owner of every group a page at a time and merged. Unavailable when a group has
  // no owner that can answer.
  virtual absl::StatusOr<EpochMillis> EarliestRawTime() = 0;
  virtual absl::Status ExportTags(TimeRange range, const ExportSink& sink) = 0;

  // OK when this node has caught up with the log for every partition it owns.
  virtual absl::Status Ready() const = 0;

  // The node's internal routes (/cluster/*), registered on the router.
  virtual void Register(HttpRouter& router) = 0;

  // Prometheus text lines for /metrics.
  virtual std::string MetricsText() const = 0;
};

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_CLUSTER_BACKEND_H_
