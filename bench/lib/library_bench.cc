// allezon-bench: Google Benchmark of the library's hot paths (issue 6), in process, on real
// LMDB in a temporary directory, with the load generator's realistic tags.
//
//   BM_AddTags/<batch>         durable (fsync) AddTags of <batch> tags per call, one thread
//   BM_AddTag/threads:N        durable single-tag AddTag from N threads (group commit, like the
//                              HTTP server's worker threads)
//   BM_ProfileQuery            GetProfile of a cookie with a 200-tag history (180 VIEW + 20 BUY),
//                              full range, limit 200; per thread
//   BM_ProfileToJson           ProfileToJson of that 200-tag profile
//   BM_ProfileQueryThenJson    the server's former profile answer: GetProfile + ProfileToJson
//   BM_ProfileVisit            VisitProfile of the same cookies (zero-copy views); per thread
//   BM_ProfileJson             AppendProfileJson of the same cookies into a reused string (the
//                              server's answer now); per thread
//   BM_ParseTagJson            ParseUserTagJson of the stream's tag bodies
//   BM_Aggregates10m/<mask>    a 10-minute range ending at the newest minute (so it covers
//                              open, in-memory minutes and folded ones); mask bit 4 origin,
//                              2 brand_id, 1 category_id filters
//   BM_Aggregates24h/<mask>    a 24-hour range ending at the newest minute
//
// Flag --quick (ours, consumed before Google Benchmark's): small fixtures and short runs,
// for CI smoke (bench/run.sh --quick).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "allezon/database.h"
#include "allezon/json.h"
#include "allezon/user_tag.h"
#include "allezon/user_tag_view.h"
#include "realistic_tags.h"

namespace allezon::bench {
namespace {

bool g_quick = false;

// A database in a fresh temporary directory, removed on destruction.
class TempDatabase {
 public:
  explicit TempDatabase(bool sync, const char* name) {
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
    options.sync = sync;
    options.tuning.initial_map_size = 1ULL << 30;
    auto db = Database::Open(options);
    if (!db.ok()) {
      std::fprintf(stderr, "open %s: %s\n", dir_.c_str(), std::string(db.status().message()).c_str());
      std::abort();
    }
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

void Check(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(status.message()).c_str());
    std::abort();
  }
}

// Pre-generated realistic tags, replayed with times shifted forward on every lap so that
// event time keeps advancing.
class TagSource {
 public:
  explicit TagSource(size_t count) {
    RealisticTags stream;
    tags_.resize(count);
    for (UserTag& tag : tags_) stream.Next(&tag);
    span_ms_ = tags_.back().time - tags_.front().time + 1;
  }
  // Fills `out` with the next n tags.
  void Take(size_t n, std::vector<UserTag>* out) {
    out->resize(n);
    for (size_t i = 0; i < n; ++i) Take(&(*out)[i]);
  }
  void Take(UserTag* out) {
    *out = tags_[next_];
    out->time += lap_ * span_ms_;
    if (++next_ == tags_.size()) {
      next_ = 0;
      ++lap_;
    }
  }

 private:
  std::vector<UserTag> tags_;
  size_t next_ = 0;
  int64_t lap_ = 0;
  int64_t span_ms_ = 0;
};

// ---------------------------------------------------------------------------------------
// Writes.

void BM_AddTags(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  TempDatabase db(/*sync=*/true, "add");
  TagSource source(g_quick ? 20'000 : 200'000);
  std::vector<UserTag> tags;
  for (auto _ : state) {
    state.PauseTiming();
    source.Take(batch, &tags);
    state.ResumeTiming();
    Check(db.db().AddTags(tags), "AddTags");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  const DatabaseStats stats = db.db().Stats();
  state.counters["bytes_per_tag"] =
      static_cast<double>(stats.map_used) / static_cast<double>(std::max<uint64_t>(1, stats.tags_written));
}
BENCHMARK(BM_AddTags)->Arg(1)->Arg(16)->Arg(256)->Arg(4096)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Concurrent single-tag writers share one database (the server's situation).
struct SharedWriteFixture {
  std::unique_ptr<TempDatabase> db;
  std::vector<UserTag> tags;
  std::atomic<size_t> next{0};
};
SharedWriteFixture* g_write_fixture = nullptr;

void SetUpSharedWrite(const benchmark::State&) {
  g_write_fixture = new SharedWriteFixture;
  g_write_fixture->db = std::make_unique<TempDatabase>(/*sync=*/true, "addmt");
  RealisticTags stream;
  g_write_fixture->tags.resize(g_quick ? 20'000 : 400'000);
  for (UserTag& tag : g_write_fixture->tags) stream.Next(&tag);
}
void TearDownSharedWrite(const benchmark::State&) {
  delete g_write_fixture;
  g_write_fixture = nullptr;
}

void BM_AddTag(benchmark::State& state) {
  SharedWriteFixture& f = *g_write_fixture;
  for (auto _ : state) {
    const size_t i = f.next.fetch_add(1, std::memory_order_relaxed);
    UserTag tag = f.tags[i % f.tags.size()];
    tag.time += static_cast<int64_t>(i / f.tags.size()) * 3'600'000;
    Check(f.db->db().AddTag(tag), "AddTag");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddTag)
    ->Setup(SetUpSharedWrite)
    ->Teardown(TearDownSharedWrite)
    ->Threads(16)
    ->Threads(64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------------------
// Profiles.

constexpr int kHistoryViews = 180;
constexpr int kHistoryBuys = 20;

struct ProfileFixture {
  std::unique_ptr<TempDatabase> db;
  std::vector<std::string> cookies;
  TimeRange full{kMinTime, kMaxTime};
};

// The read fixtures are built on first use and live until main deletes them after the last
// benchmark (their databases and directories go with them).
ProfileFixture* g_profiles = nullptr;

ProfileFixture& Profiles() {
  static ProfileFixture* fixture = g_profiles = [] {
    auto* f = new ProfileFixture;
    f->db = std::make_unique<TempDatabase>(/*sync=*/false, "profiles");
    const int cookies = g_quick ? 200 : 5'000;
    RealisticTags stream;
    // Each cookie gets 200 realistic tags, interleaved across cookies in time like a stream.
    std::vector<UserTag> batch;
    UserTag tag;
    int64_t time = 1'646'092'800'000;
    for (int c = 0; c < cookies; ++c) {
      f->cookies.push_back(absl::StrCat("bench-cookie-", c, "-", c * 7919 % 100003));
    }
    for (int round = 0; round < kHistoryViews + kHistoryBuys; ++round) {
      for (int c = 0; c < cookies; ++c) {
        stream.Next(&tag);
        tag.cookie = f->cookies[static_cast<size_t>(c)];
        tag.time = time++;
        tag.action = round % 10 == 9 ? Action::kBuy : Action::kView;
        batch.push_back(tag);
        if (batch.size() == 10'000) {
          Check(f->db->db().AddTags(batch), "fill profiles");
          batch.clear();
        }
      }
    }
    if (!batch.empty()) Check(f->db->db().AddTags(batch), "fill profiles");
    return f;
  }();
  return *fixture;
}

void BM_ProfileQuery(benchmark::State& state) {
  ProfileFixture& f = Profiles();
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  size_t returned = 0;
  for (auto _ : state) {
    auto profile = f.db->db().user_tags().GetProfile(f.cookies[i++ % f.cookies.size()], f.full, 200);
    Check(profile.status(), "GetProfile");
    returned += profile->views.size() + profile->buys.size();
    benchmark::DoNotOptimize(profile);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["tags_per_query"] =
      static_cast<double>(returned) / static_cast<double>(std::max<int64_t>(1, state.iterations()));
}
BENCHMARK(BM_ProfileQuery)->Threads(1)->Threads(2)->UseRealTime();

void BM_ProfileToJson(benchmark::State& state) {
  ProfileFixture& f = Profiles();
  auto profile = f.db->db().user_tags().GetProfile(f.cookies[0], f.full, 200);
  Check(profile.status(), "GetProfile");
  size_t bytes = 0;
  for (auto _ : state) {
    std::string json = ProfileToJson(*profile);
    bytes += json.size();
    benchmark::DoNotOptimize(json);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ProfileToJson);

void BM_ProfileQueryThenJson(benchmark::State& state) {
  ProfileFixture& f = Profiles();
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  size_t bytes = 0;
  for (auto _ : state) {
    auto profile =
        f.db->db().user_tags().GetProfile(f.cookies[i++ % f.cookies.size()], f.full, 200);
    Check(profile.status(), "GetProfile");
    std::string json = ProfileToJson(*profile);
    bytes += json.size();
    benchmark::DoNotOptimize(json);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ProfileQueryThenJson)->Threads(1)->Threads(2)->UseRealTime();

void BM_ProfileVisit(benchmark::State& state) {
  ProfileFixture& f = Profiles();
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  size_t returned = 0;
  for (auto _ : state) {
    // Touches what a real visitor would read, so nothing is optimised away.
    size_t checksum = 0;
    const auto visit = [&](const UserTagView& tag) {
      checksum += static_cast<size_t>(tag.time) + tag.origin.size() + tag.brand_id.size() +
                  static_cast<size_t>(tag.price);
      ++returned;
    };
    Check(
        f.db->db().user_tags().VisitProfile(f.cookies[i++ % f.cookies.size()], f.full, 200, visit),
        "VisitProfile");
    benchmark::DoNotOptimize(checksum);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["tags_per_query"] =
      static_cast<double>(returned) / static_cast<double>(std::max<int64_t>(1, state.iterations()));
}
BENCHMARK(BM_ProfileVisit)->Threads(1)->Threads(2)->UseRealTime();

void BM_ProfileJson(benchmark::State& state) {
  ProfileFixture& f = Profiles();
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  size_t bytes = 0;
  std::string json;
  for (auto _ : state) {
    json.clear();  // keeps the capacity, as a server thread reusing its buffer would
    Check(AppendProfileJson(f.db->db().user_tags(), f.cookies[i++ % f.cookies.size()], f.full, 200,
                            &json),
          "AppendProfileJson");
    bytes += json.size();
    benchmark::DoNotOptimize(json);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ProfileJson)->Threads(1)->Threads(2)->UseRealTime();

// ---------------------------------------------------------------------------------------
// Tag parsing.

void BM_ParseTagJson(benchmark::State& state) {
  RealisticTags stream;
  std::vector<std::string> bodies(4096);
  for (std::string& body : bodies) stream.NextJson(&body);
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& body = bodies[i++ % bodies.size()];
    auto tag = ParseUserTagJson(body);
    bytes += body.size();
    benchmark::DoNotOptimize(tag);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ParseTagJson);

// ---------------------------------------------------------------------------------------
// Aggregates: 24 h + 10 min of event time at `per_minute` tags a minute, folded as the
// writer folds them (minutes older than the fold delay), the newest minutes still open.

struct AggregateFixture {
  std::unique_ptr<TempDatabase> db;
  UserTag sample;  // a tag of the newest minute: its origin/brand/category are the filters
  EpochMillis newest_minute = 0;
  int64_t tags = 0;
};

AggregateFixture* g_aggregates = nullptr;

AggregateFixture& Aggregates() {
  static AggregateFixture* fixture = g_aggregates = [] {
    auto* f = new AggregateFixture;
    f->db = std::make_unique<TempDatabase>(/*sync=*/false, "aggregates");
    const int64_t minutes = 24 * 60 + 10;
    const int64_t per_minute = g_quick ? 20 : 2'000;
    RealisticTags stream(/*seed=*/3, /*cookies=*/1'000'000, /*time_step_ms=*/60'000 / per_minute);
    std::vector<UserTag> batch;
    for (int64_t i = 0; i < minutes * per_minute; ++i) {
      UserTag& tag = batch.emplace_back();
      stream.Next(&tag);
      if (batch.size() == 10'000) {
        Check(f->db->db().AddTags(batch), "fill aggregates");
        f->sample = batch.back();
        batch.clear();
      }
    }
    if (!batch.empty()) {
      Check(f->db->db().AddTags(batch), "fill aggregates");
      f->sample = batch.back();
    }
    f->tags = minutes * per_minute;
    f->newest_minute = f->sample.time - f->sample.time % 60'000;
    // Let the writer fold what is due (it folds on its own timer).
    for (int i = 0; i < 100 && f->db->db().Stats().open_minutes > 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return f;
  }();
  return *fixture;
}

AggregateQuery MakeAggregateQuery(const AggregateFixture& f, int mask, int64_t minutes) {
  AggregateQuery query;
  query.range.end = f.newest_minute + 60'000;
  query.range.begin = query.range.end - minutes * 60'000;
  query.action = f.sample.action;
  if (mask & 4) query.origin = f.sample.origin;
  if (mask & 2) query.brand_id = f.sample.brand_id;
  if (mask & 1) query.category_id = f.sample.category_id;
  query.aggregates = {AggregateFunction::kCount, AggregateFunction::kSumPrice};
  return query;
}

void RunAggregates(benchmark::State& state, int64_t minutes) {
  AggregateFixture& f = Aggregates();
  const AggregateQuery query = MakeAggregateQuery(f, static_cast<int>(state.range(0)), minutes);
  int64_t counted = 0;
  for (auto _ : state) {
    auto result = f.db->db().aggregates().Query(query);
    Check(result.status(), "Query");
    counted = 0;
    for (const AggregateRow& row : result->rows) counted += row.count;
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["matched_tags"] = static_cast<double>(counted);
  state.counters["open_minutes"] = static_cast<double>(f.db->db().Stats().open_minutes);
}

void BM_Aggregates10m(benchmark::State& state) { RunAggregates(state, 10); }
void BM_Aggregates24h(benchmark::State& state) { RunAggregates(state, 24 * 60); }
BENCHMARK(BM_Aggregates10m)->DenseRange(0, 7)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Aggregates24h)->DenseRange(0, 7)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace allezon::bench

int main(int argc, char** argv) {
  // Our own flag first; Google Benchmark rejects flags it does not know.
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
  delete allezon::bench::g_profiles;
  delete allezon::bench::g_aggregates;
  return 0;
}
