#include "http_api.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "allezon/json.h"
#include "allezon/time.h"
#include "allezon/user_tag.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace allezon::server {
namespace {

constexpr char kJson[] = "application/json";
constexpr int32_t kDefaultProfileLimit = 200;

void SendError(httplib::Response& response, int status, std::string_view message) {
  response.status = status;
  response.set_content(ErrorJson(message), kJson);
}

void SendStatus(httplib::Response& response, const absl::Status& status) {
  SendError(response, HttpStatusFor(status), std::string(status.message()));
}

// The single value of a query parameter that may appear at most once.
absl::Status OptionalParam(const httplib::Request& request, const char* name,
                           std::optional<std::string>* out) {
  const size_t count = request.get_param_value_count(name);
  if (count > 1) return absl::InvalidArgumentError(absl::StrCat("parameter ", name, " is repeated"));
  if (count == 1) *out = request.get_param_value(name);
  return absl::OkStatus();
}

absl::StatusOr<std::string> RequiredParam(const httplib::Request& request, const char* name) {
  std::optional<std::string> value;
  if (absl::Status s = OptionalParam(request, name, &value); !s.ok()) return s;
  if (!value) return absl::InvalidArgumentError(absl::StrCat("parameter ", name, " is required"));
  return *value;
}

// A non-negative decimal integer; values beyond int32 mean "no limit" (the cap applies).
absl::StatusOr<int32_t> ParseLimit(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("limit must be a non-negative integer");
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError("limit must be a non-negative integer");
    }
    value = std::min<int64_t>(value * 10 + (c - '0'), INT32_MAX);
  }
  return static_cast<int32_t>(value);
}

absl::StatusOr<AggregateQuery> ParseAggregateQuery(const httplib::Request& request) {
  AggregateQuery query;
  absl::StatusOr<std::string> range_text = RequiredParam(request, "time_range");
  if (!range_text.ok()) return range_text.status();
  absl::StatusOr<TimeRange> range = ParseTimeRange(*range_text);
  if (!range.ok()) return range.status();
  query.range = *range;
  absl::StatusOr<std::string> action_text = RequiredParam(request, "action");
  if (!action_text.ok()) return action_text.status();
  std::optional<Action> action = ParseAction(*action_text);
  if (!action) return absl::InvalidArgumentError("action must be VIEW or BUY");
  query.action = *action;
  const size_t n = request.get_param_value_count("aggregates");
  if (n == 0) {
    return absl::InvalidArgumentError("parameter aggregates is required (COUNT and/or SUM_PRICE)");
  }
  for (size_t i = 0; i < n; ++i) {
    const std::string name = request.get_param_value("aggregates", i);
    if (name == "COUNT") {
      query.aggregates.push_back(AggregateFunction::kCount);
    } else if (name == "SUM_PRICE") {
      query.aggregates.push_back(AggregateFunction::kSumPrice);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown aggregate \"", name, "\" (expected COUNT or SUM_PRICE)"));
    }
  }
  for (auto [name, field] : {std::pair{"origin", &query.origin},
                             std::pair{"brand_id", &query.brand_id},
                             std::pair{"category_id", &query.category_id}}) {
    if (absl::Status s = OptionalParam(request, name, field); !s.ok()) return s;
  }
  return query;
}

const char* ReasonFor(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 404:
      return "no such endpoint";
    case 405:
      return "method not allowed";
    case 408:
      return "request timeout";
    case 413:
      return "request body too large";
    case 414:
      return "request URI too long";
    case 431:
      return "request headers too large";
    default:
      return status >= 500 ? "internal server error" : "request failed";
  }
}

}  // namespace

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:  // database full: cannot store, retry later
    case absl::StatusCode::kUnavailable:        // closing
    case absl::StatusCode::kAborted:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    default:
      return 500;
  }
}

std::string ErrorJson(std::string_view message) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("error");
  writer.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

HttpApi::HttpApi(Database* database, DebugComparator* comparator, HttpOptions options)
    : database_(database), comparator_(comparator), options_(options) {}

void HttpApi::Register(httplib::Server& server) {
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  server.Post("/user_tags", [this](Req q, Res r) { AddUserTag(q, r); });
  server.Post(R"(/user_profiles/(.+))", [this](Req q, Res r) { UserProfile(q, r); });
  server.Post("/aggregates", [this](Req q, Res r) { Aggregates(q, r); });
  server.Get("/debug/stats", [this](Req q, Res r) { DebugStats(q, r); });
  server.Get("/healthz", [](Req, Res r) { r.set_content(R"({"status":"ok"})", kJson); });
  server.Get("/readyz", [this](Req q, Res r) { Ready(q, r); });
  server.Get("/admin/stats", [this](Req q, Res r) { Stats(q, r); });
  server.Post("/admin/max-map-size", [this](Req q, Res r) { SetMaxMapSize(q, r); });
  server.Post("/admin/backup", [this](Req q, Res r) { Backup(q, r); });

  // A known path with the wrong method is a 405, not a 404.
  const auto method_not_allowed = [](Req, Res r) {
    r.set_header("Allow", "POST");
    SendError(r, 405, "method not allowed: use POST");
  };
  for (const char* path : {"/user_tags", R"(/user_profiles/(.+))", "/aggregates"}) {
    server.Get(path, method_not_allowed);
    server.Put(path, method_not_allowed);
    server.Patch(path, method_not_allowed);
    server.Delete(path, method_not_allowed);
    server.Options(path, method_not_allowed);
  }

  // A POST without Content-Length (and not chunked) has no body (RFC 9112 §6.3), but
  // cpp-httplib 0.11 reads such a request's body until the peer closes, hanging a keep-alive
  // client until the read timeout. Declaring the empty body before routing reads nothing.
  server.set_pre_routing_handler([](Req q, Res) {
    if (!q.has_header("Content-Length") && !q.has_header("Transfer-Encoding")) {
      const_cast<httplib::Request&>(q).headers.emplace("Content-Length", "0");
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Every error answer carries a JSON body, also those cpp-httplib produces by itself
  // (404 for an unknown path, 413 for an oversized body, 400 for a malformed request).
  server.set_error_handler([](Req, Res r) {
    if (r.body.empty()) {
      r.set_content(ErrorJson(ReasonFor(r.status)), kJson);
    }
  });
  server.set_exception_handler([](Req, Res r, std::exception_ptr) {
    SendError(r, 500, "internal server error");
  });
}

void HttpApi::AddUserTag(const httplib::Request& request, httplib::Response& response) {
  if (request.body.size() > options_.max_tag_body_bytes) {
    return SendError(response, 413,
                     absl::StrCat("user tag body is larger than ", options_.max_tag_body_bytes,
                                  " bytes"));
  }
  absl::StatusOr<UserTag> tag = ParseUserTagJson(request.body);
  if (!tag.ok()) return SendStatus(response, tag.status());
  if (absl::Status s = database_->AddTag(*tag); !s.ok()) return SendStatus(response, s);
  response.status = 204;
}

void HttpApi::UserProfile(const httplib::Request& request, httplib::Response& response) {
  const std::string& cookie = request.matches[1].str();
  absl::StatusOr<std::string> range_text = RequiredParam(request, "time_range");
  if (!range_text.ok()) return SendStatus(response, range_text.status());
  absl::StatusOr<TimeRange> range = ParseTimeRange(*range_text);
  if (!range.ok()) return SendStatus(response, range.status());
  int32_t limit = kDefaultProfileLimit;
  std::optional<std::string> limit_text;
  if (absl::Status s = OptionalParam(request, "limit", &limit_text); !s.ok()) {
    return SendStatus(response, s);
  }
  if (limit_text) {
    absl::StatusOr<int32_t> parsed = ParseLimit(*limit_text);
    if (!parsed.ok()) return SendStatus(response, parsed.status());
    limit = *parsed;
  }
  absl::StatusOr<Profile> profile = database_->user_tags().GetProfile(cookie, *range, limit);
  if (!profile.ok()) return SendStatus(response, profile.status());
  std::string body = ProfileToJson(*profile);
  if (options_.debug_compare) {
    comparator_->Compare(QueryKind::kProfile, request.body, body, request.target);
  }
  response.status = 200;
  response.set_content(std::move(body), kJson);
}

void HttpApi::Aggregates(const httplib::Request& request, httplib::Response& response) {
  absl::StatusOr<AggregateQuery> query = ParseAggregateQuery(request);
  if (!query.ok()) return SendStatus(response, query.status());
  absl::StatusOr<AggregateResult> result = database_->aggregates().Query(*query);
  if (!result.ok()) return SendStatus(response, result.status());
  std::string body = AggregatesToJson(*query, *result);
  if (options_.debug_compare) {
    comparator_->Compare(QueryKind::kAggregates, request.body, body, request.target);
  }
  response.status = 200;
  response.set_content(std::move(body), kJson);
}

void HttpApi::DebugStats(const httplib::Request&, httplib::Response& response) {
  response.set_content(comparator_->StatsJson(), kJson);
}

void HttpApi::Ready(const httplib::Request&, httplib::Response& response) {
  // Readable now; writable unless the last write failed for lack of space.
  const DatabaseStats stats = database_->Stats();
  response.set_content(absl::StrCat(R"({"status":"ready","tags_written":)", stats.tags_written,
                                    "}"),
                       kJson);
}

bool HttpApi::AdminAllowed(const httplib::Request& request, httplib::Response& response) const {
  const std::string& from = request.remote_addr;
  if (options_.admin_remote || from == "127.0.0.1" || from == "::1" ||
      from == "::ffff:127.0.0.1") {
    return true;
  }
  SendError(response, 403, "admin endpoints answer loopback clients only (see --admin-remote)");
  return false;
}

void HttpApi::Stats(const httplib::Request& request, httplib::Response& response) {
  if (!AdminAllowed(request, response)) return;
  const DatabaseStats s = database_->Stats();
  response.set_content(
      absl::StrCat(R"({"tags_written":)", s.tags_written, R"(,"commits":)", s.commits,
                   R"(,"largest_batch":)", s.largest_batch, R"(,"map_size":)", s.map_size,
                   R"(,"map_used":)", s.map_used, R"(,"profile_records":)", s.profile_records,
                   R"(,"open_minutes":)", s.open_minutes, R"(,"newest_time":")",
                   s.newest_time == kMinTime ? "" : FormatTagTime(s.newest_time), "\"}"),
      kJson);
}

void HttpApi::SetMaxMapSize(const httplib::Request& request, httplib::Response& response) {
  if (!AdminAllowed(request, response)) return;
  absl::StatusOr<std::string> text = RequiredParam(request, "mb");
  if (!text.ok()) return SendStatus(response, text.status());
  absl::StatusOr<int32_t> mb = ParseLimit(*text);
  if (!mb.ok()) return SendError(response, 400, "mb must be a non-negative integer (0 = no limit)");
  const uint64_t bytes = static_cast<uint64_t>(*mb) << 20;
  if (absl::Status s = database_->SetMaxMapSize(bytes); !s.ok()) return SendStatus(response, s);
  response.set_content(absl::StrCat(R"({"max_map_size":)", bytes, "}"), kJson);
}

void HttpApi::Backup(const httplib::Request& request, httplib::Response& response) {
  if (!AdminAllowed(request, response)) return;
  absl::StatusOr<std::string> directory = RequiredParam(request, "dir");
  if (!directory.ok()) return SendStatus(response, directory.status());
  std::error_code error;
  std::filesystem::create_directories(*directory, error);
  if (error) {
    return SendError(response, 400,
                     absl::StrCat("cannot create ", *directory, ": ", error.message()));
  }
  if (absl::Status s = database_->Backup(*directory); !s.ok()) return SendStatus(response, s);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("backup");
  writer.String(directory->c_str());
  writer.EndObject();
  response.set_content(std::string(buffer.GetString(), buffer.GetSize()), kJson);
}

}  // namespace allezon::server
