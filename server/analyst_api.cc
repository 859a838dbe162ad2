#include "analyst_api.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "allezon/json.h"
#include "http_api.h"
#include "http_server.h"
#include "query_parsing.h"

namespace allezon::server {
namespace {

constexpr char kJson[] = "application/json";

void SendError(httplib::Response& response, int status, std::string_view message) {
  response.status = status;
  response.set_content(ErrorJson(message), kJson);
}

void SendStatus(httplib::Response& response, const absl::Status& status) {
  SendError(response, HttpStatusFor(status), std::string(status.message()));
}

void SendJson(httplib::Response& response, std::string body) {
  response.status = 200;
  response.set_content(std::move(body), kJson);
}

// The query string parsed by the same rules as every other endpoint (repeated parameters
// are 400, malformed escapes too); SendStatus on failure.
bool Params(const httplib::Request& request, httplib::Response& response, QueryParams* params) {
  absl::StatusOr<QueryParams> parsed = ParseQueryString(QueryOfTarget(request.target));
  if (!parsed.ok()) {
    SendStatus(response, parsed.status());
    return false;
  }
  *params = *std::move(parsed);
  return true;
}

void Top(const Database& database, const httplib::Request& request, httplib::Response& response) {
  QueryParams params;
  if (!Params(request, response, &params)) return;
  absl::StatusOr<TopQuery> query = ParseTopQuery(params);
  if (!query.ok()) return SendStatus(response, query.status());
  absl::StatusOr<TopResult> result = database.analytics().Top(*query);
  if (!result.ok()) return SendStatus(response, result.status());
  SendJson(response, TopToJson(*query, *result));
}

void Catalogue(const Database& database, const httplib::Request& request,
               httplib::Response& response) {
  QueryParams params;
  if (!Params(request, response, &params)) return;
  absl::StatusOr<CatalogueQuery> query = ParseCatalogueQuery(params);
  if (!query.ok()) return SendStatus(response, query.status());
  absl::StatusOr<std::vector<CatalogueEntry>> result = database.analytics().Catalogue(*query);
  if (!result.ok()) return SendStatus(response, result.status());
  SendJson(response, CatalogueToJson(query->dimension, *result));
}

void Anomalies(const Database& database, const httplib::Request& request,
               httplib::Response& response) {
  QueryParams params;
  if (!Params(request, response, &params)) return;
  absl::StatusOr<AnomalyQuery> query = ParseAnomalyQuery(params);
  if (!query.ok()) return SendStatus(response, query.status());
  absl::StatusOr<std::vector<Anomaly>> result = database.analytics().Anomalies(*query);
  if (!result.ok()) return SendStatus(response, result.status());
  SendJson(response, AnomaliesToJson(query->dimension, *result));
}

void UserSessions(const Database& database, int64_t gap_ms, const httplib::Request& request,
                  httplib::Response& response) {
  // As for profiles: cpp-httplib has percent-decoded the path before matching it.
  const std::string& cookie = request.matches[1].str();
  QueryParams params;
  if (!Params(request, response, &params)) return;
  absl::StatusOr<SessionQuery> query = ParseSessionQuery(params, gap_ms);
  if (!query.ok()) return SendStatus(response, query.status());
  absl::StatusOr<std::vector<Session>> result = database.analytics().UserSessions(cookie, *query);
  if (!result.ok()) return SendStatus(response, result.status());
  SendJson(response, SessionsToJson(cookie, *result));
}

}  // namespace

void RegisterAnalystApi(HttpServer& server, const Database* database, AnalystOptions options) {
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  constexpr const char* kSessions = R"(/user_sessions/(.+))";
  const auto route = [&](const char* path, const char* name, auto handler) {
    if (options.cluster_mode) {
      server.Get(path, [name](Req, Res r) {
        SendError(r, 501,
                  absl::StrCat("GET ", name,
                               " is not yet served by cluster nodes: ask a "
                               "single-node server"));
      });
    } else {
      server.Get(path, handler);
    }
    const auto not_allowed = [](Req, Res r) {
      r.set_header("Allow", "GET");
      SendError(r, 405, "method not allowed: use GET");
    };
    server.Post(path, not_allowed);
    server.Put(path, not_allowed);
    server.Patch(path, not_allowed);
    server.Delete(path, not_allowed);
    server.Options(path, not_allowed);
  };
  route("/top", "/top", [database](Req q, Res r) { Top(*database, q, r); });
  route("/catalogue", "/catalogue", [database](Req q, Res r) { Catalogue(*database, q, r); });
  route("/anomalies", "/anomalies", [database](Req q, Res r) { Anomalies(*database, q, r); });
  route(kSessions, "/user_sessions", [database, gap = options.session_gap_ms](Req q, Res r) {
    UserSessions(*database, gap, q, r);
  });
}

}  // namespace allezon::server
