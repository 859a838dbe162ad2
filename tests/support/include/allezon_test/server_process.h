// Runs the real allezon-server binary as a child process for tests.
//
// A ServerProcess starts `allezon-server --host 127.0.0.1 --port 0 --port-file F --data-dir D`
// in its constructor and waits until the server has written its port to F (which it does once
// it accepts connections). The destructor stops it: SIGTERM, then SIGKILL after a timeout.
// Kill() (SIGKILL, as in a crash) and Start()/Restart() on the same data directory let
// durability tests simulate crashes and restarts.
//
// Not thread-safe: use one ServerProcess from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace allezon_test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "allezon-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Leaves the directory on disk (for post-mortem debugging).
  void Keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

struct ServerOptions {
  // The binary to run. Empty: $ALLEZON_SERVER_BINARY if set, else the allezon-server of the
  // build this support library belongs to.
  std::string binary;
  // --profile-cap N and --retention-hours H, passed only when set.
  std::optional<int64_t> profile_cap;
  std::optional<int64_t> retention_hours;
  // Further command-line arguments, appended as given.
  std::vector<std::string> extra_args;
  // How long to wait for the port file before giving up (the start throws).
  std::chrono::milliseconds start_timeout{15000};
  // How long Stop() waits after SIGTERM before it sends SIGKILL.
  std::chrono::milliseconds stop_timeout{5000};
};

// How a stopped server ended.
struct ExitInfo {
  bool exited = false;          // true: exited normally with exit_code
  int exit_code = -1;           // valid when exited
  int term_signal = 0;          // the signal that ended it when !exited
  bool needed_sigkill = false;  // Stop(): SIGTERM was not enough within stop_timeout
};

// The allezon-server of this build (or $ALLEZON_SERVER_BINARY).
std::string DefaultServerBinary();

class ServerProcess {
 public:
  // Starts a server on a fresh temporary data directory, removed on destruction.
  explicit ServerProcess(ServerOptions options = {});
  // Starts a server on an existing data directory, which is left in place.
  ServerProcess(std::filesystem::path data_dir, ServerOptions options);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& host() const { return host_; }
  // The port of the running server (a new one after every Start()).
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  const ServerOptions& options() const { return options_; }
  // Everything the server wrote to stdout and stderr, over all its starts.
  std::string Log() const;
  // True while the child has not exited (reaps it if it has).
  bool Running();

  // Starts the server if it is not running; throws std::runtime_error (with the log) when it
  // exits or does not write its port within start_timeout.
  void Start();
  // SIGTERM, wait up to stop_timeout, then SIGKILL. No-op result if not running.
  ExitInfo Stop();
  // Sends `sig` and waits for the exit (up to `timeout`, then SIGKILL).
  ExitInfo SignalAndWait(int sig, std::chrono::milliseconds timeout);
  // SIGKILL, as a crash would, and reap.
  ExitInfo Kill();
  // Stop() then Start() on the same data directory.
  void Restart();
  // Kill() then Start() on the same data directory.
  void KillAndRestart();

 private:
  void Spawn();
  ExitInfo WaitForExit(std::chrono::milliseconds timeout, bool kill_on_timeout);

  ServerOptions options_;
  std::optional<TempDir> owned_dir_;  // holds data/, port, server.log when we made it
  std::optional<TempDir> aux_dir_;    // port file and log for a caller-supplied data dir
  std::filesystem::path data_dir_;
  std::filesystem::path port_file_;
  std::filesystem::path log_file_;
  std::string host_ = "127.0.0.1";
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace allezon_test
