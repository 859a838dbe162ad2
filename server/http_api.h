// The HTTP face of the library (SPEC §3–7): routes, request parsing, Status -> HTTP mapping
// and JSON error bodies. No storage logic lives here; every answer comes from the library.
//
// Ownership: HttpApi borrows the Database and the DebugComparator, which must outlive it.
// Thread-safety: handlers run concurrently on the HTTP thread pool; HttpApi holds no
// mutable state of its own besides atomic counters.
#ifndef ALLEZON_SERVER_HTTP_API_H_
#define ALLEZON_SERVER_HTTP_API_H_

#include <httplib.h>

#include <atomic>
#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "allezon/database.h"
#include "debug_compare.h"

namespace allezon::server {

struct HttpOptions {
  // Compare query bodies (debug-mode expected answers) with our answers.
  bool debug_compare = true;
  // Largest POST /user_tags body; larger ones are 413. (Query bodies are bounded by the
  // server's payload limit, which must leave room for a full profile's expected answer.)
  size_t max_tag_body_bytes = 64 * 1024;
  // Accept /admin/* requests from non-loopback clients too.
  bool admin_remote = false;
};

// One exhaustive mapping of library errors to HTTP statuses.
int HttpStatusFor(const absl::Status& status);

// {"error": "<message>"}
std::string ErrorJson(std::string_view message);

class HttpApi {
 public:
  HttpApi(Database* database, DebugComparator* comparator, HttpOptions options);

  // Registers every route and the error and exception handlers on `server`.
  void Register(httplib::Server& server);

 private:
  void AddUserTag(const httplib::Request& request, httplib::Response& response);
  void UserProfile(const httplib::Request& request, httplib::Response& response);
  void Aggregates(const httplib::Request& request, httplib::Response& response);
  void DebugStats(const httplib::Request& request, httplib::Response& response);
  void Ready(const httplib::Request& request, httplib::Response& response);
  void Stats(const httplib::Request& request, httplib::Response& response);
  void SetMaxMapSize(const httplib::Request& request, httplib::Response& response);
  void Backup(const httplib::Request& request, httplib::Response& response);
  // Admin endpoints change or copy the database: loopback clients only, unless allowed.
  bool AdminAllowed(const httplib::Request& request, httplib::Response& response) const;

  Database* database_;
  DebugComparator* comparator_;
  HttpOptions options_;
};

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_HTTP_API_H_
