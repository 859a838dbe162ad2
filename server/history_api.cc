#include "history_api.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "allezon/tag_lines.h"
#include "http_api.h"
#include "http_message.h"
#include "log.h"
#include "query_parsing.h"

namespace allezon::server {
namespace {

constexpr char kJson[] = "application/json";

void SendStatus(HttpResponse& response, const absl::Status& status) {
  SendError(response, HttpStatusFor(status), std::string(status.message()));
}

constexpr size_t kExportPieceBytes = 64 * 1024;

std::optional<std::string_view> Param(const QueryParams& params, const char* name) {
  auto it = params.find(name);
  if (it == params.end()) return std::nullopt;
  return std::string_view(it->second);
}

void Export(const RawTagSource& source, const HttpRequest& request, HttpResponse& response) {
  absl::StatusOr<QueryParams> params = ParseQueryString(QueryOfTarget(request.target));
  if (!params.ok()) return SendStatus(response, params.status());
  absl::StatusOr<ExportQuery> query =
      ParseExportQuery(Param(*params, "time_range"), Param(*params, "format"));
  if (!query.ok()) return SendStatus(response, query.status());
  if (absl::Status s = CheckExportRange(source, query->range); !s.ok()) {
    return SendStatus(response, s);
  }
  // Streamed: the body is produced as the client reads it, so memory stays flat whatever the
  // range; a failure past this point (retention trimming the range meanwhile) cuts the body
  // short, which the client sees as a chunked body without its last chunk.
  response.status = 200;
  response.content_type = std::string(ExportContentType(query->format));
  response.stream = [&source, query = *query](const BodyWriter& write) {
    const absl::Status status = WriteExport(source, query, write);
    if (!status.ok() && !absl::IsCancelled(status)) {
      LogLine(LogLevel::kWarn, "export cut short").Add("error", std::string(status.message()));
    }
    return status.ok();
  };
}

// Where a batch goes: one local SubmitTags, or the cluster's log.
using SubmitFn = std::function<void(std::vector<UserTag>, std::function<void(absl::Status)>)>;

void Batch(const SubmitFn& submit, size_t max_tags, const HttpRequest& request,
           HttpResponse& response) {
  std::vector<UserTag> tags;
  int http_status = 400;
  std::string error;
  if (!AcceptBatch(request.body, max_tags, &tags, &http_status, &error).ok()) {
    return SendError(response, http_status, error);
  }
  // Deferred, so the worker parses the next batch meanwhile and batches of several
  // connections share a commit (bench/RESULTS.md, "Batch ingest over HTTP").
  response.deferred = [&submit, tags = std::move(tags)](Responder respond) mutable {
    submit(std::move(tags), [respond = std::move(respond)](absl::Status stored) {
      HttpResponse answer;
      answer.status = 204;
      if (!stored.ok()) {
        SendError(answer, HttpStatusForWrite(stored), std::string(stored.message()));
      }
      respond(std::move(answer));
    });
  };
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

RawTagSource RawTagsOf(const Database& database) {
  RawTagSource source;
  source.earliest = [&database] { return database.EarliestRawTime(); };
  source.export_tags = [&database](TimeRange range, const ExportSink& sink) {
    return database.ExportTags(range, sink);
  };
  return source;
}

absl::Status CheckExportRange(const RawTagSource& source, TimeRange range) {
  absl::StatusOr<EpochMillis> earliest = source.earliest();
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

absl::Status WriteExport(const RawTagSource& source, const ExportQuery& query,
                         const std::function<bool(std::string_view chunk)>& write) {
  const bool csv = query.format == ExportFormat::kCsv;
  bool header = csv;
  std::string chunk;
  absl::Status status =
      source.export_tags(query.range, [&](std::span<const UserTagView> tags) -> absl::Status {
        chunk.clear();
        if (header) chunk.append(kUserTagCsvHeader);
        header = false;
        for (const UserTagView& tag : tags) {
          if (csv) {
            AppendUserTagCsv(tag, &chunk);
          } else {
            AppendUserTagLine(tag, &chunk);
          }
          // A library batch is thousands of tags (MBs of text): handed on in pieces, a
          // streamed answer holds a piece rather than a batch on top of its buffer.
          if (chunk.size() >= kExportPieceBytes) {
            if (!write(chunk)) return absl::CancelledError("the client went away");
            chunk.clear();
          }
        }
        if (!chunk.empty() && !write(chunk)) return absl::CancelledError("the client went away");
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

void RegisterHistoryApi(HttpRouter& router, Database* database, HistoryOptions options) {
  using Req = const HttpRequest&;
  using Res = HttpResponse&;
  // Single node: one SubmitTags, all or none, answered once the commit holding them is
  // durable. Cluster: every tag through the log to its partition's owners (a failure may
  // leave some stored; the node re-sends a retried batch's entries under their first
  // Msg-Ids, so retrying the batch stores each tag once).
  auto submit = std::make_shared<SubmitFn>();
  if (options.cluster != nullptr) {
    *submit = [cluster = options.cluster](std::vector<UserTag> tags,
                                          std::function<void(absl::Status)> done) {
      cluster->Submit(std::move(tags), std::move(done));
    };
  } else {
    *submit = [database](std::vector<UserTag> tags, std::function<void(absl::Status)> done) {
      database->SubmitTags(std::move(tags), std::move(done));
    };
  }
  // Both take as long as the data or the commit: off the event loops.
  router.Post(
      "/user_tags/batch",
      [submit, max = options.max_batch_tags](Req q, Res r) { Batch(*submit, max, q, r); },
      HttpRouter::Dispatch::kWorker);
  auto raw_tags = std::make_shared<RawTagSource>();
  if (options.cluster != nullptr) {
    raw_tags->earliest = [cluster = options.cluster] { return cluster->EarliestRawTime(); };
    raw_tags->export_tags = [cluster = options.cluster](TimeRange range, const ExportSink& sink) {
      return cluster->ExportTags(range, sink);
    };
  } else {
    *raw_tags = RawTagsOf(*database);
  }
  router.Get(
      "/export", [raw_tags](Req q, Res r) { Export(*raw_tags, q, r); },
      HttpRouter::Dispatch::kWorker);
}

}  // namespace allezon::server
