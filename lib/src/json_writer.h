// Internal: JSON writing straight into a std::string — RapidJSON's Writer for the aggregates
// answer, and hand-written raw writers, byte-identical to it, for tags and profiles.
#ifndef ALLEZON_SRC_JSON_WRITER_H_
#define ALLEZON_SRC_JSON_WRITER_H_

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "allezon/user_tag.h"
#include "allezon/user_tag_view.h"
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

// ---- Raw writers ------------------------------------------------------------------------
// A profile answer is ~2,000 short fields; std::string::append per field (an out-of-line call,
// a capacity check and a memcpy call each) cost more than the bytes. So the hot writers store
// through a char* into room reserved ahead: the caller reserves an upper bound of what a
// write may take (the *Bound functions), then writes with plain stores.

// Writes a literal without its terminating NUL; the constant size inlines the copy.
template <size_t N>
inline char* PutLiteral(char* p, const char (&literal)[N]) {
  std::memcpy(p, literal, N - 1);
  return p + N - 1;
}

inline char* PutBytes(char* p, std::string_view bytes) {
  std::memcpy(p, bytes.data(), bytes.size());
  return p + bytes.size();
}

// Room WriteJsonString may need: every byte could become a 6-byte \u00XX, plus the quotes.
constexpr size_t JsonStringBound(size_t bytes) { return 2 + 6 * bytes; }

// For each byte, 0 when it is written as is, else the letter after the backslash ('u' for
// \u00XX): '"' and '\\', and the control characters, exactly as RapidJSON's Writer escapes.
inline constexpr auto kJsonEscapes = [] {
  std::array<char, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[static_cast<size_t>(c)] = 'u';
  table['\b'] = 'b';
  table['\t'] = 't';
  table['\n'] = 'n';
  table['\f'] = 'f';
  table['\r'] = 'r';
  table['"'] = '"';
  table['\\'] = '\\';
  return table;
}();

// Writes `text` as a JSON string literal at `p` (room: JsonStringBound(text.size())) and
// returns its end. Byte for byte what RapidJSON's Writer::String writes (the default flags):
// '"' and '\\' escaped, control characters as \b \t \n \f \r or \u00XX (upper-case hex), every
// other byte, UTF-8 included, as is.
// True when one of the 8 bytes of `word` must be escaped (below 0x20, '"' or '\\'). Exact:
// the classic "has a zero byte" / "has a byte less than n" bit tricks, which never report a
// byte that is not there.
template <typename Word>
inline bool NeedsJsonEscape(Word word) {
  constexpr Word kOnes = static_cast<Word>(0x0101010101010101ULL);
  const Word quote = word ^ (kOnes * '"');
  const Word backslash = word ^ (kOnes * '\\');
  const Word special = ((word - kOnes * 0x20) & ~word) | ((quote - kOnes) & ~quote) |
                       ((backslash - kOnes) & ~backslash);
  return (special & (kOnes * 0x80)) != 0;
}

inline char* WriteJsonString(std::string_view text, char* p) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  *p++ = '"';
  const char* in = text.data();
  const char* const end = in + text.size();
  // Eight bytes at a time while none needs an escape: strings rarely hold one, and a byte
  // loop costs a branch (and its misprediction at the end) per byte.
  if (text.size() >= 8) {
    uint64_t word;
    while (end - in >= 8) {
      std::memcpy(&word, in, 8);
      if (NeedsJsonEscape(word)) break;
      std::memcpy(p, &word, 8);
      p += 8;
      in += 8;
    }
    // The last 1-7 bytes as the string's last 8, overlapping bytes already written.
    if (in != end && end - in < 8) {
      std::memcpy(&word, end - 8, 8);
      if (!NeedsJsonEscape(word)) {
        std::memcpy(p - (8 - (end - in)), &word, 8);
        p += end - in;
        in = end;
      }
    }
  } else if (text.size() >= 4) {
    // 4-7 bytes: the first four and the last four, overlapping.
    uint32_t head, tail;
    std::memcpy(&head, in, 4);
    std::memcpy(&tail, end - 4, 4);
    if (!NeedsJsonEscape(head) && !NeedsJsonEscape(tail)) {
      std::memcpy(p, &head, 4);
      std::memcpy(p + text.size() - 4, &tail, 4);
      p += text.size();
      in = end;
    }
  }
  for (; in != end; ++in) {
    const unsigned char c = static_cast<unsigned char>(*in);
    const char escape = kJsonEscapes[c];
    if (escape == 0) {
      *p++ = *in;
      continue;
    }
    *p++ = '\\';
    *p++ = escape;
    if (escape == 'u') {
      *p++ = '0';
      *p++ = '0';
      *p++ = kHex[c >> 4];
      *p++ = kHex[c & 15];
    }
  }
  *p++ = '"';
  return p;
}

// Raw writes at the end of a caller's std::string. Room(n) makes n bytes writable at the
// returned pointer; Advance(end) records what was written there; the destructor trims the
// string to it. The string is grown ahead with resize (so every byte is initialised), by at
// least what was written so far so that a long answer costs few resizes, and keeps the
// capacity a caller reuses.
class StringSink {
 public:
  explicit StringSink(std::string* out) : out_(out), used_(out->size()) {}
  StringSink(const StringSink&) = delete;
  StringSink& operator=(const StringSink&) = delete;
  ~StringSink() { out_->resize(used_); }

  char* Room(size_t n) {
    if (out_->size() - used_ < n) out_->resize(used_ + std::max(n, used_));
    return out_->data() + used_;
  }
  void Advance(char* end) { used_ = static_cast<size_t>(end - out_->data()); }
  // Takes back what was written after the first `size` bytes.
  void Truncate(size_t size) { used_ = std::min(used_, size); }
  // The bytes written so far (valid until the next Room).
  const char* data() const { return out_->data(); }
  size_t size() const { return used_; }

 private:
  std::string* out_;
  size_t used_;
};

// The tag time "YYYY-MM-DDTHH:MM:SS.mmmZ" (FormatTagTime) appended without a temporary.
void AppendTagTime(int64_t time, std::string* out);

// Writes tag times as FormatTagTime does, remembering the date of the last one: a profile's
// tags mostly share their day, and the calendar arithmetic is most of a time's cost. One per
// writing thread.
class TagTimeWriter {
 public:
  static constexpr size_t kBound = 40;  // FormatTagTime's longest (years beyond 0000-9999)

  char* Write(int64_t time, char* p) {
    // Floor division: the day of a time before 1970 is negative.
    int64_t day = time / kMillisPerDay;
    int64_t millis = time % kMillisPerDay;
    if (millis < 0) {
      millis += kMillisPerDay;
      --day;
    }
    if (day != day_) return WriteNewDay(time, day, p);
    p = PutBytes(p, std::string_view(date_, sizeof date_));
    const int64_t seconds = millis / 1000;
    p = PutTwoDigits(p, seconds / 3600);
    *p++ = ':';
    p = PutTwoDigits(p, seconds / 60 % 60);
    *p++ = ':';
    p = PutTwoDigits(p, seconds % 60);
    *p++ = '.';
    const int64_t fraction = millis % 1000;
    *p++ = static_cast<char>('0' + fraction / 100);
    p = PutTwoDigits(p, fraction % 100);
    *p++ = 'Z';
    return p;
  }

 private:
  static constexpr int64_t kMillisPerDay = 86'400'000;

  static char* PutTwoDigits(char* p, int64_t value) {
    *p++ = static_cast<char>('0' + value / 10);
    *p++ = static_cast<char>('0' + value % 10);
    return p;
  }

  // The whole time by FormatTagTime, whose "YYYY-MM-DDT" then serves the day's next times.
  char* WriteNewDay(int64_t time, int64_t day, char* p);

  int64_t day_ = INT64_MIN;
  char date_[11] = {};
};

// Room WriteTagJson needs besides the cookie: the fixed text (~160 bytes), the time, two
// numbers and five escaped strings.
inline size_t TagJsonBound(const UserTagView& tag) {
  return 256 + TagTimeWriter::kBound +
         JsonStringBound(tag.country.size() + tag.origin.size() + tag.brand_id.size() +
                         tag.category_id.size() +
                         (tag.product_id_is_text ? tag.product_id_text.size() : 0));
}

// The one writer of a tag's JSON object: fields in SPEC order, no spaces, RapidJSON's escapes
// (what its Writer wrote before: the tests compare against that text). Writes at `p` (room:
// TagJsonBound(tag) plus the cookie's) and returns the end; write_cookie(p) writes the
// cookie's string literal and returns its end (a profile escapes its cookie once for all
// its tags).
template <typename WriteCookie>
inline char* WriteTagJson(const UserTagView& tag, TagTimeWriter& time, char* p,
                          WriteCookie&& write_cookie) {
  p = PutLiteral(p, "{\"time\":\"");
  p = time.Write(tag.time, p);
  p = PutLiteral(p, "\",\"cookie\":");
  p = write_cookie(p);
  p = PutLiteral(p, ",\"country\":");
  p = WriteJsonString(tag.country, p);
  p = PutLiteral(p, ",\"device\":\"");
  switch (tag.device) {  // DeviceName, inlined
    case Device::kMobile:
      p = PutLiteral(p, "MOBILE");
      break;
    case Device::kTv:
      p = PutLiteral(p, "TV");
      break;
    default:
      p = PutLiteral(p, "PC");
      break;
  }
  p = PutLiteral(p, "\",\"action\":\"");
  p = tag.action == Action::kBuy ? PutLiteral(p, "BUY") : PutLiteral(p, "VIEW");  // ActionName
  p = PutLiteral(p, "\",\"origin\":");
  p = WriteJsonString(tag.origin, p);
  p = PutLiteral(p, ",\"product_info\":{\"product_id\":");
  if (tag.product_id_is_text) {
    p = WriteJsonString(tag.product_id_text, p);
  } else {
    p = std::to_chars(p, p + 24, tag.product_id_number).ptr;
  }
  p = PutLiteral(p, ",\"brand_id\":");
  p = WriteJsonString(tag.brand_id, p);
  p = PutLiteral(p, ",\"category_id\":");
  p = WriteJsonString(tag.category_id, p);
  p = PutLiteral(p, ",\"price\":");
  p = std::to_chars(p, p + 16, tag.price).ptr;
  return PutLiteral(p, "}}");
}

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_JSON_WRITER_H_
