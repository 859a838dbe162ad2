// allezon-server: the HTTP server of SPEC §3–7 over one allezon::Database.
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "allezon/database.h"
#include "allezon/version.h"
#include "cluster/cluster_config.h"
#include "cluster/cluster_node.h"
#include "debug_compare.h"
#include "flags.h"
#include "http_api.h"
#include "http_server.h"
#include "import.h"
#include "log.h"

namespace allezon::server {
namespace {

struct ServerOptions {
  std::string host = "0.0.0.0";
  int64_t port = 8080;
  std::string port_file;
  int64_t max_connections = 1280;
  int64_t max_body_bytes = 64 * 1024;
  int64_t max_query_body_bytes = 1024 * 1024;
  int64_t keep_alive_timeout_s = 5;
  int64_t read_timeout_s = 5;
  int64_t write_timeout_s = 5;
  int64_t request_timeout_s = 10;
  int64_t max_header_bytes = 16 * 1024;
  int64_t backlog = 4096;
  int64_t event_loops = 0;
  std::string access_log;
  LogLevel log_level = LogLevel::kInfo;
  bool debug_compare = true;
  bool admin_remote = false;
  std::string cluster_file;
  std::string node_id;
  int64_t export_page_tags = 4096;
  int64_t session_gap_minutes = 30;
  int64_t max_batch_tags = 10'000;
  std::string import_file;
  Options database;
};

std::vector<Flag> MakeFlags(ServerOptions* o) {
  auto int_flag = [](int64_t* out, int64_t min, int64_t max) {
    return [=](std::string_view v) { return ParseInt64Flag(v, min, max, out); };
  };
  auto string_flag = [](std::string* out) {
    return [=](std::string_view v) {
      *out = std::string(v);
      return true;
    };
  };
  auto bool_flag = [](bool* out) {
    return [=](std::string_view v) { return ParseBoolFlag(v, out); };
  };
  static int64_t retention_hours = 24, profile_cap = 200, initial_map_mb = 256, max_map_mb = 0,
                 staging_tags = 1'000'000, raw_retention_hours = 0;
  Options& db = o->database;
  return {
      {"host", "ADDR", "address to listen on (default 0.0.0.0)", string_flag(&o->host)},
      {"port", "PORT", "port to listen on; 0 picks a free one (default 8080)",
       int_flag(&o->port, 0, 65535)},
      {"port-file", "FILE", "write the bound port to FILE once listening (default: none)",
       string_flag(&o->port_file)},
      {"data-dir", "DIR", "database directory, created if missing (default ./data)",
       string_flag(&db.data_dir)},
      {"event-loops", "N", "event-loop threads serving connections, 0 = one per core, at least 2 "
       "(default 0)",
       int_flag(&o->event_loops, 0, 256)},
      {"max-connections", "N",
       "connections open at once; beyond, a new one gets 503 and is closed (default 1280)",
       int_flag(&o->max_connections, 1, 1 << 20)},
      {"profile-cap", "N", "tags kept per cookie and action (default 200)",
       [&db](std::string_view v) {
         if (!ParseInt64Flag(v, 1, 1'000'000, &profile_cap)) return false;
         db.profile_cap = static_cast<int32_t>(profile_cap);
         return true;
       }},
      {"profile-staging-tags", "N",
       "new tags held in memory (and a log) before being merged into their cookie's list; "
       "more = fewer disk writes, ~80 B of memory each (default 1000000)",
       [&db](std::string_view v) {
         if (!ParseInt64Flag(v, 0, int64_t{1} << 40, &staging_tags)) return false;
         db.tuning.profile_staging_tags = static_cast<uint64_t>(staging_tags);
         return true;
       }},
      {"retention-hours", "H", "1-minute aggregates kept behind the newest event time (default 24)",
       [&db](std::string_view v) {
         if (!ParseInt64Flag(v, 1, 24 * 365 * 100, &retention_hours)) return false;
         db.retention_ms = retention_hours * 3'600'000;
         return true;
       }},
      {"retention-15m-days", "D", "15-minute aggregates kept behind the newest event time (default 30)",
       [&db](std::string_view v) {
         int64_t days = 0;
         if (!ParseInt64Flag(v, 1, 365 * 100, &days)) return false;
         db.retention_15m_ms = days * 86'400'000;
         return true;
       }},
      {"retention-1h-days", "D", "1-hour aggregates kept behind the newest event time (default 122)",
       [&db](std::string_view v) {
         int64_t days = 0;
         if (!ParseInt64Flag(v, 1, 365 * 100, &days)) return false;
         db.retention_1h_ms = days * 86'400'000;
         return true;
       }},
      {"retention-1d-days", "D", "1-day aggregates kept behind the newest event time (default 1096)",
       [&db](std::string_view v) {
         int64_t days = 0;
         if (!ParseInt64Flag(v, 1, 365 * 100, &days)) return false;
         db.retention_1d_ms = days * 86'400'000;
         return true;
       }},
      {"raw-retention-hours", "H",
       "keep every accepted tag whole this long behind the newest event time, for GET /export; "
       "0 = off, and drops raw tags kept before (default 0)",
       [&db](std::string_view v) {
         if (!ParseInt64Flag(v, 0, 24 * 365 * 100, &raw_retention_hours)) return false;
         db.raw_retention_ms = raw_retention_hours * 3'600'000;
         return true;
       }},
      {"max-batch-tags", "N",
       "most tags in one POST /user_tags/batch, else 413; also --import's batch (default 10000)",
       int_flag(&o->max_batch_tags, 1, 1'000'000)},
      {"import", "FILE",
       "load the tags of an NDJSON file (one tag per line, e.g. an export) into --data-dir "
       "offline, in batches of --max-batch-tags, then exit: 0 when all are stored, 1 naming the "
       "first bad line",
       string_flag(&o->import_file)},
      {"initial-map-size-mb", "MB", "initial LMDB map size; it doubles as needed (default 256)",
       [&db](std::string_view v) {
         if (!ParseInt64Flag(v, 1, int64_t{1} << 30, &initial_map_mb)) return false;
         db.tuning.initial_map_size = static_cast<uint64_t>(initial_map_mb) << 20;
         return true;
       }},
      {"max-map-size-mb", "MB",
       "largest the database may grow, 0 = until the disk is full (default 0)",
       [&db](std::string_view v) {
         if (!ParseInt64Flag(v, 0, int64_t{1} << 30, &max_map_mb)) return false;
         db.max_map_size = static_cast<uint64_t>(max_map_mb) << 20;
         return true;
       }},
      {"sync", "",
       "fsync every commit before answering 204 (default true; --no-sync trades "
       "OS-crash durability for speed)",
       bool_flag(&db.sync)},
      {"max-body-bytes", "BYTES", "largest POST /user_tags body, else 413 (default 65536)",
       int_flag(&o->max_body_bytes, 1024, 64 << 20)},
      {"max-query-body-bytes", "BYTES",
       "largest query body (debug-mode expected answers), else 413 (default 1048576)",
       int_flag(&o->max_query_body_bytes, 1024, 256 << 20)},
      {"max-header-bytes", "BYTES",
       "largest request line + headers, else 414/431 and close (default 16384)",
       int_flag(&o->max_header_bytes, 1024, 1 << 20)},
      {"keep-alive-timeout", "SECONDS",
       "idle keep-alive connections are closed after this (default 5)",
       int_flag(&o->keep_alive_timeout_s, 1, 3600)},
      {"read-timeout", "SECONDS", "longest silence while a request arrives, else 408 (default 5)",
       int_flag(&o->read_timeout_s, 1, 3600)},
      {"request-timeout", "SECONDS",
       "a whole request (headers and body) must arrive within this of its first byte, else "
       "408 and close (default 10)",
       int_flag(&o->request_timeout_s, 1, 3600)},
      {"write-timeout", "SECONDS", "longest a response write may block (default 5)",
       int_flag(&o->write_timeout_s, 1, 3600)},
      {"access-log", "FILE", "append one line per request to FILE, \"-\" = stderr (default: off)",
       string_flag(&o->access_log)},
      {"log-level", "LEVEL", "debug, info, warn or error (default info)",
       [o](std::string_view v) { return ParseLogLevel(v, &o->log_level); }},
      {"debug-compare", "",
       "compare query bodies (debug-mode expected answers) with our answers "
       "and count mismatches at GET /debug/stats (default true)",
       bool_flag(&o->debug_compare)},
      {"cluster-file", "FILE",
       "run as a node of the cluster this file describes (SPEC §8; README \"Running a "
       "cluster\"); the node listens on its address from the file (default: single node)",
       string_flag(&o->cluster_file)},
      {"node-id", "ID", "with --cluster-file: which of its nodes this is", string_flag(&o->node_id)},
      {"export-page-tags", "N",
       "with --cluster-file: GET /export reads each partition group's tags N at a time "
       "(default 4096)",
       int_flag(&o->export_page_tags, 1, 65536)},
      {"session-gap-minutes", "MIN",
       "GET /user_sessions: tags this far apart or more start a new session (default 30)",
       int_flag(&o->session_gap_minutes, 1, 60 * 24 * 365)},
      {"admin-remote", "",
       "serve /admin/* (stats, max-map-size, backup) to non-loopback "
       "clients too (default false)",
       bool_flag(&o->admin_remote)},
  };
}

// Every connection is a file descriptor; the soft limit (often 1024) would make accept()
// fail under a burst long before --max-connections is reached.
uint64_t RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return static_cast<uint64_t>(limit.rlim_cur);
}

bool WritePortFile(const std::string& path, int port) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port << "\n";
    if (!out) return false;
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  return !error;
}

int Run(int argc, char** argv) {
  ServerOptions options;
  options.database.data_dir = "data";
  std::vector<Flag> flags = MakeFlags(&options);
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      std::fputs(
          FlagsHelp("allezon-server",
                    "Serves the Allezon user-tag API (POST /user_tags, /user_profiles/{cookie}, "
                    "/aggregates) over an embedded LMDB database.",
                    flags)
              .c_str(),
          stdout);
      return 0;
    }
    if (std::string_view(argv[i]) == "--version") {
      std::printf("allezon-server %s\n", Version());
      return 0;
    }
  }
  if (absl::Status s = ParseFlags(flags, argc, argv); !s.ok()) {
    std::fprintf(stderr, "allezon-server: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  SetLogLevel(options.log_level);
  if (!options.import_file.empty()) {
    return RunImport(options.import_file, options.database,
                     static_cast<size_t>(options.max_batch_tags));
  }

  // Signals are taken by one thread (sigwait) so that shutdown runs as ordinary code.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const uint64_t open_files = RaiseOpenFileLimit();
  const uint64_t files_needed = static_cast<uint64_t>(options.max_connections) + 64;
  if (open_files < files_needed) {
    LogLine(LogLevel::kWarn, "open file limit below max-connections + 64")
        .Add("limit", open_files)
        .Add("needed", files_needed);
  }

  std::unique_ptr<AccessLog> access_log;
  if (!options.access_log.empty()) {
    std::string error;
    access_log = AccessLog::Open(options.access_log, &error);
    if (access_log == nullptr) {
      LogLine(LogLevel::kError, "cannot open access log")
          .Add("path", options.access_log)
          .Add("error", error);
      return 1;
    }
  }

  // Every event loop and the worker may hold a read transaction at once.
  options.database.tuning.max_readers = std::max<uint32_t>(
      options.database.tuning.max_readers, static_cast<uint32_t>(options.event_loops) + 64);
  std::unique_ptr<cluster::ClusterNode> cluster_node;
  absl::StatusOr<std::unique_ptr<Database>> database = std::unique_ptr<Database>();
  if (!options.cluster_file.empty() || !options.node_id.empty()) {
    if (options.cluster_file.empty() || options.node_id.empty()) {
      std::fprintf(stderr, "allezon-server: --cluster-file and --node-id go together\n");
      return 1;
    }
    absl::StatusOr<cluster::ClusterConfig> config = cluster::LoadClusterConfig(options.cluster_file);
    if (!config.ok()) {
      std::fprintf(stderr, "allezon-server: %s: %s\n", options.cluster_file.c_str(),
                   std::string(config.status().message()).c_str());
      return 1;
    }
    const int self = config->NodeIndex(options.node_id);
    if (self < 0) {
      std::fprintf(stderr, "allezon-server: --node-id: \"%s\" is not a node of %s\n",
                   options.node_id.c_str(), options.cluster_file.c_str());
      return 1;
    }
    options.host = config->nodes[static_cast<size_t>(self)].host;
    options.port = config->nodes[static_cast<size_t>(self)].port;
    cluster::ClusterNodeOptions node_options;
    node_options.node_id = options.node_id;
    node_options.data_dir = options.database.data_dir;
    node_options.database = options.database;
    node_options.export_page_tags = options.export_page_tags;
    absl::StatusOr<std::unique_ptr<cluster::ClusterNode>> node =
        cluster::ClusterNode::Start(*std::move(config), std::move(node_options));
    if (!node.ok()) {
      LogLine(LogLevel::kError, "cannot start the cluster node")
          .Add("node_id", options.node_id)
          .Add("error", std::string(node.status().message()));
      return 1;
    }
    cluster_node = *std::move(node);
    if (cluster_node->first_database() == nullptr) {
      std::fprintf(stderr, "allezon-server: %s owns no partition in %s\n",
                   options.node_id.c_str(), options.cluster_file.c_str());
      return 1;
    }
  } else {
    database = Database::Open(options.database);
  }
  if (!database.ok()) {
    LogLine(LogLevel::kError, "cannot open database")
        .Add("data_dir", options.database.data_dir)
        .Add("error", std::string(database.status().message()));
    return 1;
  }
  DebugComparator::Options compare_options;
  compare_options.log_sink = [](std::string_view text) {
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    LogLine(LogLevel::kWarn, "debug-mode answer mismatch").Add("detail", text);
  };
  DebugComparator comparator(std::move(compare_options));
  HttpOptions http_options;
  http_options.debug_compare = options.debug_compare;
  http_options.max_tag_body_bytes = static_cast<size_t>(options.max_body_bytes);
  http_options.max_query_body_bytes = static_cast<size_t>(options.max_query_body_bytes);
  http_options.admin_remote = options.admin_remote;
  http_options.data_dir = options.database.data_dir;
  http_options.session_gap_ms = options.session_gap_minutes * kMillisPerMinute;
  http_options.max_batch_tags = static_cast<size_t>(options.max_batch_tags);
  // A tag's JSON is ~250 bytes: 512 a tag leaves room. Not more, because the largest body
  // any endpoint takes is also what a chunked body to any endpoint may reach before the
  // connection layer cuts it (tests/hardening: limits).
  http_options.max_batch_body_bytes = http_options.max_batch_tags * 512;
  HttpApi api(cluster_node != nullptr ? cluster_node->first_database() : database->get(),
              &comparator, http_options, access_log.get(), cluster_node.get());

  ConnectionLimits limits;
  limits.max_connections = static_cast<size_t>(options.max_connections);
  limits.max_header_bytes = static_cast<size_t>(options.max_header_bytes);
  limits.max_tag_body_bytes = static_cast<size_t>(options.max_body_bytes);
  limits.max_body_bytes = static_cast<size_t>(options.max_query_body_bytes);
  limits.max_batch_body_bytes = http_options.max_batch_body_bytes;
  limits.read_timeout = std::chrono::seconds(options.read_timeout_s);
  limits.write_timeout = std::chrono::seconds(options.write_timeout_s);
  limits.request_timeout = std::chrono::seconds(options.request_timeout_s);
  limits.keep_alive_timeout = std::chrono::seconds(options.keep_alive_timeout_s);
  limits.loops = static_cast<size_t>(options.event_loops);
  HttpRouter router;
  api.Register(router);
  HttpServer server(limits, &router, &api);
  api.Attach(server);

  const int port =
      server.Bind(options.host, static_cast<int>(options.port), static_cast<int>(options.backlog));
  if (port < 0) {
    LogLine(LogLevel::kError, "cannot listen").Add("host", options.host).Add("port", options.port);
    return 1;
  }
  if (!options.port_file.empty() && !WritePortFile(options.port_file, port)) {
    LogLine(LogLevel::kError, "cannot write --port-file").Add("path", options.port_file);
    return 1;
  }
  LogLine(LogLevel::kInfo, "listening")
      .Add("version", Version())
      .Add("host", options.host)
      .Add("port", port)
      .Add("data_dir", options.database.data_dir)
      .Add("event_loops", options.event_loops)
      .Add("max_connections", options.max_connections)
      .Add("profile_cap", static_cast<int64_t>(options.database.profile_cap))
      .Add("profile_staging_tags", static_cast<uint64_t>(options.database.tuning.profile_staging_tags))
      .Add("retention_ms", options.database.retention_ms)
      .Add("sync", options.database.sync)
      .Add("initial_map_size", static_cast<uint64_t>(options.database.tuning.initial_map_size))
      .Add("max_map_size", static_cast<uint64_t>(options.database.max_map_size))
      .Add("max_body_bytes", options.max_body_bytes)
      .Add("max_query_body_bytes", options.max_query_body_bytes)
      .Add("max_header_bytes", options.max_header_bytes)
      .Add("keep_alive_timeout_s", options.keep_alive_timeout_s)
      .Add("read_timeout_s", options.read_timeout_s)
      .Add("request_timeout_s", options.request_timeout_s)
      .Add("write_timeout_s", options.write_timeout_s)
      .Add("open_files_limit", open_files)
      .Add("debug_compare", options.debug_compare)
      .Add("admin_remote", options.admin_remote)
      .Add("access_log", options.access_log.empty() ? "off" : options.access_log)
      .Add("log_level", LogLevelName(options.log_level));

  std::atomic<bool> stopping{false};
  std::thread signal_waiter([&server, &stopping, stop_signals] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    stopping = true;
    LogLine(LogLevel::kInfo, "stopping").Add("signal", signal_number);
    server.Stop();
  });
  if (!server.Run() && !stopping.load()) {
    LogLine(LogLevel::kError, "the listener failed");
    kill(getpid(), SIGTERM);  // wakes the signal thread (the signal is blocked everywhere)
  }
  signal_waiter.join();
  cluster_node.reset();  // stops applying the log, then closes its databases
  database->reset();  // commits whatever is queued, then closes the environment
  LogLine(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace
}  // namespace allezon::server

int main(int argc, char** argv) { return allezon::server::Run(argc, argv); }
