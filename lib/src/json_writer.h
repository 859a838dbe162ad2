// Internal: RapidJSON writing straight into a std::string.
#ifndef ALLEZON_SRC_JSON_WRITER_H_
#define ALLEZON_SRC_JSON_WRITER_H_

#include <string>
#include <string_view>

#include "rapidjson/writer.h"

namespace allezon::internal {

// RapidJSON output-stream concept over a caller-owned std::string.
class StringAppendStream {
 public:
  using Ch = char;
  explicit StringAppendStream(std::string* out) : out_(out) {}
  void Put(char c) { out_->push_back(c); }
  void Flush() {}

 private:
  std::string* out_;
};

using JsonWriter = rapidjson::Writer<StringAppendStream>;

inline void WriteString(JsonWriter& writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

// Appends `text` as a JSON string literal, byte for byte what RapidJSON's Writer::String
// writes (the default flags): '"' and '\\' escaped, control characters as \b \t \n \f \r or
// \u00XX (upper-case hex), every other byte as is. Much faster than the Writer's per-char
// Put on a std::string: a run of plain bytes is appended at once.
inline void AppendJsonString(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out->push_back('"');
  size_t plain = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(text.data() + plain, i - plain);
    plain = i + 1;
    char escape[6] = {'\\', 0, 0, 0, 0, 0};
    size_t length = 2;
    switch (c) {
      case '"': escape[1] = '"'; break;
      case '\\': escape[1] = '\\'; break;
      case '\b': escape[1] = 'b'; break;
      case '\t': escape[1] = 't'; break;
      case '\n': escape[1] = 'n'; break;
      case '\f': escape[1] = 'f'; break;
      case '\r': escape[1] = 'r'; break;
      default:
        escape[1] = 'u';
        escape[2] = '0';
        escape[3] = '0';
        escape[4] = kHex[c >> 4];
        escape[5] = kHex[c & 15];
        length = 6;
    }
    out->append(escape, length);
  }
  out->append(text.data() + plain, text.size() - plain);
  out->push_back('"');
}

// The tag time "YYYY-MM-DDTHH:MM:SS.mmmZ" (FormatTagTime) appended without a temporary.
void AppendTagTime(int64_t time, std::string* out);

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_JSON_WRITER_H_
