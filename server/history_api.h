// History endpoints of SPEC §10: GET /export (raw tags as NDJSON or CSV) and
// POST /user_tags/batch (NDJSON, all or none). The logic is in plain functions over plain
// inputs (query parameters, body bytes, a chunk sink), so that it does not depend on the
// connection layer; RegisterHistoryApi is the small part that binds them to the router.
//
// Errors as the rest of the API (SPEC §7): JSON bodies; 400 for a bad or missing time_range
// or format, a range before the raw tags kept (the message names the earliest time), raw
// retention off, or a bad batch line ("line N: ..."); 413 for more than max_batch_tags tags.
//
// GET /export is a streamed answer (HttpResponse::stream): produced on a thread of its own
// while the client reads it, so its memory is flat whatever the range. In cluster mode the
// tags come from every partition group in pages, merged by time (ClusterBackend::ExportTags).
//
// Thread-safety: the functions keep no state; handlers run concurrently on the HTTP threads.
// `database` must outlive the server.
#ifndef ALLEZON_SERVER_HISTORY_API_H_
#define ALLEZON_SERVER_HISTORY_API_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allezon/database.h"
#include "allezon/user_tag.h"
#include "cluster_backend.h"

namespace allezon::server {

class HttpRouter;

inline constexpr size_t kDefaultMaxBatchTags = 10'000;

enum class ExportFormat { kNdjson, kCsv };

struct ExportQuery {
  TimeRange range;
  ExportFormat format = ExportFormat::kNdjson;
};

// time_range (required, SPEC §2) and format (optional: "ndjson", the default, or "csv").
// InvalidArgument naming the parameter otherwise.
absl::StatusOr<ExportQuery> ParseExportQuery(std::optional<std::string_view> time_range,
                                             std::optional<std::string_view> format);

// Where an export's tags come from: one Database, or in cluster mode every partition group's
// merged by time (ClusterBackend).
struct RawTagSource {
  // The earliest event time from which every tag is kept; FailedPrecondition when raw
  // retention is off (Database::EarliestRawTime).
  std::function<absl::StatusOr<EpochMillis>()> earliest;
  // The tags of the range in time order (Database::ExportTags).
  std::function<absl::Status(TimeRange, const ExportSink&)> export_tags;
};
RawTagSource RawTagsOf(const Database& database);

// The checks to make before answering 200: raw retention on (else FailedPrecondition) and
// range.begin not before the earliest time kept (else InvalidArgument naming it).
absl::Status CheckExportRange(const RawTagSource& source, TimeRange range);

// The Content-Type of a format.
std::string_view ExportContentType(ExportFormat format);

// Writes the export as text to `write`, in chunks of whole lines (CSV: the header first, also
// for an empty range). `write` returns false when the client is gone: the export then stops
// with Cancelled. Database::ExportTags' errors otherwise.
absl::Status WriteExport(const RawTagSource& source, const ExportQuery& query,
                         const std::function<bool(std::string_view chunk)>& write);

// Parses a batch body (NDJSON, one SPEC §1 tag per line) into *out. On success returns OK;
// otherwise *out is unchanged, *http_status is 400 (a bad line: "line N: <reason>"; no tag at
// all) or 413 (more than max_tags tags) and *error says why.
absl::Status AcceptBatch(std::string_view ndjson, size_t max_tags, std::vector<UserTag>* out,
                         int* http_status, std::string* error);

struct HistoryOptions {
  size_t max_batch_tags = kDefaultMaxBatchTags;  // --max-batch-tags
  // Cluster mode (SPEC §8): batches go through the replicated log like single tags, answered
  // 204 once every tag's owners committed it; /export merges every partition group's tags.
  ClusterBackend* cluster = nullptr;
};

// GET /export and POST /user_tags/batch (and their 405s) on `server`.
void RegisterHistoryApi(HttpRouter& router, Database* database, HistoryOptions options);

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_HISTORY_API_H_
