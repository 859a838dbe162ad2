#include "analyst_api.h"

#include <string>

#include "allezon/json.h"
#include "http_api.h"
#include "http_message.h"
#include "query_parsing.h"

namespace allezon::server {
namespace {

constexpr char kJson[] = "application/json";

void SendStatus(HttpResponse& response, const absl::Status& status) {
  SendError(response, HttpStatusFor(status), std::string(status.message()));
}

void SendJson(HttpResponse& response, std::string body) {
  response.status = 200;
  response.set_content(std::move(body), kJson);
}

// The query string parsed by the same rules as every other endpoint (repeated parameters
// are 400, malformed escapes too); SendStatus on failure.
bool Params(const HttpRequest& request, HttpResponse& response, QueryParams* params) {
  absl::StatusOr<QueryParams> parsed = ParseQueryString(QueryOfTarget(request.target));
  if (!parsed.ok()) {
    SendStatus(response, parsed.status());
    return false;
  }
  *params = *std::move(parsed);
  return true;
}

void Top(const Analytics& analytics, const HttpRequest& request, HttpResponse& response) {
  QueryParams params;
  if (!Params(request, response, &params)) return;
  absl::StatusOr<TopQuery> query = ParseTopQuery(params);
  if (!query.ok()) return SendStatus(response, query.status());
  absl::StatusOr<TopResult> result = analytics.Top(*query);
  if (!result.ok()) return SendStatus(response, result.status());
  SendJson(response, TopToJson(*query, *result));
}

void Catalogue(const Analytics& analytics, const HttpRequest& request,
               HttpResponse& response) {
  QueryParams params;
  if (!Params(request, response, &params)) return;
  absl::StatusOr<CatalogueQuery> query = ParseCatalogueQuery(params);
  if (!query.ok()) return SendStatus(response, query.status());
  absl::StatusOr<std::vector<CatalogueEntry>> result = analytics.Catalogue(*query);
  if (!result.ok()) return SendStatus(response, result.status());
  SendJson(response, CatalogueToJson(query->dimension, *result));
}

void Anomalies(const Analytics& analytics, const HttpRequest& request,
               HttpResponse& response) {
  QueryParams params;
  if (!Params(request, response, &params)) return;
  absl::StatusOr<AnomalyQuery> query = ParseAnomalyQuery(params);
  if (!query.ok()) return SendStatus(response, query.status());
  absl::StatusOr<std::vector<Anomaly>> result = analytics.Anomalies(*query);
  if (!result.ok()) return SendStatus(response, result.status());
  SendJson(response, AnomaliesToJson(query->dimension, *result));
}

void UserSessions(const Analytics& analytics, int64_t gap_ms, const HttpRequest& request,
                  HttpResponse& response) {
  // As for profiles: the router has percent-decoded the path before matching it.
  const std::string& cookie = request.path_param;
  QueryParams params;
  if (!Params(request, response, &params)) return;
  absl::StatusOr<SessionQuery> query = ParseSessionQuery(params, gap_ms);
  if (!query.ok()) return SendStatus(response, query.status());
  absl::StatusOr<std::vector<Session>> result = analytics.UserSessions(cookie, *query);
  if (!result.ok()) return SendStatus(response, result.status());
  SendJson(response, SessionsToJson(cookie, *result));
}

}  // namespace

void RegisterAnalystApi(HttpRouter& router, const Analytics* analytics, AnalystOptions options) {
  using Req = const HttpRequest&;
  using Res = HttpResponse&;
  router.Get("/top", [analytics](Req q, Res r) { Top(*analytics, q, r); });
  router.Get("/catalogue", [analytics](Req q, Res r) { Catalogue(*analytics, q, r); });
  router.Get("/anomalies", [analytics](Req q, Res r) { Anomalies(*analytics, q, r); });
  router.Get("/user_sessions/*", [analytics, gap = options.session_gap_ms](Req q, Res r) {
    UserSessions(*analytics, gap, q, r);
  });
}

}  // namespace allezon::server
