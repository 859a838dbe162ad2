// A real local cluster for tests: scripts/cluster.sh brings up 3 nats-server, the nodes and
// HAProxy on free loopback ports under a temporary directory, and takes them down again.
#pragma once

#include <string>
#include <vector>

#include "allezon_test/server_process.h"

namespace allezon_cluster_test {

class LocalCluster {
 public:
  // `up` with `nodes` nodes, each also given `node_flags` (allezon-server flags); throws
  // (failing the test) when the cluster does not come up.
  explicit LocalCluster(int nodes = 3, const std::string& node_flags = "");
  ~LocalCluster();  // `down`, then the directory goes
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  int port() const { return port_; }
  // The loopback port of a node ("node1"...) from DIR/ports; 0 when unknown.
  int NodePort(const std::string& node) const;
  const std::string& dir() const { return dir_; }

  // cluster.sh kill|start NAME; start with --wipe when `wipe`. The exit code.
  int Kill(const std::string& name);
  int Start(const std::string& name, bool wipe = false);
  // `status` output, one line per process.
  std::vector<std::string> Status();
  // Until every process is up and ready (status), or `seconds` pass: false then.
  bool WaitAllReady(double seconds);

 private:
  int Script(const std::string& arguments, std::string* output = nullptr);

  allezon_test::TempDir temp_;
  std::string dir_;
  int port_ = 0;
};

// A free loopback TCP port (bound once and released).
int FreePort();

}  // namespace allezon_cluster_test
