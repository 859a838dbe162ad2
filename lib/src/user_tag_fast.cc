#include "user_tag_fast.h"

#include <cstdint>
#include <limits>
#include <string>

#include "allezon/time.h"
#include "utf8.h"

namespace allezon::internal {
namespace {

// Reads JSON tokens of the few kinds a plain tag holds. Every method returns false for
// anything it does not handle; the parse then gives up (the full parser decides).
class Scanner {
 public:
  explicit Scanner(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  // JSON's whitespace, as RapidJSON skips it.
  void SkipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool Peek(char c) {
    SkipSpace();
    return p_ < end_ && *p_ == c;
  }
  bool AtEnd() {
    SkipSpace();
    return p_ == end_;
  }

  // A string without escapes or control characters: its bytes are then exactly its value,
  // and it holds no NUL (which the full parser refuses anywhere). Bytes outside ASCII must be
  // strict UTF-8 (utf8.h), the very set RapidJSON's validation accepts (Unicode's table of
  // well-formed sequences), so both parsers take the same strings.
  bool String(std::string_view* out) {
    if (!Consume('"')) return false;
    const char* start = p_;
    bool ascii = true;
    for (; p_ < end_; ++p_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        *out = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return ascii || IsValidUtf8(*out);
      }
      if (c == '\\' || c < 0x20) return false;
      if (c >= 0x80) ascii = false;
    }
    return false;
  }

  // A JSON integer of at most 18 digits (so within int64 with room to spare) with neither
  // fraction nor exponent: what RapidJSON stores as an integer (IsInt64). "-0" is 0 there too.
  bool Integer(int64_t* out) {
    SkipSpace();
    const bool minus = p_ < end_ && *p_ == '-';
    if (minus) ++p_;
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
    int64_t value = 0;
    if (*p_ == '0') {
      ++p_;  // a leading zero stands alone: "01" is not JSON
    } else {
      for (int digits = 0; p_ < end_ && *p_ >= '0' && *p_ <= '9'; ++p_) {
        if (++digits > 18) return false;
        value = value * 10 + (*p_ - '0');
      }
    }
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E' || (*p_ >= '0' && *p_ <= '9'))) {
      return false;
    }
    *out = minus ? -value : value;
    return true;
  }

  // A string field's value, at most max_bytes long, into *out.
  bool Text(size_t max_bytes, std::string* out) {
    std::string_view text;
    if (!String(&text) || text.size() > max_bytes) return false;
    out->assign(text);
    return true;
  }

 private:
  const char* p_;
  const char* end_;
};

// Bits of the fields seen: each exactly once (a repeated field: the full parser's first-match
// rule decides).
enum : unsigned {
  kTime = 1u << 0,
  kCookie = 1u << 1,
  kCountry = 1u << 2,
  kDevice = 1u << 3,
  kAction = 1u << 4,
  kOrigin = 1u << 5,
  kProductInfo = 1u << 6,
  kAllTop = (1u << 7) - 1,
  kProductId = 1u << 0,
  kBrand = 1u << 1,
  kCategory = 1u << 2,
  kPrice = 1u << 3,
  kAllProduct = (1u << 4) - 1,
};

bool Mark(unsigned bit, unsigned* seen) {
  if (*seen & bit) return false;
  *seen |= bit;
  return true;
}

bool ParseTime(Scanner& in, UserTag* tag) {
  if (in.Peek('"')) {
    std::string_view text;
    if (!in.String(&text)) return false;
    absl::StatusOr<EpochMillis> time = ParseTagTime(text);
    if (!time.ok()) return false;
    tag->time = *time;
    return true;
  }
  int64_t millis;
  if (!in.Integer(&millis)) return false;
  absl::StatusOr<EpochMillis> time = CheckEpochMillis(millis);
  if (!time.ok()) return false;
  tag->time = *time;
  return true;
}

bool ParseProductInfo(Scanner& in, UserTag* tag) {
  if (!in.Consume('{')) return false;
  unsigned seen = 0;
  do {
    std::string_view key;
    if (!in.String(&key) || !in.Consume(':')) return false;
    if (key == "product_id") {
      if (!Mark(kProductId, &seen)) return false;
      if (in.Peek('"')) {
        std::string text;
        if (!in.Text(kMaxProductIdBytes, &text)) return false;
        tag->product_id = std::move(text);
      } else {
        int64_t id;
        if (!in.Integer(&id)) return false;
        tag->product_id = id;
      }
    } else if (key == "brand_id") {
      if (!Mark(kBrand, &seen) || !in.Text(kMaxFieldBytes, &tag->brand_id)) return false;
    } else if (key == "category_id") {
      if (!Mark(kCategory, &seen) || !in.Text(kMaxFieldBytes, &tag->category_id)) return false;
    } else if (key == "price") {
      int64_t price;
      if (!Mark(kPrice, &seen) || !in.Integer(&price) ||
          price < std::numeric_limits<int32_t>::min() ||
          price > std::numeric_limits<int32_t>::max()) {
        return false;
      }
      tag->price = static_cast<int32_t>(price);
    } else {
      return false;  // an unknown field: its value may be anything
    }
  } while (in.Consume(','));
  return in.Consume('}') && seen == kAllProduct;
}

}  // namespace

bool ParseUserTagJsonFast(std::string_view json, UserTag* tag) {
  Scanner in(json);
  if (!in.Consume('{')) return false;
  unsigned seen = 0;
  do {
    std::string_view key;
    if (!in.String(&key) || !in.Consume(':')) return false;
    if (key == "time") {
      if (!Mark(kTime, &seen) || !ParseTime(in, tag)) return false;
    } else if (key == "cookie") {
      if (!Mark(kCookie, &seen) || !in.Text(kMaxCookieBytes, &tag->cookie) || tag->cookie.empty()) {
        return false;
      }
    } else if (key == "country") {
      if (!Mark(kCountry, &seen) || !in.Text(kMaxFieldBytes, &tag->country)) return false;
    } else if (key == "device") {
      std::string_view text;
      if (!Mark(kDevice, &seen) || !in.String(&text)) return false;
      const std::optional<Device> device = ParseDevice(text);
      if (!device) return false;
      tag->device = *device;
    } else if (key == "action") {
      std::string_view text;
      if (!Mark(kAction, &seen) || !in.String(&text)) return false;
      const std::optional<Action> action = ParseAction(text);
      if (!action) return false;
      tag->action = *action;
    } else if (key == "origin") {
      if (!Mark(kOrigin, &seen) || !in.Text(kMaxFieldBytes, &tag->origin)) return false;
    } else if (key == "product_info") {
      if (!Mark(kProductInfo, &seen) || !ParseProductInfo(in, tag)) return false;
    } else {
      return false;  // an unknown field: its value may be anything
    }
  } while (in.Consume(','));
  // RapidJSON refuses anything but whitespace after the root value.
  return in.Consume('}') && in.AtEnd() && seen == kAllTop;
}

}  // namespace allezon::internal
