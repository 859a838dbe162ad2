#include "tag_log.h"

#include <algorithm>
#include <string>

#include "codec.h"
#include "profile_log.h"

namespace allezon::internal {
namespace {

// The next sequence, also kept in meta: the log may be empty (all trimmed) while sequences
// must never be reused (consumers compare them with what their records hold).
constexpr std::string_view kNextSequenceKey = "profile_seq";

// The first sequence and tag count of the record under `key`/`value`.
absl::Status ReadExtent(const MDB_val& key, const MDB_val& value, uint64_t* first,
                        uint64_t* count) {
  if (key.mv_size != 8) return absl::DataLossError("profile log damaged");
  *first = GetBigEndian64(static_cast<const char*>(key.mv_data));
  ByteReader reader(ToView(value));
  *count = reader.Varint();
  if (!reader.ok() || *count == 0) return absl::DataLossError("profile log damaged");
  return absl::OkStatus();
}

}  // namespace

absl::Status TagLog::Recover(const Txn& txn) {
  state_ = State{};
  absl::StatusOr<std::string_view> stored_next = txn.Get(storage_->meta, kNextSequenceKey);
  if (stored_next.ok()) {
    if (stored_next->size() != 8) return absl::DataLossError("profile sequence damaged");
    state_.next_seq = GetBigEndian64(stored_next->data());
  } else if (!absl::IsNotFound(stored_next.status())) {
    return stored_next.status();
  }
  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, storage_->profile_log); !s.ok()) return s;
  MDB_val key, value;
  absl::StatusOr<bool> found = cursor.Seek(MDB_LAST, &key, &value);
  if (!found.ok()) return found.status();
  if (*found) {
    uint64_t first, count;
    if (absl::Status s = ReadExtent(key, value, &first, &count); !s.ok()) return s;
    state_.next_seq = std::max(state_.next_seq, first + count);
    found = cursor.Seek(MDB_FIRST, &key, &value);
    if (!found.ok()) return found.status();
    if (absl::Status s = ReadExtent(key, value, &first, &count); !s.ok()) return s;
    state_.first_seq = first;
    state_.first_end = first + count;
  } else {
    state_.first_seq = state_.first_end = state_.next_seq;
  }
  log_tags_.store(state_.next_seq - state_.first_seq, std::memory_order_relaxed);
  in_transaction_ = false;
  return absl::OkStatus();
}

void TagLog::Begin() {
  pending_ = state_;
  in_transaction_ = true;
}

absl::StatusOr<uint64_t> TagLog::Append(const Txn& txn, std::span<const UserTag* const> tags,
                                        std::span<const std::string_view> bodies) {
  const uint64_t first_sequence = pending_.next_seq;
  if (tags.empty()) return first_sequence;
  std::string value;
  value.reserve(16 + tags.size() * 48);
  PutVarint(&value, tags.size());
  for (size_t i = 0; i < tags.size(); ++i) {
    const UserTag& tag = *tags[i];
    PutVarint(&value, tag.cookie.size());
    value.append(tag.cookie);
    value.push_back(static_cast<char>(tag.action));
    PutVarint(&value, ZigZag(tag.time));
    value.append(bodies[i]);
  }
  if (absl::Status s =
          txn.Put(storage_->profile_log, LogSequenceKey(first_sequence), value, MDB_APPEND);
      !s.ok()) {
    return s;
  }
  pending_.next_seq = first_sequence + tags.size();
  if (pending_.first_seq == first_sequence) pending_.first_end = pending_.next_seq;
  if (absl::Status s = txn.Put(storage_->meta, kNextSequenceKey, LogSequenceKey(pending_.next_seq));
      !s.ok()) {
    return s;
  }
  return first_sequence;
}

uint64_t TagLog::TrimBound(const State& state, std::optional<Consumer> ignoring) {
  uint64_t bound = state.next_seq;
  for (size_t c = 0; c < kConsumers; ++c) {
    if (ignoring && static_cast<size_t>(*ignoring) == c) continue;
    bound = std::min(bound, state.needed_from[c]);
  }
  return bound;
}

absl::Status TagLog::Trim(const Txn& txn, size_t max_tags) {
  // A record goes once its end is at or below every mark.
  const uint64_t bound = TrimBound(pending_, std::nullopt);
  if (pending_.first_seq == pending_.next_seq || pending_.first_end > bound) {
    return absl::OkStatus();
  }
  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, storage_->profile_log); !s.ok()) return s;
  size_t trimmed = 0;
  MDB_val key, value;
  for (;;) {
    absl::StatusOr<bool> found = cursor.Seek(MDB_FIRST, &key, &value);
    if (!found.ok()) return found.status();
    if (!*found) {
      pending_.first_seq = pending_.first_end = pending_.next_seq;
      return absl::OkStatus();
    }
    uint64_t first, count;
    if (absl::Status s = ReadExtent(key, value, &first, &count); !s.ok()) return s;
    pending_.first_seq = first;
    pending_.first_end = first + count;
    if (first + count > bound || trimmed >= max_tags) return absl::OkStatus();
    if (absl::Status s = cursor.DeleteCurrent(); !s.ok()) return s;
    trimmed += static_cast<size_t>(count);
  }
}

void TagLog::Commit() {
  state_ = pending_;
  in_transaction_ = false;
  log_tags_.store(state_.next_seq - state_.first_seq, std::memory_order_relaxed);
}

void TagLog::SetNeededFrom(Consumer consumer, uint64_t sequence) {
  const size_t c = static_cast<size_t>(consumer);
  if (in_transaction_) {
    pending_.needed_from[c] = sequence;
  } else {
    state_.needed_from[c] = sequence;
  }
}

bool TagLog::HasTrimmable(std::optional<Consumer> ignoring) const {
  return state_.first_seq < state_.next_seq && state_.first_end <= TrimBound(state_, ignoring);
}

}  // namespace allezon::internal
