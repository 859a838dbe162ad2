// The HTTP face of the library (SPEC §3–7): routes, request parsing, Status -> HTTP mapping,
// JSON error bodies, and the operator endpoints (/metrics, /healthz, /readyz, /admin/*).
// No storage logic lives here; every answer comes from the library.
//
// Ownership: HttpApi borrows the Database, the DebugComparator and the AccessLog (may be
// null), which must outlive it. Thread-safety: handlers run concurrently on the HTTP threads;
// HttpApi's own mutable state is atomics plus one mutex-guarded message.
#ifndef ALLEZON_SERVER_HTTP_API_H_
#define ALLEZON_SERVER_HTTP_API_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "allezon/database.h"
#include "cluster_backend.h"
#include "debug_compare.h"
#include "http_message.h"
#include "metrics.h"
#include "tag_ingest.h"

namespace allezon::server {

class AccessLog;
class HttpServer;

struct HttpOptions {
  // Compare query bodies (debug-mode expected answers) with our answers.
  bool debug_compare = true;
  // Largest POST /user_tags body; larger ones are 413.
  size_t max_tag_body_bytes = 64 * 1024;
  // Largest query body (a debug-mode expected answer; a full profile is ~150 KB); else 413.
  size_t max_query_body_bytes = 1024 * 1024;
  // Accept /admin/* requests from non-loopback clients too.
  bool admin_remote = false;
  // The database directory, for the on-disk size in /metrics.
  std::string data_dir;
  // Analyst endpoints (analyst_api.h): tags this far apart start a new session.
  int64_t session_gap_ms = kDefaultSessionGapMs;
  // POST /user_tags/batch (history_api.h): most tags in one batch (413 beyond), and its
  // largest body (413 before it is read).
  size_t max_batch_tags = 10'000;
  size_t max_batch_body_bytes = 10'000 * 512;
};

// One exhaustive mapping of library errors to HTTP statuses.
int HttpStatusFor(const absl::Status& status);
// The status for a failed write of tags that passed validation: the client's fault only when
// the library calls the input invalid (400), otherwise the server cannot store (503, SPEC §7):
// a read-only or unwritable directory (FailedPrecondition), I/O errors (Internal) and a full
// disk alike, each recovering without a restart once the cause is gone.
int HttpStatusForWrite(const absl::Status& status);

// Expected answers nested deeper than this are not compared (counted as skipped): a
// recursive JSON parser would need a stack as deep as the nesting. Real answers nest 4 deep.
inline constexpr int kMaxComparedJsonDepth = 64;

// Also the hot path of EventLoopServer (TagIngest): the same checks, storage and accounting as
// the POST /user_tags route.
class HttpApi final : public TagIngest {
 public:
  // With a `cluster` (cluster mode, SPEC §8), tags, profiles, aggregates and readiness go
  // through it, and `database` (one of the node's) only serves the operator endpoints.
  HttpApi(Database* database, DebugComparator* comparator, HttpOptions options,
          AccessLog* access_log = nullptr, ClusterBackend* cluster = nullptr);

  // Registers every route and the observer that feeds /metrics and the access log.
  void Register(HttpRouter& router);
  // The connection layer whose counters /metrics shows (may stay unset), and whose own
  // answers (408, 413, ...) are counted.
  void Attach(HttpServer& server);

  // TagIngest
  int Accept(std::string_view body, std::vector<UserTag>* batch, std::string* error) override;
  size_t max_body_bytes() const override { return options_.max_tag_body_bytes; }
  void Submit(std::vector<UserTag> batch, std::function<void(absl::Status)> done) override;
  int StatusFor(const absl::Status& status) const override;
  void Observe(const Answered& answered) override;

 private:
  void AddUserTag(const HttpRequest& request, HttpResponse& response);
  void UserProfile(const HttpRequest& request, HttpResponse& response);
  void Aggregates(const HttpRequest& request, HttpResponse& response);
  void DebugStats(const HttpRequest& request, HttpResponse& response);
  void Ready(const HttpRequest& request, HttpResponse& response);
  void Metrics(const HttpRequest& request, HttpResponse& response);
  void Stats(const HttpRequest& request, HttpResponse& response);
  void SetMaxMapSize(const HttpRequest& request, HttpResponse& response);
  void Backup(const HttpRequest& request, HttpResponse& response);
  // Admin endpoints change or copy the database: loopback clients only, unless allowed.
  bool AdminAllowed(const HttpRequest& request, HttpResponse& response) const;
  bool QueryBodyTooLarge(const HttpRequest& request, HttpResponse& response) const;
  void CompareDebug(QueryKind kind, const HttpRequest& request, std::string_view answer);
  // Called after every response is written (on the connection's thread).
  void OnResponse(const HttpRequest& request, const HttpResponse& response);
  void LogAccess(std::string_view remote, std::string_view method, std::string_view target,
                 int status, size_t bytes_in, size_t bytes_out, std::chrono::nanoseconds latency);
  // Remembers the outcome of a write for /readyz.
  void NoteWrite(const absl::Status& status);

  Database* database_;
  ClusterBackend* cluster_;
  DebugComparator* comparator_;
  HttpOptions options_;
  AccessLog* access_log_;
  const HttpServer* server_ = nullptr;
  HttpMetrics metrics_;

  // Writes that failed for want of space or because the database is closing, and when the
  // last one failed (steady clock, ns; 0 once a later write succeeded).
  std::atomic<uint64_t> write_failures_{0};
  std::atomic<int64_t> last_write_failure_ns_{0};
  mutable std::mutex failure_mutex_;
  std::string last_write_failure_;  // guarded by failure_mutex_
};

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_HTTP_API_H_
