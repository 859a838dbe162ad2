#include "page_check.h"

#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace allezon::internal {
namespace {

constexpr int kReadFailed = 3;

// Touches one byte of every page a value spans: overflow pages are only mapped, never read,
// by LMDB itself, so a lost one would otherwise go unnoticed until a query used it.
uint64_t TouchValue(const MDB_val& value, size_t page_size) {
  const auto* bytes = static_cast<const volatile unsigned char*>(value.mv_data);
  uint64_t sum = 0;
  for (size_t at = 0; at < value.mv_size; at += page_size) sum += bytes[at];
  if (value.mv_size > 0) sum += bytes[value.mv_size - 1];
  return sum;
}

// Returns the number of the failed step's error, or 0 when the whole tree was read.
int ReadTree(MDB_txn* txn, MDB_dbi dbi, size_t page_size, uint64_t* sum,
             std::vector<std::string>* names) {
  MDB_cursor* cursor = nullptr;
  if (int rc = mdb_cursor_open(txn, dbi, &cursor); rc != 0) return rc;
  MDB_val key, value;
  int rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
    *sum += TouchValue(key, page_size) + TouchValue(value, page_size);
    if (names != nullptr) names->emplace_back(static_cast<const char*>(key.mv_data), key.mv_size);
  }
  mdb_cursor_close(cursor);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

// Runs in the child: reports to stderr (the pipe) and exits.
[[noreturn]] void ReadEverything(const std::string& directory) {
  // Let a fault end the child with its signal even under sanitizers that catch it.
  signal(SIGBUS, SIG_DFL);
  signal(SIGSEGV, SIG_DFL);
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  auto fail = [&](const char* step, int rc) {
    const std::string text = absl::StrCat(step, ": ", mdb_strerror(rc), "\n");
    (void)!write(STDERR_FILENO, text.data(), text.size());
    _exit(kReadFailed);
  };
  if (int rc = mdb_env_create(&env); rc != 0) fail("mdb_env_create", rc);
  mdb_env_set_maxdbs(env, 64);
  if (int rc = mdb_env_open(env, directory.c_str(), MDB_RDONLY | MDB_NOLOCK, 0644); rc != 0) {
    fail("mdb_env_open", rc);
  }
  MDB_stat stat;
  mdb_env_stat(env, &stat);
  if (int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn); rc != 0) fail("mdb_txn_begin", rc);
  uint64_t sum = 0;
  // Database 0 is LMDB's free list: pages it names are not read, but its own pages are.
  if (int rc = ReadTree(txn, 0, stat.ms_psize, &sum, nullptr); rc != 0) fail("free list", rc);
  MDB_dbi main;
  if (int rc = mdb_dbi_open(txn, nullptr, 0, &main); rc != 0) fail("main database", rc);
  std::vector<std::string> names;
  if (int rc = ReadTree(txn, main, stat.ms_psize, &sum, &names); rc != 0) {
    fail("main database", rc);
  }
  for (const std::string& name : names) {
    MDB_dbi dbi;
    // A key of the main database that names no database is not ours to check.
    if (int rc = mdb_dbi_open(txn, name.c_str(), 0, &dbi); rc != 0) {
      if (rc == MDB_INCOMPATIBLE) continue;
      fail(name.c_str(), rc);
    }
    if (int rc = ReadTree(txn, dbi, stat.ms_psize, &sum, nullptr); rc != 0) fail(name.c_str(), rc);
  }
  // Uses the sum so that the reads are not optimised away.
  asm volatile("" : : "r"(sum));
  _exit(0);
}

}  // namespace

absl::Status CheckReachablePagesReadable(const std::string& directory) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot check ", directory, "/data.mdb: pipe: ", std::strerror(errno)));
  }
  const pid_t child = fork();
  if (child < 0) {
    const int error = errno;
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot check ", directory, "/data.mdb: fork: ", std::strerror(error)));
  }
  if (child == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    ReadEverything(directory);
  }
  close(pipe_fds[1]);
  std::string report;
  char buffer[512];
  for (;;) {
    const ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
    if (n > 0 && report.size() < 4096) report.append(buffer, static_cast<size_t>(n));
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  while (!report.empty() && (report.back() == '\n' || report.back() == ' ')) report.pop_back();
  const std::string how =
      WIFSIGNALED(status) ? absl::StrCat("reading its pages ended with signal ", WTERMSIG(status),
                                         " (", strsignal(WTERMSIG(status)), ")")
                          : std::string("reading its pages failed");
  return absl::FailedPreconditionError(
      absl::StrCat(directory, "/data.mdb is damaged: it is shorter than the pages it records and ",
                   how, report.empty() ? "" : absl::StrCat(" [", report, "]"),
                   "; restore the directory from a backup (see /admin/backup) or move it aside"));
}

}  // namespace allezon::internal
