// allezon-cluster: checks a cluster file, prints HAProxy's configuration made from it, and makes
// a cluster file with a ring assignment (SPEC §8). Exit 0 on success, 1 when a file or value is
// bad (the message names the field), 2 on a usage error.
#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cluster_config.h"
#include "haproxy_config.h"

namespace allezon::cluster {
namespace {

constexpr std::string_view kUsage =
    "usage:\n"
    "  allezon-cluster check FILE\n"
    "      validate a cluster file; prints \"ok: N nodes, P partitions\"\n"
    "  allezon-cluster haproxy-config FILE [--bind ADDR:PORT] [--stats-bind ADDR:PORT]\n"
    "      print HAProxy's configuration for the cluster (front door on --bind, default\n"
    "      127.0.0.1:8080; Prometheus /metrics and /stats on --stats-bind, default none)\n"
    "  allezon-cluster ring --nodes ID=HOST:PORT,... --nats nats://HOST:PORT,...\n"
    "                       [--partitions 64] [--replicas 3]\n"
    "      print a cluster file whose partition p has primary node p mod N and secondary\n"
    "      node (p+1) mod N (none when N == 1)\n";

int Usage(std::string_view problem) {
  if (!problem.empty())
    std::fprintf(stderr, "allezon-cluster: %.*s\n", static_cast<int>(problem.size()),
                 problem.data());
  std::fprintf(stderr, "%.*s", static_cast<int>(kUsage.size()), kUsage.data());
  return 2;
}

int Fail(const absl::Status& status, std::string_view file = {}) {
  const std::string message(status.message());
  // A NotFound already names the file.
  if (file.empty() || status.code() == absl::StatusCode::kNotFound) {
    std::fprintf(stderr, "allezon-cluster: %s\n", message.c_str());
  } else {
    std::fprintf(stderr, "allezon-cluster: %.*s: %s\n", static_cast<int>(file.size()), file.data(),
                 message.c_str());
  }
  return 1;
}

// Parsed command line: positional arguments and --name VALUE (or --name=VALUE) options.
struct Args {
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> options;
  std::string error;

  const std::string* Get(std::string_view name) const {
    const std::string* found = nullptr;
    for (const auto& [key, value] : options) {
      if (key == name) found = &value;
    }
    return found;
  }
};

Args ParseArgs(int argc, char** argv, int first, std::initializer_list<std::string_view> known) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.substr(0, 2) != "--") {
      args.positional.emplace_back(arg);
      continue;
    }
    arg.remove_prefix(2);
    std::string name(arg);
    std::string value;
    if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      args.error = absl::StrCat("--", name, " needs a value");
      return args;
    }
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == name;
    if (!ok) {
      args.error = absl::StrCat("unknown option --", name);
      return args;
    }
    args.options.emplace_back(std::move(name), std::move(value));
  }
  return args;
}

std::vector<std::string> SplitCommas(std::string_view text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    items.emplace_back(text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) return items;
    start = comma + 1;
  }
}

bool ParseInt(std::string_view text, int low, int high, int* out) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < low ||
      value > high) {
    return false;
  }
  *out = value;
  return true;
}

// A JSON string literal. Values are checked by re-parsing the output, so only the escaping
// that keeps the document well-formed matters here.
std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x",
                    static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += escape;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

int Check(const std::vector<std::string>& positional) {
  if (positional.size() != 1) return Usage("check takes exactly one FILE");
  absl::StatusOr<ClusterConfig> config = LoadClusterConfig(positional[0]);
  if (!config.ok()) return Fail(config.status(), positional[0]);
  std::printf("ok: %zu nodes, %d partitions\n", config->nodes.size(), config->partitions);
  return 0;
}

int Haproxy(const Args& args) {
  if (args.positional.size() != 1) return Usage("haproxy-config takes exactly one FILE");
  absl::StatusOr<ClusterConfig> config = LoadClusterConfig(args.positional[0]);
  if (!config.ok()) return Fail(config.status(), args.positional[0]);
  HaproxyOptions options;
  if (const std::string* bind = args.Get("bind")) options.bind = *bind;
  if (const std::string* bind = args.Get("stats-bind")) options.stats_bind = *bind;
  // A bind address goes into the file verbatim: keep it one word of an address.
  for (const std::string* bind : {&options.bind, &options.stats_bind}) {
    for (char c : *bind) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '#' || c == '\'' || c == '"' || c == '\\') {
        return Usage(absl::StrCat("bad bind address \"", *bind, "\""));
      }
    }
  }
  if (options.bind.empty()) return Usage("--bind must not be empty");
  const std::string text = HaproxyConfig(*config, options);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

int Ring(const Args& args) {
  if (!args.positional.empty()) return Usage("ring takes no positional argument");
  const std::string* nodes = args.Get("nodes");
  const std::string* nats = args.Get("nats");
  if (nodes == nullptr || nodes->empty()) return Usage("ring needs --nodes");
  if (nats == nullptr || nats->empty()) return Usage("ring needs --nats");
  int partitions = 64;
  int replicas = 3;
  if (const std::string* v = args.Get("partitions");
      v != nullptr && !ParseInt(*v, 1, 4096, &partitions)) {
    return Usage("--partitions must be 1..4096");
  }
  if (const std::string* v = args.Get("replicas"); v != nullptr && !ParseInt(*v, 1, 5, &replicas)) {
    return Usage("--replicas must be 1..5");
  }

  std::vector<std::pair<std::string, std::string>> node_list;  // id, address
  for (std::string_view item : SplitCommas(*nodes)) {
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      return Usage(absl::StrCat("--nodes item \"", std::string(item), "\" is not ID=HOST:PORT"));
    }
    node_list.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
  }
  const std::vector<std::string> servers = SplitCommas(*nats);

  const size_t n = node_list.size();
  std::string out =
      absl::StrCat("{\n  \"partitions\": ", partitions, ",\n  \"nats\": {\n    \"servers\": [");
  for (size_t i = 0; i < servers.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ", ", JsonString(servers[i]));
  }
  absl::StrAppend(
      &out, "],\n    \"stream\": \"TAGS\",\n    \"subject_prefix\": \"tags\",\n    \"replicas\": ",
      replicas, ",\n    \"max_age_hours\": 26\n  },\n  \"nodes\": [\n");
  for (size_t i = 0; i < n; ++i) {
    absl::StrAppend(&out, "    {\"id\": ", JsonString(node_list[i].first),
                    ", \"address\": ", JsonString(node_list[i].second), "}",
                    i + 1 < n ? ",\n" : "\n");
  }
  out += "  ],\n  \"assignment\": [\n";
  for (int p = 0; p < partitions; ++p) {
    const size_t primary = static_cast<size_t>(p) % n;
    absl::StrAppend(&out, "    {\"partition\": ", p,
                    ", \"primary\": ", JsonString(node_list[primary].first));
    if (n > 1)
      absl::StrAppend(&out, ", \"secondary\": ", JsonString(node_list[(primary + 1) % n].first));
    absl::StrAppend(&out, "}", p + 1 < partitions ? ",\n" : "\n");
  }
  out += "  ]\n}\n";

  // What is printed must pass `check`: the same validation names the bad node or server.
  absl::StatusOr<ClusterConfig> config = ParseClusterConfig(out);
  if (!config.ok()) return Fail(config.status());
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

int Run(int argc, char** argv) {
  if (argc < 2) return Usage("");
  const std::string_view command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::printf("%.*s", static_cast<int>(kUsage.size()), kUsage.data());
    return 0;
  }
  if (command == "check") {
    Args args = ParseArgs(argc, argv, 2, {});
    if (!args.error.empty()) return Usage(args.error);
    return Check(args.positional);
  }
  if (command == "haproxy-config") {
    Args args = ParseArgs(argc, argv, 2, {"bind", "stats-bind"});
    if (!args.error.empty()) return Usage(args.error);
    return Haproxy(args);
  }
  if (command == "ring") {
    Args args = ParseArgs(argc, argv, 2, {"nodes", "nats", "partitions", "replicas"});
    if (!args.error.empty()) return Usage(args.error);
    return Ring(args);
  }
  return Usage(absl::StrCat("unknown command \"", std::string(command), "\""));
}

}  // namespace
}  // namespace allezon::cluster

int main(int argc, char** argv) { return allezon::cluster::Run(argc, argv); }
