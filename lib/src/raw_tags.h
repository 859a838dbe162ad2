// Internal: raw tags kept whole for Options::raw_retention_ms of event time (SPEC §10), for
// export and replay.
//
// Table `raw_tags`: key = big-endian TimeKey(minute start) + big-endian log sequence (the
// smallest sequence in the block); value = a block of that minute's tags in (time, sequence)
// order:
//   varint count, then per tag
//     varint time delta   (first tag: time - minute start; later: time - previous time)
//     zigzag varint seq   (first tag: seq - the key's seq; later: seq - previous seq)
//     varint header       cookie length << 2 | packed << 1 | action
//     cookie              packed: 6 bits per [0-9A-Za-z] character, else the bytes
//     body                as in the profiles (profile_record.h: interned ids, varints)
// Each commit writes one block per minute it touches, in its own transaction (so raw tags are
// exactly as durable as profiles). Small blocks of a minute are merged into larger ones by the
// writer's maintenance, about once a second, and whole minutes older than the newest event
// time minus the retention are deleted there too; `meta/raw_from` holds the earliest time
// from which every accepted tag is kept (it moves forward with trimming).
//
// Export merges a minute's blocks by (time, sequence). It reads one bounded batch per short
// read transaction and hands the batch over outside it, so neither the writer nor map growth
// waits for a slow consumer; every batch keeps only tags up to the log sequence committed
// when the export began, which makes the result that of one snapshot (blocks are only added,
// merged without changing their tags, or trimmed; a trim overtaking the export is an error).
//
// Thread-safety: Recover, Write, Commit, Rollback, Maintain from the writer thread only
// (Recover before it starts); Export from any thread.
#ifndef ALLEZON_SRC_RAW_TAGS_H_
#define ALLEZON_SRC_RAW_TAGS_H_

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "allezon/database.h"
#include "allezon/user_tag.h"
#include "lmdb_env.h"
#include "storage.h"

namespace allezon::internal {

// Cookie packing, exposed for tests: true and `out` appended when every byte is [0-9A-Za-z].
bool PackCookie(std::string_view cookie, std::string* out);
// Unpacks `length` characters from `packed` (ceil(6 * length / 8) bytes) into `out`.
void UnpackCookie(std::string_view packed, size_t length, std::string* out);

// One tag as stored in a block: its order and its position-independent bytes.
struct RawEntry {
  int64_t time;
  uint64_t sequence;
  std::string_view tail;  // header, cookie and body
};

// Appends the tail of `tag` (everything but time and sequence).
void AppendRawTail(const UserTag& tag, const TagIds& ids, std::string* out);
// Encodes entries (already in (time, sequence) order) of `minute` as one block whose key
// sequence is `key_sequence`.
void EncodeRawBlock(int64_t minute, uint64_t key_sequence, std::span<const RawEntry> entries,
                    std::string* out);
// Decodes a whole block into `out` (appending). DataLoss when damaged.
absl::Status DecodeRawBlock(int64_t minute, uint64_t key_sequence, std::string_view block,
                            std::vector<RawEntry>* out);
std::string RawKey(int64_t minute, uint64_t sequence);

class RawTags {
 public:
  explicit RawTags(Storage* storage) : storage_(storage) {}

  bool enabled() const { return storage_->options.raw_retention_ms > 0; }

  // At open. With retention off, empties the table (what it held would have gaps once
  // retention is turned on again). With it on and no `raw_from` yet: every tag from now on
  // is kept, so raw_from is the start of time for an empty database, else the newest event
  // time + 1 (older tags were never kept).
  absl::Status Recover(const Txn& txn, bool database_empty, EpochMillis newest_time);

  // Writer, inside the commit's transaction: one block per minute of `tags` (tag i has log
  // sequence first_sequence + i). Tags older than raw_from are not kept.
  absl::Status Write(const Txn& txn, std::span<const UserTag* const> tags,
                     std::span<const TagIds> ids, uint64_t first_sequence);
  void Commit();
  void Rollback() { written_minutes_.clear(); }

  // Writer, between commits: trims whole minutes behind newest - retention and merges the
  // small blocks of the minutes written since, in a transaction of its own. Does nothing
  // unless `force` or interval_ms passed since the last time.
  absl::Status Maintain(EpochMillis newest, bool force);

  // Any thread.
  absl::Status Export(TimeRange range, const ExportSink& sink) const;
  absl::StatusOr<EpochMillis> EarliestAvailable() const;

 private:
  absl::Status MaintainIn(const Txn& txn, EpochMillis newest, EpochMillis* raw_from);
  absl::Status MergeSmallBlocks(const Txn& txn, int64_t minute);

  Storage* storage_;
  EpochMillis raw_from_ = kMinTime;       // writer's copy of meta/raw_from
  std::set<int64_t> pending_minutes_;     // minutes with blocks not merged yet (writer)
  std::vector<int64_t> written_minutes_;  // by the transaction in progress (writer)
  int64_t last_maintain_ms_ = 0;          // steady clock (writer)
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_RAW_TAGS_H_
