// Internal: TagLog, the owner of the tag log (LMDB `profile_log`, format in profile_log.h):
// every committed tag once, in acceptance order, under consecutive sequences from 1, written
// in the transaction that stores the tag. What the store keeps only in memory between
// commits — profile tags staged for their records (profile_staging.h), the aggregates' open
// minutes, the catalogue's unwritten changes — is rebuilt from it after a crash, so the one
// rule that keeps a tag from being lost or counted twice lives here:
//
//   a log record is deleted only once every consumer's mark is past its last tag,
//
// where a consumer's mark is the oldest sequence it may still need (SetNeededFrom). Each
// consumer moves its mark when what it held in memory is durable elsewhere (a record folded,
// a minute written out); the log never guesses.
//
// Transactions: Begin() as the writer's transaction starts, Append/Trim inside it (and
// SetNeededFrom for a mark that only holds if the transaction commits), then Commit() once it
// has committed or Rollback() when it aborted. A mark set outside a transaction holds at once.
//
// Thread-safety: the writer thread only (Recover before it starts), except log_tags().
#ifndef ALLEZON_SRC_TAG_LOG_H_
#define ALLEZON_SRC_TAG_LOG_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allezon/user_tag.h"
#include "lmdb_env.h"
#include "storage.h"

namespace allezon::internal {

class TagLog {
 public:
  enum class Consumer { kProfiles = 0, kAggregates = 1, kCatalogue = 2 };
  static constexpr size_t kConsumers = 3;
  static constexpr uint64_t kNeedsNothing = UINT64_MAX;

  explicit TagLog(const Storage* storage) : storage_(storage) {}

  // Reads the next sequence and the first record's extent. Marks start at kNeedsNothing:
  // each consumer sets its own as it recovers.
  absl::Status Recover(const Txn& txn);

  void Begin();
  // Appends `tags` as one record (bodies[i]: tag i's encoded body, profile_record.h) and
  // returns the first tag's sequence; the others follow it.
  absl::StatusOr<uint64_t> Append(const Txn& txn, std::span<const UserTag* const> tags,
                                  std::span<const std::string_view> bodies);
  // Deletes records, oldest first, that no consumer needs, until about max_tags tags are gone.
  absl::Status Trim(const Txn& txn, size_t max_tags);
  void Commit();
  void Rollback() { in_transaction_ = false; }

  // `consumer` may still need the tags from `sequence` on (kNeedsNothing: none).
  void SetNeededFrom(Consumer consumer, uint64_t sequence);

  // The sequence the next appended tag gets: committed, or within the open transaction.
  uint64_t next_sequence() const { return in_transaction_ ? pending_.next_seq : state_.next_seq; }
  // True when Trim would delete a record (committed marks), not counting `ignoring`'s mark.
  bool HasTrimmable(std::optional<Consumer> ignoring = std::nullopt) const;
  // Tags the log holds (appended, not yet trimmed). Any thread.
  uint64_t log_tags() const { return log_tags_.load(std::memory_order_relaxed); }

 private:
  struct State {
    uint64_t next_seq = 1;   // sequence of the next tag appended
    uint64_t first_seq = 1;  // the oldest sequence the log may hold (== next_seq: empty)
    uint64_t first_end = 1;  // the sequence after the first record's last tag
    std::array<uint64_t, kConsumers> needed_from{kNeedsNothing, kNeedsNothing, kNeedsNothing};
  };
  static uint64_t TrimBound(const State& state, std::optional<Consumer> ignoring);

  const Storage* const storage_;
  State state_;    // committed
  State pending_;  // the open transaction's
  bool in_transaction_ = false;
  std::atomic<uint64_t> log_tags_{0};
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_TAG_LOG_H_
