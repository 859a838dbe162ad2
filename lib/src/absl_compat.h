// Internal: Debian's Abseil (20220623) is built with its own absl::string_view, distinct from
// std::string_view, so std::string_view must be converted before reaching absl::StrCat or
// absl::Status. The public API speaks std::string_view only.
#ifndef ALLEZON_SRC_ABSL_COMPAT_H_
#define ALLEZON_SRC_ABSL_COMPAT_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace allezon::internal {

inline absl::string_view Sv(std::string_view text) { return {text.data(), text.size()}; }

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_ABSL_COMPAT_H_
