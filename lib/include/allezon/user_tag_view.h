// UserTagView: a user tag (SPEC §1) whose strings are borrowed, not owned.
//
// UserTagStore::VisitProfile hands out views into the stored record and the string pool, so a
// profile can be read or written out without copying a single string. A view owns nothing:
// its string_views are valid only as long as what they point into — for a view passed to a
// VisitProfile callback, only during that call (copy with ToUserTag to keep it). A view is a
// plain value; the functions here are pure and thread-safe.
#ifndef ALLEZON_USER_TAG_VIEW_H_
#define ALLEZON_USER_TAG_VIEW_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "allezon/export.h"
#include "allezon/time.h"
#include "allezon/user_tag.h"

namespace allezon {

struct UserTagView {
  EpochMillis time = 0;
  std::string_view cookie;
  std::string_view country;
  Device device = Device::kPc;
  Action action = Action::kView;
  std::string_view origin;
  // product_id as it arrived: product_id_text when product_id_is_text, else
  // product_id_number (plain fields rather than a variant: nothing to visit per tag).
  bool product_id_is_text = false;
  int64_t product_id_number = 0;
  std::string_view product_id_text;
  std::string_view brand_id;
  std::string_view category_id;
  int32_t price = 0;
};

// A view of `tag`, valid while `tag` lives unchanged.
inline UserTagView ViewOf(const UserTag& tag) {
  UserTagView view;
  view.time = tag.time;
  view.cookie = tag.cookie;
  view.country = tag.country;
  view.device = tag.device;
  view.action = tag.action;
  view.origin = tag.origin;
  if (const auto* text = std::get_if<std::string>(&tag.product_id)) {
    view.product_id_is_text = true;
    view.product_id_text = *text;
  } else {
    view.product_id_number = std::get<int64_t>(tag.product_id);
  }
  view.brand_id = tag.brand_id;
  view.category_id = tag.category_id;
  view.price = tag.price;
  return view;
}

// An owning copy of the viewed tag.
inline UserTag ToUserTag(const UserTagView& view) {
  UserTag tag;
  tag.time = view.time;
  tag.cookie = view.cookie;
  tag.country = view.country;
  tag.device = view.device;
  tag.action = view.action;
  tag.origin = view.origin;
  if (view.product_id_is_text) {
    tag.product_id = std::string(view.product_id_text);
  } else {
    tag.product_id = view.product_id_number;
  }
  tag.brand_id = view.brand_id;
  tag.category_id = view.category_id;
  tag.price = view.price;
  return tag;
}

// Appends the viewed tag as JSON: the same bytes as AppendUserTagJson(ToUserTag(view), out).
ALLEZON_EXPORT void AppendUserTagJson(const UserTagView& tag, std::string* out);

}  // namespace allezon

#endif  // ALLEZON_USER_TAG_VIEW_H_
