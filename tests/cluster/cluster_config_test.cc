// The cluster file (server/cluster/cluster_config.h): parsing, validation errors that name the
// field, the partition function against zlib's CRC-32, and HAProxy's configuration made from it.
#include "cluster_config.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "haproxy_config.h"

namespace allezon::cluster {
namespace {

// A valid three-node, four-partition file; tests replace one piece of it with `Replace`.
constexpr std::string_view kValid = R"({
  "partitions": 4,
  "nats": {"servers": ["nats://127.0.0.1:14221", "nats://127.0.0.1:14222"],
           "stream": "TAGS", "subject_prefix": "tags", "replicas": 3, "max_age_hours": 26},
  "nodes": [{"id": "node1", "address": "127.0.0.1:18081"},
            {"id": "node2", "address": "127.0.0.1:18082"},
            {"id": "node3", "address": "localhost:18083"}],
  "assignment": [{"partition": 0, "primary": "node1", "secondary": "node2"},
                 {"partition": 1, "primary": "node2", "secondary": "node3"},
                 {"partition": 2, "primary": "node3", "secondary": "node1"},
                 {"partition": 3, "primary": "node1", "secondary": "node2"}]
})";

std::string Replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  const size_t at = out.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "test bug: \"", std::string(from), "\" not in the file");
  out.replace(at, from.size(), to);
  return out;
}

// The error message of parsing `text`, which must fail with InvalidArgument.
std::string ErrorOf(std::string_view text) {
  absl::StatusOr<ClusterConfig> config = ParseClusterConfig(text);
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

TEST_SUITE("cluster.config") {
  TEST_CASE("a valid file parses into nodes, NATS settings and owners") {
    absl::StatusOr<ClusterConfig> config = ParseClusterConfig(kValid);
    REQUIRE_MESSAGE(config.ok(), std::string(config.status().message()));
    CHECK(config->partitions == 4);
    REQUIRE(config->nodes.size() == 3);
    CHECK(config->nodes[0].id == "node1");
    CHECK(config->nodes[0].host == "127.0.0.1");
    CHECK(config->nodes[0].port == 18081);
    CHECK(config->nodes[2].host == "localhost");
    REQUIRE(config->nats.servers.size() == 2);
    CHECK(config->nats.servers[1] == "nats://127.0.0.1:14222");
    CHECK(config->nats.stream == "TAGS");
    CHECK(config->nats.subject_prefix == "tags");
    CHECK(config->nats.replicas == 3);
    CHECK(config->nats.max_age_hours == 26);
    REQUIRE(config->owners.size() == 4);
    CHECK(config->owners[2].primary == 2);
    CHECK(config->owners[2].secondary == 0);
    CHECK(config->NodeIndex("node2") == 1);
    CHECK(config->NodeIndex("node9") == -1);
  }

  TEST_CASE("optional NATS settings take their defaults, assignment order does not matter") {
    const std::string text = R"({"partitions": 2, "nats": {"servers": ["nats://h:1"]},
      "nodes": [{"id": "a", "address": "[::1]:80"}, {"id": "b", "address": "h:81"}],
      "assignment": [{"partition": 1, "primary": "b", "secondary": "a"},
                     {"partition": 0, "primary": "a", "secondary": "b"}]})";
    absl::StatusOr<ClusterConfig> config = ParseClusterConfig(text);
    REQUIRE_MESSAGE(config.ok(), std::string(config.status().message()));
    CHECK(config->nats.stream == "TAGS");
    CHECK(config->nats.replicas == 3);
    CHECK(config->nodes[0].host == "::1");
    CHECK(config->owners[1].primary == 1);
    CHECK(config->owners[0].secondary == 1);
  }

  TEST_CASE("a one-node cluster needs no secondary") {
    const std::string text =
        R"({"partitions": 1, "nats": {"servers": ["nats://h:1"], "replicas": 1},
      "nodes": [{"id": "solo", "address": "127.0.0.1:8080"}],
      "assignment": [{"partition": 0, "primary": "solo"}]})";
    absl::StatusOr<ClusterConfig> config = ParseClusterConfig(text);
    REQUIRE_MESSAGE(config.ok(), std::string(config.status().message()));
    CHECK(config->owners[0].secondary == -1);
  }

  TEST_CASE("errors name the field") {
    CHECK(Contains(ErrorOf("{"), "not valid JSON"));
    CHECK(Contains(ErrorOf("[]"), "must be a JSON object"));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"partitions\": 4", "\"partitions\": 0")),
                   "partitions: must be 1..4096"));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"partitions\": 4", "\"partitions\": 4097")),
                   "partitions: must be 1..4096"));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"partitions\": 4", "\"partitions\": 4.5")),
                   "partitions: must be 1..4096"));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"partitions\": 4", "\"partitons\": 4")),
                   "partitons: unknown field"));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"replicas\": 3", "\"replica\": 3")),
                   "nats.replica: unknown field"));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"replicas\": 3", "\"replicas\": 7")),
                   "nats.replicas: "));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"max_age_hours\": 26", "\"max_age_hours\": 0")),
                   "nats.max_age_hours: "));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"nats://127.0.0.1:14222\"", "\"127.0.0.1:14222\"")),
                   "nats.servers[1]: "));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"nats://127.0.0.1:14222\"", "\"nats://127.0.0.1:x\"")),
                   "nats.servers[1]: "));
    CHECK(Contains(
        ErrorOf(Replace(kValid, "[\"nats://127.0.0.1:14221\", \"nats://127.0.0.1:14222\"]", "[]")),
        "nats.servers: "));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"stream\": \"TAGS\"", "\"stream\": \"TA GS\"")),
                   "nats.stream: "));
    CHECK(Contains(
        ErrorOf(Replace(kValid, "\"subject_prefix\": \"tags\"", "\"subject_prefix\": \"tags.*\"")),
        "nats.subject_prefix: "));
    CHECK(Contains(
        ErrorOf(Replace(kValid, "\"subject_prefix\": \"tags\"", "\"subject_prefix\": \"a..b\"")),
        "nats.subject_prefix: "));
    CHECK(ParseClusterConfig(Replace(kValid, "\"subject_prefix\": \"tags\"",
                                     "\"subject_prefix\": \"allezon.tags\""))
              .ok());
    CHECK(Contains(ErrorOf(Replace(kValid, "\"nats\"", "\"natz\"")), "natz: unknown field"));
  }

  TEST_CASE("node errors name the node") {
    CHECK(Contains(ErrorOf(Replace(kValid, "\"127.0.0.1:18082\"", "\"127.0.0.1\"")),
                   "nodes[1].address: "));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"127.0.0.1:18082\"", "\"127.0.0.1:0\"")),
                   "nodes[1].address: "));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"127.0.0.1:18082\"", "\"127.0.0.1:65536\"")),
                   "nodes[1].address: "));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"127.0.0.1:18082\"", "\"bad host:1\"")),
                   "nodes[1].address: "));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"127.0.0.1:18082\"", "\"127.0.0.1:18081\"")),
                   "nodes[1].address: \"127.0.0.1:18081\" is used by another node"));
    CHECK(Contains(ErrorOf(Replace(kValid, "{\"id\": \"node2\", \"address\": \"127.0.0.1:18082\"}",
                                   "{\"id\": \"node2\"}")),
                   "nodes[1].address: is missing"));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"id\": \"node2\"", "\"id\": \"node1\"")),
                   "nodes[1].id: duplicate node id \"node1\""));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"id\": \"node2\"", "\"id\": \"node/2\"")),
                   "nodes[1].id: "));
    CHECK(Contains(
        ErrorOf(Replace(kValid, "\"id\": \"node2\"", "\"id\": \"node2\", \"adress\": \"x\"")),
        "nodes[1].adress: unknown field"));
  }

  TEST_CASE("assignment errors name the entry") {
    CHECK(Contains(ErrorOf(Replace(kValid, "{\"partition\": 3, \"primary\": \"node1\"",
                                   "{\"partition\": 3, \"primary\": \"node9\"")),
                   "assignment[3].primary: unknown node \"node9\""));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"primary\": \"node2\", \"secondary\": \"node3\"",
                                   "\"primary\": \"node2\", \"secondary\": \"node7\"")),
                   "assignment[1].secondary: unknown node \"node7\""));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"primary\": \"node2\", \"secondary\": \"node3\"",
                                   "\"primary\": \"node2\", \"secondary\": \"node2\"")),
                   "assignment[1].secondary: "));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"primary\": \"node2\", \"secondary\": \"node3\"",
                                   "\"primary\": \"node2\"")),
                   "assignment[1].secondary: is missing"));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"partition\": 3", "\"partition\": 1")),
                   "assignment[3].partition: partition 1 is assigned twice"));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"partition\": 3", "\"partition\": 4")),
                   "assignment[3].partition: "));
    CHECK(Contains(ErrorOf(Replace(kValid,
                                   ",\n                 {\"partition\": 3, \"primary\": \"node1\", "
                                   "\"secondary\": \"node2\"}",
                                   "")),
                   "assignment: partition 3 is missing"));
    CHECK(Contains(ErrorOf(Replace(kValid, "\"secondary\": \"node1\"",
                                   "\"secondary\": \"node1\", \"backup\": 1")),
                   "assignment[2].backup: unknown field"));
  }

  TEST_CASE("LoadClusterConfig reads a file and says which one could not be read") {
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() /
        ("allezon_cluster_config_test_" + std::to_string(::getpid()));
    {
      std::ofstream out(path);
      out << kValid;
    }
    absl::StatusOr<ClusterConfig> config = LoadClusterConfig(path.string());
    CHECK(config.ok());
    {
      std::ofstream out(path);
      out << Replace(kValid, "\"partitions\": 4", "\"partitions\": -1");
    }
    config = LoadClusterConfig(path.string());
    REQUIRE_FALSE(config.ok());
    CHECK(Contains(std::string(config.status().message()), "partitions: must be 1..4096"));
    std::filesystem::remove(path);
    config = LoadClusterConfig(path.string());
    REQUIRE_FALSE(config.ok());
    CHECK(config.status().code() == absl::StatusCode::kNotFound);
    CHECK(Contains(std::string(config.status().message()), path.string()));
  }

  TEST_CASE("PartitionOf is zlib's crc32 mod P") {
    // Reference CRC-32 values (zlib / IEEE 802.3): "123456789" -> 0xCBF43926.
    CHECK(PartitionOf("123456789", 64) == 0xCBF43926u % 64);
    CHECK(PartitionOf("123456789", 4096) == 2342);
    CHECK(PartitionOf("123456789", 7) == 5);
    CHECK(PartitionOf("a", 64) == 0xE8B7BE43u % 64);
    CHECK(PartitionOf("The quick brown fox jumps over the lazy dog", 64) == 0x414FA339u % 64);
    CHECK(PartitionOf("8CyGkmkQTWDWNarATGMd", 64) == 26);
    CHECK(PartitionOf("caf\xc3\xa9", 64) == 53);  // raw UTF-8 bytes, as HAProxy hashes them
    CHECK(PartitionOf("", 64) == 0);
    CHECK(PartitionOf("anything", 1) == 0);
  }

  TEST_CASE(
      "HAProxy's configuration has one backend per partition: primary, then secondary as backup") {
    absl::StatusOr<ClusterConfig> config = ParseClusterConfig(kValid);
    REQUIRE(config.ok());
    HaproxyOptions options;
    options.bind = "127.0.0.1:18080";
    const std::string text = HaproxyConfig(*config, options);
    CHECK(text.rfind("# Generated", 0) == 0);
    CHECK(Contains(text, "bind 127.0.0.1:18080\n"));
    CHECK(Contains(text, "option http-buffer-request"));
    CHECK(Contains(text, "req.body,json_query('$.cookie')"));
    CHECK(Contains(text, "path,field(3,/),url_dec"));
    // Sessions, like profiles, go to the cookie's owner (no forwarding hop).
    CHECK(Contains(text, "acl cookie_path path_beg /user_profiles/ /user_sessions/\n"));
    CHECK(Contains(text, "crc32,mod(4)"));
    CHECK(Contains(text, "use_backend p%[var(txn.part)]"));
    CHECK(Contains(text, "default_backend any_node"));
    // A batch's retry reaches the node that remembers its tags' Msg-Ids.
    CHECK(Contains(text, "use_backend batch if tag_post { path /user_tags/batch }\n"));
    CHECK(Contains(text,
                   "backend batch\n"
                   "    balance hash req.body\n"
                   "    hash-type consistent\n"
                   "    server node1 127.0.0.1:18081 id 1 track any_node/node1\n"));
    CHECK(Contains(text, "option httpchk GET /readyz"));
    CHECK(Contains(text, "http-check expect status 200"));
    CHECK(Contains(text, "retry-on conn-failure"));
    CHECK_FALSE(Contains(text, "frontend stats"));
    CHECK(Contains(text,
                   "backend p0\n"
                   "    server node1 127.0.0.1:18081 id 1 track any_node/node1\n"
                   "    server node2 127.0.0.1:18082 id 2 track any_node/node2 backup\n"));
    CHECK(Contains(text,
                   "backend p2\n"
                   "    server node3 localhost:18083 id 3 track any_node/node3\n"
                   "    server node1 127.0.0.1:18081 id 1 track any_node/node1 backup\n"));
    CHECK(Contains(text, "backend p3\n"));
    CHECK_FALSE(Contains(text, "backend p4\n"));
    CHECK(Contains(text,
                   "backend any_node\n"
                   "    balance roundrobin\n"
                   "    server node1 127.0.0.1:18081 id 1 check inter 500ms fall 2 rise 2\n"));

    options.stats_bind = "127.0.0.1:18404";
    CHECK(Contains(HaproxyConfig(*config, options), "frontend stats\n    bind 127.0.0.1:18404\n"));
  }

  TEST_CASE("HAProxy accepts the generated configuration" *
            doctest::skip(!std::filesystem::exists("/usr/sbin/haproxy"))) {
    absl::StatusOr<ClusterConfig> config = ParseClusterConfig(kValid);
    REQUIRE(config.ok());
    HaproxyOptions options;
    // `-c` only checks: nothing binds these ports.
    options.bind = "127.0.0.1:18080";
    options.stats_bind = "127.0.0.1:18404";
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() /
        ("allezon_haproxy_test_" + std::to_string(::getpid()) + ".cfg");
    {
      std::ofstream out(path);
      out << HaproxyConfig(*config, options);
    }
    const std::string command = "/usr/sbin/haproxy -c -f " + path.string() + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string output;
    char buffer[512];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
    const int status = ::pclose(pipe);
    std::filesystem::remove(path);
    CHECK_MESSAGE(status == 0, output);
    CHECK_MESSAGE(!Contains(output, "WARNING"), output);
    CHECK_MESSAGE(!Contains(output, "ALERT"), output);
  }
}

}  // namespace
}  // namespace allezon::cluster
