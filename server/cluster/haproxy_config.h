// HAProxy's configuration made from the cluster file (SPEC §8, SCALE-OUT "Config B"): one
// backend per partition with its primary and its secondary as `backup`, and HAProxy computing
// the partition exactly as the nodes do (zlib crc32 of the cookie mod P). Generated, never
// hand-kept, so routing cannot drift from the table that the nodes and the log use.
//
// Thread-safety: pure function.
#ifndef ALLEZON_SERVER_CLUSTER_HAPROXY_CONFIG_H_
#define ALLEZON_SERVER_CLUSTER_HAPROXY_CONFIG_H_

#include <chrono>
#include <string>

#include "cluster_config.h"

namespace allezon::cluster {

struct HaproxyOptions {
  std::string bind = "127.0.0.1:8080";  // the front door
  // Where Prometheus (/metrics) and HAProxy's stats page (/stats) listen; empty = nowhere.
  std::string stats_bind;
  std::chrono::milliseconds check_interval{500};  // /readyz of every node
  int fall = 2;  // failed checks before a node is down (its partitions go to their secondaries)
  int rise = 2;  // passed checks before it is up again
  std::chrono::milliseconds timeout_connect{1000};
  std::chrono::milliseconds timeout_client{30000};
  std::chrono::milliseconds timeout_server{30000};
  std::chrono::milliseconds timeout_http_request{10000};
  int retries = 2;  // re-connections after a connection failure (never after a sent request)
  // Connections per process (and so for the front door); 0 = HAProxy's own default, derived
  // from the file descriptor limit, which a fixed number could exceed.
  int maxconn = 0;
};

// The whole configuration file's text. `config` must be valid (ParseClusterConfig's output).
std::string HaproxyConfig(const ClusterConfig& config, const HaproxyOptions& options);

}  // namespace allezon::cluster

#endif  // ALLEZON_SERVER_CLUSTER_HAPROXY_CONFIG_H_
