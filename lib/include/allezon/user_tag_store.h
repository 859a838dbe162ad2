// UserTagStore: every cookie's most recent tags, per action (SPEC §4).
//
// Obtained from Database::user_tags(); owned by the Database and valid while it is open.
// Thread-safe: any number of threads may query concurrently with each other and with the
// writer. A query sees a consistent snapshot that includes every tag whose AddTags call has
// returned OK. VisitProfile's callback runs on the calling thread, inside the query's read
// snapshot: it must not call into the Database (a write that grows the map waits for every
// open snapshot to end, this one included, and a query queued behind that write would too).
#ifndef ALLEZON_USER_TAG_STORE_H_
#define ALLEZON_USER_TAG_STORE_H_

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "allezon/export.h"
#include "allezon/time.h"
#include "allezon/user_tag.h"
#include "allezon/user_tag_view.h"

namespace allezon {

struct Profile {
  std::string cookie;
  std::vector<UserTag> views;  // newest first
  std::vector<UserTag> buys;   // newest first
};

// Receives the tags of UserTagStore::VisitProfile. A virtual interface rather than
// absl::FunctionRef: measured ~0.5 ns cheaper per call (bench/RESULTS.md, "Zero-copy profile
// reads"), and a visitor can keep its state in its own members.
class UserTagVisitor {
 public:
  virtual ~UserTagVisitor() = default;
  // `tag` and the strings it points to are valid only during the call.
  virtual void OnTag(const UserTagView& tag) = 0;
};

class ALLEZON_EXPORT UserTagStore {
 public:
  virtual ~UserTagStore() = default;

  // The cookie's tags with time in [range.begin, range.end), each action's list newest first
  // (among equal times, the later accepted first) and at most `limit` long. An unknown cookie
  // gives empty lists. InvalidArgument when limit < 0 or range.begin > range.end.
  virtual absl::StatusOr<Profile> GetProfile(std::string_view cookie, TimeRange range,
                                             int32_t limit) const = 0;

  // The same tags as GetProfile, with the same validation and errors, without copying them:
  // calls visitor.OnTag once per tag, first the VIEWs list then the BUYs list, each newest
  // first (tell them apart by tag.action). The view points into the database and is valid
  // only during the call. On an error status the visitor may already have seen some tags.
  virtual absl::Status VisitProfile(std::string_view cookie, TimeRange range, int32_t limit,
                                    UserTagVisitor& visitor) const = 0;

  // The same with a callable, e.g. a lambda: on_tag(const UserTagView&) per tag. Inline, so
  // the callable is called directly from the visitor's OnTag and costs no second indirect call.
  template <typename Callable>
    requires std::invocable<Callable&, const UserTagView&>
  absl::Status VisitProfile(std::string_view cookie, TimeRange range, int32_t limit,
                            Callable&& on_tag) const {
    struct Adapter final : UserTagVisitor {
      explicit Adapter(Callable& f) : f(f) {}
      void OnTag(const UserTagView& tag) override { f(tag); }
      Callable& f;
    } adapter(on_tag);
    return VisitProfile(cookie, range, limit, static_cast<UserTagVisitor&>(adapter));
  }
};

}  // namespace allezon

#endif  // ALLEZON_USER_TAG_STORE_H_
