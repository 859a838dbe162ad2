#include "user_tag_store_impl.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "codec.h"
#include "profile_record.h"
#include "utf8.h"

namespace allezon::internal {

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
  std::vector<RecordEntry> stored, added;
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
                     [](const RecordEntry& a, const RecordEntry& b) { return a.time > b.time; });
    // The encoded list copies the bodies before the put replaces the record they point into.
    const std::string merged = EncodeMergedRecord(0, stored, added, cap);
    if (absl::Status s = txn.Put(storage_->profiles, *key, merged); !s.ok()) return s;
  }
  return absl::OkStatus();
}

template <typename Reserve, typename Visit>
absl::Status UserTagStoreImpl::VisitList(const Txn& txn, std::string_view key, TimeRange range,
                                         int32_t limit, Reserve&& reserve, Visit&& visit) const {
  absl::StatusOr<std::string_view> record = txn.Get(storage_->profiles, key);
  if (!record.ok()) return absl::IsNotFound(record.status()) ? absl::OkStatus() : record.status();
  {
    ByteReader reader(*record);
    RecordHeader header;
    if (ReadRecordHeader(reader, record->size(), &header).ok()) {
      reserve(static_cast<size_t>(std::min<uint64_t>(header.count, static_cast<uint64_t>(limit))));
    }
  }
  int32_t emitted = 0;
  return WalkRecord(*record, [&](int64_t time, ByteReader& reader) {
    if (time < range.begin) return false;  // the rest is older still
    const DecodedBody body = ReadBody(reader);
    if (time >= range.end) return true;
    visit(time, body);
    return ++emitted < limit;
  });
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
    absl::Status visited = VisitList(
        scope.txn(), ProfileKey(cookie, action), range, limit,
        [&](size_t expected) { out.reserve(expected); },
        [&](int64_t time, const DecodedBody& body) {
          UserTag& tag = out.emplace_back();
          tag.time = time;
          tag.cookie = profile.cookie;
          tag.action = action;
          tag.device = body.device();
          tag.country = pool.Get(body.ids.country);
          tag.origin = pool.Get(body.ids.origin);
          tag.brand_id = pool.Get(body.ids.brand);
          tag.category_id = pool.Get(body.ids.category);
          if (body.product_is_text()) {
            tag.product_id = std::string(body.product_text);
          } else {
            tag.product_id = body.product_number;
          }
          tag.price = static_cast<int32_t>(body.price);
        });
    if (!visited.ok()) return visited;
  }
  return profile;
}

}  // namespace allezon::internal
