// The deterministic stream of the testing platform (SPEC §6, issue 3): user tags with
// realistic value distributions, one profile query after every 10 tags and one aggregates
// query after every 1,000, all drawn from a seed.
//
// Determinism: the same StreamOptions give the same items, byte for byte, whatever the
// throughput or the server does: the generator never looks at the clock or at answers.
// Tags, profile queries and aggregate queries draw from separate random sequences, so query
// options never change the tags.
//
// Not thread-safe: one generator per run, used by the driver's single thread.
#ifndef ALLEZON_BENCH_LOADGEN_STREAM_H_
#define ALLEZON_BENCH_LOADGEN_STREAM_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "random.h"
#include "time_text.h"

namespace allezon::loadgen {

enum class Action : uint8_t { kView = 0, kBuy = 1 };
enum class Aggregate : uint8_t { kCount = 0, kSumPrice = 1 };

// One user tag, with its low-cardinality strings as indices into the Catalog.
struct Tag {
  int64_t time_ms = 0;
  uint64_t sequence = 0;  // position among tags: the order the stream sends them in
  uint32_t cookie = 0;
  uint32_t product_id = 0;
  int32_t price = 0;
  uint16_t origin = 0;
  uint16_t brand = 0;
  uint8_t country = 0;
  uint8_t category = 0;
  uint8_t device = 0;
  Action action = Action::kView;
};

// Value sets of SPEC §1. Every name is also kept JSON-quoted and URL-encoded, ready to
// paste, because formatting is on the load generator's hot path.
class Catalog {
 public:
  // `cookie_population`: distinct cookies the stream draws from (the spec's ~1,000,000).
  Catalog(uint64_t seed, uint32_t cookie_population);

  struct Name {
    std::string text;
    std::string json;  // "…" with escapes
    std::string url;   // percent-encoded for a query string
  };

  uint32_t cookie_population() const { return cookie_population_; }
  // The 20 alphanumeric characters of cookie `index`. Indices >= cookie_population() give
  // cookies that never appear in the stream (for queries about unknown shoppers).
  std::string Cookie(uint32_t index) const;
  void AppendCookie(uint32_t index, std::string* out) const;

  const std::vector<Name>& countries() const { return countries_; }
  const std::vector<Name>& devices() const { return devices_; }
  const std::vector<Name>& origins() const { return origins_; }
  const std::vector<Name>& brands() const { return brands_; }
  const std::vector<Name>& categories() const { return categories_; }
  static std::string_view ActionName(Action action) {
    return action == Action::kView ? "VIEW" : "BUY";
  }

 private:
  uint64_t cookie_salt_;
  uint32_t cookie_population_;
  std::vector<Name> countries_, devices_, origins_, brands_, categories_;
};

struct ProfileQuery {
  uint32_t cookie = 0;
  int64_t begin_ms = 0;  // [begin, end)
  int64_t end_ms = 0;
  int limit = 200;   // -1: the query leaves `limit` out (the server's default, 200)
  std::string path;  // "/user_profiles/…?time_range=…&limit=…"
};

struct AggregateQuery {
  int64_t begin_ms = 0;  // whole minutes, [begin, end)
  int64_t end_ms = 0;
  Action action = Action::kView;
  int origin = -1;  // -1: no filter on this column
  int brand = -1;
  int category = -1;
  std::vector<Aggregate> aggregates;  // in the order the query asks for them
  std::string path;                   // "/aggregates?time_range=…&action=…&aggregates=…"
};

struct StreamOptions {
  uint64_t seed = 1;
  uint32_t cookie_population = 1'000'000;
  int64_t start_ms = kStreamStartMillis;
  int64_t time_step_ms = 1;
  // Each tag's time is jittered uniformly by up to ± this (never before start_ms), so tags
  // arrive out of order and with equal times. 0: times advance exactly time_step_ms per tag.
  int64_t disorder_ms = 0;
  // How far behind the newest tag (event time) query ranges end, so they ask only about
  // data old enough (see driver.h for how wall-clock latency is enforced on top).
  int64_t profile_lag_ms = 0;
  int64_t aggregate_lag_ms = 0;
  int tags_per_profile_query = 10;
  int tags_per_aggregate_query = 1000;
};

// Longest profile range, and how far before the newest tag a profile range may end beyond
// the lag; the oracle keeps at least this much history.
inline constexpr int64_t kMaxProfileRangeMs = 30 * 60'000;
inline constexpr int64_t kMaxProfileEndOffsetMs = 2 * 60'000;
inline constexpr int kMaxAggregateMinutes = 10;

struct StreamItem {
  enum class Kind { kTag, kProfileQuery, kAggregateQuery };
  Kind kind = Kind::kTag;
  Tag tag;
  ProfileQuery profile;
  AggregateQuery aggregate;
};

// Draws an index with given weights: `cdf` holds cumulative weights out of 2^32, the last
// being exactly 2^32. Four draws per tag, so it avoids a binary search.
class WeightedPicker {
 public:
  explicit WeightedPicker(std::vector<uint64_t> cdf);
  size_t Pick(Random* random) const;

 private:
  static constexpr int kBucketBits = 12;
  static constexpr size_t kBuckets = size_t{1} << kBucketBits;
  std::vector<uint64_t> cdf_;
  std::vector<uint32_t> start_;
};

class StreamGenerator {
 public:
  StreamGenerator(const StreamOptions& options, const Catalog* catalog);

  // Fills `item` with the next item of the stream (buffers inside `item` are reused).
  void Next(StreamItem* item);

  uint64_t tags_generated() const { return tags_generated_; }
  // Whether the next item is a query (due after the tags already generated).
  bool query_due() const { return profile_due_ || aggregate_due_; }
  // Lowest event time any tag not yet generated can have.
  int64_t NextTagTimeLowerBound() const;
  int64_t newest_tag_time_ms() const { return newest_time_ms_; }

 private:
  void NextTag(Tag* tag);
  void NextProfileQuery(ProfileQuery* query);
  void NextAggregateQuery(AggregateQuery* query);
  uint32_t DrawCookie(Random* random);

  StreamOptions options_;
  const Catalog* catalog_;
  Random tag_random_;
  Random profile_random_;
  Random aggregate_random_;
  uint64_t tags_generated_ = 0;
  int64_t newest_time_ms_;
  bool profile_due_ = false;
  bool aggregate_due_ = false;
  // Recent tags, so queries mostly ask about shoppers and campaigns that exist.
  static constexpr size_t kRecent = 4096;
  std::array<Tag, kRecent> recent_{};
  WeightedPicker country_picker_, origin_picker_, brand_picker_, category_picker_;
};

// Request body of a tag as the stream sends it: time without a fraction when the
// millisecond is 0, product_id a JSON integer.
void AppendStreamTagJson(const Tag& tag, const Catalog& catalog, std::string* out);
// A tag as the API gives it back (SPEC §1): time always with ".mmm".
void AppendCanonicalTagJson(const Tag& tag, const Catalog& catalog, std::string* out);

// Percent-encodes everything but RFC 3986 unreserved characters.
void AppendUrlEncoded(std::string_view text, std::string* out);
// JSON string literal with quotes and escapes.
void AppendJsonString(std::string_view text, std::string* out);

// A fast, stable 64-bit digest of everything the stream sends (tags' bodies and queries'
// paths), printed at the end so two runs can be compared.
class StreamDigest {
 public:
  void Update(std::string_view bytes);
  uint64_t value() const { return state_; }
  std::string Hex() const;

 private:
  uint64_t state_ = 0x243F6A8885A308D3ULL;
};

}  // namespace allezon::loadgen

#endif  // ALLEZON_BENCH_LOADGEN_STREAM_H_
