#include "string_pool.h"

#include "absl/strings/str_cat.h"
#include "absl_compat.h"
#include "codec.h"

namespace allezon::internal {
namespace {

// LMDB keys cannot be empty, and the empty string is a valid field value: prefix one byte.
std::string StringKey(std::string_view text) { return absl::StrCat("s", Sv(text)); }

}  // namespace

StringPool::StringPool() : chunks_(new std::atomic<std::string*>[kMaxChunks]) {
  for (uint32_t i = 0; i < kMaxChunks; ++i) chunks_[i].store(nullptr, std::memory_order_relaxed);
}

StringPool::~StringPool() {
  for (uint32_t i = 0; i < kMaxChunks; ++i) delete[] chunks_[i].load(std::memory_order_relaxed);
}

void StringPool::Publish(uint32_t id, std::string_view text) {
  std::atomic<std::string*>& chunk = chunks_[id >> kChunkBits];
  std::string* slots = chunk.load(std::memory_order_relaxed);
  if (slots == nullptr) {
    slots = new std::string[kChunkSize];
    chunk.store(slots, std::memory_order_release);
  }
  slots[id & (kChunkSize - 1)].assign(text);
  published_.store(id + 1, std::memory_order_release);
}

absl::Status StringPool::Load(const Txn& txn, MDB_dbi by_string, MDB_dbi by_id) {
  by_string_ = by_string;
  by_id_ = by_id;
  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, by_id); !s.ok()) return s;
  MDB_val key, value;
  uint32_t expected = 0;
  for (absl::StatusOr<bool> more = cursor.Seek(MDB_FIRST, &key, &value);; 
       more = cursor.Seek(MDB_NEXT, &key, &value)) {
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (key.mv_size != 4 || GetBigEndian32(static_cast<const char*>(key.mv_data)) != expected) {
      return absl::DataLossError(absl::StrCat("string table damaged at id ", expected));
    }
    const std::string_view text = ToView(value);
    Publish(expected, text);
    ids_.emplace(std::string(text), expected);
    ++expected;
  }
  committed_ = expected;
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> StringPool::Intern(const Txn& txn, std::string_view text) {
  if (auto it = ids_.find(Sv(text)); it != ids_.end()) return it->second;
  const uint32_t id = published_.load(std::memory_order_relaxed);
  if (id >> kChunkBits >= kMaxChunks) {
    return absl::ResourceExhaustedError("string table is full");
  }
  char id_key[4];
  PutBigEndian32(id_key, id);
  if (absl::Status s = txn.Put(by_id_, std::string_view(id_key, 4), text); !s.ok()) return s;
  if (absl::Status s = txn.Put(by_string_, StringKey(text), std::string_view(id_key, 4)); !s.ok()) {
    return s;
  }
  Publish(id, text);
  ids_.emplace(std::string(text), id);
  added_since_commit_.emplace_back(text);
  return id;
}

void StringPool::Commit() {
  committed_ = published_.load(std::memory_order_relaxed);
  added_since_commit_.clear();
}

void StringPool::Rollback() {
  for (const std::string& text : added_since_commit_) ids_.erase(text);
  added_since_commit_.clear();
  // Nothing committed references the rolled-back ids, so no reader can be looking at them.
  published_.store(committed_, std::memory_order_release);
}

absl::StatusOr<std::optional<uint32_t>> StringPool::Find(const Txn& txn,
                                                         std::string_view text) const {
  absl::StatusOr<std::string_view> value = txn.Get(by_string_, StringKey(text));
  if (!value.ok()) {
    if (absl::IsNotFound(value.status())) return std::nullopt;
    return value.status();
  }
  if (value->size() != 4) return absl::DataLossError("string table entry damaged");
  return std::optional<uint32_t>(GetBigEndian32(value->data()));
}

}  // namespace allezon::internal
