// The cluster file (SPEC §8): the NATS servers and stream, the nodes, P partitions and each
// partition's primary and secondary node. The nodes and HAProxy's configuration are both made
// from it, so ownership is one explicit table that routing, storage and the log all share.
//
// Format (JSON; README "Running a cluster"):
//   {"partitions": 64,
//    "nats": {"servers": ["nats://127.0.0.1:14221", ...], "stream": "TAGS",
//             "subject_prefix": "tags", "replicas": 3, "max_age_hours": 26},
//    "nodes": [{"id": "node1", "address": "127.0.0.1:18081"}, ...],
//    "assignment": [{"partition": 0, "primary": "node1", "secondary": "node2"}, ...]}
// Every partition 0..P-1 appears exactly once in "assignment"; "secondary" may be omitted
// only in a one-node cluster and must differ from "primary".
//
// Thread-safety: plain values; PartitionOf is pure.
#ifndef ALLEZON_SERVER_CLUSTER_CLUSTER_CONFIG_H_
#define ALLEZON_SERVER_CLUSTER_CLUSTER_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace allezon::cluster {

struct NodeSpec {
  std::string id;    // [A-Za-z0-9_-]{1,64}, unique
  std::string host;  // where its HTTP server listens (and peers reach it)
  int port = 0;      // 1..65535
};

struct NatsSpec {
  std::vector<std::string> servers;  // nats://host:port, at least one
  std::string stream = "TAGS";         // JetStream stream name
  std::string subject_prefix = "tags"; // partition p is subject "<prefix>.<p>"
  int replicas = 3;                    // 1..5; 3 survives the loss of one server
  int64_t max_age_hours = 26;          // how long the log keeps a tag, >= 1
};

struct PartitionOwners {
  int primary = 0;     // index into ClusterConfig::nodes
  int secondary = -1;  // index into ClusterConfig::nodes, -1 = none (one-node cluster only)
};

struct ClusterConfig {
  int partitions = 64;                  // P, 1..4096
  NatsSpec nats;
  std::vector<NodeSpec> nodes;          // at least one
  std::vector<PartitionOwners> owners;  // [partition], size == partitions

  // Index of the node with this id, -1 when none.
  int NodeIndex(std::string_view id) const;
};

// Parses and validates a cluster file's text. InvalidArgument whose message names the field,
// e.g. `assignment[3].primary: unknown node "node9"`.
absl::StatusOr<ClusterConfig> ParseClusterConfig(std::string_view json);
// Reads and parses the file; NotFound when it cannot be read (message names the path).
absl::StatusOr<ClusterConfig> LoadClusterConfig(const std::string& path);

// The partition of a cookie: zlib's crc32 of its raw bytes mod `partitions`, which is also
// what HAProxy's `crc32` and `mod` converters compute.
uint32_t PartitionOf(std::string_view cookie, int partitions);

}  // namespace allezon::cluster

#endif  // ALLEZON_SERVER_CLUSTER_CLUSTER_CONFIG_H_
