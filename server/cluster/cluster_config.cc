#include "cluster_config.h"

#include <zlib.h>

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

namespace allezon::cluster {
namespace {

// Debian's Abseil has its own absl::string_view, distinct from std::string_view.
absl::string_view Sv(std::string_view text) { return {text.data(), text.size()}; }

absl::Status FieldError(std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(Sv(field), ": ", Sv(problem)));
}

std::string Quoted(std::string_view text) { return absl::StrCat("\"", Sv(text), "\""); }

bool IsIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool IsIdentifier(std::string_view text, size_t max_length) {
  if (text.empty() || text.size() > max_length) return false;
  for (char c : text) {
    if (!IsIdChar(c)) return false;
  }
  return true;
}

// A subject prefix is one or more dot-separated tokens; wildcards and whitespace would make
// "<prefix>.<p>" match other partitions' subjects.
bool IsSubjectPrefix(std::string_view text) {
  if (text.empty() || text.size() > 128) return false;
  size_t token = 0;
  for (char c : text) {
    if (c == '.') {
      if (token == 0) return false;
      token = 0;
    } else if (IsIdChar(c)) {
      ++token;
    } else {
      return false;
    }
  }
  return token > 0;
}

bool IsHostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    if (!IsIdChar(c) && c != '.') return false;
  }
  return true;
}

bool IsIpv6Literal(std::string_view host) {
  if (host.size() < 2 || host.size() > 45) return false;
  for (char c : host) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex && c != ':' && c != '.') return false;
  }
  return true;
}

// Splits "host:port" or "[v6]:port". The host comes back without brackets; the problem, if
// any, in `problem`.
bool SplitHostPort(std::string_view address, std::string* host, int* port, std::string* problem) {
  std::string_view host_part;
  std::string_view port_part;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      *problem = "must be host:port or [IPv6]:port";
      return false;
    }
    host_part = address.substr(1, close - 1);
    port_part = address.substr(close + 2);
    if (!IsIpv6Literal(host_part)) {
      *problem = "has a bad IPv6 address";
      return false;
    }
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      *problem = "must be host:port";
      return false;
    }
    host_part = address.substr(0, colon);
    port_part = address.substr(colon + 1);
    if (!IsHostname(host_part)) {
      *problem = "must be host:port with a host of letters, digits, '.', '-' and '_'";
      return false;
    }
  }
  int value = 0;
  const auto [end, ec] =
      std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
  if (port_part.empty() || ec != std::errc() || end != port_part.data() + port_part.size() ||
      value < 1 || value > 65535) {
    *problem = "must end in a port 1..65535";
    return false;
  }
  *host = std::string(host_part);
  *port = value;
  return true;
}

// Unknown members are an error: a typo in a cluster file ("secondry") must not silently
// leave a default in place.
absl::Status CheckMembers(const rapidjson::Value& object, std::string_view path,
                          std::initializer_list<std::string_view> known) {
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    const std::string_view name(it->name.GetString(), it->name.GetStringLength());
    bool found = false;
    for (std::string_view k : known) found = found || k == name;
    if (!found) {
      const std::string field =
          path.empty() ? std::string(name) : absl::StrCat(Sv(path), ".", Sv(name));
      return FieldError(field, "unknown field");
    }
  }
  return absl::OkStatus();
}

const rapidjson::Value* Member(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// Reads an optional integer member within [low, high]; absent leaves *out as is.
absl::Status ReadInt(const rapidjson::Value& object, const char* name, std::string_view field,
                     int64_t low, int64_t high, bool required, int64_t* out) {
  const rapidjson::Value* value = Member(object, name);
  if (value == nullptr) {
    return required ? FieldError(field, "is missing") : absl::OkStatus();
  }
  if (!value->IsInt64() || value->GetInt64() < low || value->GetInt64() > high) {
    return FieldError(field, absl::StrCat("must be an integer ", low, "..", high));
  }
  *out = value->GetInt64();
  return absl::OkStatus();
}

absl::Status ReadString(const rapidjson::Value& object, const char* name, std::string_view field,
                        bool required, std::string* out) {
  const rapidjson::Value* value = Member(object, name);
  if (value == nullptr) {
    return required ? FieldError(field, "is missing") : absl::OkStatus();
  }
  if (!value->IsString()) return FieldError(field, "must be a string");
  out->assign(value->GetString(), value->GetStringLength());
  return absl::OkStatus();
}

absl::Status ParseNats(const rapidjson::Value& nats, NatsSpec* out) {
  if (!nats.IsObject()) return FieldError("nats", "must be an object");
  if (auto s = CheckMembers(nats, "nats",
                            {"servers", "stream", "subject_prefix", "replicas", "max_age_hours"});
      !s.ok()) {
    return s;
  }
  const rapidjson::Value* servers = Member(nats, "servers");
  if (servers == nullptr) return FieldError("nats.servers", "is missing");
  if (!servers->IsArray() || servers->Empty()) {
    return FieldError("nats.servers", "must be a non-empty array of nats://host:port");
  }
  for (rapidjson::SizeType i = 0; i < servers->Size(); ++i) {
    const std::string field = absl::StrCat("nats.servers[", i, "]");
    const rapidjson::Value& server = (*servers)[i];
    if (!server.IsString()) return FieldError(field, "must be a string nats://host:port");
    const std::string_view url(server.GetString(), server.GetStringLength());
    std::string_view rest;
    for (std::string_view scheme : {"nats://", "tls://"}) {
      if (url.substr(0, scheme.size()) == scheme) rest = url.substr(scheme.size());
    }
    std::string host;
    int port = 0;
    std::string problem;
    if (rest.empty()) return FieldError(field, "must be nats://host:port");
    if (!SplitHostPort(rest, &host, &port, &problem)) return FieldError(field, problem);
    out->servers.emplace_back(url);
  }
  if (auto s = ReadString(nats, "stream", "nats.stream", false, &out->stream); !s.ok()) return s;
  if (!IsIdentifier(out->stream, 64)) {
    return FieldError("nats.stream", "must be 1..64 of A-Z a-z 0-9 _ -");
  }
  if (auto s =
          ReadString(nats, "subject_prefix", "nats.subject_prefix", false, &out->subject_prefix);
      !s.ok()) {
    return s;
  }
  if (!IsSubjectPrefix(out->subject_prefix)) {
    return FieldError(
        "nats.subject_prefix",
        "must be dot-separated tokens of A-Z a-z 0-9 _ - (no wildcards), 1..128 bytes");
  }
  int64_t replicas = out->replicas;
  if (auto s = ReadInt(nats, "replicas", "nats.replicas", 1, 5, false, &replicas); !s.ok())
    return s;
  out->replicas = static_cast<int>(replicas);
  // Up to 10 years: a longer age is a typo, not a retention policy.
  return ReadInt(nats, "max_age_hours", "nats.max_age_hours", 1, 24 * 366 * 10, false,
                 &out->max_age_hours);
}

absl::Status ParseNodes(const rapidjson::Value& nodes, std::vector<NodeSpec>* out) {
  if (!nodes.IsArray() || nodes.Empty()) return FieldError("nodes", "must be a non-empty array");
  std::set<std::string> ids;
  std::set<std::pair<std::string, int>> addresses;
  for (rapidjson::SizeType i = 0; i < nodes.Size(); ++i) {
    const std::string path = absl::StrCat("nodes[", i, "]");
    const rapidjson::Value& node = nodes[i];
    if (!node.IsObject()) return FieldError(path, "must be an object");
    if (auto s = CheckMembers(node, path, {"id", "address"}); !s.ok()) return s;
    NodeSpec spec;
    const std::string id_field = absl::StrCat(path, ".id");
    if (auto s = ReadString(node, "id", id_field, true, &spec.id); !s.ok()) return s;
    if (!IsIdentifier(spec.id, 64)) return FieldError(id_field, "must be 1..64 of A-Z a-z 0-9 _ -");
    if (!ids.insert(spec.id).second) {
      return FieldError(id_field, absl::StrCat("duplicate node id ", Quoted(spec.id)));
    }
    const std::string address_field = absl::StrCat(path, ".address");
    std::string address;
    if (auto s = ReadString(node, "address", address_field, true, &address); !s.ok()) return s;
    std::string problem;
    if (!SplitHostPort(address, &spec.host, &spec.port, &problem)) {
      return FieldError(address_field, absl::StrCat(Quoted(address), " ", problem));
    }
    if (!addresses.emplace(spec.host, spec.port).second) {
      return FieldError(address_field, absl::StrCat(Quoted(address), " is used by another node"));
    }
    out->push_back(std::move(spec));
  }
  return absl::OkStatus();
}

absl::Status ParseAssignment(const rapidjson::Value& assignment, ClusterConfig* config) {
  if (!assignment.IsArray()) return FieldError("assignment", "must be an array");
  const int partitions = config->partitions;
  std::vector<bool> seen(static_cast<size_t>(partitions), false);
  config->owners.assign(static_cast<size_t>(partitions), PartitionOwners{});
  for (rapidjson::SizeType i = 0; i < assignment.Size(); ++i) {
    const std::string path = absl::StrCat("assignment[", i, "]");
    const rapidjson::Value& entry = assignment[i];
    if (!entry.IsObject()) return FieldError(path, "must be an object");
    if (auto s = CheckMembers(entry, path, {"partition", "primary", "secondary"}); !s.ok())
      return s;
    int64_t partition = 0;
    if (auto s = ReadInt(entry, "partition", absl::StrCat(path, ".partition"), 0, partitions - 1,
                         true, &partition);
        !s.ok()) {
      return s;
    }
    if (seen[static_cast<size_t>(partition)]) {
      return FieldError(absl::StrCat(path, ".partition"),
                        absl::StrCat("partition ", partition, " is assigned twice"));
    }
    seen[static_cast<size_t>(partition)] = true;
    PartitionOwners& owners = config->owners[static_cast<size_t>(partition)];

    const std::string primary_field = absl::StrCat(path, ".primary");
    std::string primary;
    if (auto s = ReadString(entry, "primary", primary_field, true, &primary); !s.ok()) return s;
    owners.primary = config->NodeIndex(primary);
    if (owners.primary < 0)
      return FieldError(primary_field, absl::StrCat("unknown node ", Quoted(primary)));

    const std::string secondary_field = absl::StrCat(path, ".secondary");
    std::string secondary;
    if (Member(entry, "secondary") == nullptr) {
      if (config->nodes.size() > 1) {
        return FieldError(secondary_field,
                          "is missing (required when the cluster has more than one node)");
      }
      owners.secondary = -1;
      continue;
    }
    if (auto s = ReadString(entry, "secondary", secondary_field, true, &secondary); !s.ok())
      return s;
    owners.secondary = config->NodeIndex(secondary);
    if (owners.secondary < 0) {
      return FieldError(secondary_field, absl::StrCat("unknown node ", Quoted(secondary)));
    }
    if (owners.secondary == owners.primary) {
      return FieldError(secondary_field, absl::StrCat(Quoted(secondary), " is also the primary"));
    }
  }
  for (int p = 0; p < partitions; ++p) {
    if (!seen[static_cast<size_t>(p)]) {
      return FieldError("assignment", absl::StrCat("partition ", p, " is missing"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

int ClusterConfig::NodeIndex(std::string_view id) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<ClusterConfig> ParseClusterConfig(std::string_view json) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(
      json.data(), json.size());
  if (document.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster file is not valid JSON at offset ", document.GetErrorOffset(), ": ",
                     rapidjson::GetParseError_En(document.GetParseError())));
  }
  if (!document.IsObject())
    return absl::InvalidArgumentError("cluster file: must be a JSON object");
  if (auto s = CheckMembers(document, "", {"partitions", "nats", "nodes", "assignment"}); !s.ok())
    return s;

  ClusterConfig config;
  int64_t partitions = config.partitions;
  if (const rapidjson::Value* value = Member(document, "partitions");
      value != nullptr &&
      (!value->IsInt64() || value->GetInt64() < 1 || value->GetInt64() > 4096)) {
    return FieldError("partitions", "must be 1..4096");
  } else if (value != nullptr) {
    partitions = value->GetInt64();
  }
  config.partitions = static_cast<int>(partitions);

  const rapidjson::Value* nats = Member(document, "nats");
  if (nats == nullptr) return FieldError("nats", "is missing");
  if (auto s = ParseNats(*nats, &config.nats); !s.ok()) return s;

  const rapidjson::Value* nodes = Member(document, "nodes");
  if (nodes == nullptr) return FieldError("nodes", "is missing");
  if (auto s = ParseNodes(*nodes, &config.nodes); !s.ok()) return s;

  const rapidjson::Value* assignment = Member(document, "assignment");
  if (assignment == nullptr) return FieldError("assignment", "is missing");
  if (auto s = ParseAssignment(*assignment, &config); !s.ok()) return s;
  return config;
}

absl::StatusOr<ClusterConfig> LoadClusterConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read cluster file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::NotFoundError(absl::StrCat("cannot read cluster file ", path));
  // Parse errors name the field, not the file: callers say which file they loaded.
  return ParseClusterConfig(text.str());
}

uint32_t PartitionOf(std::string_view cookie, int partitions) {
  if (partitions <= 0) return 0;
  const uLong crc = crc32_z(0L, reinterpret_cast<const Bytef*>(cookie.data()), cookie.size());
  return static_cast<uint32_t>(crc % static_cast<uLong>(partitions));
}

}  // namespace allezon::cluster
