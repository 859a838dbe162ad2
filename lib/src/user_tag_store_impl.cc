#include "user_tag_store_impl.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "codec.h"
#include "utf8.h"

namespace allezon::internal {
namespace {

constexpr uint8_t kDeviceMask = 0x3;
constexpr uint8_t kStringProductFlag = 0x4;

std::string ProfileKey(std::string_view cookie, Action action) {
  std::string key;
  key.reserve(cookie.size() + 1);
  key.append(cookie);
  key.push_back(static_cast<char>(action));
  return key;
}

// Everything of a stored tag but its time, encoded.
void AppendBody(const UserTag& tag, const TagIds& ids, std::string* out) {
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
  std::string_view product_text;
  int64_t price = 0;
};

DecodedBody ReadBody(ByteReader& reader) {
  DecodedBody body;
  body.flags = reader.Byte();
  body.ids.country = static_cast<uint32_t>(reader.Varint());
  body.ids.origin = static_cast<uint32_t>(reader.Varint());
  body.ids.brand = static_cast<uint32_t>(reader.Varint());
  body.ids.category = static_cast<uint32_t>(reader.Varint());
  if (body.flags & kStringProductFlag) {
    body.product_text = reader.Bytes(reader.Varint());
  } else {
    body.product_number = UnZigZag(reader.Varint());
  }
  body.price = UnZigZag(reader.Varint());
  return body;
}

// One entry of a list being rewritten: its time and its encoded body.
struct Entry {
  int64_t time;
  std::string_view body;
};

// Walks a stored list newest first, calling visit(time, reader positioned at the body) for
// each entry; visit reads the body and returns false to stop early.
template <typename Visit>
absl::Status WalkRecord(std::string_view record, Visit visit) {
  ByteReader reader(record);
  const uint64_t count = reader.Varint();
  if (!reader.ok() || count > record.size()) return absl::DataLossError("profile record damaged");
  int64_t time = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t raw = reader.Varint();
    time = i == 0 ? UnZigZag(raw) : time - static_cast<int64_t>(raw);
    if (!visit(time, reader)) break;
    if (!reader.ok()) return absl::DataLossError("profile record damaged");
  }
  return absl::OkStatus();
}

// Merges new entries (already newest first) into the stored ones (newest first) and encodes
// the first `cap` of the result. A new entry goes before stored ones of equal time: it is
// the later accepted.
std::string EncodeMerged(const std::vector<Entry>& stored, const std::vector<Entry>& added,
                         size_t cap) {
  const size_t count = std::min(cap, stored.size() + added.size());
  std::string out;
  PutVarint(&out, count);
  size_t s = 0, a = 0;
  int64_t previous = 0;
  for (size_t i = 0; i < count; ++i) {
    const bool take_added = s == stored.size() || (a < added.size() && added[a].time >= stored[s].time);
    const Entry& entry = take_added ? added[a++] : stored[s++];
    PutVarint(&out, i == 0 ? ZigZag(entry.time) : static_cast<uint64_t>(previous - entry.time));
    out.append(entry.body);
    previous = entry.time;
  }
  return out;
}

}  // namespace

absl::Status UserTagStoreImpl::Write(const Txn& txn, std::span<const UserTag* const> tags,
                                     std::span<const TagIds> ids) const {
  // Group the batch by (cookie, action), keeping arrival order inside each group.
  absl::flat_hash_map<std::string, std::vector<size_t>> groups;
  std::vector<size_t> body_offsets(tags.size() + 1);
  std::string bodies;
  for (size_t i = 0; i < tags.size(); ++i) {
    groups[ProfileKey(tags[i]->cookie, tags[i]->action)].push_back(i);
    body_offsets[i] = bodies.size();
    AppendBody(*tags[i], ids[i], &bodies);
  }
  body_offsets[tags.size()] = bodies.size();

  // Writing in key order keeps the B-tree pages touched by one commit together.
  std::vector<std::pair<const std::string*, std::vector<size_t>*>> ordered;
  ordered.reserve(groups.size());
  for (auto& [key, members] : groups) ordered.emplace_back(&key, &members);
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return *a.first < *b.first; });

  const size_t cap = static_cast<size_t>(storage_->options.profile_cap);
  std::vector<Entry> stored, added;
  for (const auto& [key, members] : ordered) {
    stored.clear();
    added.clear();
    absl::StatusOr<std::string_view> record = txn.Get(storage_->profiles, *key);
    if (record.ok()) {
      absl::Status walked = WalkRecord(*record, [&](int64_t time, ByteReader& reader) {
        const char* start = reader.position();
        ReadBody(reader);
        stored.push_back({time, std::string_view(start, reader.position() - start)});
        return true;
      });
      if (!walked.ok()) return walked;
    } else if (!absl::IsNotFound(record.status())) {
      return record.status();
    }
    // Newest first; among equal times the later arrival first.
    for (auto it = members->rbegin(); it != members->rend(); ++it) {
      const size_t i = *it;
      added.push_back({tags[i]->time, std::string_view(bodies).substr(
                                          body_offsets[i], body_offsets[i + 1] - body_offsets[i])});
    }
    std::stable_sort(added.begin(), added.end(),
                     [](const Entry& a, const Entry& b) { return a.time > b.time; });
    // The encoded list copies the bodies before the put replaces the record they point into.
    const std::string merged = EncodeMerged(stored, added, cap);
    if (absl::Status s = txn.Put(storage_->profiles, *key, merged); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<Profile> UserTagStoreImpl::GetProfile(std::string_view cookie, TimeRange range,
                                                     int32_t limit) const {
  if (limit < 0) return absl::InvalidArgumentError("limit must be a non-negative integer");
  if (range.begin > range.end) {
    return absl::InvalidArgumentError("invalid time_range: begin is after end");
  }
  if (cookie.size() > kMaxCookieBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("cookie is longer than ", kMaxCookieBytes, " bytes"));
  }
  if (!IsValidUtf8(cookie)) return absl::InvalidArgumentError("cookie is not valid UTF-8");
  Profile profile;
  profile.cookie = std::string(cookie);
  if (limit == 0 || range.begin == range.end || cookie.empty()) return profile;

  ReadScope scope(*storage_);
  if (!scope.status().ok()) return scope.status();
  const StringPool& pool = storage_->strings_pool;
  for (Action action : {Action::kView, Action::kBuy}) {
    std::vector<UserTag>& out = action == Action::kView ? profile.views : profile.buys;
    absl::StatusOr<std::string_view> record =
        scope.txn().Get(storage_->profiles, ProfileKey(cookie, action));
    if (!record.ok()) {
      if (absl::IsNotFound(record.status())) continue;
      return record.status();
    }
    {
      ByteReader header(*record);  // the entry count: size the list once
      out.reserve(static_cast<size_t>(
          std::min<uint64_t>(header.Varint(), static_cast<uint64_t>(limit))));
    }
    absl::Status walked = WalkRecord(*record, [&](int64_t time, ByteReader& reader) {
      if (time < range.begin) return false;  // the rest is older still
      const DecodedBody body = ReadBody(reader);
      if (time >= range.end) return true;
      UserTag& tag = out.emplace_back();
      tag.time = time;
      tag.cookie = profile.cookie;
      tag.action = action;
      tag.device = static_cast<Device>(std::min<uint8_t>(body.flags & kDeviceMask, 2));
      tag.country = pool.Get(body.ids.country);
      tag.origin = pool.Get(body.ids.origin);
      tag.brand_id = pool.Get(body.ids.brand);
      tag.category_id = pool.Get(body.ids.category);
      if (body.flags & kStringProductFlag) {
        tag.product_id = std::string(body.product_text);
      } else {
        tag.product_id = body.product_number;
      }
      tag.price = static_cast<int32_t>(body.price);
      return static_cast<int32_t>(out.size()) < limit;
    });
    if (!walked.ok()) return walked;
  }
  return profile;
}

}  // namespace allezon::internal
