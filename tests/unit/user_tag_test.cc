#include <doctest/doctest.h>

#include <string>

#include "allezon/user_tag.h"
#include "test_util.h"

namespace allezon {
namespace {

constexpr char kSpecExample[] = R"({
  "time": "2022-03-22T12:15:00.000Z",
  "cookie": "8CyGkmkQTWDWNarATGMd",
  "country": "PL",
  "device": "PC",
  "action": "VIEW",
  "origin": "NIKE_WOMEN_SHOES_CAMPAIGN",
  "product_info": {
    "product_id": 519264,
    "brand_id": "Nike",
    "category_id": "WOMEN_SHOES",
    "price": 1999
  }
})";

std::string WithField(const std::string& json, const std::string& from, const std::string& to) {
  std::string out = json;
  const size_t at = out.find(from);
  REQUIRE(at != std::string::npos);
  out.replace(at, from.size(), to);
  return out;
}

TEST_CASE("the SPEC example parses field by field") {
  absl::StatusOr<UserTag> tag = ParseUserTagJson(kSpecExample);
  REQUIRE(tag.ok());
  CHECK(FormatTagTime(tag->time) == "2022-03-22T12:15:00.000Z");
  CHECK(tag->cookie == "8CyGkmkQTWDWNarATGMd");
  CHECK(tag->country == "PL");
  CHECK(tag->device == Device::kPc);
  CHECK(tag->action == Action::kView);
  CHECK(tag->origin == "NIKE_WOMEN_SHOES_CAMPAIGN");
  CHECK(std::get<int64_t>(tag->product_id) == 519264);
  CHECK(tag->brand_id == "Nike");
  CHECK(tag->category_id == "WOMEN_SHOES");
  CHECK(tag->price == 1999);
}

TEST_CASE("written JSON keeps SPEC field order, types and the canonical time") {
  UserTag tag = *ParseUserTagJson(WithField(kSpecExample, "\"2022-03-22T12:15:00.000Z\"",
                                            "\"2022-03-22T12:15:00Z\""));
  CHECK(UserTagToJson(tag) ==
        R"({"time":"2022-03-22T12:15:00.000Z","cookie":"8CyGkmkQTWDWNarATGMd","country":"PL",)"
        R"("device":"PC","action":"VIEW","origin":"NIKE_WOMEN_SHOES_CAMPAIGN","product_info":)"
        R"({"product_id":519264,"brand_id":"Nike","category_id":"WOMEN_SHOES","price":1999}})");
  UserTag string_id = *ParseUserTagJson(WithField(kSpecExample, "519264", "\"519264\""));
  CHECK(std::get<std::string>(string_id.product_id) == "519264");
  CHECK(UserTagToJson(string_id).find(R"("product_id":"519264")") != std::string::npos);
  // Round trip.
  CHECK(*ParseUserTagJson(UserTagToJson(string_id)) == string_id);
}

TEST_CASE("time as epoch milliseconds and enums") {
  UserTag tag = *ParseUserTagJson(
      WithField(kSpecExample, "\"2022-03-22T12:15:00.000Z\"", "1646092800001"));
  CHECK(tag.time == testing::kStreamStart + 1);
  tag = *ParseUserTagJson(WithField(WithField(kSpecExample, "\"PC\"", "\"MOBILE\""), "\"VIEW\"",
                                    "\"BUY\""));
  CHECK(tag.device == Device::kMobile);
  CHECK(tag.action == Action::kBuy);
  CHECK(ParseUserTagJson(WithField(kSpecExample, "\"PC\"", "\"TV\""))->device == Device::kTv);
}

TEST_CASE("price must be an int32 JSON integer") {
  CHECK(ParseUserTagJson(WithField(kSpecExample, "1999", "2147483647"))->price == 2147483647);
  CHECK(ParseUserTagJson(WithField(kSpecExample, "1999", "-2147483648"))->price == INT32_MIN);
  CHECK(ParseUserTagJson(WithField(kSpecExample, "1999", "0"))->price == 0);
  for (const char* bad : {"2147483648", "-2147483649", "19.5", "1e3", "\"1999\"", "null", "true",
                          "[1]", "99999999999999999999999999999999999999999999"}) {
    CAPTURE(bad);
    absl::StatusOr<UserTag> tag = ParseUserTagJson(WithField(kSpecExample, "1999", bad));
    REQUIRE_FALSE(tag.ok());
    CHECK(std::string(tag.status().message()).find("price") != std::string::npos);
  }
}

TEST_CASE("invalid tags are rejected with a message naming the problem") {
  const std::pair<std::string, std::string> cases[] = {
      {"\"cookie\": \"8CyGkmkQTWDWNarATGMd\",", ""},
      {"\"8CyGkmkQTWDWNarATGMd\"", "\"\""},
      {"\"8CyGkmkQTWDWNarATGMd\"", "42"},
      {"\"PC\"", "\"pc\""},
      {"\"VIEW\"", "\"CLICK\""},
      {"\"2022-03-22T12:15:00.000Z\"", "\"yesterday\""},
      {"\"2022-03-22T12:15:00.000Z\"", "1.5"},
      {"519264", "1.5"},
      {"519264", "null"},
      {"\"Nike\"", "7"},
      {"\"price\": 1999", "\"cost\": 1999"},
      {"\"country\": \"PL\",", ""},
      {"\"origin\": \"NIKE_WOMEN_SHOES_CAMPAIGN\",", ""},
  };
  for (const auto& [from, to] : cases) {
    CAPTURE(to);
    absl::StatusOr<UserTag> tag = ParseUserTagJson(WithField(kSpecExample, from, to));
    CHECK_FALSE(tag.ok());
    if (!tag.ok()) CHECK(absl::IsInvalidArgument(tag.status()));
  }
  for (const char* bad : {"", "{", "[]", "null", "42", "{\"time\":", "{} {}", "\xff\xfe"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseUserTagJson(bad).ok());
  }
}

TEST_CASE("unknown fields are ignored, oversized strings rejected, nesting is safe") {
  std::string extra = WithField(kSpecExample, "\"country\"",
                                "\"extra\": {\"deep\": [1, 2, {\"x\": null}]}, \"country\"");
  CHECK(ParseUserTagJson(extra).ok());
  std::string long_cookie(kMaxCookieBytes + 1, 'c');
  CHECK_FALSE(ParseUserTagJson(WithField(kSpecExample, "8CyGkmkQTWDWNarATGMd", long_cookie)).ok());
  std::string max_cookie(kMaxCookieBytes, 'c');
  CHECK(ParseUserTagJson(WithField(kSpecExample, "8CyGkmkQTWDWNarATGMd", max_cookie)).ok());
  CHECK_FALSE(
      ParseUserTagJson(WithField(kSpecExample, "\"Nike\"", "\"" + std::string(300, 'n') + "\""))
          .ok());
  std::string deep(100000, '[');
  CHECK_FALSE(ParseUserTagJson(deep).ok());
  std::string deep_field = WithField(kSpecExample, "\"country\"",
                                     "\"x\": " + std::string(50000, '[') +
                                         std::string(50000, ']') + ", \"country\"");
  CHECK(ParseUserTagJson(deep_field).ok());
  // Unicode and escapes survive a round trip.
  UserTag tag = *ParseUserTagJson(
      WithField(kSpecExample, "8CyGkmkQTWDWNarATGMd", "z\\u0000a \\\"q\\\" \xc5\xbc/"));
  CHECK(tag.cookie == std::string("z\0a \"q\" \xc5\xbc/", 11));
  CHECK(*ParseUserTagJson(UserTagToJson(tag)) == tag);
}

}  // namespace
}  // namespace allezon

namespace allezon {
namespace {

TEST_CASE("strings must be valid UTF-8 after unescaping; NUL bytes end nothing") {
  const std::string tag = R"({"time":"2022-03-01T00:00:00Z","cookie":"COOKIE","country":"PL",)"
                          R"("device":"PC","action":"VIEW","origin":"o","product_info":)"
                          R"({"product_id":"PID","brand_id":"b","category_id":"c","price":1}})";
  auto with = [&](const std::string& from, const std::string& to) {
    std::string out = tag;
    out.replace(out.find(from), from.size(), to);
    return out;
  };
  CHECK(ParseUserTagJson(tag).ok());
  CHECK(ParseUserTagJson(with("COOKIE", "\\ud83d\\ude00")).ok());  // a valid surrogate pair
  for (const char* bad : {"\\udc00", "\\ud83d", "\\ud83dx", "\xff", "\xc0\xaf", "\xed\xa0\x80"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseUserTagJson(with("COOKIE", bad)).ok());
    CHECK_FALSE(ParseUserTagJson(with("PID", bad)).ok());
  }
  CHECK_FALSE(ParseUserTagJson(tag + std::string("\0junk", 5)).ok());
  CHECK_FALSE(ParseUserTagJson(std::string(tag).insert(10, 1, '\0')).ok());

  UserTag built = *ParseUserTagJson(tag);
  built.brand_id = "\xed\xb0\x80";
  CHECK(absl::IsInvalidArgument(ValidateUserTag(built)));
}

}  // namespace
}  // namespace allezon
