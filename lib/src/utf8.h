// Internal: strict UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF). RapidJSON validates the raw bytes of a document but not what its \u
// escapes decode to (a lone "\udc00" becomes three bytes that are not UTF-8), and query
// strings arrive percent-decoded with any bytes at all; answers must stay valid JSON.
#ifndef ALLEZON_SRC_UTF8_H_
#define ALLEZON_SRC_UTF8_H_

#include <cstdint>
#include <string_view>

namespace allezon::internal {

inline bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const uint8_t lead = *p;
    if (lead < 0x80) {
      ++p;
      continue;
    }
    int length;
    uint32_t min_code;
    uint32_t code;
    if ((lead & 0xe0) == 0xc0) {
      length = 2, min_code = 0x80, code = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3, min_code = 0x800, code = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4, min_code = 0x10000, code = lead & 0x07;
    } else {
      return false;
    }
    if (end - p < length) return false;
    for (int i = 1; i < length; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      code = (code << 6) | (p[i] & 0x3f);
    }
    if (code < min_code || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    p += length;
  }
  return true;
}

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_UTF8_H_
