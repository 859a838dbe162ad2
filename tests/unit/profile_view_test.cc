// The zero-copy profile reads (UserTagStore::VisitProfile, AppendProfileJson) against the
// copying ones they must agree with byte for byte: GetProfile and ProfileToJson.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "allezon/database.h"
#include "allezon/json.h"
#include "allezon/user_tag_view.h"
#include "test_util.h"

namespace allezon {
namespace {

using testing::kStreamStart;
using testing::MakeTag;
using testing::OpenOrDie;
using testing::TempDir;
using testing::TestOptions;

constexpr TimeRange kEverything{kMinTime, kMaxTime};

// Strings that need every kind of JSON escape, multi-byte UTF-8, and SSO-busting lengths.
const std::vector<std::string>& Texts() {
  static const std::vector<std::string> texts = {
      "PL",
      "",
      "NIKE_WOMEN_SHOES_CAMPAIGN_WITH_A_LONG_NAME",
      "quote\"inside",
      "back\\slash",
      "ctl\b\f\n\r\t\x01\x1f\x7f",
      "slash/ok",
      "za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87 \xe2\x82\xac \xf0\x9f\x98\x80",
      "</script>",
  };
  return texts;
}

const std::vector<std::string>& Cookies() {
  static const std::vector<std::string> cookies = {
      "8CyGkmkQTWDWNarATGMd",
      "c",
      "cookie \"with\" quotes\\",
      "new\nline\tcookie\x01",
      "ciasteczko-\xc5\xbc\xc3\xb3\xc5\x82w",
      std::string(kMaxCookieBytes, 'x'),
  };
  return cookies;
}

UserTag RandomTag(std::mt19937_64& rng, const std::string& cookie) {
  const auto pick = [&](const std::vector<std::string>& from) { return from[rng() % from.size()]; };
  UserTag tag = MakeTag(kStreamStart + static_cast<EpochMillis>(rng() % 5000), cookie,
                        rng() % 3 == 0 ? Action::kBuy : Action::kView, static_cast<int32_t>(rng()),
                        pick(Texts()), pick(Texts()), pick(Texts()));
  tag.country = pick(Texts());
  tag.device = static_cast<Device>(rng() % 3);
  switch (rng() % 4) {
    case 0:
      tag.product_id = std::string(pick(Texts()));
      break;
    case 1:
      tag.product_id = static_cast<int64_t>(rng());
      break;
    case 2:
      tag.product_id = int64_t{-1} - static_cast<int64_t>(rng() % 1000);
      break;
    default:
      tag.product_id = static_cast<int64_t>(rng() % 1000000);
      break;
  }
  return tag;
}

// VisitProfile's tags, gathered into a Profile the way GetProfile lists them.
absl::StatusOr<Profile> ProfileByVisit(const UserTagStore& store, std::string_view cookie,
                                       TimeRange range, int32_t limit) {
  Profile profile;
  profile.cookie = std::string(cookie);
  bool buys_started = false;
  bool order_ok = true;
  absl::Status status = store.VisitProfile(cookie, range, limit, [&](const UserTagView& view) {
    if (view.action == Action::kBuy) buys_started = true;
    if (view.action == Action::kView && buys_started) order_ok = false;  // views come first
    (view.action == Action::kView ? profile.views : profile.buys).push_back(ToUserTag(view));
  });
  if (!status.ok()) return status;
  if (!order_ok) return absl::InternalError("a VIEW came after a BUY");
  return profile;
}

// Checks every path against GetProfile + ProfileToJson for one query; true when the
// profile held at least one tag.
bool CheckQueryAgrees(const UserTagStore& store, std::string_view cookie, TimeRange range,
                      int32_t limit) {
  CAPTURE(cookie);
  CAPTURE(range.begin);
  CAPTURE(range.end);
  CAPTURE(limit);
  const absl::StatusOr<Profile> expected = store.GetProfile(cookie, range, limit);

  const absl::StatusOr<Profile> visited = ProfileByVisit(store, cookie, range, limit);
  CHECK(visited.status() == expected.status());

  // Appending after existing content keeps it, and an error leaves it alone.
  const std::string prefix = "prefix:";
  std::string out = prefix;
  const absl::Status appended = AppendProfileJson(store, cookie, range, limit, &out);
  CHECK(appended == expected.status());
  if (!expected.ok()) {
    CHECK(out == prefix);
    return false;
  }
  REQUIRE(visited.ok());
  CHECK(visited->views == expected->views);
  CHECK(visited->buys == expected->buys);
  std::string expected_json = prefix;
  expected_json += ProfileToJson(*expected);
  CHECK(out == expected_json);
  return !expected->views.empty() || !expected->buys.empty();
}

TEST_CASE("a view converts to and from its tag and writes the tag's JSON") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const UserTag tag = RandomTag(rng, Cookies()[static_cast<size_t>(i) % Cookies().size()]);
    const UserTagView view = ViewOf(tag);
    CHECK(ToUserTag(view) == tag);
    std::string from_view = "x";
    AppendUserTagJson(view, &from_view);
    std::string from_tag = "x";  // appending, not "x" + …: GCC 12's -Wrestrict false positive
    AppendUserTagJson(tag, &from_tag);
    CHECK(from_view == from_tag);
  }
  // One exact answer, so that the shared writer cannot drift from the contract unnoticed.
  UserTag tag = MakeTag(kStreamStart + 1001, "a\"b", Action::kBuy, -5, "o\n", "b\\", "c\x01");
  tag.product_id = std::string("p\t");
  CHECK(UserTagToJson(tag) ==
        R"({"time":"2022-03-01T00:00:01.001Z","cookie":"a\"b","country":"PL","device":"PC",)"
        R"("action":"BUY","origin":"o\n","product_info":{"product_id":"p\t","brand_id":"b\\",)"
        R"("category_id":"c\u0001","price":-5}})");
}

// The JSON of a tag, written the plain way: an oracle independent of the library's writer.
std::string ReferenceString(std::string_view text) {
  std::string out = "\"";
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\u%04X", c);
          out += escape;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string ReferenceTagJson(const UserTag& tag) {
  std::string product = std::holds_alternative<std::string>(tag.product_id)
                            ? ReferenceString(std::get<std::string>(tag.product_id))
                            : std::to_string(std::get<int64_t>(tag.product_id));
  return "{\"time\":\"" + FormatTagTime(tag.time) + "\",\"cookie\":" + ReferenceString(tag.cookie) +
         ",\"country\":" + ReferenceString(tag.country) + ",\"device\":\"" +
         std::string(DeviceName(tag.device)) + "\",\"action\":\"" +
         std::string(ActionName(tag.action)) + "\",\"origin\":" + ReferenceString(tag.origin) +
         ",\"product_info\":{\"product_id\":" + product +
         ",\"brand_id\":" + ReferenceString(tag.brand_id) +
         ",\"category_id\":" + ReferenceString(tag.category_id) +
         ",\"price\":" + std::to_string(tag.price) + "}}";
}

// Strings of every length up to 40 with escapes at every position (the writer copies 8 and 4
// bytes at a time), and times across all years and both sides of 1970 (it caches the date).
TEST_CASE("the tag writer matches a plain reference at every length and time") {
  std::mt19937_64 rng(11);
  const std::string alphabet[] = {"a",    "Z",    "0",  " ",    "\"",       "\\",
                                  "\x01", "\x1f", "\n", "\x7f", "\xc5\xbc", "/"};
  const auto random_string = [&] {
    std::string text;
    const size_t length = rng() % 41;
    const bool plain = rng() % 2 == 0;  // half the strings need no escape at all
    while (text.size() < length) {
      text += plain ? alphabet[rng() % 4] : alphabet[rng() % std::size(alphabet)];
    }
    return text;
  };
  Profile profile;
  profile.cookie = random_string();
  EpochMillis time = kMinTime + static_cast<EpochMillis>(rng() % 1000);
  for (int i = 0; i < 3000; ++i) {
    UserTag tag = RandomTag(rng, profile.cookie);
    tag.country = random_string();
    tag.origin = random_string();
    tag.brand_id = random_string();
    tag.category_id = random_string();
    if (rng() % 2 == 0) tag.product_id = random_string();
    // Mostly small steps (same day, day changes), sometimes a jump, up to the last instant.
    time += rng() % 4 == 0 ? static_cast<EpochMillis>(rng() % (400LL * 86'400'000 * 365))
                           : static_cast<EpochMillis>(rng() % 40'000'000);
    tag.time = std::min(time, kMaxTime);
    if (i % 100 == 0) tag.time = -1 - static_cast<EpochMillis>(rng() % 86'400'000);
    if (i % 100 == 1) tag.time = 0;
    const std::string expected = ReferenceTagJson(tag);
    CHECK(UserTagToJson(tag) == expected);
    (tag.action == Action::kView ? profile.views : profile.buys).push_back(tag);
  }
  // A profile writes its tags through one writer, reusing the cookie and the date.
  std::string expected = "{\"cookie\":" + ReferenceString(profile.cookie) + ",\"views\":[";
  for (size_t i = 0; i < profile.views.size(); ++i) {
    expected += (i > 0 ? "," : "") + ReferenceTagJson(profile.views[i]);
  }
  expected += "],\"buys\":[";
  for (size_t i = 0; i < profile.buys.size(); ++i) {
    expected += (i > 0 ? "," : "") + ReferenceTagJson(profile.buys[i]);
  }
  expected += "]}";
  CHECK(ProfileToJson(profile) == expected);
}

TEST_CASE("zero-copy profile reads agree with GetProfile and ProfileToJson") {
  TempDir dir;
  Options options = TestOptions(dir.path());
  options.profile_cap = 40;  // so that lists are trimmed too
  auto db = OpenOrDie(options);
  const UserTagStore& store = db->user_tags();
  std::mt19937_64 rng(42);

  int non_empty = 0;
  const auto random_query = [&] {
    const std::string& cookie = Cookies()[rng() % Cookies().size()];
    EpochMillis begin = kStreamStart + static_cast<EpochMillis>(rng() % 5200) - 100;
    EpochMillis end = begin + static_cast<EpochMillis>(rng() % 3000);
    if (rng() % 8 == 0) begin = kMinTime;
    if (rng() % 8 == 0) end = kMaxTime;
    const int32_t limits[] = {0, 1, 2, 5, 17, 40, 200, INT32_MAX};
    non_empty += CheckQueryAgrees(store, cookie, {begin, end}, limits[rng() % 8]);
  };

  // Writes interleaved with queries: single tags and batches, out of order and equal times.
  for (int round = 0; round < 60; ++round) {
    std::vector<UserTag> batch;
    const size_t n = rng() % 4 == 0 ? 1 : rng() % 50;
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(RandomTag(rng, Cookies()[rng() % Cookies().size()]));
    }
    REQUIRE(db->AddTags(batch).ok());
    for (int q = 0; q < 20; ++q) random_query();
  }
  for (const std::string& cookie : Cookies()) {
    CHECK(CheckQueryAgrees(store, cookie, kEverything, 200));
    CHECK(CheckQueryAgrees(store, cookie, kEverything, 3));
  }
  CHECK(non_empty > 300);  // the comparisons above were not all of empty profiles

  SUBCASE("empty answers") {
    CHECK_FALSE(CheckQueryAgrees(store, "never-seen", kEverything, 200));
    CHECK_FALSE(CheckQueryAgrees(store, "", kEverything, 200));
    CHECK_FALSE(CheckQueryAgrees(store, Cookies()[0], kEverything, 0));
    CHECK_FALSE(CheckQueryAgrees(store, Cookies()[0], {kStreamStart, kStreamStart}, 200));
    CHECK_FALSE(CheckQueryAgrees(store, Cookies()[0], {kMinTime, kStreamStart}, 200));
    std::string out;
    REQUIRE(AppendProfileJson(store, "never\"seen", kEverything, 200, &out).ok());
    CHECK(out == R"({"cookie":"never\"seen","views":[],"buys":[]})");
  }

  SUBCASE("errors are GetProfile's") {
    CheckQueryAgrees(store, Cookies()[0], kEverything, -1);
    CheckQueryAgrees(store, Cookies()[0], {kStreamStart + 1, kStreamStart}, 200);
    CheckQueryAgrees(store, std::string(kMaxCookieBytes + 1, 'x'), kEverything, 200);
    CheckQueryAgrees(store, "bad\xc3", kEverything, 200);
    CheckQueryAgrees(store, "bad\xed\xa0\x80", kEverything, 200);  // a UTF-16 surrogate
    int calls = 0;
    const absl::Status status =
        store.VisitProfile(Cookies()[0], kEverything, -1, [&](const UserTagView&) { ++calls; });
    CHECK(absl::IsInvalidArgument(status));
    CHECK(calls == 0);
  }
}

TEST_CASE("one list only: views without buys, buys without views") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  REQUIRE(db->AddTag(MakeTag(kStreamStart + 1, "viewer", Action::kView)).ok());
  REQUIRE(db->AddTag(MakeTag(kStreamStart + 2, "viewer", Action::kView)).ok());
  REQUIRE(db->AddTag(MakeTag(kStreamStart + 1, "buyer", Action::kBuy)).ok());
  REQUIRE(db->AddTag(MakeTag(kStreamStart + 2, "buyer", Action::kBuy)).ok());
  for (const char* cookie : {"viewer", "buyer"}) {
    for (int32_t limit : {1, 2, 200}) {
      CHECK(CheckQueryAgrees(db->user_tags(), cookie, kEverything, limit));
    }
  }
  std::string out;
  REQUIRE(AppendProfileJson(db->user_tags(), "buyer", kEverything, 1, &out).ok());
  CHECK(out.starts_with(
      R"({"cookie":"buyer","views":[],"buys":[{"time":"2022-03-01T00:00:00.002Z",)"));
  CHECK(out.ends_with("}}]}"));
}

}  // namespace
}  // namespace allezon
