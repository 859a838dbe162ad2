// The user tag: one VIEW or BUY event of one shopper (SPEC §1).
//
// UserTag is a plain value type: copyable, movable, no shared state. The parse and write
// functions are pure and thread-safe.
#ifndef ALLEZON_USER_TAG_H_
#define ALLEZON_USER_TAG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/statusor.h"
#include "allezon/export.h"
#include "allezon/time.h"

namespace allezon {

enum class Action : uint8_t { kView = 0, kBuy = 1 };
enum class Device : uint8_t { kPc = 0, kMobile = 1, kTv = 2 };

// "VIEW"/"BUY" and "PC"/"MOBILE"/"TV", exactly as in the JSON (case-sensitive).
ALLEZON_EXPORT std::string_view ActionName(Action action);
ALLEZON_EXPORT std::string_view DeviceName(Device device);
ALLEZON_EXPORT std::optional<Action> ParseAction(std::string_view name);
ALLEZON_EXPORT std::optional<Device> ParseDevice(std::string_view name);

// A product id keeps the JSON type it arrived in: an integer or a string.
using ProductId = std::variant<int64_t, std::string>;

// Limits on a tag's strings, in bytes of UTF-8. Longer values are rejected as invalid rather
// than truncated, so a stored tag is always given back exactly as it was accepted.
inline constexpr size_t kMaxCookieBytes = 256;
inline constexpr size_t kMaxFieldBytes = 256;  // country, origin, brand_id, category_id
inline constexpr size_t kMaxProductIdBytes = 256;

struct UserTag {
  EpochMillis time = 0;
  std::string cookie;
  std::string country;
  Device device = Device::kPc;
  Action action = Action::kView;
  std::string origin;
  ProductId product_id = int64_t{0};
  std::string brand_id;
  std::string category_id;
  int32_t price = 0;

  friend bool operator==(const UserTag&, const UserTag&) = default;
};

// Parses and validates one tag from JSON (SPEC §1): every field required and of its type,
// time as text (0–9 fraction digits) or integer epoch milliseconds, product_id integer
// (int64) or string, price a JSON integer within int32, unknown fields ignored. Returns
// InvalidArgument with a message naming the offending field.
ALLEZON_EXPORT absl::StatusOr<UserTag> ParseUserTagJson(std::string_view json);

// Appends the tag as JSON, fields in SPEC order, time as "YYYY-MM-DDTHH:MM:SS.mmmZ".
ALLEZON_EXPORT void AppendUserTagJson(const UserTag& tag, std::string* out);
ALLEZON_EXPORT std::string UserTagToJson(const UserTag& tag);

// Checks the rules ParseUserTagJson checks on an already built tag (non-empty cookie,
// string lengths, time within [kMinTime, kMaxTime]); Database::AddTags calls it.
ALLEZON_EXPORT absl::Status ValidateUserTag(const UserTag& tag);

}  // namespace allezon

#endif  // ALLEZON_USER_TAG_H_
