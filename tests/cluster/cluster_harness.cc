#include "cluster_harness.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace allezon_cluster_test {

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    throw std::runtime_error("no free port");
  }
  close(fd);
  return ntohs(address.sin_port);
}

LocalCluster::LocalCluster(int nodes, const std::string& node_flags) : temp_("allezon-cluster") {
  dir_ = (temp_.path() / "cluster").string();
  port_ = FreePort();
  std::string output;
  if (Script("up " + dir_ + " --nodes " + std::to_string(nodes) + " --port " +
                 std::to_string(port_) + " --node-flags '" + node_flags + "'",
             &output) != 0) {
    Script("down " + dir_);
    throw std::runtime_error("cluster.sh up failed:\n" + output);
  }
}

LocalCluster::~LocalCluster() { Script("down " + dir_); }

int LocalCluster::Script(const std::string& arguments, std::string* output) {
  const std::string command = "ALLEZON_BUILD_DIR='" ALLEZON_BUILD_DIR "' bash '" ALLEZON_SOURCE_DIR
                              "/scripts/cluster.sh' " +
                              arguments + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    if (output != nullptr) output->append(buffer.data(), n);
  }
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int LocalCluster::NodePort(const std::string& node) const {
  std::ifstream ports(dir_ + "/ports");
  std::string line;
  while (std::getline(ports, line)) {
    if (line.rfind(node + "=", 0) == 0) return std::atoi(line.c_str() + node.size() + 1);
  }
  return 0;
}

int LocalCluster::Kill(const std::string& name) { return Script("kill " + dir_ + " " + name); }

int LocalCluster::Start(const std::string& name, bool wipe) {
  return Script("start " + dir_ + " " + name + (wipe ? " --wipe" : ""));
}

std::vector<std::string> LocalCluster::Status() {
  std::string output;
  Script("status " + dir_, &output);
  std::vector<std::string> lines;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

bool LocalCluster::WaitAllReady(double seconds) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    bool all = true;
    std::vector<std::string> lines = Status();
    for (const std::string& line : lines) {
      if (line.find(" down") != std::string::npos || line.find("not-ready") != std::string::npos) {
        all = false;
      }
    }
    if (all && !lines.empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return false;
}

}  // namespace allezon_cluster_test
