// allezon-server: the HTTP server of SPEC §3–7 over one allezon::Database.
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "allezon/database.h"
#include "allezon/version.h"
#include "debug_compare.h"
#include "flags.h"
#include "http_api.h"

namespace allezon::server {
namespace {

struct ServerOptions {
  std::string host = "0.0.0.0";
  int64_t port = 8080;
  std::string port_file;
  int64_t threads = 64;
  int64_t max_body_bytes = 64 * 1024;
  int64_t max_query_body_bytes = 1024 * 1024;
  int64_t keep_alive_timeout_s = 5;
  int64_t read_timeout_s = 5;
  int64_t backlog = 4096;
  bool debug_compare = true;
  bool admin_remote = false;
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
  auto bool_flag = [](bool* out) { return [=](std::string_view v) { return ParseBoolFlag(v, out); }; };
  static int64_t retention_hours = 24, profile_cap = 200, initial_map_mb = 256, max_map_mb = 0;
  Options& db = o->database;
  return {
      {"host", "ADDR", "address to listen on (default 0.0.0.0)", string_flag(&o->host)},
      {"port", "PORT", "port to listen on; 0 picks a free one (default 8080)",
       int_flag(&o->port, 0, 65535)},
      {"port-file", "FILE", "write the bound port to FILE once listening (default: none)",
       string_flag(&o->port_file)},
      {"data-dir", "DIR", "database directory, created if missing (default ./data)",
       string_flag(&db.data_dir)},
      {"threads", "N", "HTTP worker threads = concurrent connections served (default 64)",
       int_flag(&o->threads, 1, 4096)},
      {"profile-cap", "N", "tags kept per cookie and action (default 200)",
       [&db](std::string_view v) {
         if (!ParseInt64Flag(v, 1, 1'000'000, &profile_cap)) return false;
         db.profile_cap = static_cast<int32_t>(profile_cap);
         return true;
       }},
      {"retention-hours", "H", "aggregates kept behind the newest event time (default 24)",
       [&db](std::string_view v) {
         if (!ParseInt64Flag(v, 1, 24 * 365 * 100, &retention_hours)) return false;
         db.retention_ms = retention_hours * 3'600'000;
         return true;
       }},
      {"initial-map-size-mb", "MB", "initial LMDB map size; it doubles as needed (default 256)",
       [&db](std::string_view v) {
         if (!ParseInt64Flag(v, 1, int64_t{1} << 30, &initial_map_mb)) return false;
         db.initial_map_size = static_cast<uint64_t>(initial_map_mb) << 20;
         return true;
       }},
      {"max-map-size-mb", "MB", "largest the database may grow, 0 = until the disk is full (default 0)",
       [&db](std::string_view v) {
         if (!ParseInt64Flag(v, 0, int64_t{1} << 30, &max_map_mb)) return false;
         db.max_map_size = static_cast<uint64_t>(max_map_mb) << 20;
         return true;
       }},
      {"sync", "", "fsync every commit before answering 204 (default true; --no-sync trades "
                   "OS-crash durability for speed)",
       bool_flag(&db.sync)},
      {"max-body-bytes", "BYTES", "largest POST /user_tags body, else 413 (default 65536)",
       int_flag(&o->max_body_bytes, 1024, 64 << 20)},
      {"max-query-body-bytes", "BYTES",
       "largest query body (debug-mode expected answers), else 413 (default 1048576)",
       int_flag(&o->max_query_body_bytes, 1024, 256 << 20)},
      {"keep-alive-timeout", "SECONDS", "idle keep-alive connections are closed after this (default 5)",
       int_flag(&o->keep_alive_timeout_s, 1, 3600)},
      {"read-timeout", "SECONDS", "a request must arrive within this (default 5)",
       int_flag(&o->read_timeout_s, 1, 3600)},
      {"debug-compare", "", "compare query bodies (debug-mode expected answers) with our answers "
                            "and count mismatches at GET /debug/stats (default true)",
       bool_flag(&o->debug_compare)},
      {"admin-remote", "", "serve /admin/* (stats, max-map-size, backup) to non-loopback "
                           "clients too (default false)",
       bool_flag(&o->admin_remote)},
  };
}

// cpp-httplib listens with a backlog of 5, which drops connection bursts into SYN retries
// (p99 of 0.3-1 s measured); re-listening on the bound socket deepens it.
class Listener : public httplib::Server {
 public:
  int Bind(const std::string& host, int port, int backlog) {
    const int bound = port == 0 ? bind_to_any_port(host) : (bind_to_port(host, port) ? port : -1);
    if (bound >= 0) ::listen(svr_sock_, backlog);
    return bound;
  }
};

// cpp-httplib's stop() closes the listening socket, then waits for every connection thread;
// a thread serving an idle keep-alive connection only notices after the keep-alive timeout.
// Shutting down the read side of every connected TCP socket wakes those threads at once,
// while responses still being written (the read side is all that is closed) go out whole.
void ShutDownIdleConnections() {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", error)) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (...) {
      continue;
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode)) continue;
    int type = 0;
    socklen_t length = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM) continue;
    sockaddr_storage peer;
    socklen_t peer_length = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0) continue;
    ::shutdown(fd, SHUT_RD);
  }
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
      std::fputs(FlagsHelp("allezon-server",
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

  // Signals are taken by one thread (sigwait) so that shutdown runs as ordinary code.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<Database>> database = Database::Open(options.database);
  if (!database.ok()) {
    std::fprintf(stderr, "allezon-server: cannot open database: %s\n",
                 std::string(database.status().message()).c_str());
    return 1;
  }
  DebugComparator comparator;
  HttpApi api(database->get(), &comparator, HttpOptions{options.debug_compare, static_cast<size_t>(options.max_body_bytes),
                                       options.admin_remote});

  Listener server;
  const size_t threads = static_cast<size_t>(options.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Responses go out as headers then body; with Nagle on, the body waits for the client's
  // delayed ACK (40 ms per response measured).
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(static_cast<size_t>(1) << 40);
  server.set_keep_alive_timeout(options.keep_alive_timeout_s);
  server.set_read_timeout(options.read_timeout_s, 0);
  server.set_write_timeout(options.read_timeout_s, 0);
  server.set_payload_max_length(
      static_cast<size_t>(std::max(options.max_body_bytes, options.max_query_body_bytes)));
  api.Register(server);

  const int port = server.Bind(options.host, static_cast<int>(options.port),
                               static_cast<int>(options.backlog));
  if (port < 0) {
    std::fprintf(stderr, "allezon-server: cannot listen on %s:%lld\n", options.host.c_str(),
                 static_cast<long long>(options.port));
    return 1;
  }
  if (!options.port_file.empty() && !WritePortFile(options.port_file, port)) {
    std::fprintf(stderr, "allezon-server: cannot write --port-file %s\n",
                 options.port_file.c_str());
    return 1;
  }
  std::fprintf(stderr,
               "allezon-server %s listening on %s:%d data_dir=%s threads=%zu profile_cap=%d "
               "retention_ms=%lld sync=%s max_map_size=%llu max_body_bytes=%lld "
               "debug_compare=%s\n",
               Version(), options.host.c_str(), port, options.database.data_dir.c_str(), threads,
               options.database.profile_cap, static_cast<long long>(options.database.retention_ms),
               options.database.sync ? "true" : "false",
               static_cast<unsigned long long>(options.database.max_map_size),
               static_cast<long long>(options.max_body_bytes),
               options.debug_compare ? "true" : "false");

  std::atomic<bool> stopping{false};
  std::thread signal_waiter([&server, &stopping, stop_signals] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    stopping = true;
    std::fprintf(stderr, "allezon-server: signal %d, stopping\n", signal_number);
    server.stop();
    // Requests already being read get a moment to arrive whole before idle ones are woken.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ShutDownIdleConnections();
  });
  if (!server.listen_after_bind() && !stopping.load()) {
    std::fprintf(stderr, "allezon-server: the listener failed\n");
    kill(getpid(), SIGTERM);  // wakes the signal thread (the signal is blocked everywhere)
  }
  // listen_after_bind returns once stop() was called and in-flight requests finished.
  signal_waiter.join();
  database->reset();  // commits whatever is queued, then closes the environment
  std::fprintf(stderr, "allezon-server: stopped\n");
  return 0;
}

}  // namespace
}  // namespace allezon::server

int main(int argc, char** argv) { return allezon::server::Run(argc, argv); }
