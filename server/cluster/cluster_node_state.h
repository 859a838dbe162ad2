// Internal to ClusterNode: its per-group and per-partition state, shared by the files that
// implement it (cluster_node.cc; cluster_node_analyst.cc, the analyst fan-out's sources).
#ifndef ALLEZON_SERVER_CLUSTER_CLUSTER_NODE_STATE_H_
#define ALLEZON_SERVER_CLUSTER_CLUSTER_NODE_STATE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "allezon/database.h"
#include "cluster_node.h"
#include "tag_log.h"

namespace allezon::cluster {

struct ClusterNode::Group {
  std::string key;  // "<primary>-<secondary>" (or "<primary>")
  int primary = 0;
  int secondary = -1;
  std::vector<int> partitions;
  std::unique_ptr<Database> db;  // when this node owns the group
  std::string rebuilt_from;      // the owner whose copy this node started from, if any
};

struct ClusterNode::Partition {
  int id = 0;
  Group* group = nullptr;
  std::string subject;
  std::atomic<uint64_t> applied{0};  // the last log sequence committed here
  std::atomic<uint64_t> pending{0};  // log entries after it, as the log last counted
  std::atomic<bool> caught_up{false};
  std::unique_ptr<TagLog::Reader> reader;
};

}  // namespace allezon::cluster

#endif  // ALLEZON_SERVER_CLUSTER_CLUSTER_NODE_STATE_H_
