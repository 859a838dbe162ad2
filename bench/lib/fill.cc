// allezon-bench-fill: loads N realistic tags (the load generator's stream, seed 1, 1,000,000
// cookies, 1 ms apart) into a database through the library, in batches, and reports the
// durable ingest rate, the storage per tag and the process's memory. Storage and memory
// targets of issue 6 are measured with it (`--tags 10000000`).
//
//   allezon-bench-fill --dir /tmp/fill --tags 10000000 [--batch 1000] [--no-sync]
//                      [--threads 1] [--report-every 1000000] [--keep]
//                      [--staging N]   (Options::profile_staging_tags; default: the library's)
//                      [--two-flushes] (Options::sync_meta_every_commit: LMDB's own flush of
//                                       the meta page in every commit, for comparison)
//
// --threads T: T threads each call AddTags with its own batches (the writer group-commits
// them together). Memory: RssAnon (heap, what the process owns) and RssFile (mapped LMDB pages
// the kernel may drop: page cache), from /proc/self/status.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "allezon/database.h"
#include "realistic_tags.h"

namespace {

struct Memory {
  long rss_anon_kb = 0;
  long rss_file_kb = 0;
  long hwm_kb = 0;
};

Memory ReadMemory() {
  Memory m;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("RssAnon:", 0) == 0) m.rss_anon_kb = std::atol(line.c_str() + 8);
    if (line.rfind("RssFile:", 0) == 0) m.rss_file_kb = std::atol(line.c_str() + 8);
    if (line.rfind("VmHWM:", 0) == 0) m.hwm_kb = std::atol(line.c_str() + 6);
  }
  return m;
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.is_regular_file(error)) {
      total += entry.file_size(error);
    }
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/allezon-fill";
  long long total = 1'000'000, batch = 1000, report_every = 1'000'000;
  int threads = 1;
  bool sync = true, keep = false, two_flushes = false;
  long long staging = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--dir") dir = value();
    else if (arg == "--tags") total = std::atoll(value());
    else if (arg == "--batch") batch = std::atoll(value());
    else if (arg == "--threads") threads = std::atoi(value());
    else if (arg == "--report-every") report_every = std::atoll(value());
    else if (arg == "--no-sync") sync = false;
    else if (arg == "--two-flushes") two_flushes = true;
    else if (arg == "--keep") keep = true;
    else if (arg == "--staging") staging = std::atoll(value());
    else {
      std::fprintf(stderr, "unknown flag %s\n", arg.c_str());
      return 2;
    }
  }
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  allezon::Options options;
  options.data_dir = dir;
  options.sync = sync;
  options.tuning.sync_meta_every_commit = two_flushes;
  if (staging >= 0) options.tuning.profile_staging_tags = static_cast<uint64_t>(staging);
  auto opened = allezon::Database::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(opened.status().message()).c_str());
    return 1;
  }
  allezon::Database& db = **opened;
  allezon::bench::RealisticTags stream;
  std::mutex stream_mu;
  std::atomic<long long> taken{0};
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  long long last_reported_tags = 0;
  std::mutex report_mu;
  auto report = [&](long long done, bool final) {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - start).count();
    const double window = std::chrono::duration<double>(now - last_report).count();
    const allezon::DatabaseStats stats = db.Stats();
    const Memory m = ReadMemory();
    std::printf(
        "%s tags=%lld elapsed_s=%.1f rate=%.0f window_rate=%.0f map_used_mb=%.1f "
        "bytes_per_tag=%.1f profile_records=%llu open_minutes=%llu commits=%llu "
        "staged=%llu log=%llu rss_anon_mb=%.1f rss_file_mb=%.1f hwm_mb=%.1f\n",
        final ? "FINAL" : "progress", done, seconds, done / seconds,
        (done - last_reported_tags) / std::max(window, 1e-9), stats.map_used / 1048576.0,
        static_cast<double>(stats.map_used) / std::max<long long>(done, 1),
        static_cast<unsigned long long>(stats.profile_records),
        static_cast<unsigned long long>(stats.open_minutes),
        static_cast<unsigned long long>(stats.commits),
        static_cast<unsigned long long>(stats.staged_profile_tags),
        static_cast<unsigned long long>(stats.profile_log_tags), m.rss_anon_kb / 1024.0,
        m.rss_file_kb / 1024.0, m.hwm_kb / 1024.0);
    std::fflush(stdout);
    last_report = now;
    last_reported_tags = done;
  };
  auto work = [&] {
    std::vector<allezon::UserTag> tags;
    for (;;) {
      {
        std::lock_guard lock(stream_mu);
        const long long first = taken.load();
        if (first >= total) return;
        const long long n = std::min(batch, total - first);
        tags.resize(static_cast<size_t>(n));
        for (auto& tag : tags) stream.Next(&tag);
        taken.store(first + n);
      }
      if (absl::Status s = db.AddTags(tags); !s.ok()) {
        std::fprintf(stderr, "AddTags: %s\n", std::string(s.message()).c_str());
        std::exit(1);
      }
      const long long done = db.Stats().tags_written;
      std::lock_guard lock(report_mu);
      if (done / report_every != last_reported_tags / report_every && done < total) report(done, false);
    }
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) workers.emplace_back(work);
  for (auto& w : workers) w.join();
  report(total, true);
  // Let the writer fold the last due minutes, then report the settled size.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const allezon::DatabaseStats stats = db.Stats();
  std::printf("settled map_used_mb=%.1f bytes_per_tag=%.1f data_files_mb=%.1f open_minutes=%llu\n",
              stats.map_used / 1048576.0, static_cast<double>(stats.map_used) / total,
              DirectoryBytes(dir) / 1048576.0,
              static_cast<unsigned long long>(stats.open_minutes));
  opened->reset();
  if (!keep) std::filesystem::remove_all(dir, error);
  return 0;
}
