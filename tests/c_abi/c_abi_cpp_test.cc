// The C ABI seen from C++: the header works under extern "C", and the struct results carry
// exactly what the JSON results carry (converted back to allezon::UserTag, a profile from
// allezon_get_profile() writes the same JSON as allezon_profile_json()).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "allezon/allezon.hpp"
#include "allezon/c.h"
#include "doctest/doctest.h"

namespace {

constexpr int64_t kT0 = 1646092800000;  // 2022-03-01T00:00:00.000Z

class ScratchDir {
 public:
  ScratchDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("allezon_c_abi_cpp_" + std::to_string(std::random_device()()));
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// Owns an errptr message.
struct Error {
  char* message = nullptr;
  ~Error() { allezon_free(message); }
  char** ptr() { return &message; }
  std::string str() const { return message != nullptr ? message : ""; }
};

allezon::UserTag FromC(const allezon_tag_t& t) {
  allezon::UserTag tag;
  tag.time = t.time_ms;
  tag.cookie = t.cookie;
  tag.country = t.country;
  tag.device = static_cast<allezon::Device>(t.device);
  tag.action = static_cast<allezon::Action>(t.action);
  tag.origin = t.origin;
  if (t.product_id_str != nullptr) {
    tag.product_id = std::string(t.product_id_str);
  } else {
    tag.product_id = t.product_id;
  }
  tag.brand_id = t.brand_id;
  tag.category_id = t.category_id;
  tag.price = t.price;
  return tag;
}

}  // namespace

TEST_CASE("struct profiles carry exactly what JSON profiles carry") {
  ScratchDir dir;
  Error err;
  allezon_db_t* db = allezon_open(dir.str().c_str(), err.ptr());
  REQUIRE_MESSAGE(db != nullptr, err.str());

  // Tags with every kind of value: string and integer ids (negative, large), UTF-8, empty
  // strings where allowed, equal times, all devices and both actions.
  std::mt19937 rng(42);
  const std::vector<std::string> strings = {"", "PL", "Zürich ☕", "A\"quote\\", "WOMEN_SHOES"};
  std::vector<allezon::UserTag> tags;
  for (int i = 0; i < 300; ++i) {
    allezon::UserTag tag;
    tag.time = kT0 + (i / 3) * 7;
    tag.cookie = i % 2 == 0 ? "cookie-ü" : "other";
    tag.country = strings[rng() % strings.size()];
    tag.device = static_cast<allezon::Device>(rng() % 3);
    tag.action = rng() % 4 == 0 ? allezon::Action::kBuy : allezon::Action::kView;
    tag.origin = strings[rng() % strings.size()];
    if (i % 3 == 0) {
      tag.product_id = "P-" + std::to_string(i) + strings[rng() % strings.size()];
    } else {
      tag.product_id = static_cast<int64_t>(rng()) * (i % 2 == 0 ? -99991 : 99991);
    }
    tag.brand_id = strings[rng() % strings.size()];
    tag.category_id = strings[rng() % strings.size()];
    tag.price = static_cast<int32_t>(rng());
    tags.push_back(tag);
  }
  for (const allezon::UserTag& tag : tags) {
    const std::string json = allezon::UserTagToJson(tag);
    CHECK(allezon_add_tag_json(db, json.data(), json.size(), err.ptr()) == ALLEZON_OK);
    REQUIRE_MESSAGE(err.message == nullptr, err.str(), " for ", json);
  }

  for (const char* cookie : {"cookie-ü", "other", "nobody"}) {
    for (int32_t limit : {0, 1, 17, 200}) {
      char* json = allezon_profile_json(db, cookie, kT0, kT0 + 60'000, limit, err.ptr());
      REQUIRE_MESSAGE(json != nullptr, err.str());
      allezon_profile_t* p = allezon_get_profile(db, cookie, kT0, kT0 + 60'000, limit, err.ptr());
      REQUIRE_MESSAGE(p != nullptr, err.str());

      allezon::Profile rebuilt;
      rebuilt.cookie = p->cookie;
      for (size_t i = 0; i < p->n_views; ++i) rebuilt.views.push_back(FromC(p->views[i]));
      for (size_t i = 0; i < p->n_buys; ++i) rebuilt.buys.push_back(FromC(p->buys[i]));
      CHECK(allezon::ProfileToJson(rebuilt) == std::string(json));
      CHECK(p->n_views <= static_cast<size_t>(limit));
      for (size_t i = 0; i < p->n_views; ++i) CHECK(p->views[i].cookie == p->cookie);

      allezon_free(p);
      allezon_free(json);
    }
  }

  // Struct adds are the same as JSON adds: add the same tags through structs to a new cookie
  // and compare the answers.
  std::vector<allezon_tag_t> c_tags;
  std::vector<std::string> ids;
  ids.reserve(tags.size());
  for (const allezon::UserTag& tag : tags) {
    allezon_tag_t t{};
    t.time_ms = tag.time;
    t.cookie = "struct-cookie";
    t.country = tag.country.c_str();
    t.device = static_cast<int32_t>(tag.device);
    t.action = static_cast<int32_t>(tag.action);
    t.origin = tag.origin.c_str();
    if (const auto* id = std::get_if<std::string>(&tag.product_id)) {
      ids.push_back(*id);
      t.product_id_str = ids.back().c_str();
    } else {
      t.product_id = std::get<int64_t>(tag.product_id);
    }
    t.brand_id = tag.brand_id.c_str();
    t.category_id = tag.category_id.c_str();
    t.price = tag.price;
    c_tags.push_back(t);
  }
  CHECK(allezon_add_tags(db, c_tags.data(), c_tags.size(), err.ptr()) == ALLEZON_OK);
  REQUIRE_MESSAGE(err.message == nullptr, err.str());
  allezon_profile_t* p =
      allezon_get_profile(db, "struct-cookie", kT0, kT0 + 60'000, 1000, err.ptr());
  REQUIRE(p != nullptr);
  size_t views = 0;
  for (const allezon::UserTag& tag : tags) views += tag.action == allezon::Action::kView;
  CHECK(p->n_views == std::min<size_t>(views, 200));
  CHECK(p->n_buys == std::min<size_t>(tags.size() - views, 200));
  allezon_free(p);

  allezon_close(db);
}

TEST_CASE("errors carry absl's code") {
  Error err;
  CHECK(allezon_open(nullptr, err.ptr()) == nullptr);
  CHECK(allezon_error_code(err.message) == ALLEZON_INVALID_ARGUMENT);
  CHECK(static_cast<int>(absl::StatusCode::kResourceExhausted) == ALLEZON_RESOURCE_EXHAUSTED);
  CHECK(static_cast<int>(absl::StatusCode::kFailedPrecondition) == ALLEZON_FAILED_PRECONDITION);
  CHECK(static_cast<int>(absl::StatusCode::kUnauthenticated) == ALLEZON_UNAUTHENTICATED);
  CHECK(std::string(allezon_version()) == allezon::Version());
}

TEST_CASE("the C ABI lists the same properties as Database::PropertyNames, with equal values") {
  const std::span<const std::string_view> names = allezon::Database::PropertyNames();
  size_t n = 0;
  for (const char* name; (name = allezon_property_name(n)) != nullptr; ++n) {
    REQUIRE(n < names.size());
    CHECK(std::string_view(name) == names[n]);
  }
  CHECK(n == names.size());

  // Through the C ABI as through C++: the same counter. Counters that move on their own
  // (map usage, open minutes) are not compared; the write counters are quiet here.
  ScratchDir dir;
  Error err;
  allezon_db_t* db = allezon_open(dir.str().c_str(), err.ptr());
  REQUIRE_MESSAGE(db != nullptr, err.str());
  const char* json =
      R"({"time":"2022-03-01T00:00:01Z","cookie":"c","country":"PL","device":"PC",)"
      R"("action":"VIEW","origin":"O","product_info":{"product_id":1,"brand_id":"B",)"
      R"("category_id":"C","price":1}})";
  REQUIRE(allezon_add_tag_json(db, json, std::strlen(json), err.ptr()) == ALLEZON_OK);
  uint64_t value = 0;
  REQUIRE(allezon_get_property(db, "allezon.tags-written", &value, err.ptr()) == ALLEZON_OK);
  CHECK(value == 1);
  REQUIRE(allezon_get_property(db, "allezon.newest-time", &value, err.ptr()) == ALLEZON_OK);
  CHECK(static_cast<int64_t>(value) == kT0 + 1000);
  allezon_close(db);
}
