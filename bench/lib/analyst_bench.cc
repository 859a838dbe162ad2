// allezon-bench-analyst: Google Benchmark of the analyst queries (SPEC §9, issue 19), in
// process, on real LMDB, with the load generator's realistic tags.
//
//   BM_Top24h/<metric>         Top over the 24 hours ending at the newest minute, origins,
//                              limit 10 (metric 0 count, 1 sum_price), on "day": 24 h 10 min at
//                              one tag every 6 ms (14.5 M tags, ~750 origins a minute)
//   BM_Catalogue/<dimension>   Catalogue of a dimension (0 origin: the 1,000 values) on "day"
//   BM_Anomalies1h/<fixture>   Anomalies of origins over the last hour (both actions):
//                              0 on "day", 1 on "standard": the standard stream itself, 1 tag a
//                              millisecond (all 1,000 origins every minute), 2 h 10 min
//   BM_AnomaliesSteady/<f>     every minute of a fixture that has a whole window before it
//                              (0 "day": 23.5 h, 1 "standard": 100 minutes): counters
//                              reports / triples is the false-report rate on a steady stream
//                              (SPEC §9: at most 1 per 10,000)
//   BM_UserSessions            UserSessions of a cookie with 200 VIEWs and 200 BUYs in visits
//
// Flag --quick (ours, consumed before Google Benchmark's): small fixtures, short runs.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "allezon/database.h"
#include "realistic_tags.h"

namespace allezon::bench {
namespace {

bool g_quick = false;

void Check(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(status.message()).c_str());
    std::abort();
  }
}

// A database in a fresh temporary directory, removed on destruction.
class TempDatabase {
 public:
  explicit TempDatabase(const char* name) {
    char pattern[256];
    const char* base = std::getenv("ALLEZON_BENCH_TMP");
    std::snprintf(pattern, sizeof pattern, "%s/allezon-bench-%s-XXXXXX",
                  base != nullptr ? base : "/tmp", name);
    if (mkdtemp(pattern) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    dir_ = pattern;
    Options options;
    options.data_dir = dir_;
    options.sync = false;  // filling only: the queries are what is measured
    options.tuning.initial_map_size = 1ULL << 30;
    auto db = Database::Open(options);
    Check(db.status(), "open");
    db_ = std::move(*db);
  }
  ~TempDatabase() {
    db_.reset();
    std::error_code error;
    std::filesystem::remove_all(dir_, error);
  }
  Database& db() { return *db_; }

 private:
  std::string dir_;
  std::unique_ptr<Database> db_;
};

struct StreamFixture {
  std::unique_ptr<TempDatabase> db;
  EpochMillis first_minute = 0;
  EpochMillis end_minute = 0;  // the end of the newest minute
  int64_t tags = 0;
};

// `minutes` of the realistic stream at one tag every `step_ms`, folded as the writer folds.
StreamFixture* Fill(const char* name, int64_t minutes, int64_t step_ms) {
  auto* f = new StreamFixture;
  f->db = std::make_unique<TempDatabase>(name);
  RealisticTags stream(/*seed=*/1, /*cookies=*/1'000'000, step_ms);
  const int64_t total = minutes * 60'000 / step_ms;
  const auto start = std::chrono::steady_clock::now();
  std::vector<UserTag> batch;
  for (int64_t i = 0; i < total; ++i) {
    stream.Next(&batch.emplace_back());
    if (i == 0) f->first_minute = MinuteStart(batch.back().time);
    if (batch.size() == 20'000 || i + 1 == total) {
      Check(f->db->db().AddTags(batch), "fill");
      f->end_minute = MinuteStart(batch.back().time) + kMillisPerMinute;
      batch.clear();
    }
  }
  f->tags = total;
  for (int i = 0; i < 200 && f->db->db().Stats().open_minutes > 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::fprintf(stderr, "fixture %s: %lld tags in %.1f s\n", name, static_cast<long long>(total),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return f;
}

StreamFixture* g_day = nullptr;
StreamFixture* g_standard = nullptr;

StreamFixture& Day() {
  static StreamFixture* f = g_day =
      Fill("day", g_quick ? 24 * 60 + 10 : 24 * 60 + 10, g_quick ? 600 : 6);
  return *f;
}
StreamFixture& Standard() {
  static StreamFixture* f = g_standard = Fill("standard", g_quick ? 70 : 130, g_quick ? 20 : 1);
  return *f;
}

void BM_Top24h(benchmark::State& state) {
  StreamFixture& f = Day();
  TopQuery query;
  query.range = {f.end_minute - 24 * 60 * kMillisPerMinute, f.end_minute};
  query.dimension = Dimension::kOrigin;
  query.metric = state.range(0) == 0 ? TopMetric::kCount : TopMetric::kSumPrice;
  int64_t first = 0;
  for (auto _ : state) {
    absl::StatusOr<TopResult> result = f.db->db().analytics().Top(query);
    Check(result.status(), "Top");
    first = result->rows.empty() ? 0 : result->rows[0].count;
    benchmark::DoNotOptimize(result);
  }
  state.counters["top_count"] = static_cast<double>(first);
}
BENCHMARK(BM_Top24h)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_Catalogue(benchmark::State& state) {
  StreamFixture& f = Day();
  const CatalogueQuery query{static_cast<Dimension>(state.range(0)), std::nullopt, std::nullopt};
  size_t values = 0;
  for (auto _ : state) {
    auto result = f.db->db().analytics().Catalogue(query);
    Check(result.status(), "Catalogue");
    values = result->size();
    benchmark::DoNotOptimize(result);
  }
  state.counters["values"] = static_cast<double>(values);
}
BENCHMARK(BM_Catalogue)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond);

// Distinct (origin, action) pairs with a tag in the range: the series the detector tracks.
int64_t Series(Database& db, TimeRange range) {
  int64_t n = 0;
  for (Action action : {Action::kView, Action::kBuy}) {
    auto top = db.analytics().Top({range, action, Dimension::kOrigin, TopMetric::kCount, 1000});
    Check(top.status(), "Top");
    n += static_cast<int64_t>(top->rows.size());
  }
  return n;
}

void RunAnomalies(benchmark::State& state, StreamFixture& f, TimeRange range) {
  AnomalyQuery query;
  query.range = range;
  query.dimension = Dimension::kOrigin;
  size_t reports = 0;
  for (auto _ : state) {
    auto result = f.db->db().analytics().Anomalies(query);
    Check(result.status(), "Anomalies");
    reports = result->size();
    benchmark::DoNotOptimize(result);
  }
  const int64_t minutes = (range.end - range.begin) / kMillisPerMinute;
  const int64_t triples = Series(f.db->db(), range) * minutes;
  state.counters["reports"] = static_cast<double>(reports);
  state.counters["triples"] = static_cast<double>(triples);
  state.counters["per_10k"] = 1e4 * static_cast<double>(reports) / static_cast<double>(triples);
}

void BM_Anomalies1h(benchmark::State& state) {
  StreamFixture& f = state.range(0) == 0 ? Day() : Standard();
  RunAnomalies(state, f, {f.end_minute - 60 * kMillisPerMinute, f.end_minute});
}
BENCHMARK(BM_Anomalies1h)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_AnomaliesSteady(benchmark::State& state) {
  StreamFixture& f = state.range(0) == 0 ? Day() : Standard();
  // Every minute with a whole window of data before it (the day's retention starts 24 h
  // before its newest tag).
  const EpochMillis data_from =
      state.range(0) == 0 ? f.end_minute - 24 * 60 * kMillisPerMinute : f.first_minute;
  RunAnomalies(state, f, {data_from + kAnomalyWindowMinutes * kMillisPerMinute, f.end_minute});
}
BENCHMARK(BM_AnomaliesSteady)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

struct SessionFixture {
  std::unique_ptr<TempDatabase> db;
  std::vector<std::string> cookies;
};
SessionFixture* g_sessions = nullptr;

// Cookies with 200 VIEWs and 200 BUYs each (the profile cap of both lists), in visits of a
// few to a few dozen tags minutes apart, visits separated by 30 minutes to a day.
SessionFixture& Sessions() {
  static SessionFixture* fixture = g_sessions = [] {
    auto* f = new SessionFixture;
    f->db = std::make_unique<TempDatabase>("sessions");
    RealisticTags stream;
    std::mt19937_64 random(1);
    std::vector<UserTag> batch;
    for (int c = 0; c < (g_quick ? 50 : 1000); ++c) {
      f->cookies.push_back(absl::StrCat("session-cookie-", c));
      EpochMillis time = 1'646'092'800'000;
      for (int i = 0; i < 400; ++i) {
        time += random() % 8 == 0 ? 1'800'000 + static_cast<int64_t>(random() % 86'400'000)
                                  : static_cast<int64_t>(random() % 300'000);
        UserTag& tag = batch.emplace_back();
        stream.Next(&tag);
        tag.cookie = f->cookies.back();
        tag.time = time;
        tag.action = i % 2 == 0 ? Action::kView : Action::kBuy;
      }
      if (batch.size() >= 20'000) {
        Check(f->db->db().AddTags(batch), "fill sessions");
        batch.clear();
      }
    }
    if (!batch.empty()) Check(f->db->db().AddTags(batch), "fill sessions");
    return f;
  }();
  return *fixture;
}

void BM_UserSessions(benchmark::State& state) {
  SessionFixture& f = Sessions();
  const SessionQuery query{{kMinTime, kMaxTime}, kDefaultSessionLimit, kDefaultSessionGapMs};
  size_t i = 0, sessions = 0;
  for (auto _ : state) {
    auto result = f.db->db().analytics().UserSessions(f.cookies[i++ % f.cookies.size()], query);
    Check(result.status(), "UserSessions");
    sessions = result->size();
    benchmark::DoNotOptimize(result);
  }
  state.counters["sessions"] = static_cast<double>(sessions);
}
BENCHMARK(BM_UserSessions)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace allezon::bench

int main(int argc, char** argv) {
  std::vector<char*> args;
  bool min_time_given = false;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      allezon::bench::g_quick = true;
      continue;
    }
    if (std::strncmp(argv[i], "--benchmark_min_time", 20) == 0) min_time_given = true;
    args.push_back(argv[i]);
  }
  static char quick_min_time[] = "--benchmark_min_time=0.01";
  if (allezon::bench::g_quick && !min_time_given) args.push_back(quick_min_time);
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  delete allezon::bench::g_day;
  delete allezon::bench::g_standard;
  delete allezon::bench::g_sessions;
  return 0;
}
