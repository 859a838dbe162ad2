#include "import.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "allezon/database.h"
#include "allezon/user_tag.h"

namespace allezon::server {
namespace {

void Fail(const std::string& message) {
  std::fprintf(stderr, "allezon-server: import: %s\n", message.c_str());
}

}  // namespace

int RunImport(const std::string& path, const Options& options, size_t batch_tags) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Fail("cannot open " + path);
    return 1;
  }
  in.seekg(0, std::ios::end);
  const double total_bytes = static_cast<double>(in.tellg());
  in.seekg(0);
  absl::StatusOr<std::unique_ptr<Database>> database = Database::Open(options);
  if (!database.ok()) {
    Fail("cannot open the database in " + options.data_dir + ": " +
         std::string(database.status().message()));
    return 1;
  }
  const bool progress = isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  std::vector<UserTag> batch;
  batch.reserve(batch_tags);
  uint64_t stored = 0;
  size_t line_no = 0;
  const auto store = [&]() -> bool {
    if (batch.empty()) return true;
    if (absl::Status s = (*database)->AddTags(batch); !s.ok()) {
      Fail("storing the tags before line " + std::to_string(line_no + 1) + ": " +
           std::string(s.message()) + " (" + std::to_string(stored) + " tags stored before)");
      return false;
    }
    stored += batch.size();
    batch.clear();
    if (progress) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double done = in ? static_cast<double>(in.tellg()) : total_bytes;
      std::fprintf(stderr, "\rimported %llu tags, %.0f%%, %.0f tags/s   ",
                   static_cast<unsigned long long>(stored),
                   total_bytes > 0 ? 100.0 * done / total_bytes : 100.0,
                   seconds > 0 ? static_cast<double>(stored) / seconds : 0.0);
    }
    return true;
  };
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    absl::StatusOr<UserTag> tag = ParseUserTagJson(line);
    if (!tag.ok()) {
      if (progress) std::fputc('\n', stderr);
      Fail(path + ": line " + std::to_string(line_no) + ": " + std::string(tag.status().message()) +
           " (" + std::to_string(stored) + " tags before its batch are stored; none of its batch)");
      return 1;
    }
    batch.push_back(*std::move(tag));
    if (batch.size() >= batch_tags && !store()) return 1;
  }
  if (in.bad()) {
    Fail("reading " + path + " failed after line " + std::to_string(line_no));
    return 1;
  }
  if (!store()) return 1;
  if (progress) std::fputc('\n', stderr);
  std::fprintf(stderr, "allezon-server: imported %llu tags from %s into %s\n",
               static_cast<unsigned long long>(stored), path.c_str(), options.data_dir.c_str());
  return 0;
}

}  // namespace allezon::server
