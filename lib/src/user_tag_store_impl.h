// Internal: the UserTagStore over the `profiles` LMDB database (record layout:
// profile_record.h). A profile query is two B-tree lookups and a forward walk of each list.
#ifndef ALLEZON_SRC_USER_TAG_STORE_IMPL_H_
#define ALLEZON_SRC_USER_TAG_STORE_IMPL_H_

#include <span>

#include "allezon/user_tag_store.h"
#include "profile_record.h"
#include "profile_staging.h"
#include "storage.h"

namespace allezon::internal {

class UserTagStoreImpl final : public UserTagStore {
 public:
  UserTagStoreImpl(const Storage* storage, const ProfileStaging* staging)
      : storage_(storage), staging_(staging) {}

  absl::StatusOr<Profile> GetProfile(std::string_view cookie, TimeRange range,
                                     int32_t limit) const override;
  absl::Status VisitProfile(std::string_view cookie, TimeRange range, int32_t limit,
                            UserTagVisitor& visitor) const override;
  using UserTagStore::VisitProfile;  // the callable overload

 private:
  // The one read path of every profile query (GetProfile, VisitProfile and what is built on
  // them): opens the read snapshot, then walks the VIEW list and the BUY list through
  // VisitList, calling reserve(action, expected_count) once per list that exists and
  // visit(const UserTagView&) per tag. Arguments already validated, cookie non-empty,
  // limit > 0.
  template <typename Reserve, typename Visit>
  absl::Status ReadProfile(std::string_view cookie, TimeRange range, int32_t limit,
                           Reserve&& reserve, Visit&& visit) const;

  // The one place stored entries are read: calls reserve(expected_count) once, then
  // visit(time, const DecodedBody&) for each entry of the (cookie, action) list `key` with
  // time in [range.begin, range.end), newest first (equal times: later accepted first), at
  // most `limit` of them (limit > 0). The body's views are valid during the call only.
  template <typename Reserve, typename Visit>
  absl::Status VisitList(const Txn& txn, std::string_view key, TimeRange range, int32_t limit,
                         Reserve&& reserve, Visit&& visit) const;

  const Storage* storage_;
  const ProfileStaging* staging_;
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_USER_TAG_STORE_IMPL_H_
