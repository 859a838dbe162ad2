// allezon-bench-rollups: the coarse buckets of SPEC §10 (issue 20), in process, on real LMDB.
//
// Fills `--days` (default 130) of the load generator's realistic stream (1,000 origins, 250
// brands, 67 categories) at one tag every `--step-ms` (default 2,000: 43,200 tags a day,
// which fills every bucket's blocks with the stream's variety), folding and rolling up as
// the writer does, then times the queries issue 20 targets, each run `--runs` times:
//   15m over the 30 days ending at the newest bucket; 1h over 122 days; 1d over all; and 1m
//   over the last 24 hours for comparison; each unfiltered, by origin, by origin and brand.
// Prints one line per query: median and p99 in ms. `--quick`: 10 days, 20 runs.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "allezon/database.h"
#include "realistic_tags.h"

namespace allezon::bench {
namespace {

void Check(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(status.message()).c_str());
    std::exit(1);
  }
}

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

int Main(int argc, char** argv) {
  int64_t days = 130, step_ms = 2000;
  int runs = 100;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      days = 10;
      runs = 20;
    } else if (std::strcmp(argv[i], "--days") == 0 && i + 1 < argc) {
      days = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--step-ms") == 0 && i + 1 < argc) {
      step_ms = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--days N] [--step-ms MS] [--runs N]\n", argv[0]);
      return 2;
    }
  }
  char pattern[256];
  const char* base = std::getenv("ALLEZON_BENCH_TMP");
  std::snprintf(pattern, sizeof pattern, "%s/allezon-bench-rollups-XXXXXX",
                base != nullptr ? base : "/tmp");
  if (mkdtemp(pattern) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = pattern;
  int status = 0;
  {
    Options options;
    options.data_dir = dir;
    options.sync = false;  // filling only: the queries are what is measured
    options.tuning.initial_map_size = 1ULL << 30;
    options.tuning.aggregate_fold_interval_ms = 0;
    absl::StatusOr<std::unique_ptr<Database>> opened = Database::Open(options);
    Check(opened.status(), "open");
    Database& db = **opened;

    RealisticTags stream(/*seed=*/1, /*cookies=*/1'000'000, step_ms);
    const int64_t total = days * 86'400'000 / step_ms;
    const auto start = std::chrono::steady_clock::now();
    std::vector<UserTag> batch;
    EpochMillis newest = 0;
    std::string origin, brand;
    for (int64_t i = 0; i < total; ++i) {
      stream.Next(&batch.emplace_back());
      newest = std::max(newest, batch.back().time);
      if (i == total / 2) {
        origin = batch.back().origin;
        brand = batch.back().brand_id;
      }
      if (batch.size() == 20'000 || i + 1 == total) {
        Check(db.AddTags(batch), "fill");
        batch.clear();
      }
    }
    for (int i = 0; i < 400 && db.Stats().open_minutes > 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const double fill_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("filled %lld days: %lld tags in %.1f s; data.mdb %.1f MB\n",
                static_cast<long long>(days), static_cast<long long>(total), fill_s,
                static_cast<double>(std::filesystem::file_size(dir + "/data.mdb")) / 1e6);

    struct Case {
      const char* name;
      BucketSize bucket;
      int64_t span_ms;
    };
    const int64_t day = 86'400'000;
    const Case cases[] = {{"15m x 30 days", BucketSize::k15m, 30 * day},
                          {"1h x 122 days", BucketSize::k1h, 122 * day},
                          {"1d x all days", BucketSize::k1d, (days + 1) * day},
                          {"1m x 24 hours", BucketSize::k1m, day}};
    for (const Case& c : cases) {
      const int64_t size = BucketMillis(c.bucket);
      const int64_t end = (newest / size + 1) * size;
      const int64_t begin = end - std::min(c.span_ms, (days + 1) * day) / size * size;
      for (int filter = 0; filter < 3; ++filter) {
        AggregateQuery query;
        query.bucket = c.bucket;
        query.range = {begin, end};
        query.action = Action::kView;
        query.aggregates = {AggregateFunction::kCount, AggregateFunction::kSumPrice};
        if (filter >= 1) query.origin = origin;
        if (filter >= 2) query.brand_id = brand;
        std::vector<double> ms;
        int64_t total_count = 0;
        for (int r = 0; r < runs; ++r) {
          const auto t0 = std::chrono::steady_clock::now();
          absl::StatusOr<AggregateResult> result = db.aggregates().Query(query);
          ms.push_back(std::chrono::duration<double, std::milli>(
                           std::chrono::steady_clock::now() - t0)
                           .count());
          Check(result.status(), "query");
          total_count = 0;
          for (const AggregateRow& row : result->rows) total_count += row.count;
        }
        std::printf("%-14s %-16s rows %6lld  views %9lld  median %7.2f ms  p99 %7.2f ms\n",
                    c.name,
                    filter == 0   ? "unfiltered"
                    : filter == 1 ? "origin"
                                  : "origin+brand",
                    static_cast<long long>((end - begin) / size),
                    static_cast<long long>(total_count), Percentile(ms, 0.5),
                    Percentile(ms, 0.99));
      }
    }
  }
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  return status;
}

}  // namespace
}  // namespace allezon::bench

int main(int argc, char** argv) { return allezon::bench::Main(argc, argv); }
