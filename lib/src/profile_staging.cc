#include "profile_staging.h"

#include <algorithm>
#include <chrono>
#include <system_error>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace allezon::internal {
namespace {

// One staged entry in its packed in-memory form.
void AppendPacked(uint64_t sequence, int64_t time, std::string_view body, std::string* out) {
  PutVarint(out, sequence);
  PutVarint(out, ZigZag(time));
  PutVarint(out, body.size());
  out->append(body);
}

// Calls visit(sequence, time, body) for each packed entry, oldest sequence first. False when
// the bytes are damaged (cannot happen for bytes this process packed; checked anyway).
template <typename Visit>
bool ForEachPacked(std::string_view packed, Visit visit) {
  ByteReader reader(packed);
  while (!reader.done()) {
    const uint64_t sequence = reader.Varint();
    const int64_t time = UnZigZag(reader.Varint());
    const std::string_view body = reader.Bytes(reader.Varint());
    if (!reader.ok()) return false;
    visit(sequence, time, body);
  }
  return true;
}

// The merged sequence in a record's header; 0 for no record.
absl::StatusOr<uint64_t> MergedSequence(const Txn& txn, const Storage& storage,
                                        std::string_view key) {
  std::string_view bytes;
  RecordHeader header;
  absl::Status read = ReadRecord(txn, storage.profiles, key, &bytes, &header);
  // A damaged header holds nothing readable: all logged tags of the key stay staged, and
  // the fold rebuilds the list from them (FoldKey).
  if (absl::IsDataLoss(read)) return uint64_t{0};
  if (!read.ok()) return read;
  return header.merged_seq;
}

}  // namespace

absl::Status ProfileStaging::Recover(const Txn& txn) {
  absl::flat_hash_map<std::string, uint64_t> merged;  // key -> its record's merged sequence
  uint64_t oldest_staged = 0;
  uint64_t staged_tags = 0;
  absl::Status status = absl::OkStatus();
  std::string profile_key;
  absl::Status walked = ForEachLoggedTag(txn, storage_->profile_log, [&](const LoggedTag& tag) {
    if (!status.ok()) return;
    // The logged byte as it is (Action's underlying type is uint8_t, so any byte casts).
    AssignProfileKey(tag.cookie, static_cast<Action>(tag.action), &profile_key);
    auto [it, inserted] = merged.try_emplace(profile_key, 0);
    if (inserted) {
      absl::StatusOr<uint64_t> record_sequence = MergedSequence(txn, *storage_, profile_key);
      if (!record_sequence.ok()) {
        status.Update(record_sequence.status());
        return;
      }
      it->second = *record_sequence;
    }
    if (tag.sequence <= it->second) return;  // already folded into the record
    AppendPacked(tag.sequence, tag.time, tag.body, &staged_.GetOrAdd(profile_key));
    if (oldest_staged == 0) oldest_staged = tag.sequence;
    ++staged_tags;
  });
  if (!walked.ok()) return walked;
  if (!status.ok()) return status;
  const uint64_t next_seq = log_->next_sequence();
  trim_target_ = (oldest_staged != 0 ? oldest_staged : next_seq) - 1;
  log_->SetNeededFrom(TagLog::Consumer::kProfiles, trim_target_ + 1);
  pass_start_seq_ = next_seq - 1;
  if (next_pass_.valid()) next_pass_.wait();
  next_pass_ = {};
  pass_keys_.clear();
  pass_index_ = 0;
  staged_tags_.store(staged_tags);
  MDB_stat records;
  if (int rc = mdb_stat(txn.get(), storage_->profiles, &records); rc != 0) {
    return LmdbError(rc, "mdb_stat");
  }
  lists_.store(records.ms_entries);
  staged_keys_.store(staged_.size());
  return absl::OkStatus();
}

size_t ProfileStaging::FoldQuota(size_t incoming) {
  const uint64_t staged = staged_tags_.load(std::memory_order_relaxed);
  const size_t most = storage_->options.tuning.max_batch_tags;
  if (staged == 0) {
    fold_credit_ = 0;
    return 0;
  }
  const uint64_t budget = storage_->options.tuning.profile_staging_tags;
  if (budget == 0) return most;
  // Folding incoming × (staged / budget) keeps the staged set near the budget: below it
  // fewer are folded than arrive, above it more.
  fold_credit_ +=
      static_cast<double>(incoming) * static_cast<double>(staged) / static_cast<double>(budget);
  fold_credit_ = std::min(fold_credit_, static_cast<double>(most));
  const size_t quota = static_cast<size_t>(fold_credit_);
  fold_credit_ -= static_cast<double>(quota);
  return quota;
}

void ProfileStaging::ResetPending() {
  pending_.folded_keys.clear();
  pending_.folded_values.clear();
  pending_.folded_tags = 0;
  pending_.new_lists = 0;
  pending_.added_bytes.clear();
  pending_.added.clear();
  pending_.pass_complete = false;
}

absl::Status ProfileStaging::Write(const Txn& txn, std::span<const UserTag* const> tags,
                                   std::span<const TagIds> ids, size_t fold_tags) {
  ResetPending();
  pending_.pass_index = pass_index_;
  pending_.pass_start_seq = pass_start_seq_;
  pending_.trim_target = trim_target_;
  if (absl::Status s = Fold(txn, fold_tags, /*idle=*/tags.empty()); !s.ok()) return s;
  if (absl::Status s = FoldLongLists(txn, tags); !s.ok()) return s;
  // Log records every record now holds (this transaction's folds included) may go, unless
  // another consumer still needs them.
  log_->SetNeededFrom(TagLog::Consumer::kProfiles, pending_.trim_target + 1);
  if (absl::Status s = log_->Trim(txn, tags.size() + fold_tags + 1024); !s.ok()) return s;
  return AppendToLog(txn, tags, ids);
}

bool ProfileStaging::PassReady(bool wait) {
  if (pending_.pass_index != 0 || !pass_keys_.empty()) return true;
  if (!next_pass_.valid()) {
    std::vector<StagedMap::Entry*> entries = staged_.TakeAdded();
    if (entries.size() != staged_.size()) entries = staged_.AllEntries();
    // Small sets are sorted at once (and a thread per commit avoided when every commit
    // completes a pass); large ones on a thread.
    if (entries.size() < 16384) {
      pass_keys_ = StagedMap::Sorted(std::move(entries));
      return true;
    }
    try {
      next_pass_ = std::async(std::launch::async, StagedMap::Sorted, std::move(entries));
    } catch (const std::system_error&) {  // no thread to be had: sort here
      pass_keys_ = StagedMap::Sorted(std::move(entries));
      return true;
    }
  }
  if (!wait && next_pass_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    return false;
  }
  pass_keys_ = next_pass_.get();
  return true;
}

absl::Status ProfileStaging::Fold(const Txn& txn, size_t fold_tags, bool idle) {
  // A pass begins with the keys staged when the last one ended, sorted once (a transaction
  // that rolls back leaves the map as the sort saw it, so the order is kept for the retry).
  // Writes go on without folding while they are sorted; idle folding waits for them.
  if (!PassReady(/*wait=*/idle)) return absl::OkStatus();
  size_t index = pending_.pass_index;
  size_t folded = 0;
  Cursor cursor;
  if (fold_tags > 0 && index < pass_keys_.size()) {
    if (absl::Status s = cursor.Open(txn, storage_->profiles); !s.ok()) return s;
  }
  while (folded < fold_tags && index < pass_keys_.size()) {
    StagedMap::Entry& entry = *pass_keys_[index].entry;
    size_t key_tags = 0;
    if (absl::Status s = FoldKey(cursor, entry.first, entry.second, &key_tags); !s.ok()) {
      return s;
    }
    pending_.folded_keys.push_back(entry.first);
    pending_.folded_values.insert(&entry.second);
    folded += key_tags;
    ++index;
  }
  pending_.folded_tags = folded;
  if (index == pass_keys_.size()) {
    // The pass is complete: every tag logged before it began is in its record. The next
    // pass starts over with the keys staged then (never within this transaction, so no key
    // is folded twice in one commit).
    pending_.trim_target = pending_.pass_start_seq;
    pending_.pass_start_seq = log_->next_sequence() - 1;
    pending_.pass_index = 0;
    pending_.pass_complete = true;
  } else {
    pending_.pass_index = index;
  }
  return absl::OkStatus();
}

absl::Status ProfileStaging::FoldLongLists(const Txn& txn, std::span<const UserTag* const> tags) {
  // A query copies its key's staged entries, so one very active shopper (or a bot) must not
  // pile up thousands of them until the pass comes round: a key this batch adds to whose
  // staged entries outgrow a few caps' worth is folded now. Keys already folded by this
  // transaction are skipped (each key is folded at most once per commit). Every tag's key
  // is looked up here once, for AppendToLog and Commit too.
  const size_t long_list_bytes = static_cast<size_t>(storage_->options.profile_cap) * 64;
  staged_of_tag_.resize(tags.size());
  std::string key, ahead;
  Cursor cursor;  // opened at the first long list
  // The map holds a key per active shopper, far beyond the caches: the lookups of a few tags
  // ahead are started early, so that their waits for memory overlap.
  constexpr size_t kAhead = 4;
  for (size_t i = 0; i < std::min(kAhead, tags.size()); ++i) {
    AssignProfileKey(tags[i]->cookie, tags[i]->action, &ahead);
    staged_.Prefetch(ahead);
  }
  for (size_t i = 0; i < tags.size(); ++i) {
    if (i + kAhead < tags.size()) {
      AssignProfileKey(tags[i + kAhead]->cookie, tags[i + kAhead]->action, &ahead);
      staged_.Prefetch(ahead);
    }
    AssignProfileKey(tags[i]->cookie, tags[i]->action, &key);
    StagedMap::Entry* entry = staged_.FindEntry(key);
    staged_of_tag_[i] = entry == nullptr ? nullptr : &entry->second;
    if (entry == nullptr || entry->second.size() < long_list_bytes) continue;
    if (!pending_.folded_values.insert(&entry->second).second) continue;
    if (cursor.get() == nullptr) {
      if (absl::Status s = cursor.Open(txn, storage_->profiles); !s.ok()) return s;
    }
    size_t key_tags = 0;
    if (absl::Status s = FoldKey(cursor, entry->first, entry->second, &key_tags); !s.ok()) {
      return s;
    }
    pending_.folded_tags += key_tags;
  }
  return absl::OkStatus();
}

absl::Status ProfileStaging::FoldKey(Cursor& cursor, std::string_view key, std::string_view staged,
                                     size_t* tags_folded) {
  *tags_folded = 0;
  if (staged.empty()) return absl::OkStatus();  // emptied by an earlier FoldLongLists
  std::string_view record_bytes;
  RecordHeader header;
  std::vector<RecordEntry>& stored = fold_stored_;
  stored.clear();
  // Read and written through the cursor: at most one descent of the tree, none when the key
  // is on the cursor's page.
  MDB_val key_val = ToVal(key), value_val;
  absl::StatusOr<bool> found = cursor.Seek(MDB_SET_KEY, &key_val, &value_val);
  if (!found.ok()) return found.status();
  absl::Status read = absl::OkStatus();
  if (*found) {
    record_bytes = ToView(value_val);
    ByteReader header_reader(record_bytes);
    read = ReadRecordHeader(header_reader, record_bytes.size(), &header);
  }
  if (read.ok() && !record_bytes.empty()) {
    stored.reserve(static_cast<size_t>(header.count));
    read = WalkRecord(record_bytes, [&](int64_t time, ByteReader& body_reader) {
      stored.push_back({time, SkipBody(body_reader)});
      return true;
    });
  }
  if (absl::IsDataLoss(read)) {
    // A damaged list cannot be read by queries either. Failing here would fail every commit
    // once the pass reaches this key; instead the list restarts from the staged tags (all of
    // them: which ones it held is unknowable), and the shopper's profile works again.
    stored.clear();
    header = RecordHeader{};
  } else if (!read.ok()) {
    return read;
  }
  const uint64_t merged_seq = header.merged_seq;
  std::vector<RecordEntry>& added = fold_added_;
  added.clear();
  uint64_t newest_seq = merged_seq;
  size_t entries = 0;
  const bool intact =
      ForEachPacked(staged, [&](uint64_t sequence, int64_t time, std::string_view body) {
        ++entries;
        if (sequence <= merged_seq) return;
        added.push_back({time, body});
        newest_seq = std::max(newest_seq, sequence);
      });
  if (!intact) return absl::InternalError("staged profile entries damaged");
  *tags_folded = entries;
  if (added.empty()) return absl::OkStatus();
  if (read.ok() && record_bytes.empty()) ++pending_.new_lists;
  // Packed entries are oldest first; the record wants newest first, and among equal times
  // the later accepted first.
  std::reverse(added.begin(), added.end());
  std::stable_sort(added.begin(), added.end(),
                   [](const RecordEntry& a, const RecordEntry& b) { return a.time > b.time; });
  const size_t cap = static_cast<size_t>(storage_->options.profile_cap);
  // The encoded record copies the stored bodies before the put replaces the bytes they view.
  const std::string merged = EncodeMergedRecord(newest_seq, stored, added, cap);
  return cursor.Put(key, merged, *found ? MDB_CURRENT : 0);
}

absl::Status ProfileStaging::AppendToLog(const Txn& txn, std::span<const UserTag* const> tags,
                                         std::span<const TagIds> ids) {
  if (tags.empty()) return absl::OkStatus();
  bodies_.clear();
  std::vector<size_t> ends(tags.size());
  for (size_t i = 0; i < tags.size(); ++i) {
    AppendBody(*tags[i], ids[i], &bodies_);
    ends[i] = bodies_.size();
  }
  body_views_.resize(tags.size());
  for (size_t i = 0, begin = 0; i < tags.size(); begin = ends[i++]) {
    body_views_[i] = std::string_view(bodies_).substr(begin, ends[i] - begin);
  }
  absl::StatusOr<uint64_t> first_sequence = log_->Append(txn, tags, body_views_);
  if (!first_sequence.ok()) return first_sequence.status();
  std::string& bytes = pending_.added_bytes;
  pending_.added.reserve(tags.size());
  for (size_t i = 0; i < tags.size(); ++i) {
    const UserTag& tag = *tags[i];
    bytes.append(tag.cookie);
    bytes.push_back(static_cast<char>(tag.action));
    const size_t key_end = bytes.size();
    AppendPacked(*first_sequence + i, tag.time, body_views_[i], &bytes);
    std::string* staged = staged_of_tag_[i];
    pending_.added.push_back(
        {key_end, bytes.size(),
         staged != nullptr && !pending_.folded_values.contains(staged) ? staged : nullptr});
  }
  return absl::OkStatus();
}

void ProfileStaging::Commit() {
  {
    std::unique_lock lock(storage_->staging_mu);
    const std::string& bytes = pending_.added_bytes;
    // Keys staged before and not folded: append in place. Then the folded keys are emptied,
    // those the pass is past erased, and the remaining tags (new keys, folded keys) start
    // their keys' entries over, each key's in sequence order. A key FoldLongLists emptied
    // stays in the map (it may lie ahead in the pass) until a pass erases it.
    for (const AddedTag& tag : pending_.added) {
      if (tag.append_to != nullptr) {
        tag.append_to->append(bytes, tag.key_end, tag.packed_end - tag.key_end);
      }
    }
    for (std::string* value : pending_.folded_values) value->clear();
    for (std::string_view key : pending_.folded_keys) staged_.Erase(key);
    size_t begin = 0;
    for (const AddedTag& tag : pending_.added) {
      if (tag.append_to == nullptr) {
        staged_.GetOrAdd(std::string_view(bytes.data() + begin, tag.key_end - begin))
            .append(bytes, tag.key_end, tag.packed_end - tag.key_end);
      }
      begin = tag.packed_end;
    }
  }
  staged_tags_.store(
      staged_tags_.load(std::memory_order_relaxed) + pending_.added.size() - pending_.folded_tags,
      std::memory_order_relaxed);
  staged_keys_.store(staged_.size(), std::memory_order_relaxed);
  lists_.fetch_add(pending_.new_lists, std::memory_order_relaxed);
  pass_index_ = pending_.pass_index;
  if (pending_.pass_complete) pass_keys_.clear();
  pass_start_seq_ = pending_.pass_start_seq;
  trim_target_ = pending_.trim_target;
  ResetPending();
}

void ProfileStaging::CopyStaged(std::string_view key, StagedList* out) const {
  out->clear();
  const std::string* staged = staged_.Find(key);
  if (staged == nullptr) return;
  out->bytes = *staged;
  ForEachPacked(out->bytes, [&](uint64_t sequence, int64_t time, std::string_view body) {
    out->entries.push_back({time, body});
    out->sequences.push_back(sequence);
  });
  // Oldest sequence first -> newest first, equal times keeping the later accepted first.
  std::reverse(out->entries.begin(), out->entries.end());
  std::reverse(out->sequences.begin(), out->sequences.end());
  if (!std::is_sorted(out->entries.begin(), out->entries.end(),
                      [](const RecordEntry& a, const RecordEntry& b) { return a.time > b.time; })) {
    std::vector<size_t> order(out->entries.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return out->entries[a].time > out->entries[b].time;
    });
    std::vector<RecordEntry> entries(order.size());
    std::vector<uint64_t> sequences(order.size());
    for (size_t i = 0; i < order.size(); ++i) {
      entries[i] = out->entries[order[i]];
      sequences[i] = out->sequences[order[i]];
    }
    out->entries = std::move(entries);
    out->sequences = std::move(sequences);
  }
}

}  // namespace allezon::internal
