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
// The tag log (tag_log.h) is shared with the aggregates and the catalogue: staging is one of
// its consumers, and its mark is the oldest sequence not yet in its record (a completed pass
// moves it).
//
// Thread-safety: Recover, FoldQuota, Write, Commit and Rollback from the writer thread only
// (Recover before it starts, after the log's); CopyStaged from any thread inside a ReadScope.
#ifndef ALLEZON_SRC_PROFILE_STAGING_H_
#define ALLEZON_SRC_PROFILE_STAGING_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <future>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl_compat.h"
#include "allezon/user_tag.h"
#include "lmdb_env.h"
#include "profile_log.h"
#include "profile_record.h"
#include "storage.h"
#include "tag_log.h"

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

// Staged entries by key, hashed for the lookups made per tag and per query. Keys live in
// hash nodes, so views of them stay valid until Erase. (A btree map keyed by std::string
// spent ~40 % of the writer's CPU in lookups at 3 M tags; an ordered index beside the hash,
// kept up to date per key, still cost 13 %: nearly every tag's key is new to the map, since
// a fold erases its key. The folding pass sorts a snapshot of the keys instead.)
class StagedMap {
 public:
  using Entry = std::pair<const std::string, std::string>;

  // An entry with its key's first 8 bytes as a big-endian integer: cookies differ there, so
  // sorting compares integers instead of calling memcmp on key bytes elsewhere in memory.
  struct OrderedEntry {
    uint64_t prefix;  // the first 8 bytes, big-endian, zero-padded: orders as the bytes do
    Entry* entry;
  };

  // The key (whose bytes stay put until Erase) and its value; nullptr when absent.
  Entry* FindEntry(std::string_view key) {
    auto it = entries_.find(Sv(key));
    return it == entries_.end() ? nullptr : &*it;
  }
  // Starts fetching what a FindEntry or GetOrAdd of `key` will read first.
  void Prefetch(std::string_view key) const { entries_.prefetch(Sv(key)); }
  const std::string* Find(std::string_view key) const {
    auto it = entries_.find(Sv(key));
    return it == entries_.end() ? nullptr : &it->second;
  }
  std::string& GetOrAdd(std::string_view key) {
    auto [it, inserted] = entries_.try_emplace(std::string(key));
    if (inserted) added_.push_back(&*it);
    return it->second;
  }
  void Erase(std::string_view key) { entries_.erase(Sv(key)); }

  // The entries added since the last call, unless one of them has been erased since. The
  // folding pass erases exactly the keys it visits, so at a pass's start these are all the
  // keys, and none of them is erased before that pass visits it.
  std::vector<Entry*> TakeAdded() {
    std::vector<Entry*> added;
    added.swap(added_);
    return added;
  }
  // Every entry (a fallback should TakeAdded not hold every key).
  std::vector<Entry*> AllEntries() {
    std::vector<Entry*> all;
    all.reserve(entries_.size());
    for (Entry& entry : entries_) all.push_back(&entry);
    return all;
  }
  // In key order. Reads only the keys, which never change, so another thread may sort
  // entries while the writer changes values and adds keys (but erases none of these).
  static std::vector<OrderedEntry> Sorted(std::vector<Entry*> entries) {
    std::vector<OrderedEntry> out;
    out.reserve(entries.size());
    for (Entry* entry : entries) {
      const std::string_view key = entry->first;
      uint64_t prefix = 0;
      for (size_t i = 0; i < 8; ++i) {
        prefix = (prefix << 8) | (i < key.size() ? static_cast<unsigned char>(key[i]) : 0u);
      }
      out.push_back({prefix, entry});
    }
    std::sort(out.begin(), out.end(), [](const OrderedEntry& a, const OrderedEntry& b) {
      if (a.prefix != b.prefix) return a.prefix < b.prefix;
      return a.entry->first < b.entry->first;
    });
    return out;
  }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  absl::node_hash_map<std::string, std::string> entries_;
  std::vector<Entry*> added_;
};

class ProfileStaging {
 public:
  // `log` must outlive the staging; the caller begins, commits and rolls back its
  // transactions around Write.
  ProfileStaging(const Storage* storage, TagLog* log) : storage_(storage), log_(log) {}

  // Rebuilds the staged entries from the log: those newer than their record's header.
  absl::Status Recover(const Txn& txn);

  // How many staged tags the next Write should fold when it adds `incoming` new ones: in
  // proportion to how full the staging budget is, so the staged set settles at the budget.
  size_t FoldQuota(size_t incoming);

  // Inside the writer's transaction: folds about `fold_tags` staged tags (whole keys, in key
  // order, continuing the current pass), moves its mark in the log and trims it, logs `tags`
  // (`ids` parallel). Memory changes only at Commit.
  absl::Status Write(const Txn& txn, std::span<const UserTag* const> tags,
                     std::span<const TagIds> ids, size_t fold_tags);
  // The transaction of the last Write committed (takes the lock exclusively) / aborted.
  void Commit();
  void Rollback() { ResetPending(); }

  // True while staged tags or log records the other consumers are done with remain for idle
  // time to fold and trim (an idle pass moves staging's own mark).
  bool HasBacklog() const {
    return staged_tags_.load(std::memory_order_relaxed) > 0 ||
           log_->HasTrimmable(TagLog::Consumer::kProfiles);
  }

  // Inside a ReadScope (which holds storage.staging_mu shared from before its snapshot
  // began): the staged entries of `key`, into `out` (cleared first).
  void CopyStaged(std::string_view key, StagedList* out) const;

  uint64_t staged_tags() const { return staged_tags_.load(std::memory_order_relaxed); }
  uint64_t staged_keys() const { return staged_keys_.load(std::memory_order_relaxed); }
  // (cookie, action) lists in records; a list whose tags are all still staged counts once
  // folded (looking every new key up to count it at once cost a B-tree walk per tag).
  uint64_t lists() const { return lists_.load(std::memory_order_relaxed); }

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
    // Views of the keys the pass folded (Commit erases them: the pass is past them) and the
    // values of all keys folded, the pass's and FoldLongLists' (whose keys stay, emptied, as
    // they may lie ahead in the pass).
    std::vector<std::string_view> folded_keys;
    absl::flat_hash_set<std::string*> folded_values;
    uint64_t folded_tags = 0;
    uint64_t new_lists = 0;
    std::string added_bytes;
    std::vector<AddedTag> added;
    size_t pass_index = 0;
    bool pass_complete = false;
    uint64_t pass_start_seq = 0;
    uint64_t trim_target = 0;
  };

  void ResetPending();
  absl::Status Fold(const Txn& txn, size_t fold_tags, bool idle);
  // True once the current pass has its keys, starting their sort if need be; `wait` waits
  // for the sort.
  bool PassReady(bool wait);
  absl::Status FoldLongLists(const Txn& txn, std::span<const UserTag* const> tags);
  // Folds one key's staged tags into its record through `cursor` (open on the profiles
  // table in this transaction). One cursor serves a whole run of folds: LMDB searches only
  // the cursor's leaf page when the next key lies on it, which sorted passes make common.
  absl::Status FoldKey(Cursor& cursor, std::string_view key, std::string_view staged,
                       size_t* tags_folded);
  absl::Status AppendToLog(const Txn& txn, std::span<const UserTag* const> tags,
                           std::span<const TagIds> ids);

  const Storage* storage_;
  TagLog* const log_;

  // Key -> packed entries in sequence order: varint sequence, zigzag varint time, varint
  // body length, body. Written by the writer under storage_->staging_mu exclusively, read under it
  // shared.
  StagedMap staged_;
  std::atomic<uint64_t> staged_tags_{0};
  std::atomic<uint64_t> staged_keys_{0};
  std::atomic<uint64_t> lists_{0};

  // Writer-thread state (committed values; Pending holds the transaction's).
  // The folding pass: the staged entries when it began, in key order (a key is erased only
  // once the pass is past it, so the entries from pass_index_ on are live), and where it
  // resumes. Keys staged later wait for the next pass. Empty until a pass begins.
  std::vector<StagedMap::OrderedEntry> pass_keys_;
  // The next pass's entries being sorted on a thread of their own (a million keys take
  // ~0.1 s, a stall every commit waiting on the writer would share).
  std::future<std::vector<StagedMap::OrderedEntry>> next_pass_;
  size_t pass_index_ = 0;
  uint64_t pass_start_seq_ = 0;          // the newest sequence when the current pass began
  uint64_t trim_target_ = 0;  // log tags up to this sequence are in their records
  double fold_credit_ = 0;
  Pending pending_;
  // Per tag of the batch being written: its key's staged value before the transaction, or
  // nullptr (found once by FoldLongLists, used by AppendToLog).
  std::vector<std::string*> staged_of_tag_;
  // AppendToLog's tag bodies, kept between calls.
  std::string bodies_;
  std::vector<std::string_view> body_views_;
  // FoldKey's buffers, kept between calls.
  std::vector<RecordEntry> fold_stored_;
  std::vector<RecordEntry> fold_added_;
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_PROFILE_STAGING_H_
