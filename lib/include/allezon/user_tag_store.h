// UserTagStore: every cookie's most recent tags, per action (SPEC §4).
//
// Obtained from Database::user_tags(); owned by the Database and valid while it is open.
// Thread-safe: any number of threads may query concurrently with each other and with the
// writer. A query sees a consistent snapshot that includes every tag whose AddTags call has
// returned OK.
#ifndef ALLEZON_USER_TAG_STORE_H_
#define ALLEZON_USER_TAG_STORE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "allezon/export.h"
#include "allezon/time.h"
#include "allezon/user_tag.h"

namespace allezon {

struct Profile {
  std::string cookie;
  std::vector<UserTag> views;  // newest first
  std::vector<UserTag> buys;   // newest first
};

class ALLEZON_EXPORT UserTagStore {
 public:
  virtual ~UserTagStore() = default;

  // The cookie's tags with time in [range.begin, range.end), each action's list newest first
  // (among equal times, the later accepted first) and at most `limit` long. An unknown cookie
  // gives empty lists. InvalidArgument when limit < 0 or range.begin > range.end.
  virtual absl::StatusOr<Profile> GetProfile(std::string_view cookie, TimeRange range,
                                             int32_t limit) const = 0;
};

}  // namespace allezon

#endif  // ALLEZON_USER_TAG_STORE_H_
