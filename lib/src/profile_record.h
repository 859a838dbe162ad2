// Internal: the encoding of one (cookie, action) profile list, shared by the writer that
// merges lists (profile_staging.cc), the recovery that rebuilds staged tags and the query path
// (user_tag_store_impl.cc).
//
// Record layout (LMDB `profiles`, key = cookie bytes + one action byte):
//   varint merged_seq   the log sequence of the newest staged tag folded into this record;
//                       staged tags of this key with a higher sequence are not in it yet
//   varint count, then per tag, newest first (among equal times the later accepted first):
//     time      zigzag varint (first tag: absolute; later tags: previous time - this time)
//     body:
//       flags     1 byte: device in bits 0-1, bit 2 set when product_id is a string
//       country, origin, brand_id, category_id: varint string-pool ids
//       product   zigzag varint, or varint length + bytes when a string
//       price     zigzag varint
// "Newest first within [begin, end), at most N" is one forward walk that stops early.
#ifndef ALLEZON_SRC_PROFILE_RECORD_H_
#define ALLEZON_SRC_PROFILE_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "allezon/user_tag.h"
#include "codec.h"
#include "storage.h"

namespace allezon::internal {

inline constexpr uint8_t kDeviceMask = 0x3;
inline constexpr uint8_t kStringProductFlag = 0x4;

// Into `key`, keeping its buffer (the query path reuses one per thread).
inline void AssignProfileKey(std::string_view cookie, Action action, std::string* key) {
  key->reserve(cookie.size() + 1);
  key->assign(cookie);
  key->push_back(static_cast<char>(action));
}
inline std::string ProfileKey(std::string_view cookie, Action action) {
  std::string key;
  AssignProfileKey(cookie, action, &key);
  return key;
}

// Everything of a stored tag but its time, cookie and action, encoded.
inline void AppendBody(const UserTag& tag, const TagIds& ids, std::string* out) {
  const auto* product_text = std::get_if<std::string>(&tag.product_id);
  out->push_back(static_cast<char>(static_cast<uint8_t>(tag.device) |
                                   (product_text != nullptr ? kStringProductFlag : 0)));
  PutVarint(out, ids.country);
  PutVarint(out, ids.origin);
  PutVarint(out, ids.brand);
  PutVarint(out, ids.category);
  if (product_text != nullptr) {
    PutVarint(out, product_text->size());
    out->append(*product_text);
  } else {
    PutVarint(out, ZigZag(std::get<int64_t>(tag.product_id)));
  }
  PutVarint(out, ZigZag(tag.price));
}

struct DecodedBody {
  uint8_t flags = 0;
  TagIds ids;
  int64_t product_number = 0;
  std::string_view product_text;  // points into the record
  int64_t price = 0;

  Device device() const {
    const uint8_t bits = flags & kDeviceMask;
    return static_cast<Device>(bits > 2 ? 2 : bits);
  }
  bool product_is_text() const { return (flags & kStringProductFlag) != 0; }
};

// Always inlined: a profile query calls it per tag, and returned through memory the decoded
// fields cost more than decoding them.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline DecodedBody ReadBody(ByteReader& reader) {
  DecodedBody body;
  body.flags = reader.Byte();
  uint64_t ids[4];
  reader.Varints(ids);
  body.ids.country = static_cast<uint32_t>(ids[0]);
  body.ids.origin = static_cast<uint32_t>(ids[1]);
  body.ids.brand = static_cast<uint32_t>(ids[2]);
  body.ids.category = static_cast<uint32_t>(ids[3]);
  if (body.flags & kStringProductFlag) {
    body.product_text = reader.Bytes(reader.Varint());
    body.price = UnZigZag(reader.Varint());
  } else {
    uint64_t product_and_price[2];
    reader.Varints(product_and_price);
    body.product_number = UnZigZag(product_and_price[0]);
    body.price = UnZigZag(product_and_price[1]);
  }
  return body;
}

// The length of the encoded body at the reader's position (the reader is moved past it).
inline std::string_view SkipBody(ByteReader& reader) {
  const char* start = reader.position();
  ReadBody(reader);
  return std::string_view(start, static_cast<size_t>(reader.position() - start));
}

struct RecordHeader {
  uint64_t merged_seq = 0;
  uint64_t count = 0;
};

// Reads the header; the reader is left at the first entry. DataLoss when damaged.
inline absl::Status ReadRecordHeader(ByteReader& reader, size_t record_size, RecordHeader* header) {
  header->merged_seq = reader.Varint();
  header->count = reader.Varint();
  if (!reader.ok() || header->count > record_size) {
    return absl::DataLossError("profile record damaged");
  }
  return absl::OkStatus();
}

// The record of `key` (empty bytes and a zero header when there is none). DataLoss when its
// header is damaged.
inline absl::Status ReadRecord(const Txn& txn, MDB_dbi profiles, std::string_view key,
                               std::string_view* bytes, RecordHeader* header) {
  *bytes = {};
  *header = RecordHeader{};
  absl::StatusOr<std::string_view> record = txn.Get(profiles, key);
  if (!record.ok()) return absl::IsNotFound(record.status()) ? absl::OkStatus() : record.status();
  *bytes = *record;
  ByteReader reader(*bytes);
  return ReadRecordHeader(reader, bytes->size(), header);
}

// Walks a stored list newest first, calling visit(time, reader positioned at the body) for
// each entry; visit reads the body and returns false to stop early.
template <typename Visit>
absl::Status WalkRecord(std::string_view record, Visit visit) {
  ByteReader reader(record);
  RecordHeader header;
  if (absl::Status s = ReadRecordHeader(reader, record.size(), &header); !s.ok()) return s;
  int64_t time = 0;
  for (uint64_t i = 0; i < header.count; ++i) {
    const uint64_t raw = reader.Varint();
    time = i == 0 ? UnZigZag(raw) : time - static_cast<int64_t>(raw);
    if (!visit(time, reader)) break;
    if (!reader.ok()) return absl::DataLossError("profile record damaged");
  }
  return absl::OkStatus();
}

// One entry of a list: its time and its encoded body.
struct RecordEntry {
  int64_t time;
  std::string_view body;
};

// Merges `added` (newest first) into `stored` (newest first) and encodes the first `cap` of
// the result with the given merged sequence. An added entry goes before stored ones of equal
// time: it is the later accepted.
inline std::string EncodeMergedRecord(uint64_t merged_seq, const std::vector<RecordEntry>& stored,
                                      const std::vector<RecordEntry>& added, size_t cap) {
  const size_t count = std::min(cap, stored.size() + added.size());
  // Sized up front (an upper bound: entries past the cap are counted too): growing a
  // 200-entry record by doubling copied it ~8 times.
  size_t body_bytes = 0;
  for (const RecordEntry& entry : stored) body_bytes += entry.body.size();
  for (const RecordEntry& entry : added) body_bytes += entry.body.size();
  std::string out;
  out.reserve(20 + count * 10 + body_bytes);
  PutVarint(&out, merged_seq);
  PutVarint(&out, count);
  size_t s = 0, a = 0;
  int64_t previous = 0;
  for (size_t i = 0; i < count; ++i) {
    const bool take_added =
        s == stored.size() || (a < added.size() && added[a].time >= stored[s].time);
    const RecordEntry& entry = take_added ? added[a++] : stored[s++];
    PutVarint(&out, i == 0 ? ZigZag(entry.time) : static_cast<uint64_t>(previous - entry.time));
    out.append(entry.body);
    previous = entry.time;
  }
  return out;
}

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_PROFILE_RECORD_H_
