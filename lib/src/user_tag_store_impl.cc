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

template <typename Reserve, typename Visit>
absl::Status UserTagStoreImpl::VisitList(const Txn& txn, std::string_view key, TimeRange range,
                                         int32_t limit, Reserve&& reserve, Visit&& visit) const {
  // Two lists, both newest first: the record and the tags staged since (profile_staging.h).
  // Staged tags the record already holds (sequence <= its merged_seq) are skipped; among
  // equal times a staged tag goes first, being the later accepted.
  thread_local StagedList staged;
  staging_->CopyStaged(key, &staged);
  std::string_view record_bytes;
  RecordHeader header;
  if (absl::Status s = ReadRecord(txn, storage_->profiles, key, &record_bytes, &header); !s.ok()) {
    return s;
  }
  size_t staged_newer = 0;
  for (uint64_t sequence : staged.sequences) staged_newer += sequence > header.merged_seq;
  if (header.count + staged_newer == 0) return absl::OkStatus();
  reserve(static_cast<size_t>(
      std::min<uint64_t>({header.count + staged_newer, static_cast<uint64_t>(limit),
                          static_cast<uint64_t>(storage_->options.profile_cap)})));

  int32_t emitted = 0;
  // The list is the newest profile_cap of record and staged tags together (what folding
  // them would store), so entries past the cap are not part of it, in range or not.
  const uint64_t cap = static_cast<uint64_t>(storage_->options.profile_cap);
  uint64_t position = 0;
  // Offers one entry; false once the walk should stop (limit or cap reached, or older than
  // the range).
  const auto offer = [&](int64_t time, const DecodedBody& body) {
    if (position++ >= cap || time < range.begin) return false;
    if (time >= range.end) return true;
    visit(time, body);
    return ++emitted < limit;
  };
  size_t next_staged = 0;
  // Offers the staged entries at least as new as `time` (all of them for kMinTime).
  const auto offer_staged = [&](int64_t time) {
    for (; next_staged < staged.entries.size() && staged.entries[next_staged].time >= time;
         ++next_staged) {
      if (staged.sequences[next_staged] <= header.merged_seq) continue;
      ByteReader reader(staged.entries[next_staged].body);
      const DecodedBody body = ReadBody(reader);
      if (!offer(staged.entries[next_staged].time, body)) return false;
    }
    return true;
  };
  bool stopped = false;
  if (!record_bytes.empty()) {
    absl::Status walked = WalkRecord(record_bytes, [&](int64_t time, ByteReader& reader) {
      // (Checked here so that the common case, nothing staged left, costs no call per tag.)
      if (next_staged < staged.entries.size() && !offer_staged(time)) {
        stopped = true;
        return false;
      }
      const DecodedBody body = ReadBody(reader);
      if (!offer(time, body)) {
        stopped = true;
        return false;
      }
      return true;
    });
    if (!walked.ok()) return walked;
  }
  if (!stopped) offer_staged(kMinTime);
  return absl::OkStatus();
}

namespace {

// The argument checks every profile query shares (SPEC §4 and the cookie rules of §1).
absl::Status ValidateProfileQuery(std::string_view cookie, TimeRange range, int32_t limit) {
  if (limit < 0) return absl::InvalidArgumentError("limit must be a non-negative integer");
  if (range.begin > range.end) {
    return absl::InvalidArgumentError("invalid time_range: begin is after end");
  }
  if (cookie.size() > kMaxCookieBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("cookie is longer than ", kMaxCookieBytes, " bytes"));
  }
  if (!IsValidUtf8(cookie)) return absl::InvalidArgumentError("cookie is not valid UTF-8");
  return absl::OkStatus();
}

// A valid query that cannot match a tag: answered without opening a snapshot.
bool NothingToRead(std::string_view cookie, TimeRange range, int32_t limit) {
  return limit == 0 || range.begin == range.end || cookie.empty();
}

}  // namespace

template <typename Reserve, typename Visit>
absl::Status UserTagStoreImpl::ReadProfile(std::string_view cookie, TimeRange range, int32_t limit,
                                           Reserve&& reserve, Visit&& visit) const {
  ReadScope scope(*storage_);
  if (!scope.status().ok()) return scope.status();
  const StringPool::Reader pool(storage_->strings_pool);
  UserTagView view;
  view.cookie = cookie;
  // Reused per thread: a cookie of 20 bytes plus the action byte is past the short-string
  // buffer, and two allocations per query showed in its profile.
  thread_local std::string key;
  for (Action action : {Action::kView, Action::kBuy}) {
    view.action = action;
    AssignProfileKey(cookie, action, &key);
    absl::Status visited = VisitList(
        scope.txn(), key, range, limit, [&](size_t expected) { reserve(action, expected); },
        [&](int64_t time, const DecodedBody& body) {
          view.time = time;
          view.device = body.device();
          view.country = pool.Get(body.ids.country);
          view.origin = pool.Get(body.ids.origin);
          view.brand_id = pool.Get(body.ids.brand);
          view.category_id = pool.Get(body.ids.category);
          view.product_id_is_text = body.product_is_text();
          view.product_id_text = body.product_text;
          view.product_id_number = body.product_number;
          view.price = static_cast<int32_t>(body.price);
          visit(static_cast<const UserTagView&>(view));
        });
    if (!visited.ok()) return visited;
  }
  return absl::OkStatus();
}

absl::StatusOr<Profile> UserTagStoreImpl::GetProfile(std::string_view cookie, TimeRange range,
                                                     int32_t limit) const {
  if (absl::Status s = ValidateProfileQuery(cookie, range, limit); !s.ok()) return s;
  Profile profile;
  profile.cookie = std::string(cookie);
  if (NothingToRead(cookie, range, limit)) return profile;
  absl::Status read = ReadProfile(
      cookie, range, limit,
      [&](Action action, size_t expected) {
        (action == Action::kView ? profile.views : profile.buys).reserve(expected);
      },
      [&](const UserTagView& view) {
        (view.action == Action::kView ? profile.views : profile.buys).push_back(ToUserTag(view));
      });
  if (!read.ok()) return read;
  return profile;
}

absl::Status UserTagStoreImpl::VisitProfile(std::string_view cookie, TimeRange range, int32_t limit,
                                            UserTagVisitor& visitor) const {
  if (absl::Status s = ValidateProfileQuery(cookie, range, limit); !s.ok()) return s;
  if (NothingToRead(cookie, range, limit)) return absl::OkStatus();
  return ReadProfile(
      cookie, range, limit, [](Action, size_t) {},
      [&](const UserTagView& tag) { visitor.OnTag(tag); });
}

}  // namespace allezon::internal
