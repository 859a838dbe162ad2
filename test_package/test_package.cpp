// Smallest use of the C++ API: open a database, store a tag, read it back.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "allezon/allezon.hpp"

int main() {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("allezon_test_package_" + std::to_string(::getpid()));
  int rc = 1;
  {
    allezon::Options options;
    options.data_dir = dir.string();
    auto db = allezon::Database::Open(options);
    if (!db.ok()) {
      std::fprintf(stderr, "open: %s\n", db.status().ToString().c_str());
      return 1;
    }
    auto tag = allezon::ParseUserTagJson(
        R"({"time": "2022-03-01T00:00:00Z", "cookie": "c", "country": "PL", "device": "PC",
            "action": "BUY", "origin": "o", "product_info": {"product_id": 1,
            "brand_id": "b", "category_id": "k", "price": 5}})");
    if (tag.ok() && (*db)->AddTag(*tag).ok()) {
      auto profile = (*db)->user_tags().GetProfile("c", {tag->time, tag->time + 1}, 10);
      if (profile.ok() && profile->buys.size() == 1) rc = 0;
      if (profile.ok()) std::printf("%s\n", allezon::ProfileToJson(*profile).c_str());
    }
  }
  fs::remove_all(dir);
  std::printf("allezon %s: %s\n", allezon::Version(), rc == 0 ? "ok" : "FAILED");
  return rc;
}
