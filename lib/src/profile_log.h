// Internal: the tag log's format (LMDB `profile_log`) and its readers. TagLog (tag_log.h)
// owns it — sequences, appends, and trimming only below what every consumer still needs;
// its consumers (profile staging, the aggregates' open minutes, the catalogue) read it here.
//
// Layout: key = big-endian sequence of the commit's first tag, value = varint count, then
// per tag: varint cookie length, cookie, action byte, zigzag varint time, body
// (profile_record.h). Tags of a commit have consecutive sequences; sequences start at 1.
//
// Thread-safety: free functions over a transaction the caller owns.
#ifndef ALLEZON_SRC_PROFILE_LOG_H_
#define ALLEZON_SRC_PROFILE_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "codec.h"
#include "lmdb_env.h"
#include "profile_record.h"

namespace allezon::internal {

inline std::string LogSequenceKey(uint64_t sequence) {
  std::string key(8, '\0');
  PutBigEndian64(key.data(), sequence);
  return key;
}

// One logged tag, viewing the log value it came from.
struct LoggedTag {
  uint64_t sequence;
  std::string_view cookie;
  uint8_t action;  // the byte as logged; callers check it where it matters
  int64_t time;
  std::string_view body;
};

// Calls visit(const LoggedTag&) for each tag of one log value. DataLoss if damaged.
template <typename Visit>
absl::Status ForEachLoggedTag(uint64_t first_sequence, std::string_view value, Visit visit) {
  ByteReader reader(value);
  const uint64_t count = reader.Varint();
  if (!reader.ok() || count > value.size()) return absl::DataLossError("profile log damaged");
  for (uint64_t i = 0; i < count; ++i) {
    LoggedTag tag;
    tag.sequence = first_sequence + i;
    tag.cookie = reader.Bytes(reader.Varint());
    tag.action = reader.Byte();
    tag.time = UnZigZag(reader.Varint());
    tag.body = SkipBody(reader);
    if (!reader.ok()) return absl::DataLossError("profile log damaged");
    visit(tag);
  }
  return absl::OkStatus();
}

// Calls visit(const LoggedTag&) for every tag of the log, oldest first. DataLoss if damaged.
template <typename Visit>
absl::Status ForEachLoggedTag(const Txn& txn, MDB_dbi log, Visit visit) {
  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, log); !s.ok()) return s;
  MDB_val key, value;
  for (absl::StatusOr<bool> more = cursor.Seek(MDB_FIRST, &key, &value);;
       more = cursor.Seek(MDB_NEXT, &key, &value)) {
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
    if (key.mv_size != 8) return absl::DataLossError("profile log damaged");
    const uint64_t first_sequence = GetBigEndian64(static_cast<const char*>(key.mv_data));
    if (absl::Status s = ForEachLoggedTag(first_sequence, ToView(value), visit); !s.ok()) {
      return s;
    }
  }
}

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_PROFILE_LOG_H_
