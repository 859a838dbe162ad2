// ClusterNode's side of the analyst queries (analyst_fanout.h): where each partition group's
// and each cookie's answer comes from, and the routes that answer peers. Apart from
// cluster_node.cc, which holds the log and storage.
#include "absl/strings/str_cat.h"
#include "cluster_node.h"
#include "cluster_node_state.h"

namespace allezon::cluster {

FanoutOptions ClusterNode::AnalystSources() const {
  FanoutOptions fanout;
  fanout.connect_timeout = options_.peer_connect_timeout;
  fanout.timeout = options_.peer_timeout;
  // Not ready here: the group's other owners, primary first (as for aggregates).
  const auto others = [this](const Group& group, AnswerSource* source) {
    for (int owner : {group.primary, group.secondary}) {
      if (owner >= 0 && owner != self_) {
        source->peers.push_back(&config_.nodes[static_cast<size_t>(owner)]);
      }
    }
  };
  fanout.groups = [this, others] {
    std::vector<AnswerSource> sources;
    for (const auto& group : groups_) {
      AnswerSource& source = sources.emplace_back();
      source.key = group->key;
      if (GroupReady(*group)) {
        source.local = &group->db->analytics();
      } else {
        others(*group, &source);
      }
    }
    return sources;
  };
  // As profiles: this node's data once the cookie's partition has caught up here.
  fanout.cookie_owners = [this, others](std::string_view cookie) {
    const Partition& partition = *partitions_[PartitionOf(cookie, config_.partitions)];
    AnswerSource source;
    source.key = absl::StrCat(partition.id);
    if (partition.group->db != nullptr && partition.caught_up.load()) {
      source.local = &partition.group->db->analytics();
    } else {
      others(*partition.group, &source);
    }
    return source;
  };
  return fanout;
}

absl::StatusOr<const Analytics*> ClusterNode::ReadyCookieOwner(std::string_view cookie) const {
  const Partition& partition = *partitions_[PartitionOf(cookie, config_.partitions)];
  if (partition.group->db == nullptr || !partition.caught_up.load()) {
    return absl::UnavailableError(
        absl::StrCat(options_.node_id, " cannot answer for partition ", partition.id));
  }
  return &partition.group->db->analytics();
}

void ClusterNode::RegisterAnalystRoutes(server::HttpRouter& router) {
  RegisterAnalystPeerRoutes(
      router,
      [this](std::string_view group) -> absl::StatusOr<const Analytics*> {
        absl::StatusOr<const Database*> db = ReadyGroupDatabase(group);
        if (!db.ok()) return db.status();
        return &(*db)->analytics();
      },
      [this](std::string_view cookie) { return ReadyCookieOwner(cookie); });
}

}  // namespace allezon::cluster
