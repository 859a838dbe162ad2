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

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_JSON_WRITER_H_
