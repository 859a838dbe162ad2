// User tags, times and a reference model of SPEC.md for tests: build tag JSON, format times
// the way the API does, and compute the profile and aggregates answers a correct server gives.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace allezon_test {

// --- Time ------------------------------------------------------------------------------------

// Epoch milliseconds of a UTC civil time.
int64_t TimeMs(int year, int month, int day, int hour = 0, int minute = 0, int second = 0,
               int millis = 0);
// 2022-03-01T00:00:00.000Z, the start of the standard stream.
inline constexpr int64_t kStreamStart = 1646092800000;
inline constexpr int64_t kMinute = 60'000;
inline constexpr int64_t kHour = 60 * kMinute;
inline constexpr int64_t kDay = 24 * kHour;

// "YYYY-MM-DDTHH:MM:SS.mmmZ", the form the API writes tags' times in.
std::string FormatTagTime(int64_t ms);
// "YYYY-MM-DDTHH:MM:SS.mmm" (a profile range bound).
std::string FormatRangeMs(int64_t ms);
// "YYYY-MM-DDTHH:MM:SS" (a second-precision range bound; an aggregates bucket).
std::string FormatSeconds(int64_t ms);
// "<begin>_<end>" in millisecond form (profiles) and second form (aggregates).
std::string ProfileRange(int64_t begin_ms, int64_t end_ms);
std::string SecondsRange(int64_t begin_ms, int64_t end_ms);

// --- Tags ------------------------------------------------------------------------------------

struct Tag {
  // As sent: a string (any accepted form) or an integer of epoch millis.
  std::variant<std::string, int64_t> time = std::string("2022-03-01T00:00:00.000Z");
  std::string cookie = "cookie";
  std::string country = "PL";
  std::string device = "PC";
  std::string action = "VIEW";
  std::string origin = "ORIGIN";
  std::variant<int64_t, std::string> product_id = int64_t{1};
  std::string brand_id = "Brand";
  std::string category_id = "Category";
  int64_t price = 100;

  // The tag's time in epoch millis: `ms` must be set by whoever builds a tag with a string
  // time in a form other than the canonical one (MakeTag sets it).
  int64_t ms = kStreamStart;

  std::string ToJson() const;
};

// A tag at `ms` (time sent in canonical .mmmZ form) for `cookie` and `action`.
Tag MakeTag(int64_t ms, std::string cookie, std::string action = "VIEW");

// JSON string literal with escapes (quotes included).
std::string JsonQuote(std::string_view s);

// --- JSON ------------------------------------------------------------------------------------

// Parses `text`; on a parse error the document HasParseError().
rapidjson::Document ParseJson(std::string_view text);
std::string ToJson(const rapidjson::Value& value);

// "" if `v` is a tag object equal to `want` as the API must return it (exactly the 7 fields +
// product_info's 4, time in .mmmZ form, product_id in its original JSON type); otherwise what
// differs.
std::string DiffTag(const rapidjson::Value& v, const Tag& want);

// "" if `body` is a 4xx/5xx error body: a JSON object with a string "error" member; else why not.
std::string CheckErrorBody(std::string_view body);

// --- Reference model -------------------------------------------------------------------------

struct ProfileAnswer {
  std::vector<Tag> views;  // newest first
  std::vector<Tag> buys;
};

struct AggregateQuery {
  int64_t begin_ms = 0;  // whole buckets
  int64_t end_ms = 0;
  std::string bucket = "1m";  // "1m", "15m", "1h", "1d"; sent only when not "1m"
  std::string action = "VIEW";
  std::optional<std::string> origin, brand_id, category_id;
  std::vector<std::string> aggregates = {"COUNT"};  // "COUNT" / "SUM_PRICE" in order

  // The query string (values URL-encoded), without the leading '?'.
  std::string ToQuery() const;
  int64_t BucketMs() const;
};

struct AggregateAnswer {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::string ToJson() const;
};

// What SPEC.md says a server holding the added tags answers. Ties in time: the tag added later
// is newer. The profile keeps `cap` newest tags per cookie and action (by time, then arrival).
class Model {
 public:
  explicit Model(size_t cap = 200) : cap_(cap) {}
  void Add(const Tag& tag);
  ProfileAnswer Profile(const std::string& cookie, int64_t begin_ms, int64_t end_ms,
                        size_t limit = 200) const;
  AggregateAnswer Aggregate(const AggregateQuery& q) const;
  size_t size() const { return tags_.size(); }

 private:
  size_t cap_;
  std::vector<Tag> tags_;  // in arrival order
};

// Serializes a profile answer the way the API does (for debug-mode request bodies).
std::string ProfileJson(const std::string& cookie, const ProfileAnswer& answer);

// "" if `body` is the JSON of a profile answer equal to `want` for `cookie`; else the first
// difference, described.
std::string DiffProfile(std::string_view body, const std::string& cookie,
                        const ProfileAnswer& want);
// "" if `body` is the JSON of `want`; else the first difference, described.
std::string DiffAggregate(std::string_view body, const AggregateAnswer& want);

}  // namespace allezon_test
