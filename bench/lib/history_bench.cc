// allezon-bench-history: the SPEC §10 figures of bench/RESULTS.md ("History beyond 24 hours").
//
//   fill   --dir D --tags N [--raw-hours H]  the standard stream into D (batches of 1,000, no
//          sync: only bytes matter), then the raw_tags table's pages / N (LMDB's own count)
//   export --dir D                         Database::ExportTags of everything, tags/s
//   batch  --port P --tags N [--connections C] [--batch B]
//          POST /user_tags/batch of the standard stream over HTTP, tags/s and per-batch
//          latency p50/p99 (bench/batch_ingest.sh runs it against fresh servers)
//   single --dir D [--seconds S] [--threads T] [--rounds R]
//          durable single-tag AddTag from T threads, raw retention off / on alternately,
//          R rounds of S seconds each, tags/s and the ratio of the medians
#include <httplib.h>
#include <lmdb.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "allezon/database.h"
#include "allezon/tag_lines.h"
#include "realistic_tags.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::unique_ptr<allezon::Database> Open(const std::string& dir, int64_t raw_hours, bool sync) {
  allezon::Options options;
  options.data_dir = dir;
  options.sync = sync;
  options.raw_retention_ms = raw_hours * 3'600'000;
  auto db = allezon::Database::Open(options);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(db.status().message()).c_str());
    std::exit(1);
  }
  return std::move(*db);
}

// Pages of one named table (branch + leaf + overflow) times the page size.
uint64_t TableBytes(const std::string& dir, const char* table) {
  MDB_env* env;
  mdb_env_create(&env);
  mdb_env_set_maxdbs(env, 16);
  if (mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0644) != 0) return 0;
  MDB_txn* txn;
  mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  MDB_dbi dbi;
  uint64_t bytes = 0;
  if (mdb_dbi_open(txn, table, 0, &dbi) == 0) {
    MDB_stat stat;
    mdb_stat(txn, dbi, &stat);
    bytes = (stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages) * stat.ms_psize;
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return bytes;
}

long RssKb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  char line[256];
  long kb = 0;
  while (f != nullptr && std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "VmRSS: %ld", &kb) == 1) break;
  }
  if (f != nullptr) std::fclose(f);
  return kb;
}

int Fill(const std::string& dir, long long tags, int64_t raw_hours) {
  std::filesystem::remove_all(dir);
  const auto start = Clock::now();
  {
    auto db = Open(dir, raw_hours, /*sync=*/false);
    allezon::bench::RealisticTags stream;
    std::vector<allezon::UserTag> batch(1000);
    for (long long done = 0; done < tags; done += 1000) {
      for (auto& tag : batch) stream.Next(&tag);
      if (!db->AddTags(batch).ok()) return 1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(3));  // idle: small blocks merged
  }
  const uint64_t raw = TableBytes(dir, "raw_tags");
  std::printf(
      "fill tags=%lld raw_hours=%lld seconds=%.1f data_mdb_bytes=%llu raw_table_bytes=%llu "
      "raw_bytes_per_tag=%.1f\n",
      tags, static_cast<long long>(raw_hours), Seconds(start),
      static_cast<unsigned long long>(std::filesystem::file_size(dir + "/data.mdb")),
      static_cast<unsigned long long>(raw), static_cast<double>(raw) / tags);
  return 0;
}

int Export(const std::string& dir) {
  auto db = Open(dir, 24 * 365, true);
  const long rss_before = RssKb();
  long rss_max = rss_before;
  uint64_t tags = 0, bytes = 0;
  std::string chunk;
  const auto start = Clock::now();
  const allezon::EpochMillis earliest = db->EarliestRawTime().value_or(allezon::kMinTime);
  absl::Status s = db->ExportTags({earliest, allezon::kMaxTime},
                                  [&](std::span<const allezon::UserTagView> views) {
                                    chunk.clear();
                                    for (const auto& v : views)
                                      allezon::AppendUserTagLine(v, &chunk);
                                    tags += views.size();
                                    bytes += chunk.size();
                                    if (tags % (1 << 20) < views.size())
                                      rss_max = std::max(rss_max, RssKb());
                                    return absl::OkStatus();
                                  });
  if (!s.ok()) {
    std::fprintf(stderr, "export: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  const double seconds = Seconds(start);
  std::printf(
      "export tags=%llu ndjson_bytes=%llu seconds=%.2f tags_per_s=%.0f rss_kb_before=%ld "
      "rss_kb_max=%ld\n",
      static_cast<unsigned long long>(tags), static_cast<unsigned long long>(bytes), seconds,
      tags / seconds, rss_before, rss_max);
  return 0;
}

int Batch(int port, long long tags, int connections, int batch_tags) {
  allezon::bench::RealisticTags stream;
  std::vector<std::string> bodies;
  std::string json;
  for (long long done = 0; done < tags; done += batch_tags) {
    std::string body;
    for (int i = 0; i < batch_tags; ++i) {
      stream.NextJson(&json);
      body += json;
      body += '\n';
    }
    bodies.push_back(std::move(body));
  }
  std::atomic<size_t> next{0};
  std::atomic<long long> failed{0};
  // Per batch: from the request's first byte sent to its 204 read (a durable commit).
  std::vector<double> latency_ms(bodies.size());
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      for (size_t i; (i = next.fetch_add(1)) < bodies.size();) {
        const auto sent = Clock::now();
        auto r = client.Post("/user_tags/batch", bodies[i], "application/x-ndjson");
        latency_ms[i] = 1000 * Seconds(sent);
        if (!r || r->status != 204) failed.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = Seconds(start);
  std::sort(latency_ms.begin(), latency_ms.end());
  const auto pct = [&](double p) {
    return latency_ms.empty() ? 0.0 : latency_ms[static_cast<size_t>(p * (latency_ms.size() - 1))];
  };
  std::printf(
      "batch tags=%lld batch=%d connections=%d seconds=%.2f tags_per_s=%.0f p50_ms=%.2f "
      "p99_ms=%.2f failed=%lld\n",
      tags, batch_tags, connections, seconds, tags / seconds, pct(0.5), pct(0.99), failed.load());
  return failed.load() == 0 ? 0 : 1;
}

double SingleRun(const std::string& dir, int64_t raw_hours, int threads, double seconds,
                 allezon::bench::RealisticTags* stream, std::mutex* stream_mu) {
  auto db = Open(dir, raw_hours, /*sync=*/true);
  std::atomic<bool> stop{false};
  std::atomic<long long> done{0};
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      allezon::UserTag tag;
      while (!stop.load(std::memory_order_relaxed)) {
        {
          std::lock_guard lock(*stream_mu);
          stream->Next(&tag);
        }
        if (db->AddTag(tag).ok()) done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  return done.load() / Seconds(start);
}

int Single(const std::string& dir, double seconds, int threads, int rounds) {
  std::filesystem::remove_all(dir);
  allezon::bench::RealisticTags stream;
  std::mutex stream_mu;
  std::vector<double> rates[2];
  // Alternating, many short rounds: on a shared machine the load of others swings more than
  // the difference measured; medians of interleaved rounds see the same swings.
  for (int round = 0; round < 2 * rounds; ++round) {
    const bool raw = round % 2 == 1;
    // A fresh directory per run: both start from the same (empty) state.
    std::filesystem::remove_all(dir);
    const double rate = SingleRun(dir, raw ? 24 : 0, threads, seconds, &stream, &stream_mu);
    std::printf("single raw=%s threads=%d tags_per_s=%.0f\n", raw ? "on" : "off", threads, rate);
    rates[raw].push_back(rate);
  }
  for (auto& r : rates) std::sort(r.begin(), r.end());
  const double off = rates[0][rates[0].size() / 2], on = rates[1][rates[1].size() / 2];
  std::printf("single median_off=%.0f median_on=%.0f ratio_on_over_off=%.3f\n", off, on, on / off);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s fill|export|batch|single [flags]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  std::string dir = "/tmp/allezon-history";
  long long tags = 1'000'000;
  int64_t raw_hours = 24;
  int port = 0, connections = 4, batch = 1000, threads = 32, rounds = 4;
  double seconds = 5;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--dir")
      dir = value;
    else if (flag == "--tags")
      tags = std::atoll(value.c_str());
    else if (flag == "--raw-hours")
      raw_hours = std::atoll(value.c_str());
    else if (flag == "--port")
      port = std::atoi(value.c_str());
    else if (flag == "--connections")
      connections = std::atoi(value.c_str());
    else if (flag == "--batch")
      batch = std::atoi(value.c_str());
    else if (flag == "--threads")
      threads = std::atoi(value.c_str());
    else if (flag == "--seconds")
      seconds = std::atof(value.c_str());
    else if (flag == "--rounds")
      rounds = std::atoi(value.c_str());
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (mode == "fill") return Fill(dir, tags, raw_hours);
  if (mode == "export") return Export(dir);
  if (mode == "batch") return Batch(port, tags, connections, batch);
  if (mode == "single") return Single(dir, seconds, threads, rounds);
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
