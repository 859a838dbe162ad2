// Helpers shared by the unit tests: temporary directories and tag builders.
#ifndef ALLEZON_TESTS_UNIT_TEST_UTIL_H_
#define ALLEZON_TESTS_UNIT_TEST_UTIL_H_

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "allezon/database.h"
#include "allezon/user_tag.h"

namespace allezon::testing {

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "allezon-test-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline UserTag MakeTag(EpochMillis time, std::string cookie, Action action = Action::kView,
                       int32_t price = 100, std::string origin = "ORIGIN",
                       std::string brand = "BRAND", std::string category = "CATEGORY") {
  UserTag tag;
  tag.time = time;
  tag.cookie = std::move(cookie);
  tag.country = "PL";
  tag.device = Device::kPc;
  tag.action = action;
  tag.origin = std::move(origin);
  tag.product_id = int64_t{12345};
  tag.brand_id = std::move(brand);
  tag.category_id = std::move(category);
  tag.price = price;
  return tag;
}

inline std::unique_ptr<Database> OpenOrDie(Options options) {
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(options);
  REQUIRE_MESSAGE(db.ok(), std::string(db.status().message()));
  return std::move(*db);
}

inline Options TestOptions(const std::string& dir) {
  Options options;
  options.data_dir = dir;
  options.tuning.initial_map_size = 8 << 20;
  return options;
}

// 2022-03-01T00:00:00.000Z
inline constexpr EpochMillis kStreamStart = 1646092800000;

}  // namespace allezon::testing

#endif  // ALLEZON_TESTS_UNIT_TEST_UTIL_H_
