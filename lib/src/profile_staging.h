// Internal: staged profile writes. New tags are not merged into their (cookie, action) record
// one by one — with a million shoppers that rewrites a random B-tree page per tag (measured:
// ≈ 13 KB of page writes per tag at 10 M tags). Instead each commit appends its tags to the
// `profile_log` (time-ordered keys, dense pages) and stages them in memory; a fold walks the
// staged keys in key order, a slice per commit, and merges each key's staged tags into its
// record. A full pass writes each record page about once however many tags it staged, and
// the number of staged tags (Options::profile_staging_tags) sets how many tags share a pass.
//
// Consistency: a record's header names the newest log sequence folded into it
// (profile_record.h). A reader takes the staged entries of a key under the read lock,
// together with opening its snapshot, and keeps only those newer than the record it reads,
// so a fold committed at any moment is neither missed nor counted twice. Recovery rebuilds
// the staged entries from the log the same way.
//
// The log (profile_log.h) is shared with the aggregates, which replay their open minutes from
// it: it is trimmed only up to the older of the two consumers' marks (KeepLogFrom).
//
// Thread-safety: Recover, FoldQuota, Write, Commit and Rollback from the writer thread only
// (Recover before it starts); CopyStaged from any thread inside a ReadScope.
#ifndef ALLEZON_SRC_PROFILE_STAGING_H_
#define ALLEZON_SRC_PROFILE_STAGING_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl_compat.h"
#include "allezon/user_tag.h"
#include "lmdb_env.h"
#include "profile_log.h"
#include "profile_record.h"
#include "storage.h"

namespace allezon::internal {

// Staged entries of one key copied out for a reader, newest first (equal times: the later
// accepted first), each with its log sequence; bodies point into `bytes`.
struct StagedList {
  std::string bytes;
  std::vector<RecordEntry> entries;
  std::vector<uint64_t> sequences;  // parallel to entries

  void clear() {
    bytes.clear();
    entries.clear();
    sequences.clear();
  }
};

// Staged entries by key: hashed for the lookups made per tag and per query, with an ordered
// index of the keys for the folding pass. (A btree map keyed by std::string alone spent ~40 %
// of the writer's CPU in lookups at 3 M tags: four 64-byte slots a node, ~10 levels of
// memcmp.) Keys live in hash nodes, so the index's views stay valid until Erase. The index
// holds each key's first 8 bytes as a big-endian integer beside the view: cookies differ
// there, so inserting compares integers in the node instead of calling memcmp on key bytes
// elsewhere in memory (memcmp was 12 % of the writer's CPU under HTTP ingest).
class StagedMap {
 public:
  struct OrderedKey {
    uint64_t prefix;  // the first 8 bytes, big-endian, zero-padded: orders as the bytes do
    std::string_view key;
  };
  struct OrderedKeyLess {
    bool operator()(const OrderedKey& a, const OrderedKey& b) const {
      if (a.prefix != b.prefix) return a.prefix < b.prefix;
      return a.key < b.key;
    }
  };
  using Order = absl::btree_set<OrderedKey, OrderedKeyLess>;

  static OrderedKey Ordered(std::string_view key) {
    uint64_t prefix = 0;
    for (size_t i = 0; i < 8; ++i) {
      prefix = (prefix << 8) | (i < key.size() ? static_cast<unsigned char>(key[i]) : 0u);
    }
    return {prefix, key};
  }

  using Entry = std::pair<const std::string, std::string>;

  std::string* Find(std::string_view key) {
    auto it = entries_.find(Sv(key));
    return it == entries_.end() ? nullptr : &it->second;
  }
  // The key (whose bytes stay put until Erase) and its value; nullptr when absent.
  Entry* FindEntry(std::string_view key) {
    auto it = entries_.find(Sv(key));
    return it == entries_.end() ? nullptr : &*it;
  }
  const std::string* Find(std::string_view key) const {
    auto it = entries_.find(Sv(key));
    return it == entries_.end() ? nullptr : &it->second;
  }
  std::string& GetOrAdd(std::string_view key) {
    auto [it, inserted] = entries_.try_emplace(std::string(key));
    if (inserted) order_.insert(Ordered(it->first));
    return it->second;
  }
  void Erase(std::string_view key) {
    auto it = entries_.find(Sv(key));
    if (it == entries_.end()) return;
    order_.erase(Ordered(it->first));
    entries_.erase(it);
  }
  // Keys in order; valid until the key is erased.
  const Order& order() const { return order_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  absl::node_hash_map<std::string, std::string> entries_;
  Order order_;
};

class ProfileStaging {
 public:
  explicit ProfileStaging(const Storage* storage) : storage_(storage) {}

  // Rebuilds the staged entries from the log: those newer than their record's header.
  absl::Status Recover(const Txn& txn);

  // How many staged tags the next Write should fold when it adds `incoming` new ones: in
  // proportion to how full the staging budget is, so the staged set settles at the budget.
  size_t FoldQuota(size_t incoming);

  // Inside the writer's transaction: folds about `fold_tags` staged tags (whole keys, in key
  // order, continuing the current pass), logs `tags` (`ids` parallel), trims log entries that
  // every record already holds. Memory changes only at Commit.
  absl::Status Write(const Txn& txn, std::span<const UserTag* const> tags,
                     std::span<const TagIds> ids, size_t fold_tags);
  // The transaction of the last Write committed (takes the lock exclusively) / aborted.
  void Commit();
  void Rollback() { ResetPending(); }

  // True while staged tags or trimmable log entries remain for idle time to fold and trim.
  bool HasBacklog() const {
    // The log is trimmed a commit's record at a time: the first record must end before
    // both the newest sequence and the other consumer's mark.
    return staged_tags_.load(std::memory_order_relaxed) > 0 ||
           (log_first_seq_ < next_seq_ && log_first_end_ <= std::min(next_seq_, keep_log_from_));
  }

  // The sequence the next logged tag gets (until the next Commit).
  uint64_t next_sequence() const { return next_seq_; }
  // Another consumer of the log (the aggregates) still needs the tags from `sequence` on:
  // trims stop before it. Writer thread.
  void KeepLogFrom(uint64_t sequence) { keep_log_from_ = sequence; }

  // Inside a ReadScope (which holds storage.staging_mu shared from before its snapshot
  // began): the staged entries of `key`, into `out` (cleared first).
  void CopyStaged(std::string_view key, StagedList* out) const;

  uint64_t staged_tags() const { return staged_tags_.load(std::memory_order_relaxed); }
  uint64_t staged_keys() const { return staged_keys_.load(std::memory_order_relaxed); }
  // (cookie, action) lists stored, counting those that so far exist only as staged tags.
  uint64_t lists() const { return lists_.load(std::memory_order_relaxed); }
  // Tags the log holds (logged and not yet trimmed).
  uint64_t log_tags() const { return log_tags_.load(std::memory_order_relaxed); }

 private:
  // A tag of the batch: its key and packed staged entry, one after the other in
  // Pending::added_bytes, and where Commit appends the entry without a lookup (the value of
  // a key staged before the transaction and not folded by it; nodes do not move).
  struct AddedTag {
    size_t key_end;
    size_t packed_end;
    std::string* append_to;
  };
  // The transaction's changes, applied by Commit. Cleared, not freed, between transactions.
  struct Pending {
    // Views of the staged keys folded (they stay valid until Commit erases them) and their
    // values.
    std::vector<std::string_view> folded_keys;
    absl::flat_hash_set<const std::string*> folded_values;
    uint64_t folded_tags = 0;
    uint64_t new_lists = 0;
    std::string added_bytes;
    std::vector<AddedTag> added;
    uint64_t next_seq = 0;
    uint64_t log_first_seq = 0;
    uint64_t log_first_end = 0;
    std::string cursor;
    uint64_t pass_start_seq = 0;
    uint64_t trim_target = 0;
  };

  void ResetPending();
  absl::Status Fold(const Txn& txn, size_t fold_tags);
  absl::Status FoldLongLists(const Txn& txn, std::span<const UserTag* const> tags);
  absl::Status FoldKey(const Txn& txn, std::string_view key, std::string_view staged,
                       size_t* tags_folded);
  absl::Status AppendToLog(const Txn& txn, std::span<const UserTag* const> tags,
                           std::span<const TagIds> ids);
  absl::Status TrimLog(const Txn& txn, size_t max_tags);

  const Storage* storage_;

  // Key -> packed entries in sequence order: varint sequence, zigzag varint time, varint
  // body length, body. Written by the writer under storage_->staging_mu exclusively, read under it
  // shared.
  StagedMap staged_;
  std::atomic<uint64_t> staged_tags_{0};
  std::atomic<uint64_t> staged_keys_{0};
  std::atomic<uint64_t> lists_{0};
  std::atomic<uint64_t> log_tags_{0};

  // Writer-thread state (committed values; Pending holds the transaction's).
  uint64_t next_seq_ = 1;                // sequence of the next tag logged
  uint64_t log_first_seq_ = 1;           // the oldest sequence the log may still hold
  uint64_t log_first_end_ = 1;           // the sequence after the log's first record
  std::string cursor_;                   // the fold resumes at the first staged key >= this
  uint64_t pass_start_seq_ = 0;          // the newest sequence when the current pass began
  uint64_t trim_target_ = 0;             // log tags up to this sequence are in their records
  uint64_t keep_log_from_ = UINT64_MAX;  // KeepLogFrom
  double fold_credit_ = 0;
  Pending pending_;
  // Per tag of the batch being written: its key's staged value before the transaction, or
  // nullptr (found once by FoldLongLists, used by AppendToLog).
  std::vector<std::string*> staged_of_tag_;
  // FoldKey's buffers, kept between calls.
  std::vector<RecordEntry> fold_stored_;
  std::vector<RecordEntry> fold_added_;
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_PROFILE_STAGING_H_
