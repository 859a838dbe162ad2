// Database: one LMDB environment holding the user tag store and the aggregate index.
//
// Ownership: Database::Open returns the sole owner; destroying it finishes queued writes,
// stops the writer thread and closes the environment. user_tags(), aggregates() and
// analytics() return references valid for the Database's lifetime.
//
// Thread-safety: every method may be called from any number of threads at once. Writes are
// funnelled to one writer thread that group-commits whatever is queued into one LMDB
// transaction (one fsync); a tag's profile entry and its aggregate counts commit together.
// Readers never wait for the writer's I/O.
#ifndef ALLEZON_DATABASE_H_
#define ALLEZON_DATABASE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allezon/aggregate_index.h"
#include "allezon/analytics.h"
#include "allezon/export.h"
#include "allezon/options.h"
#include "allezon/user_tag.h"
#include "allezon/user_tag_store.h"
#include "allezon/user_tag_view.h"

namespace allezon {

// A snapshot of the counters, kept for existing callers. It will not grow: a new counter is
// added as a named property only (Database::GetProperty), which is the stable surface.
struct DatabaseStats {
  uint64_t tags_written = 0;      // accepted since open
  uint64_t commits = 0;           // write transactions since open
  uint64_t largest_batch = 0;     // most tags in one commit since open
  // Commits since open by tags in them: [0] one tag, [i] 2^(i-1)+1 .. 2^i tags, the last
  // bucket everything larger. Idle profile folds (no tags) are not counted.
  static constexpr size_t kBatchSizeBuckets = 16;
  std::array<uint64_t, kBatchSizeBuckets> commits_by_batch_size{};
  uint64_t staged_profile_tags = 0;  // tags logged but not yet merged into their lists
  uint64_t profile_log_tags = 0;     // tags in the log (staged, in an open minute, or awaiting trim)
  uint64_t map_size = 0;          // current LMDB map size, bytes
  uint64_t map_used = 0;          // bytes of the map in use (last page * page size)
  // (cookie, action) lists merged into records; a list whose tags are all still staged
  // counts from its first fold (within a folding pass; at once after idle folding).
  uint64_t profile_records = 0;
  uint64_t open_minutes = 0;      // aggregate minutes held in memory
  EpochMillis newest_time = 0;    // newest event time accepted (kMinTime when none)
};

// A position in an external, ordered source of tags (one partition of a replicated log, say),
// committed in the same transaction as the tags that advance it: after a crash the database
// holds exactly the source's entries up to the position it reports, so a consumer resumes
// from position + 1 and applies every entry exactly once.
struct SourcePosition {
  std::string source;     // 1..200 bytes, any; names the source (e.g. "tags.17")
  uint64_t sequence = 0;  // the source's sequence of the last entry applied
};

// Receives the tags of Database::ExportTags a batch at a time (at most a few thousand). The
// views are valid only during the call. A non-OK status stops the export, which returns it.
using ExportSink = std::function<absl::Status(std::span<const UserTagView> tags)>;

class ALLEZON_EXPORT Database {
 public:
  // Opens (creating if allowed) the database in options.data_dir. Errors: InvalidArgument
  // for bad options, FailedPrecondition when the directory is locked by another Database,
  // is not an allezon database, or holds a data.mdb cut short where its pages are still in
  // use, and the LMDB error otherwise. A data.mdb merely short (after kill -9) is first read
  // once in full by a forked child process, so that a missing page cannot crash the caller.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const Options& options);

  virtual ~Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Stores the tags, all or none, and returns once the commit holding them is durable (see
  // Options::sync). They are visible to queries from that moment. Errors: InvalidArgument
  // for an invalid tag (nothing stored), ResourceExhausted when the database is full
  // (retry later), Unavailable once the database is closing.
  virtual absl::Status AddTags(std::span<const UserTag> tags) = 0;
  absl::Status AddTag(const UserTag& tag) { return AddTags(std::span<const UserTag>(&tag, 1)); }

  // AddTags without waiting: takes the tags and returns at once; `done` is called exactly once
  // with the status AddTags would have returned — on the calling thread before SubmitTags
  // returns when the tags are invalid or the database is closing, else on the database's
  // writer thread once the commit holding them is durable and visible. Submissions are
  // committed in the order they were made. `done` runs on the writer's critical path: it must
  // be quick (hand the status to another thread) and must not write to this Database.
  // For servers that answer many clients from a few threads (group commit without a thread
  // parked per caller).
  virtual void SubmitTags(std::vector<UserTag> tags, std::function<void(absl::Status)> done) = 0;

  // SubmitTags that also records `positions` in the transaction holding the tags (all or
  // none: if the tags are refused, no position moves). `tags` may be empty, to move positions
  // alone (an entry of the source that holds no tag). Positions only move forward within a
  // submission's order; a later submission's position for the same source replaces the
  // earlier one. InvalidArgument for an empty or over-long source name.
  virtual void SubmitTags(std::vector<UserTag> tags, std::vector<SourcePosition> positions,
                          std::function<void(absl::Status)> done) = 0;

  // The last position committed for `source`: 0 when none ever was.
  virtual absl::StatusOr<uint64_t> GetSourcePosition(std::string_view source) const = 0;

  virtual const UserTagStore& user_tags() const = 0;
  virtual const AggregateIndex& aggregates() const = 0;
  // The analyst queries of SPEC §9 (top values, catalogue, anomalies, sessions).
  virtual const Analytics& analytics() const = 0;

  virtual DatabaseStats Stats() const = 0;

  // Named properties, as leveldb's and RocksDB's GetProperty: one counter by a stable name,
  // so that counters can be added without changing a struct (and the C ABI, which has
  // allezon_get_property). The names (PropertyNames() lists them all):
  //   allezon.tags-written          tags accepted since open
  //   allezon.commits               write transactions since open
  //   allezon.largest-batch         most tags in one commit since open
  //   allezon.commits-by-batch-size-<i>, i = 0..15: commits since open by tags in them, as
  //                                 DatabaseStats::commits_by_batch_size[i]
  //   allezon.staged-profile-tags   tags logged but not yet merged into their lists
  //   allezon.profile-log-tags      tags in the profile log
  //   allezon.map-size              current LMDB map size, bytes
  //   allezon.map-used              bytes of the map in use
  //   allezon.profile-records       (cookie, action) lists merged into records
  //   allezon.open-minutes          aggregate minutes held in memory
  //   allezon.newest-time           newest event time accepted, epoch milliseconds: an
  //                                 EpochMillis (int64_t) in the uint64_t, so cast it back;
  //                                 kMinTime when no tag was accepted yet
  // NotFound for any other name. Every value is read at the call (no snapshot across names).
  virtual absl::StatusOr<uint64_t> GetProperty(std::string_view name) const;
  // Every name GetProperty answers, in a fixed order (static storage).
  static std::span<const std::string_view> PropertyNames();

  // Raw tags (Options::raw_retention_ms): hands every kept tag with time in `range` to `sink`,
  // ordered by time, then by acceptance, as of the moment the export begins (tags accepted
  // meanwhile are left out), a bounded batch at a time: memory stays flat whatever the range,
  // and no read transaction outlives a batch, so the sink may be slow (a network client)
  // without holding back writes. The sink runs on the calling thread. Errors: InvalidArgument
  // when range.begin is before the earliest time kept (the message names it) or the range is
  // reversed; FailedPrecondition when raw retention is off; Aborted when retention trimmed
  // tags of the range before the export reached them; the sink's own error.
  virtual absl::Status ExportTags(TimeRange range, const ExportSink& sink) const = 0;
  // The earliest event time from which every accepted tag is kept (kMinTime when nothing was
  // ever trimmed). FailedPrecondition when raw retention is off.
  virtual absl::StatusOr<EpochMillis> EarliestRawTime() const = 0;

  // Raises (or lowers, not below the current map) the limit the map may grow to; 0 = none.
  virtual absl::Status SetMaxMapSize(uint64_t bytes) = 0;

  // Writes a consistent, compacted copy of the live database into `directory` (which must
  // exist and be empty) while reads and writes go on. Open the copy as a data_dir to restore.
  virtual absl::Status Backup(const std::string& directory) const = 0;

 protected:
  Database() = default;
};

}  // namespace allezon

#endif  // ALLEZON_DATABASE_H_
