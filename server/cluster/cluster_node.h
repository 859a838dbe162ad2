// ClusterNode: one allezon-server node of a cluster (SPEC §8, README "Running a cluster").
//
// Storage: the partitions owned by the same (primary, secondary) pair form a *group*, and
// each group this node belongs to is one Database of its own (DIR/group-<primary>-<secondary>).
// Both owners of a group hold the same partitions, so an aggregate over all partitions is
// the sum of one answer per group, taken from either of its owners: exact, disjoint, and no
// node needs the whole stream. A ring assignment (allezon-cluster ring) gives each node two
// groups whatever the cluster's size, so commits stay grouped: one fsync per group and round.
//
// Analyst queries (SPEC §9): merged from one owner of every group, sessions from the
// cookie's owner (analyst_fanout.h). Exports (SPEC §10): every group's raw tags read in pages
// and merged by time (cluster_node_export.cc).
// Ingest: tags are validated, appended to their partition's subject (a request's tags of one
// partition as one entry; a retry of a failed one under its first Msg-Id: RetryIds) and
// answered once the owners have applied them (OwnerPositions).
// Apply: one TagLog reader per owned partition commits its entries in log order, the
// partition's position (SourcePosition "<subject>") in the same transaction; after a crash
// it resumes from that position, so every entry is applied exactly once.
//
// Ownership: Start returns the sole owner; destroying it stops readers, then closes the
// group databases (committing what is queued). Thread-safety: as ClusterBackend.
#ifndef ALLEZON_SERVER_CLUSTER_CLUSTER_NODE_H_
#define ALLEZON_SERVER_CLUSTER_CLUSTER_NODE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "allezon/database.h"
#include "allezon/options.h"
#include "analyst_fanout.h"
#include "cluster_backend.h"
#include "cluster_config.h"
#include "owner_positions.h"
#include "group_snapshot.h"
#include "retry_ids.h"
#include "tag_log.h"

namespace allezon::cluster {

struct ClusterNodeOptions {
  std::string node_id;   // must be in the cluster file
  std::string data_dir;  // the groups' databases go in sub-directories
  Options database;      // for every group's Database (data_dir is replaced)
  // A tag not answered 204 by then (log ack + owners' commits) is answered 503.
  std::chrono::milliseconds ingest_timeout{5000};
  // Peer HTTP calls (aggregate fan-out, profile forwarding).
  std::chrono::milliseconds peer_connect_timeout{300};
  std::chrono::milliseconds peer_timeout{5000};
  std::chrono::milliseconds heartbeat_interval{200};
  // GET /export reads each group's tags this many at a time (the node holds a page per group).
  int64_t export_page_tags = 4096;
  OwnerPositions::Options owners;
};

class ClusterNode final : public server::ClusterBackend {
 public:
  static absl::StatusOr<std::unique_ptr<ClusterNode>> Start(ClusterConfig config,
                                                            ClusterNodeOptions options);
  ~ClusterNode() override;

  // ClusterBackend
  void Submit(std::vector<UserTag> tags, std::function<void(absl::Status)> done) override;
  absl::Status AppendProfileJson(std::string_view cookie, TimeRange range, int32_t limit,
                                 std::string* out) override;
  absl::StatusOr<AggregateResult> Aggregate(const AggregateQuery& query) override;
  absl::StatusOr<EpochMillis> EarliestRawTime() override;
  absl::Status ExportTags(TimeRange range, const ExportSink& sink) override;
  const Analytics& analytics() const override { return *analytics_; }
  absl::Status Ready() const override;
  void Register(server::HttpRouter& router) override;
  std::string MetricsText() const override;

  // The first group's database, for the single-node admin endpoints (stats, map size).
  Database* first_database() const;
  std::string StatusJson() const;

 private:
  struct Group;
  struct Partition;
  ClusterNode(ClusterConfig config, ClusterNodeOptions options);
  absl::Status Open();
  // Opens this node's database of `group`; an empty one is first replaced by a copy of the
  // other owner's, when it can give one (group_snapshot.h), else rebuilt from the log.
  absl::Status OpenGroup(Group& group);
  uint64_t Apply(Partition& partition, const ReadBatch& batch);
  void HeartbeatLoop();
  // Sends this node's readiness and its partitions' applied positions to its peers.
  void Broadcast(const std::vector<const Partition*>& partitions);
  void OnHeartbeat(std::string_view data);
  bool GroupReady(const Group& group) const;
  absl::StatusOr<AggregateResult> GroupAggregate(const Group& group, const AggregateQuery& query);
  absl::StatusOr<AggregateResult> LocalGroupAggregate(std::string_view group_key,
                                                      const AggregateQuery& query) const;
  const Group* FindGroup(std::string_view key) const;
  // This node's database of the group, when it owns it and has caught up; else Unavailable.
  absl::StatusOr<const Database*> ReadyGroupDatabase(std::string_view group_key) const;
  // Where the analyst fan-out (analyst_fanout.h) finds each group and each cookie, and the
  // routes that answer peers' fan-outs (cluster_node_analyst.cc).
  FanoutOptions AnalystSources() const;
  // This node's data of the cookie's partition, when it owns it and has caught up.
  absl::StatusOr<const Analytics*> ReadyCookieOwner(std::string_view cookie) const;
  void RegisterAnalystRoutes(server::HttpRouter& router);
  // One owner's answer for a group: `local` on this node's database when it owns the group and
  // has caught up, else GET `target` from the other owners in turn (cluster_node_export.cc).
  absl::StatusOr<std::string> AskGroup(
      const Group& group, const std::function<absl::StatusOr<std::string>(const Database&)>& local,
      const std::string& target) const;
  // /cluster/export and /cluster/raw_from: a page of a group's raw tags for a peer's export.
  void RegisterExportRoutes(server::HttpRouter& router);

  const ClusterConfig config_;
  const ClusterNodeOptions options_;
  int self_ = -1;
  std::string boot_id_;  // makes message ids unique across restarts
  std::atomic<uint64_t> next_message_{0};
  std::vector<std::unique_ptr<Group>> groups_;          // every group of the cluster
  std::vector<std::unique_ptr<Partition>> partitions_;  // [partition]; local ones have readers
  OwnerPositions positions_;
  RetryIds retry_ids_{RetryIds::Options{}};
  std::unique_ptr<TagLog> log_;
  std::unique_ptr<SnapshotStore> snapshots_;  // copies of this node's groups for peers
  std::unique_ptr<ClusterAnalytics> analytics_;  // the analyst queries over every group
  std::vector<std::unique_ptr<TagLog::Listener>> heartbeats_;  // one per peer
  std::atomic<bool> positions_changed_{false};  // applied since the last heartbeat
  std::atomic<bool> ever_ready_{false};
  std::atomic<uint64_t> ingest_failures_{0};
  std::atomic<uint64_t> retried_tags_{0};  // sent under a failed attempt's Msg-Id
  std::atomic<uint64_t> apply_failures_{0};
  std::atomic<uint64_t> truncated_reads_{0};
  std::atomic<int64_t> last_apply_failure_ms_{0};  // steady clock; 0 once an apply succeeded

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread heartbeat_thread_;
};

}  // namespace allezon::cluster

#endif  // ALLEZON_SERVER_CLUSTER_CLUSTER_NODE_H_
