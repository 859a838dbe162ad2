// ParseUserTagJson's fast path (lib/src/user_tag_fast.h) must accept exactly what the full
// parser accepts, with the same tag. The full parser alone is reached by putting an unknown
// field first, which the fast path never takes and the full parser ignores: so for any input,
// ParseUserTagJson(input) and ParseUserTagJson(ForceFull(input)) must agree. Checked over
// mutations of well-formed tags and over hand-picked edge cases of numbers, strings, keys and
// whitespace.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "allezon/tag_lines.h"
#include "allezon/user_tag.h"
#include "user_tag_fast.h"

namespace allezon {
namespace {

// `json` with an unknown member first (when it begins, after whitespace, with '{').
std::string ForceFull(const std::string& json) {
  const size_t brace = json.find_first_not_of(" \t\r\n");
  if (brace == std::string::npos || json[brace] != '{') return json;
  std::string out = json;
  out.insert(brace + 1, "\"~\":0,");
  return out;
}

void CheckSame(const std::string& json) {
  CAPTURE(json);
  const absl::StatusOr<UserTag> got = ParseUserTagJson(json);
  const absl::StatusOr<UserTag> full = ParseUserTagJson(ForceFull(json));
  REQUIRE(got.ok() == full.ok());
  if (got.ok()) CHECK(*got == *full);
}

const char* const kSeeds[] = {
    R"({"time":"2022-03-22T12:15:00.000Z","cookie":"8CyGkmkQTWDWNarATGMd","country":"PL",)"
    R"("device":"PC","action":"VIEW","origin":"NIKE_WOMEN_SHOES_CAMPAIGN","product_info":)"
    R"({"product_id":519264,"brand_id":"Nike","category_id":"WOMEN_SHOES","price":1999}})",
    " {\n \"product_info\" : { \"price\" : -5 , \"category_id\" : \"c\" , \"brand_id\" : \"\" ,"
    " \"product_id\" : \"P-1\" } ,\r\n \"origin\":\"o\", \"action\":\"BUY\",\t\"device\":"
    "\"MOBILE\", \"country\":\"\", \"cookie\":\"c\", \"time\": 1647951300000 }\n ",
    R"({"time":"2022-03-22T12:15:00Z","cookie":"x","country":"DE","device":"TV","action":"BUY",)"
    R"("origin":"a,b","product_info":{"product_id":0,"brand_id":")" "\xc5\x81"
    R"(uczniczka","category_id":"c","price":0}})",
};

TEST_CASE("the fast path takes plain tags and gives the full parser's tag") {
  for (const char* seed : kSeeds) {
    UserTag fast;
    CHECK(internal::ParseUserTagJsonFast(seed, &fast));
    CheckSame(seed);
  }
}

TEST_CASE("edge cases: the fast path and the full parser agree") {
  const std::string base = kSeeds[0];
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string out = base;
    out.replace(out.find(from), from.size(), to);
    return out;
  };
  for (const char* price :
       {"2147483647", "2147483648", "-2147483648", "-2147483649", "-0", "0", "00", "01", "-",
        "1.0", "1e2", "1E2", "-1", "+1", "999999999999999999", "1999 ", " 1999", "\"1999\"",
        "null", "true", "[]", "{}", "1999,\"price\":1"}) {
    CheckSame(with("1999", price));
  }
  for (const char* id : {"9223372036854775807", "-9223372036854775808", "9223372036854775808",
                         "999999999999999999", "-999999999999999999", "\"\"", "\"519264\"",
                         "-0", "0.5", "5e0", "\"a\\\"b\"", "\"\\u0041\""}) {
    CheckSame(with("519264", id));
  }
  for (const char* time :
       {"\"2022-03-22T12:15:00Z\"", "\"2022-03-22T12:15:00.123456789Z\"", "\"2022-02-30T00:00:00Z\"",
        "\"2022-03-22T12:15:00\"", "0", "-62135596800000", "-62135596800001", "253402300799999",
        "253402300800000", "1.5", "\"\"", "\"2022-03-22T12:15:00.000Z\"  "}) {
    CheckSame(with("\"2022-03-22T12:15:00.000Z\"", time));
  }
  for (const char* cookie :
       {"", "c", "a\\u0000b", "a\\\"b", "\xc5\xbc", "\xff", "\x01", "a\tb", "\\/", "\x7f",
        "\xc5", "\xc5\"", "\xc0\xaf", "\xe0\x80\x80", "\xed\x9f\xbf", "\xed\xa0\x80",
        "\xef\xbf\xbf", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80", "\x80", "\xe2\x82"}) {
    CheckSame(with("8CyGkmkQTWDWNarATGMd", cookie));
  }
  CheckSame(with("8CyGkmkQTWDWNarATGMd", std::string(kMaxCookieBytes, 'c')));
  CheckSame(with("8CyGkmkQTWDWNarATGMd", std::string(kMaxCookieBytes + 1, 'c')));
  CheckSame(with("Nike", std::string(kMaxFieldBytes, 'n')));
  CheckSame(with("Nike", std::string(kMaxFieldBytes + 1, 'n')));
  CheckSame(with("Nike", "L'Or\xc3\xa9" "al"));
  CheckSame(with("\"brand_id\"", "\"br\xc3\xa9nd_id\""));
  for (const char* device : {"PC", "MOBILE", "TV", "pc", "", "P\\u0043"}) {
    CheckSame(with("\"PC\"", std::string("\"") + device + "\""));
  }
  // Repeated, escaped and unknown keys; other roots; what follows the root.
  CheckSame(with("\"country\":\"PL\"", "\"country\":\"PL\",\"country\":\"DE\""));
  CheckSame(with("\"price\":1999", "\"price\":1999,\"price\":7"));
  CheckSame(with("\"country\"", "\"c\\u006funtry\""));
  CheckSame(with("\"country\":\"PL\",", ""));
  CheckSame(with("\"product_info\":{", "\"product_info\":{\"x\":1,"));
  for (const char* tail : {"", " ", "\n", "x", "{}", ",", "\0"}) {
    CheckSame(base + std::string(tail, tail[0] == '\0' ? 1 : std::char_traits<char>::length(tail)));
  }
  for (const char* whole : {"", "{", "}", "{}", "[]", "null", "{\"time\":", " {} "}) {
    CheckSame(whole);
  }
}

TEST_CASE("mutated tags: the fast path and the full parser agree") {
  std::mt19937 random(20);
  const std::string alphabet = "0123456789-+.eE\"\\{}[]:, \t\nxPVBTMOIUYCnul\x80\xc5\xbc";
  for (int round = 0; round < 20000; ++round) {
    std::string json = kSeeds[round % std::size(kSeeds)];
    const int edits = 1 + static_cast<int>(random() % 3);
    for (int e = 0; e < edits && !json.empty(); ++e) {
      const size_t at = random() % json.size();
      const char c = alphabet[random() % alphabet.size()];
      switch (random() % 3) {
        case 0: json[at] = c; break;
        case 1: json.insert(at, 1, c); break;
        default: json.erase(at, 1); break;
      }
    }
    CheckSame(json);
  }
}

TEST_CASE("batch lines: the fast path's tags are the full parser's") {
  std::string body;
  std::vector<UserTag> expected;
  for (const char* seed : kSeeds) {
    std::string line = seed;
    for (char& c : line) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    body += line + "\r\n\n";
    expected.push_back(*ParseUserTagJson(ForceFull(line)));
  }
  std::vector<UserTag> tags;
  REQUIRE(ParseUserTagLines(body, 10, &tags).ok());
  CHECK(tags == expected);
  tags.clear();
  const absl::Status bad = ParseUserTagLines(body + "{\"time\":1}\n", 10, &tags);
  CHECK(absl::IsInvalidArgument(bad));
  CHECK(std::string(bad.message()).rfind("line 7: ", 0) == 0);
  CHECK(tags.empty());
}

}  // namespace
}  // namespace allezon
