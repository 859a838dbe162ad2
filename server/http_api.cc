#include "http_api.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "allezon/json.h"
#include "allezon/time.h"
#include "allezon/user_tag.h"
#include "analyst_api.h"
#include "dashboard.h"
#include "history_api.h"
#include "http_server.h"
#include "log.h"
#include "query_parsing.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace allezon::server {
namespace {

constexpr char kJson[] = "application/json";
// After a failed write, /readyz answers 503 until a write succeeds or this much time has
// passed, so that a balancer that stopped sending writes lets one through to try again.
constexpr auto kNotReadyAfterFailure = std::chrono::seconds(5);

using SteadyClock = std::chrono::steady_clock;

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

void SendStatus(HttpResponse& response, const absl::Status& status) {
  SendError(response, HttpStatusFor(status), std::string(status.message()));
}

uint64_t DirectoryBytes(const std::string& directory) {
  uint64_t total = 0;
  std::error_code error;
  for (auto it = std::filesystem::directory_iterator(directory, error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    std::error_code size_error;
    const uintmax_t size = it->is_regular_file(size_error) ? it->file_size(size_error) : 0;
    if (!size_error) total += size;
  }
  return total;
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

int HttpStatusForWrite(const absl::Status& status) {
  if (status.ok()) return 204;
  if (absl::IsInvalidArgument(status) || absl::IsOutOfRange(status)) return 400;
  return 503;
}

HttpApi::HttpApi(Database* database, DebugComparator* comparator, HttpOptions options,
                 AccessLog* access_log, ClusterBackend* cluster)
    : database_(database),
      cluster_(cluster),
      comparator_(comparator),
      options_(std::move(options)),
      access_log_(access_log) {}

void HttpApi::Register(HttpRouter& router) {
  using Req = const HttpRequest&;
  using Res = HttpResponse&;
  router.Post("/user_tags", [this](Req q, Res r) { AddUserTag(q, r); });
  router.Post("/user_profiles/*", [this](Req q, Res r) { UserProfile(q, r); });
  router.Post("/aggregates", [this](Req q, Res r) { Aggregates(q, r); });
  router.Get("/debug/stats", [this](Req q, Res r) { DebugStats(q, r); });
  router.Get("/healthz", [](Req, Res r) { r.set_content(R"({"status":"ok"})", kJson); });
  router.Get("/readyz", [this](Req q, Res r) { Ready(q, r); });
  router.Get("/metrics", [this](Req q, Res r) { Metrics(q, r); });
  router.Get("/admin/stats", [this](Req q, Res r) { Stats(q, r); });
  router.Post("/admin/max-map-size", [this](Req q, Res r) { SetMaxMapSize(q, r); });
  // A large backup takes seconds: off the event loops.
  router.Post("/admin/backup", [this](Req q, Res r) { Backup(q, r); },
              HttpRouter::Dispatch::kWorker);
  // A cluster node holds only its partitions: its analyst answers are merged from every
  // partition group's owners.
  RegisterAnalystApi(router, cluster_ != nullptr ? &cluster_->analytics() : &database_->analytics(),
                     {options_.session_gap_ms});
  RegisterHistoryApi(router, database_, {options_.max_batch_tags, cluster_});
  RegisterDashboard(router);  // GET /: the campaign dashboard (SPEC §9)
  if (cluster_ != nullptr) cluster_->Register(router);
  router.set_observer([this](Req q, const HttpResponse& r) { OnResponse(q, r); });
}

void HttpApi::Attach(HttpServer& server) {
  server_ = &server;
  server.set_own_response_observer([this](int status) {
    metrics_.Count(Endpoint::kOther, status);
    LogLine(LogLevel::kDebug, "connection refused a request").Add("status", status);
  });
}

void HttpApi::OnResponse(const HttpRequest& request, const HttpResponse& response) {
  const Endpoint endpoint = EndpointFor(request.path);
  const SteadyClock::time_point start = request.start;
  const auto latency =
      start == SteadyClock::time_point{}
          ? std::chrono::nanoseconds(0)
          : std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - start);
  metrics_.Observe(endpoint, response.status, latency);
  if (access_log_ == nullptr) return;
  LogAccess(request.remote_addr, request.method, request.target, response.status,
            request.body.size(), response.body.size(), latency);
}

void HttpApi::LogAccess(std::string_view remote, std::string_view method, std::string_view target,
                        int status, size_t bytes_in, size_t bytes_out,
                        std::chrono::nanoseconds latency) {
  std::string line = "ts=" + LogTimestamp() + " remote=";
  AppendLogValue(remote, &line);
  line += " method=";
  AppendLogValue(method, &line, 16);
  line += " target=";
  AppendLogValue(target, &line, 512);
  absl::StrAppend(
      &line, " status=", status, " bytes_in=", bytes_in, " bytes_out=", bytes_out,
      " duration_us=", std::chrono::duration_cast<std::chrono::microseconds>(latency).count());
  access_log_->Write(line);
}

int HttpApi::Accept(std::string_view body, std::vector<UserTag>* batch, std::string* error) {
  if (body.size() > options_.max_tag_body_bytes) {
    *error = absl::StrCat("user tag body is larger than ", options_.max_tag_body_bytes, " bytes");
    return 413;
  }
  // JSON text never holds a raw NUL, but the tag parser stops reading at one, so
  // `{...valid tag...}\0junk` would otherwise be accepted.
  if (body.find('\0') != std::string_view::npos) {
    *error = "invalid JSON: the body contains a NUL byte";
    return 400;
  }
  absl::StatusOr<UserTag> tag = ParseUserTagJson(body);
  if (!tag.ok()) {
    *error = std::string(tag.status().message());
    return HttpStatusFor(tag.status());
  }
  // The parser turns a lone low-surrogate escape ("\udc00") into bytes that are not UTF-8
  // (found by fuzz/tag_parser_fuzzer); such a tag could never be given back as valid JSON.
  const std::string* product_id = std::get_if<std::string>(&tag->product_id);
  for (const std::string* field :
       std::initializer_list<const std::string*>{&tag->cookie, &tag->country, &tag->origin,
                                                 &tag->brand_id, &tag->category_id, product_id}) {
    if (field != nullptr && !IsValidUtf8(*field)) {
      *error = "invalid tag: a string is not valid UTF-8 (lone surrogate)";
      return 400;
    }
  }
  batch->push_back(*std::move(tag));
  return 0;
}

void HttpApi::Submit(std::vector<UserTag> batch, std::function<void(absl::Status)> done) {
  // A cluster node's failed ingest (the log or the owners unreachable) says nothing about this
  // node's ability to serve: its readiness is the cluster's to judge (ClusterBackend::Ready).
  if (cluster_ != nullptr) return cluster_->Submit(std::move(batch), std::move(done));
  database_->SubmitTags(std::move(batch), [this, done = std::move(done)](absl::Status stored) {
    NoteWrite(stored);
    done(std::move(stored));
  });
}

int HttpApi::StatusFor(const absl::Status& status) const { return HttpStatusForWrite(status); }

void HttpApi::Observe(const Answered& answered) {
  metrics_.Observe(Endpoint::kUserTags, answered.status, answered.latency);
  if (access_log_ == nullptr) return;
  LogAccess(answered.remote_ip, "POST", answered.target, answered.status, answered.bytes_in,
            answered.bytes_out, answered.latency);
}

void HttpApi::NoteWrite(const absl::Status& status) {
  if (status.ok()) {
    if (last_write_failure_ns_.load(std::memory_order_relaxed) != 0) {
      last_write_failure_ns_.store(0, std::memory_order_relaxed);
    }
    return;
  }
  if (HttpStatusForWrite(status) < 500) return;  // the client's fault, not the database's
  write_failures_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(failure_mutex_);
    last_write_failure_ = std::string(status.message());
  }
  last_write_failure_ns_.store(SteadyNowNs(), std::memory_order_relaxed);
  LogLine(LogLevel::kWarn, "write failed")
      .Add("code", absl::StatusCodeToString(status.code()))
      .Add("error", std::string(status.message()));
}

bool HttpApi::QueryBodyTooLarge(const HttpRequest& request,
                                HttpResponse& response) const {
  if (request.body.size() <= options_.max_query_body_bytes) return false;
  SendError(response, 413,
            absl::StrCat("query body is larger than ", options_.max_query_body_bytes, " bytes"));
  return true;
}

void HttpApi::CompareDebug(QueryKind kind, const HttpRequest& request,
                           std::string_view answer) {
  if (!options_.debug_compare) return;
  std::string_view expected = request.body;
  if (JsonNestingDepth(expected, kMaxComparedJsonDepth + 1) > kMaxComparedJsonDepth) {
    expected = {};  // skipped: no real answer nests this deep
  }
  comparator_->Compare(kind, expected, answer, request.target);
}

void HttpApi::AddUserTag(const HttpRequest& request, HttpResponse& response) {
  std::vector<UserTag> batch;
  std::string error;
  if (const int refused = Accept(request.body, &batch, &error); refused != 0) {
    return SendError(response, refused, error);
  }
  absl::Status stored;
  if (cluster_ != nullptr) {
    std::promise<absl::Status> outcome;
    std::future<absl::Status> answered = outcome.get_future();
    cluster_->Submit(std::move(batch),
                     [&outcome](absl::Status status) { outcome.set_value(std::move(status)); });
    stored = answered.get();
  } else {
    stored = database_->AddTags(batch);
    NoteWrite(stored);
  }
  if (!stored.ok()) {
    return SendError(response, HttpStatusForWrite(stored), std::string(stored.message()));
  }
  response.status = 204;
}

void HttpApi::UserProfile(const HttpRequest& request, HttpResponse& response) {
  if (QueryBodyTooLarge(request, response)) return;
  const std::string& cookie = request.path_param;
  absl::StatusOr<QueryParams> params = ParseQueryString(QueryOfTarget(request.target));
  if (!params.ok()) return SendStatus(response, params.status());
  absl::StatusOr<ProfileQuery> query = ParseProfileQuery(*params);
  if (!query.ok()) return SendStatus(response, query.status());
  // Written straight from the stored tags, no Profile in between (bench/RESULTS.md,
  // "Zero-copy profile reads").
  std::string body;
  if (absl::Status s =
          cluster_ != nullptr
              ? cluster_->AppendProfileJson(cookie, query->range, query->limit, &body)
              : AppendProfileJson(database_->user_tags(), cookie, query->range, query->limit,
                                  &body);
      !s.ok()) {
    return SendStatus(response, s);
  }
  CompareDebug(QueryKind::kProfile, request, body);
  response.status = 200;
  response.set_content(std::move(body), kJson);
}

void HttpApi::Aggregates(const HttpRequest& request, HttpResponse& response) {
  if (QueryBodyTooLarge(request, response)) return;
  absl::StatusOr<QueryParams> params = ParseQueryString(QueryOfTarget(request.target));
  if (!params.ok()) return SendStatus(response, params.status());
  absl::StatusOr<AggregateQuery> query = ParseAggregateQuery(*params);
  if (!query.ok()) return SendStatus(response, query.status());
  absl::StatusOr<AggregateResult> result =
      cluster_ != nullptr ? cluster_->Aggregate(*query) : database_->aggregates().Query(*query);
  if (!result.ok()) return SendStatus(response, result.status());
  std::string body = AggregatesToJson(*query, *result);
  CompareDebug(QueryKind::kAggregates, request, body);
  response.status = 200;
  response.set_content(std::move(body), kJson);
}

void HttpApi::DebugStats(const HttpRequest&, HttpResponse& response) {
  response.set_content(comparator_->StatsJson(), kJson);
}

void HttpApi::Ready(const HttpRequest&, HttpResponse& response) {
  if (cluster_ != nullptr) {
    if (absl::Status ready = cluster_->Ready(); !ready.ok()) {
      return SendError(response, 503, std::string(ready.message()));
    }
  }
  // Readable: a read transaction works. Writable: no write failed for want of space lately.
  absl::StatusOr<Profile> probe =
      database_->user_tags().GetProfile("readyz-probe", TimeRange{0, 0}, 0);
  if (!probe.ok() && HttpStatusFor(probe.status()) >= 500) {
    return SendError(
        response, 503,
        absl::StrCat("not ready: database cannot be read: ", probe.status().message()));
  }
  const int64_t failed_ns = last_write_failure_ns_.load(std::memory_order_relaxed);
  if (failed_ns != 0 &&
      std::chrono::nanoseconds(SteadyNowNs() - failed_ns) < kNotReadyAfterFailure) {
    std::lock_guard<std::mutex> lock(failure_mutex_);
    return SendError(response, 503,
                     absl::StrCat("not ready: the last write failed: ", last_write_failure_));
  }
  const DatabaseStats stats = database_->Stats();
  response.set_content(
      absl::StrCat(R"({"status":"ready","tags_written":)", stats.tags_written, "}"), kJson);
}

void HttpApi::Metrics(const HttpRequest&, HttpResponse& response) {
  std::string out;
  out.reserve(16 * 1024);
  metrics_.AppendPrometheus(&out);

  const DatabaseStats s = database_->Stats();
  const auto d = [](uint64_t v) { return static_cast<double>(v); };
  AppendSingle(&out, "allezon_tags_written_total", "counter",
               "User tags stored (answered 204) since the server started.", d(s.tags_written));
  AppendSingle(&out, "allezon_commits_total", "counter",
               "Write transactions (group commits) since start; tags_written_total / "
               "commits_total is the mean batch size.",
               d(s.commits));
  AppendSingle(&out, "allezon_commit_largest_batch_tags", "gauge",
               "Most tags committed in one transaction since start.", d(s.largest_batch));
  {
    // Cumulative buckets as Prometheus wants them: bucket i of the library counts commits of
    // 2^(i-1)+1 .. 2^i tags (bucket 0: one tag), the last one everything larger.
    out.append(
        "# HELP allezon_commit_batch_tags Tags per group commit.\n"
        "# TYPE allezon_commit_batch_tags histogram\n");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < s.commits_by_batch_size.size(); ++i) {
      cumulative += s.commits_by_batch_size[i];
      const bool last = i + 1 == s.commits_by_batch_size.size();
      absl::StrAppend(&out, "allezon_commit_batch_tags_bucket{le=\"",
                      last ? std::string("+Inf") : absl::StrCat(uint64_t{1} << i), "\"} ",
                      cumulative, "\n");
    }
    absl::StrAppend(&out, "allezon_commit_batch_tags_sum ", s.tags_written, "\n",
                    "allezon_commit_batch_tags_count ", cumulative, "\n");
  }
  AppendSingle(&out, "allezon_profile_staged_tags", "gauge",
               "Tags logged but not yet merged into their cookie's stored list "
               "(--profile-staging-tags is where merging keeps pace).",
               d(s.staged_profile_tags));
  AppendSingle(&out, "allezon_profile_log_tags", "gauge",
               "Tags in the durable log: staged, in an open aggregate minute, or to be trimmed.",
               d(s.profile_log_tags));
  AppendSingle(&out, "allezon_profile_lists", "gauge",
               "(cookie, action) tag lists merged into records (a list whose tags are all "
               "still staged counts from its first fold). Distinct cookies lie between half "
               "this and this.",
               d(s.profile_records));
  AppendSingle(&out, "allezon_cookies_lower_bound", "gauge",
               "A lower bound of distinct cookies stored: profile_lists / 2, rounded up.",
               d((s.profile_records + 1) / 2));
  AppendSingle(&out, "allezon_aggregate_open_minutes", "gauge",
               "Aggregate minutes held in memory before being folded to disk.", d(s.open_minutes));
  AppendSingle(&out, "allezon_newest_event_time_seconds", "gauge",
               "Newest event time accepted, seconds since the Unix epoch (0: none yet).",
               s.newest_time == kMinTime ? 0.0 : static_cast<double>(s.newest_time) / 1000.0);
  AppendSingle(&out, "allezon_db_map_size_bytes", "gauge", "Current LMDB map size.", d(s.map_size));
  AppendSingle(&out, "allezon_db_map_used_bytes", "gauge", "Bytes of the LMDB map in use.",
               d(s.map_used));
  AppendSingle(&out, "allezon_db_map_used_ratio", "gauge", "map_used_bytes / map_size_bytes.",
               s.map_size == 0 ? 0.0 : d(s.map_used) / d(s.map_size));
  AppendSingle(&out, "allezon_db_disk_bytes", "gauge", "Size of the files in the data directory.",
               d(DirectoryBytes(options_.data_dir)));
  AppendSingle(&out, "allezon_write_failures_total", "counter",
               "Writes refused with 5xx (database full or closing).",
               d(write_failures_.load(std::memory_order_relaxed)));

  AppendMetricHeader(&out, "allezon_debug_compare_total", "counter",
                     "Debug-mode comparisons of our answer with the expected one in the "
                     "request body, by query type and outcome.");
  for (auto [kind, name] : {std::pair{QueryKind::kProfile, "user_profiles"},
                            std::pair{QueryKind::kAggregates, "aggregates"}}) {
    const DebugComparator::Counts c = comparator_->counts(kind);
    for (auto [outcome, n] : {std::pair{"match", c.matches}, std::pair{"mismatch", c.mismatches},
                              std::pair{"skipped", c.skipped}}) {
      AppendSample(&out, "allezon_debug_compare_total",
                   absl::StrCat("query=\"", name, "\",outcome=\"", outcome, "\""), n);
    }
  }

  if (server_ != nullptr) {
    const ConnectionCounters& c = server_->counters();
    const ConnectionLimits& l = server_->limits();
    const auto load = [](const auto& a) { return static_cast<double>(a.load()); };
    AppendSingle(&out, "allezon_http_max_connections", "gauge",
                 "--max-connections: connections open at once; beyond, 503.",
                 static_cast<double>(l.max_connections));
    AppendSingle(&out, "allezon_http_connections_active", "gauge", "Connections open now.",
                 load(c.active));
    AppendSingle(&out, "allezon_http_connections_accepted_total", "counter",
                 "Connections accepted for service.", load(c.accepted));
    AppendSingle(&out, "allezon_http_connections_rejected_total", "counter",
                 "Connections answered 503 and closed: --max-connections were open.",
                 load(c.rejected_busy));
    AppendSingle(&out, "allezon_http_request_timeouts_total", "counter",
                 "Requests answered 408: not whole within --request-timeout or --read-timeout.",
                 load(c.request_timeouts));
    AppendSingle(&out, "allezon_http_oversized_requests_total", "counter",
                 "Requests cut by the connection layer: headers (414/431) or body (413).",
                 load(c.headers_too_large) + load(c.bodies_too_large));
  }
  AppendProcessMetrics(&out);
  if (cluster_ != nullptr) out += cluster_->MetricsText();
  response.set_content(std::move(out), "text/plain; version=0.0.4; charset=utf-8");
}

bool HttpApi::AdminAllowed(const HttpRequest& request, HttpResponse& response) const {
  const std::string& from = request.remote_addr;
  if (options_.admin_remote || from == "127.0.0.1" || from == "::1" || from == "::ffff:127.0.0.1") {
    return true;
  }
  SendError(response, 403, "admin endpoints answer loopback clients only (see --admin-remote)");
  return false;
}

void HttpApi::Stats(const HttpRequest& request, HttpResponse& response) {
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

void HttpApi::SetMaxMapSize(const HttpRequest& request, HttpResponse& response) {
  if (!AdminAllowed(request, response)) return;
  const auto [begin, end] = request.params.equal_range("mb");
  if (begin == end || std::next(begin) != end) {
    return SendError(response, 400, "parameter mb is required once");
  }
  absl::StatusOr<int32_t> mb = ParseLimit(begin->second);
  if (!mb.ok()) return SendError(response, 400, "mb must be a non-negative integer (0 = no limit)");
  const uint64_t bytes = static_cast<uint64_t>(*mb) << 20;
  if (absl::Status s = database_->SetMaxMapSize(bytes); !s.ok()) return SendStatus(response, s);
  last_write_failure_ns_.store(0, std::memory_order_relaxed);  // room again: worth a try
  LogLine(LogLevel::kInfo, "max map size changed").Add("max_map_size", bytes);
  response.set_content(absl::StrCat(R"({"max_map_size":)", bytes, "}"), kJson);
}

void HttpApi::Backup(const HttpRequest& request, HttpResponse& response) {
  if (!AdminAllowed(request, response)) return;
  const auto [begin, end] = request.params.equal_range("dir");
  if (begin == end || std::next(begin) != end) {
    return SendError(response, 400, "parameter dir is required once");
  }
  const std::string& directory = begin->second;
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return SendError(response, 400,
                     absl::StrCat("cannot create ", directory, ": ", error.message()));
  }
  if (absl::Status s = database_->Backup(directory); !s.ok()) return SendStatus(response, s);
  LogLine(LogLevel::kInfo, "backup written").Add("dir", directory);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("backup");
  writer.String(directory.c_str());
  writer.EndObject();
  response.set_content(std::string(buffer.GetString(), buffer.GetSize()), kJson);
}

}  // namespace allezon::server
