#include "history_api.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "allezon/tag_lines.h"
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

std::optional<std::string_view> Param(const QueryParams& params, const char* name) {
  auto it = params.find(name);
  if (it == params.end()) return std::nullopt;
  return std::string_view(it->second);
}

void Export(const Database& database, const httplib::Request& request,
            httplib::Response& response) {
  absl::StatusOr<QueryParams> params = ParseQueryString(QueryOfTarget(request.target));
  if (!params.ok()) return SendStatus(response, params.status());
  absl::StatusOr<ExportQuery> query =
      ParseExportQuery(Param(*params, "time_range"), Param(*params, "format"));
  if (!query.ok()) return SendStatus(response, query.status());
  if (absl::Status s = CheckExportRange(database, query->range); !s.ok()) {
    return SendStatus(response, s);
  }
  // Streamed with chunked transfer encoding: the provider runs once and writes the whole
  // export through the sink, a batch of lines at a time. An error after the first chunk
  // (the range trimmed meanwhile, the client gone) can no longer change the status: the
  // provider returns false, which ends the connection without the final chunk, so the
  // client sees an incomplete body rather than a complete-looking one.
  response.status = 200;
  response.set_chunked_content_provider(
      std::string(ExportContentType(query->format)),
      [&database, query = *query](size_t /*offset*/, httplib::DataSink& sink) {
        const absl::Status status = WriteExport(database, query, [&](std::string_view chunk) {
          return sink.is_writable() && sink.write(chunk.data(), chunk.size());
        });
        if (!status.ok()) return false;
        sink.done();
        return true;
      });
}

void Batch(Database& database, size_t max_tags, const httplib::Request& request,
           httplib::Response& response) {
  std::vector<UserTag> tags;
  int http_status = 400;
  std::string error;
  if (!AcceptBatch(request.body, max_tags, &tags, &http_status, &error).ok()) {
    return SendError(response, http_status, error);
  }
  // AddTags stores all or none and returns once the commit is durable.
  if (absl::Status stored = database.AddTags(tags); !stored.ok()) {
    return SendError(response, HttpStatusForWrite(stored), std::string(stored.message()));
  }
  response.status = 204;
}

}  // namespace

absl::StatusOr<ExportQuery> ParseExportQuery(std::optional<std::string_view> time_range,
                                             std::optional<std::string_view> format) {
  if (!time_range) return absl::InvalidArgumentError("time_range is required");
  absl::StatusOr<TimeRange> range = ParseTimeRange(*time_range);
  if (!range.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("time_range: ", range.status().message()));
  }
  ExportQuery query;
  query.range = *range;
  if (format && *format == "csv") {
    query.format = ExportFormat::kCsv;
  } else if (format && *format != "ndjson") {
    return absl::InvalidArgumentError("format must be ndjson or csv");
  }
  return query;
}

absl::Status CheckExportRange(const Database& database, TimeRange range) {
  absl::StatusOr<EpochMillis> earliest = database.EarliestRawTime();
  if (!earliest.ok()) return earliest.status();
  if (range.begin < *earliest) {
    return absl::InvalidArgumentError(
        absl::StrCat("time_range begins before the raw tags kept: the earliest time available is ",
                     FormatTagTime(*earliest)));
  }
  return absl::OkStatus();
}

std::string_view ExportContentType(ExportFormat format) {
  return format == ExportFormat::kCsv ? "text/csv; charset=utf-8" : "application/x-ndjson";
}

absl::Status WriteExport(const Database& database, const ExportQuery& query,
                         const std::function<bool(std::string_view chunk)>& write) {
  const bool csv = query.format == ExportFormat::kCsv;
  bool header = csv;
  std::string chunk;
  absl::Status status =
      database.ExportTags(query.range, [&](std::span<const UserTagView> tags) -> absl::Status {
        chunk.clear();
        if (header) chunk.append(kUserTagCsvHeader);
        header = false;
        for (const UserTagView& tag : tags) {
          if (csv) {
            AppendUserTagCsv(tag, &chunk);
          } else {
            AppendUserTagLine(tag, &chunk);
          }
        }
        if (!write(chunk)) return absl::CancelledError("the client went away");
        return absl::OkStatus();
      });
  if (status.ok() && header && !write(kUserTagCsvHeader)) {
    return absl::CancelledError("the client went away");
  }
  return status;
}

absl::Status AcceptBatch(std::string_view ndjson, size_t max_tags, std::vector<UserTag>* out,
                         int* http_status, std::string* error) {
  std::vector<UserTag> tags;
  absl::Status status = ParseUserTagLines(ndjson, max_tags, &tags);
  if (status.ok() && tags.empty()) status = absl::InvalidArgumentError("the batch holds no tag");
  if (!status.ok()) {
    *http_status = absl::IsOutOfRange(status) ? 413 : 400;
    *error = absl::IsOutOfRange(status)
                 ? absl::StrCat("batch holds ", status.message(), " (--max-batch-tags)")
                 : std::string(status.message());
    return status;
  }
  if (out->empty()) {
    *out = std::move(tags);
  } else {
    out->insert(out->end(), std::make_move_iterator(tags.begin()),
                std::make_move_iterator(tags.end()));
  }
  return absl::OkStatus();
}

void RegisterHistoryApi(HttpServer& server, Database* database, HistoryOptions options) {
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  const auto route = [&](const char* path, const char* method, auto handler) {
    if (options.cluster_mode) {
      handler = [path](Req, Res r) {
        SendError(r, 501, absl::StrCat(path, " is not yet served by cluster nodes"));
      };
    }
    const std::string allow = method;
    const auto not_allowed = [allow](Req, Res r) {
      r.set_header("Allow", allow);
      SendError(r, 405, absl::StrCat("method not allowed: use ", allow));
    };
    if (allow == "GET") {
      server.Get(path, handler);
      server.Post(path, not_allowed);
    } else {
      server.Post(path, handler);
      server.Get(path, not_allowed);
    }
    server.Put(path, not_allowed);
    server.Patch(path, not_allowed);
    server.Delete(path, not_allowed);
  };
  route("/export", "GET",
        std::function<void(Req, Res)>([database](Req q, Res r) { Export(*database, q, r); }));
  route("/user_tags/batch", "POST",
        std::function<void(Req, Res)>([database, max = options.max_batch_tags](Req q, Res r) {
          Batch(*database, max, q, r);
        }));
}

}  // namespace allezon::server
