// The varint reader (lib/src/codec.h) has two decoders: an 8-byte-load one used away from the
// end of the buffer and a byte-at-a-time one near it. Both must give the same values and
// positions, and both must refuse truncated and overlong varints without reading past the end.
#include "codec.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace allezon::internal {
namespace {

// Values of every encoded length from 1 to 10 bytes, with their boundaries.
std::vector<uint64_t> InterestingValues() {
  std::vector<uint64_t> values = {0, 1, 0x7f, ~uint64_t{0}};
  for (int bits = 7; bits < 64; bits += 7) {
    values.push_back((uint64_t{1} << bits) - 1);
    values.push_back(uint64_t{1} << bits);
    values.push_back((uint64_t{1} << bits) + 1);
  }
  std::mt19937_64 random(11);
  for (int i = 0; i < 2000; ++i) values.push_back(random() >> (random() % 64));
  return values;
}

TEST_CASE("varints of every length decode the same far from and near the buffer's end") {
  const std::vector<uint64_t> values = InterestingValues();
  std::string encoded;
  for (uint64_t value : values) PutVarint(&encoded, value);
  // Read from the start: most varints have 8 or more bytes after them, the last few do not.
  ByteReader reader(encoded);
  for (uint64_t value : values) REQUIRE(reader.Varint() == value);
  CHECK(reader.ok());
  CHECK(reader.done());

  // Each value alone (near the end) and followed by padding (far from it).
  for (uint64_t value : values) {
    std::string alone;
    PutVarint(&alone, value);
    const size_t length = alone.size();
    ByteReader near_end(alone);
    REQUIRE(near_end.Varint() == value);
    CHECK(near_end.done());
    std::string padded = alone;
    padded.append(12, '\x01');
    ByteReader far(padded);
    REQUIRE(far.Varint() == value);
    CHECK(far.position() == padded.data() + length);
    CHECK(far.Varint() == 1);
  }
}

TEST_CASE("runs of varints read together give what reading them one by one gives") {
  const std::vector<uint64_t> values = InterestingValues();
  std::string encoded;
  for (uint64_t value : values) PutVarint(&encoded, value);
  for (size_t run : {size_t{1}, size_t{2}, size_t{4}, size_t{5}}) {
    ByteReader together(encoded);
    ByteReader alone(encoded);
    std::vector<uint64_t> got(run);
    for (size_t i = 0; i + run <= values.size(); i += run) {
      together.Varints(got);
      for (size_t j = 0; j < run; ++j) {
        REQUIRE(got[j] == values[i + j]);
        alone.Varint();
      }
      REQUIRE(together.position() == alone.position());
    }
    CHECK(together.ok());
  }
  // Small values packed eight to a word, as the ids of a profile entry are.
  std::string small;
  for (int i = 0; i < 64; ++i) PutVarint(&small, static_cast<uint64_t>(i % 3 == 0 ? 300 : i));
  ByteReader reader(small);
  uint64_t four[4];
  for (int i = 0; i < 64; i += 4) {
    reader.Varints(four);
    for (int j = 0; j < 4; ++j) REQUIRE(four[j] == ((i + j) % 3 == 0 ? 300u : uint64_t(i + j)));
  }
  CHECK(reader.done());
  // Cut inside the run: the reader fails, whichever decoder ran.
  std::string cut = small.substr(0, 3);
  cut.push_back('\x80');
  ByteReader short_reader(cut);
  short_reader.Varints(four);
  CHECK_FALSE(short_reader.ok());
}

TEST_CASE("a truncated or overlong varint fails the reader instead of reading on") {
  // Ten continuation bytes: longer than any 64-bit varint, with and without bytes after.
  for (size_t padding : {size_t{0}, size_t{16}}) {
    std::string overlong(10, '\x80');
    overlong.append(padding, '\x80');
    ByteReader reader(overlong);
    reader.Varint();
    CHECK_FALSE(reader.ok());
    CHECK(reader.Varint() == 0);
  }
  // Cut short: continuation bits up to the end of the buffer.
  for (size_t length = 1; length <= 9; ++length) {
    std::string cut(length, '\xff');
    ByteReader reader(cut);
    reader.Varint();
    CHECK_FALSE(reader.ok());
  }
  // A 9-byte varint far from the end takes the byte-at-a-time path and still decodes.
  std::string nine(8, '\x81');
  nine.push_back('\x01');
  nine.append(8, '\x00');
  ByteReader reader(nine);
  uint64_t expected = 0;
  for (int i = 0; i < 9; ++i) expected |= uint64_t{1} << (7 * i);
  CHECK(reader.Varint() == expected);
  CHECK(reader.ok());
}

}  // namespace
}  // namespace allezon::internal
