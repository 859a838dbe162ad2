// Internal: byte encodings shared by the on-disk formats. Keys use big-endian so that LMDB's
// lexicographic order is numeric order; values use varints to stay small.
#ifndef ALLEZON_SRC_CODEC_H_
#define ALLEZON_SRC_CODEC_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace allezon::internal {

inline void PutVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

inline constexpr uint64_t ZigZag(int64_t value) {
  return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
}
inline constexpr int64_t UnZigZag(uint64_t value) {
  return static_cast<int64_t>(value >> 1) ^ -static_cast<int64_t>(value & 1);
}

// Reads varints from a byte range; any overrun or overlong varint marks the reader failed
// instead of reading out of bounds, so a damaged record cannot crash a query.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes)
      : pos_(reinterpret_cast<const uint8_t*>(bytes.data())), end_(pos_ + bytes.size()) {}

  uint64_t Varint() {
    // Most varints here (ids, time deltas, flags) are one byte.
    if (pos_ < end_ && *pos_ < 0x80) return *pos_++;
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= end_) return Fail();
      const uint8_t byte = *pos_++;
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return result;
    }
    return Fail();
  }
  uint8_t Byte() {
    if (pos_ >= end_) return static_cast<uint8_t>(Fail());
    return *pos_++;
  }
  std::string_view Bytes(uint64_t length) {
    if (length > static_cast<uint64_t>(end_ - pos_)) {
      Fail();
      return {};
    }
    std::string_view result(reinterpret_cast<const char*>(pos_), length);
    pos_ += length;
    return result;
  }
  bool ok() const { return ok_; }
  bool done() const { return pos_ == end_; }
  const char* position() const { return reinterpret_cast<const char*>(pos_); }

 private:
  uint64_t Fail() {
    ok_ = false;
    pos_ = end_;
    return 0;
  }
  const uint8_t* pos_;
  const uint8_t* end_;
  bool ok_ = true;
};

inline void PutBigEndian64(char* out, uint64_t value) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}
inline uint64_t GetBigEndian64(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}
inline void PutBigEndian32(char* out, uint32_t value) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}
inline uint32_t GetBigEndian32(const char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}

// Signed times as order-preserving unsigned keys.
inline constexpr uint64_t TimeKey(int64_t time) {
  return static_cast<uint64_t>(time) ^ (uint64_t{1} << 63);
}
inline constexpr int64_t TimeFromKey(uint64_t key) {
  return static_cast<int64_t>(key ^ (uint64_t{1} << 63));
}

// Little-endian fixed-width fields inside values (read with memcpy: LMDB values are not
// aligned).
inline void PutFixed64(char* out, uint64_t value) { std::memcpy(out, &value, 8); }
inline uint64_t GetFixed64(const char* in) {
  uint64_t value;
  std::memcpy(&value, in, 8);
  return value;
}

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_CODEC_H_
