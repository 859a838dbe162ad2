// The analyst endpoints of SPEC §9 as JSON: GET /top, GET /catalogue, GET /anomalies and
// GET /user_sessions/{cookie}. Thin: each parses its query (query_parsing.h), asks the
// library (Database::analytics()) and writes the library's JSON. The dashboard (GET /) is not
// here.
//
// Errors as the rest of the API (SPEC §7): 400 with {"error": ...} for bad input, 405 with
// `Allow: GET` for another method. In cluster mode these are not served yet: 501 with a JSON
// error (a node holds only its partitions, and the fan-out of §8 covers aggregates only).
//
// Thread-safety: the handlers run concurrently on the HTTP threads; they keep no state but
// what RegisterAnalystApi copies into them. `database` must outlive the server.
#ifndef ALLEZON_SERVER_ANALYST_API_H_
#define ALLEZON_SERVER_ANALYST_API_H_

#include <cstdint>

#include "allezon/analytics.h"
#include "allezon/database.h"

namespace allezon::server {

class HttpRouter;

struct AnalystOptions {
  // Tags this far apart or more start a new session (--session-gap-minutes). Must be >= 1.
  int64_t session_gap_ms = kDefaultSessionGapMs;
  // Cluster mode: answer 501 (see above).
  bool cluster_mode = false;
};

// Registers the four routes on `router` (which answers other methods with 405).
void RegisterAnalystApi(HttpRouter& router, const Database* database, AnalystOptions options);

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_ANALYST_API_H_
