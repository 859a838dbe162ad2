// The analyst endpoints of SPEC §9 as JSON: GET /top, GET /catalogue, GET /anomalies and
// GET /user_sessions/{cookie}. Thin: each parses its query (query_parsing.h), asks an
// Analytics and writes the library's JSON. The Analytics is one database's
// (Database::analytics()) or, in cluster mode, the node's fan-out over the partition groups'
// owners (ClusterBackend::analytics(), server/cluster/analyst_fanout.h): the same answers.
// The dashboard (GET /) is not here.
//
// Errors as the rest of the API (SPEC §7): 400 with {"error": ...} for bad input, 405 with
// `Allow: GET` for another method; 503 when a cluster has a partition group no owner of which
// can answer.
//
// Thread-safety: the handlers run concurrently on the HTTP threads; they keep no state but
// what RegisterAnalystApi copies into them. `analytics` must outlive the server.
#ifndef ALLEZON_SERVER_ANALYST_API_H_
#define ALLEZON_SERVER_ANALYST_API_H_

#include <cstdint>

#include "allezon/analytics.h"

namespace allezon::server {

class HttpRouter;

struct AnalystOptions {
  // Tags this far apart or more start a new session (--session-gap-minutes). Must be >= 1.
  int64_t session_gap_ms = kDefaultSessionGapMs;
};

// Registers the four routes on `router` (which answers other methods with 405).
void RegisterAnalystApi(HttpRouter& router, const Analytics* analytics, AnalystOptions options);

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_ANALYST_API_H_
