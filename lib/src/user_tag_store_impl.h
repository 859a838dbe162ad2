// Internal: the UserTagStore over the `profiles` LMDB database.
//
// Layout: one record per (cookie, action), key = cookie bytes + one action byte, value = the
// list of that cookie's tags of that action, newest first (among equal times the later
// accepted first), at most Options::profile_cap long:
//   varint count, then per tag:
//     time      zigzag varint (first tag: absolute; later tags: previous time - this time)
//     flags     1 byte: device in bits 0-1, bit 2 set when product_id is a string
//     country, origin, brand_id, category_id: varint string-pool ids
//     product   zigzag varint, or varint length + bytes when a string
//     price     zigzag varint
// "Newest first within [begin, end), at most N" is one forward walk that stops early; the
// whole record is one LMDB value, so a profile query is two B-tree lookups.
#ifndef ALLEZON_SRC_USER_TAG_STORE_IMPL_H_
#define ALLEZON_SRC_USER_TAG_STORE_IMPL_H_

#include <span>

#include "allezon/user_tag_store.h"
#include "storage.h"

namespace allezon::internal {

class UserTagStoreImpl final : public UserTagStore {
 public:
  explicit UserTagStoreImpl(const Storage* storage) : storage_(storage) {}

  absl::StatusOr<Profile> GetProfile(std::string_view cookie, TimeRange range,
                                     int32_t limit) const override;

  // Writer thread: adds `tags` (in arrival order, `ids` parallel to them) to their lists
  // inside the write transaction `txn`, trimming each list to the cap.
  absl::Status Write(const Txn& txn, std::span<const UserTag* const> tags,
                     std::span<const TagIds> ids) const;

 private:
  const Storage* storage_;
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_USER_TAG_STORE_IMPL_H_
