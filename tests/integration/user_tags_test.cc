// SPEC §1 and §3: what a valid user tag is, and that the API gives back the tag as accepted.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common.h"

namespace allezon_it {
namespace {

const std::string kAllTime = ProfileRange(TimeMs(2000, 1, 1), TimeMs(2100, 1, 1));

// The example of SPEC §1.
Tag SpecExample() {
  Tag t;
  t.time = std::string("2022-03-22T12:15:00.000Z");
  t.ms = TimeMs(2022, 3, 22, 12, 15);
  t.cookie = "8CyGkmkQTWDWNarATGMd";
  t.country = "PL";
  t.device = "PC";
  t.action = "VIEW";
  t.origin = "NIKE_WOMEN_SHOES_CAMPAIGN";
  t.product_id = int64_t{519264};
  t.brand_id = "Nike";
  t.category_id = "WOMEN_SHOES";
  t.price = 1999;
  return t;
}

// Adds each tag under its own cookie and checks the profile returns exactly it.
void ExpectRoundTrips(Server& s, const std::vector<Tag>& tags) {
  for (const Tag& t : tags) {
    AddTag(s.http, t);
    ProfileAnswer want;
    (t.action == "VIEW" ? want.views : want.buys).push_back(t);
    ExpectProfile(s.http, t.cookie, kAllTime, std::nullopt, t.cookie, want);
  }
}

TEST_SUITE("user_tags") {
  TEST_CASE("the SPEC example is accepted with 204 and returned field by field") {
    Server s;
    Tag t = SpecExample();
    AddTag(s.http, t);
    ProfileAnswer want;
    want.views.push_back(t);
    // Exactly its millisecond: [12:15:00.000, 12:15:00.001).
    ExpectProfile(s.http, t.cookie, "2022-03-22T12:15:00.000_2022-03-22T12:15:00.001", std::nullopt,
                  t.cookie, want);
  }

  TEST_CASE("every enum value and both product_id types round-trip") {
    Server s;
    std::vector<Tag> tags;
    int i = 0;
    for (const char* device : {"PC", "MOBILE", "TV"}) {
      for (const char* action : {"VIEW", "BUY"}) {
        Tag t = MakeTag(kT0 + i, "enum-" + std::to_string(i), action);
        t.device = device;
        t.country = i % 2 ? "DE" : "PL";
        if (i % 2) t.product_id = std::string("P-") + std::to_string(i);
        tags.push_back(t);
        ++i;
      }
    }
    ExpectRoundTrips(s, tags);
  }

  TEST_CASE("product_id comes back in the JSON type it arrived in") {
    Server s;
    std::vector<Tag> tags;
    const std::vector<std::variant<int64_t, std::string>> ids = {
        int64_t{12486},
        int64_t{0},
        int64_t{2147483647},
        int64_t{5000000000},
        int64_t{9007199254740993},  // 2^53 + 1: not exact as a double
        std::numeric_limits<int64_t>::max(),
        int64_t{-5},
        std::string("12486"),
        std::string("0"),
        std::string("sku-żółw-42"),
        std::string(" spaced id ")};
    for (size_t i = 0; i < ids.size(); ++i) {
      Tag t = MakeTag(kT0 + static_cast<int64_t>(i), "pid-" + std::to_string(i));
      t.product_id = ids[i];
      tags.push_back(t);
    }
    ExpectRoundTrips(s, tags);
  }

  TEST_CASE("price: any int32 is valid, negative included") {
    Server s;
    std::vector<Tag> tags;
    const std::vector<int64_t> prices = {0, 1, -1, std::numeric_limits<int32_t>::max(),
                                         std::numeric_limits<int32_t>::min()};
    for (size_t i = 0; i < prices.size(); ++i) {
      Tag t = MakeTag(kT0, "price-" + std::to_string(i), "BUY");
      t.price = prices[i];
      tags.push_back(t);
    }
    ExpectRoundTrips(s, tags);
  }

  TEST_CASE("every accepted time form is stored at ms precision and written back as .mmmZ") {
    Server s;
    const int64_t sec = TimeMs(2022, 3, 1, 0, 0, 1);
    struct Form {
      std::variant<std::string, int64_t> sent;
      int64_t ms;
    };
    const std::vector<Form> forms = {
        {std::string("2022-03-01T00:00:01Z"), sec},  // fraction omitted (Instant.toString)
        {std::string("2022-03-01T00:00:01.5Z"), sec + 500},
        {std::string("2022-03-01T00:00:01.12Z"), sec + 120},
        {std::string("2022-03-01T00:00:01.123Z"), sec + 123},
        {std::string("2022-03-01T00:00:01.1234Z"), sec + 123},
        {std::string("2022-03-01T00:00:01.123456789Z"), sec + 123},
        {std::string("2022-03-01T00:00:01.999999999Z"), sec + 999},  // truncated, not rounded
        {std::string("2022-03-01T00:00:01.000000000Z"), sec},
        {std::string("2022-03-01T00:00:01.007Z"), sec + 7},
        {std::string("2024-02-29T23:59:59.999Z"), TimeMs(2024, 2, 29, 23, 59, 59, 999)},
        {std::string("2021-12-31T23:59:59.999Z"), TimeMs(2021, 12, 31, 23, 59, 59, 999)},
        {int64_t{1646092801123}, sec + 123},  // epoch millis
        {int64_t{1646092800000}, kStreamStart},
    };
    std::vector<Tag> tags;
    for (size_t i = 0; i < forms.size(); ++i) {
      Tag t = MakeTag(forms[i].ms, "time-form-" + std::to_string(i));
      t.time = forms[i].sent;
      tags.push_back(t);
    }
    ExpectRoundTrips(s, tags);
  }

  TEST_CASE("strings of exactly 256 bytes are accepted in every field") {
    Server s;
    const std::string a256(256, 'a');
    std::string z128;  // 128 x U+017C: 256 bytes of UTF-8
    for (int i = 0; i < 128; ++i) z128 += "\xC5\xBC";
    std::vector<Tag> tags;
    Tag t = MakeTag(kT0, std::string(255, 'c') + "1");
    tags.push_back(t);
    t = MakeTag(kT0, z128);
    tags.push_back(t);
    t = MakeTag(kT0, "long-country");
    t.country = a256;
    tags.push_back(t);
    t = MakeTag(kT0, "long-origin");
    t.origin = a256;
    tags.push_back(t);
    t = MakeTag(kT0, "long-brand");
    t.brand_id = z128;
    tags.push_back(t);
    t = MakeTag(kT0, "long-category");
    t.category_id = a256;
    tags.push_back(t);
    t = MakeTag(kT0, "long-product");
    t.product_id = a256;
    tags.push_back(t);
    ExpectRoundTrips(s, tags);
  }

  TEST_CASE("empty origin, brand_id and category_id are valid values") {
    Server s;
    Tag t = MakeTag(kT0, "empties");
    t.origin = "";
    t.brand_id = "";
    t.category_id = "";
    ExpectRoundTrips(s, {t});
  }

  TEST_CASE("JSON escapes and UTF-8 in strings round-trip") {
    Server s;
    Tag t = MakeTag(kT0, "quote\"back\\slash\ttab \xF0\x9F\x8D\xAA");
    t.origin = "line\nbreak / slash \"q\"";
    t.brand_id =
        "Ma\xC3\xB1"
        "ana";
    t.category_id = "\xE6\x97\xA5\xE6\x9C\xAC";
    ExpectRoundTrips(s, {t});
    // \u escapes in the request mean the same characters.
    HttpResponse r = s.http.PostTag(
        R"({"time":"2022-03-01T12:00:00.000Z","cookie":"\u017c\u00f3\u0142w","country":"PL",)"
        R"("device":"PC","action":"BUY","origin":"o","product_info":{"product_id":1,)"
        R"("brand_id":"b","category_id":"c","price":5}})");
    REQUIRE_MESSAGE(r.status == 204, r.Describe());
    Tag u = MakeTag(kT0, "\xC5\xBC\xC3\xB3\xC5\x82w", "BUY");
    u.origin = "o";
    u.brand_id = "b";
    u.category_id = "c";
    u.price = 5;
    ProfileAnswer want;
    want.buys.push_back(u);
    ExpectProfile(s.http, u.cookie, kAllTime, std::nullopt, u.cookie, want);
  }

  TEST_CASE("unknown fields are ignored and not given back") {
    Server s;
    Tag t = MakeTag(kT0, "extra-fields", "BUY");
    rapidjson::Document d = ParseJson(t.ToJson());
    auto& alloc = d.GetAllocator();
    d.AddMember("session", rapidjson::Value("abc", alloc), alloc);
    rapidjson::Value nested(rapidjson::kObjectType);
    nested.AddMember("a", rapidjson::Value(rapidjson::kArrayType).PushBack(1, alloc), alloc);
    d.AddMember("meta", nested, alloc);
    d.AddMember("nothing", rapidjson::Value(), alloc);
    d["product_info"].AddMember("color", rapidjson::Value("red", alloc), alloc);
    d["product_info"].AddMember("discount", 0.25, alloc);
    const std::string body = ToJson(d);
    HttpResponse r = s.http.PostTag(body);
    INFO("request: POST /user_tags " << body);
    REQUIRE_MESSAGE(r.status == 204, r.Describe());
    ProfileAnswer want;
    want.buys.push_back(t);
    ExpectProfile(s.http, t.cookie, kAllTime, std::nullopt, t.cookie, want);
  }

  TEST_CASE("fields in any order, with whitespace, are accepted") {
    Server s;
    const std::string body =
        "{\n  \"product_info\" : { \"price\" : 7 , \"category_id\" : \"c\", \"brand_id\" : \"b\","
        " \"product_id\" : \"p\" },\n  \"origin\" : \"o\", \"action\" : \"BUY\", \"device\" : "
        "\"TV\", \"country\" : \"US\", \"cookie\" : \"reordered\", \"time\" : "
        "\"2022-03-01T12:00:00.250Z\"\n}\n";
    HttpResponse r = s.http.PostTag(body);
    REQUIRE_MESSAGE(r.status == 204, r.Describe());
    Tag t = MakeTag(kT0 + 250, "reordered", "BUY");
    t.product_id = std::string("p");
    t.price = 7;
    t.category_id = "c";
    t.brand_id = "b";
    t.origin = "o";
    t.device = "TV";
    t.country = "US";
    ProfileAnswer want;
    want.buys.push_back(t);
    ExpectProfile(s.http, "reordered", kAllTime, std::nullopt, "reordered", want);
  }

  TEST_CASE("the same tag sent twice is stored twice") {
    Server s;
    Tag t = MakeTag(kT0, "twice");
    AddTag(s.http, t);
    AddTag(s.http, t);
    ProfileAnswer want;
    want.views = {t, t};
    ExpectProfile(s.http, "twice", kAllTime, std::nullopt, "twice", want);
    AggregateQuery q;
    q.begin_ms = kT0;
    q.end_ms = kT0 + kMinute;
    Model m;
    m.Add(t);
    m.Add(t);
    ExpectAggregate(s.http, m, q);
  }
}

}  // namespace
}  // namespace allezon_it
