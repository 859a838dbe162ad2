// Deterministic pseudo-random numbers for the load generator.
//
// The stream must be the same, byte for byte, for a seed on every machine and every build, so
// nothing here uses <random>'s distributions (their algorithms are implementation-defined):
// SplitMix64 seeds xoshiro256**, and the few distributions needed are written out below.
// Not thread-safe; one generator per stream.
#ifndef ALLEZON_BENCH_LOADGEN_RANDOM_H_
#define ALLEZON_BENCH_LOADGEN_RANDOM_H_

#include <cstdint>

namespace allezon::loadgen {

// One step of SplitMix64: a good 64-bit mixer for seeding and for hashing small integers.
inline uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline uint64_t Mix64(uint64_t value) { return SplitMix64(&value); }

class Random {
 public:
  // `stream` separates independent sequences drawn from one seed (tags, profile queries,
  // aggregate queries), so changing how many queries are drawn never changes the tags.
  explicit Random(uint64_t seed, uint64_t stream = 0) {
    uint64_t state = seed ^ Mix64(stream + 0x5851F42D4C957F2DULL);
    for (uint64_t& word : state_) word = SplitMix64(&state);
  }

  uint64_t Next() {
    const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound) by the multiply-shift method; the bias (< bound / 2^64) is far
  // below anything a test could notice, and the method is fully specified.
  uint64_t Below(uint64_t bound) {
    __extension__ typedef unsigned __int128 Wide;
    return static_cast<uint64_t>((static_cast<Wide>(Next()) * bound) >> 64);
  }

  // Uniform in [low, high] (inclusive).
  int64_t Between(int64_t low, int64_t high) {
    return low + static_cast<int64_t>(Below(static_cast<uint64_t>(high - low) + 1));
  }

  // Uniform in [0, 1) with 53 random bits.
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  bool Chance(double probability) { return Unit() < probability; }

  // Roughly log-uniform integer in [low, high], low >= 1: as many values around 10 as around
  // 10^6, which is what "from a few ms to 30 minutes" needs. Integer-only (an octave chosen
  // uniformly, then a value uniformly inside it) so no libm rounding can change the stream.
  int64_t LogUniform(int64_t low, int64_t high) {
    const int low_bits = BitWidth(static_cast<uint64_t>(low));
    const int high_bits = BitWidth(static_cast<uint64_t>(high));
    const int bits = static_cast<int>(Between(low_bits, high_bits));
    int64_t octave_low = int64_t{1} << (bits - 1);
    int64_t octave_high = (int64_t{1} << bits) - 1;
    if (octave_low < low) octave_low = low;
    if (octave_high > high) octave_high = high;
    return Between(octave_low, octave_high);
  }

 private:
  static int BitWidth(uint64_t x) { return x == 0 ? 0 : 64 - __builtin_clzll(x); }
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  uint64_t state_[4];
};

}  // namespace allezon::loadgen

#endif  // ALLEZON_BENCH_LOADGEN_RANDOM_H_
