#include "allezon_test/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace allezon_test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Tail(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  return "..." + text.substr(text.size() - max_bytes);
}

ExitInfo DecodeStatus(int status) {
  ExitInfo info;
  if (WIFEXITED(status)) {
    info.exited = true;
    info.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    info.term_signal = WTERMSIG(status);
  }
  return info;
}

}  // namespace

TempDir::TempDir(std::string_view prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = (fs::path(base != nullptr && *base != '\0' ? base : "/tmp") /
                         (std::string(prefix) + "-XXXXXX"))
                            .string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  if (keep_) return;
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

std::string DefaultServerBinary() {
  if (const char* env = std::getenv("ALLEZON_SERVER_BINARY"); env != nullptr && *env != '\0') {
    return env;
  }
#ifdef ALLEZON_SERVER_BINARY
  return ALLEZON_SERVER_BINARY;
#else
  throw std::runtime_error(
      "no allezon-server binary: set ALLEZON_SERVER_BINARY or build with the server target");
#endif
}

ServerProcess::ServerProcess(ServerOptions options) : options_(std::move(options)) {
  owned_dir_.emplace("allezon-it");
  data_dir_ = owned_dir_->path() / "data";
  fs::create_directory(data_dir_);
  port_file_ = owned_dir_->path() / "port";
  log_file_ = owned_dir_->path() / "server.log";
  Start();
}

ServerProcess::ServerProcess(fs::path data_dir, ServerOptions options)
    : options_(std::move(options)), data_dir_(std::move(data_dir)) {
  aux_dir_.emplace("allezon-it-aux");
  port_file_ = aux_dir_->path() / "port";
  log_file_ = aux_dir_->path() / "server.log";
  Start();
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop();
}

std::string ServerProcess::Log() const { return ReadFile(log_file_); }

bool ServerProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    pid_ = -1;
    return false;
  }
  return true;
}

void ServerProcess::Spawn() {
  std::string binary = options_.binary.empty() ? DefaultServerBinary() : options_.binary;
  std::vector<std::string> args = {
      binary,       "--host",          host_, "--port", "0", "--port-file", port_file_.string(),
      "--data-dir", data_dir_.string()};
  if (options_.profile_cap) {
    args.push_back("--profile-cap");
    args.push_back(std::to_string(*options_.profile_cap));
  }
  if (options_.retention_hours) {
    args.push_back("--retention-hours");
    args.push_back(std::to_string(*options_.retention_hours));
  }
  // ALLEZON_TEST_SERVER_ARGS (space-separated) come before the test's own: a way to run a
  // suite against a server with other flags.
  if (const char* env = std::getenv("ALLEZON_TEST_SERVER_ARGS"); env != nullptr) {
    std::istringstream words(env);
    for (std::string word; words >> word;) args.push_back(word);
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int log_fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::system_error(errno, std::generic_category(), "open server log");
  {
    std::string banner = "=== starting:";
    for (const auto& a : args) banner += " " + a;
    banner += "\n";
    (void)!::write(log_fd, banner.data(), banner.size());
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(log_fd);
    throw std::system_error(err, std::generic_category(), "fork");
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test runner
    if (::getppid() != parent) ::_exit(127);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    // Do not leak the test's sockets and files into the server.
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
      for (int fd = 3; fd < 4096; ++fd) ::close(fd);
    }
    ::execv(argv[0], argv.data());
    static const char kMsg[] = "exec of allezon-server failed\n";
    (void)!::write(2, kMsg, sizeof(kMsg) - 1);
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = pid;
}

void ServerProcess::Start() {
  if (Running()) return;
  std::error_code ignored;
  fs::remove(port_file_, ignored);
  port_ = 0;
  Spawn();
  const auto deadline = Clock::now() + options_.start_timeout;
  std::string content;
  while (Clock::now() < deadline) {
    content = ReadFile(port_file_);
    if (!content.empty() && content.back() == '\n') {
      char* end = nullptr;
      long port = std::strtol(content.c_str(), &end, 10);
      if (end != content.c_str() && *end == '\n' && port > 0 && port < 65536) {
        port_ = static_cast<int>(port);
        return;
      }
      break;
    }
    if (!Running()) {
      throw std::runtime_error("allezon-server exited during start-up; log:\n" + Tail(Log(), 4000));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  Kill();
  throw std::runtime_error("allezon-server did not write a valid port file (\"" + content +
                           "\") in time; log:\n" + Tail(Log(), 4000));
}

ExitInfo ServerProcess::WaitForExit(std::chrono::milliseconds timeout, bool kill_on_timeout) {
  ExitInfo info;
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      ExitInfo done = DecodeStatus(status);
      done.needed_sigkill = info.needed_sigkill;
      pid_ = -1;
      return done;
    }
    if (r < 0) {  // not our child any more (should not happen)
      pid_ = -1;
      return info;
    }
    if (Clock::now() >= deadline) {
      if (!kill_on_timeout || info.needed_sigkill) {
        // Already killed and still not reaped: block.
        ::waitpid(pid_, &status, 0);
        ExitInfo done = DecodeStatus(status);
        done.needed_sigkill = info.needed_sigkill;
        pid_ = -1;
        return done;
      }
      ::kill(pid_, SIGKILL);
      info.needed_sigkill = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

ExitInfo ServerProcess::SignalAndWait(int sig, std::chrono::milliseconds timeout) {
  if (!Running()) return {};
  ::kill(pid_, sig);
  return WaitForExit(timeout, /*kill_on_timeout=*/true);
}

ExitInfo ServerProcess::Stop() { return SignalAndWait(SIGTERM, options_.stop_timeout); }

ExitInfo ServerProcess::Kill() {
  if (!Running()) return {};
  ::kill(pid_, SIGKILL);
  return WaitForExit(std::chrono::milliseconds(0), /*kill_on_timeout=*/false);
}

void ServerProcess::Restart() {
  Stop();
  Start();
}

void ServerProcess::KillAndRestart() {
  Kill();
  Start();
}

}  // namespace allezon_test
