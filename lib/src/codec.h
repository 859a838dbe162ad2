// Internal: byte encodings shared by the on-disk formats. Keys use big-endian so that LMDB's
// lexicographic order is numeric order; values use varints to stay small.
#ifndef ALLEZON_SRC_CODEC_H_
#define ALLEZON_SRC_CODEC_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
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
    uint64_t value;
    if (WordVarints(std::span<uint64_t>(&value, 1))) return value;
    return SlowVarint();
  }
  // Reads out.size() consecutive varints. Decoding from one 8-byte word when they all end
  // within it keeps the byte positions off the critical path: profile reads decode ~7
  // varints per tag whose lengths vary from tag to tag (ids, time gaps, products, prices),
  // and both a branch per byte (mispredicted) and a load per varint whose address waits
  // on the previous length were most of a profile query's time.
  void Varints(std::span<uint64_t> out) {
    if (WordVarints(out)) return;
    for (uint64_t& value : out) value = SlowVarint();
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
  // The varints' 7-bit groups sit in the low 7 bits of each byte, little-endian.
  static uint64_t PackGroups(uint64_t bytes) {
    bytes &= 0x7f7f7f7f7f7f7f7full;
    bytes = ((bytes & 0x7f007f007f007f00ull) >> 1) | (bytes & 0x007f007f007f007full);
    bytes = ((bytes & 0x3fff00003fff0000ull) >> 2) | (bytes & 0x00003fff00003fffull);
    return ((bytes & 0x0fffffff00000000ull) >> 4) | (bytes & 0x000000000fffffffull);
  }
  // All of `out` from the next 8 bytes; false (nothing read) near the end or when they do
  // not all end within those bytes.
  bool WordVarints(std::span<uint64_t> out) {
    if constexpr (std::endian::native != std::endian::little) return false;
    if (end_ - pos_ < 8) return false;
    uint64_t word;
    std::memcpy(&word, pos_, 8);
    uint64_t last_bytes = ~word & 0x8080808080808080ull;  // bit 7 of each varint's last byte
    int start_bit = 0;
    for (uint64_t& value : out) {
      if (last_bytes == 0) return false;
      const uint64_t through_last = last_bytes ^ (last_bytes - 1);
      value = PackGroups((word & through_last) >> start_bit);
      start_bit = std::countr_zero(last_bytes) + 1;
      last_bytes &= last_bytes - 1;
    }
    pos_ += start_bit >> 3;
    return true;
  }
  uint64_t SlowVarint() {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= end_) return Fail();
      const uint8_t byte = *pos_++;
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return result;
    }
    return Fail();
  }
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
