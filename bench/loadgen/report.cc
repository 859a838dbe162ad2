#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace allezon::loadgen {
namespace {

constexpr int kSubBucketBits = 6;
constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;  // 64
constexpr size_t kBucketCount = kSubBuckets * 50;

int BitWidth(uint64_t x) { return x == 0 ? 0 : 64 - __builtin_clzll(x); }

double Millis(int64_t nanos) { return static_cast<double>(nanos) / 1e6; }

template <typename Writer>
void WriteEndpoint(Writer& writer, const char* name, const EndpointStats& stats, bool query) {
  writer.Key(name);
  writer.StartObject();
  writer.Key("requests");
  writer.Uint64(stats.answered());
  writer.Key(query ? "correct" : "ok");
  writer.Uint64(stats.correct);
  if (query) {
    writer.Key("wrong");
    writer.Uint64(stats.wrong);
  }
  writer.Key("late");
  writer.Uint64(stats.late);
  writer.Key("failed");
  writer.Uint64(stats.failed);
  if (query) {
    writer.Key("skipped");
    writer.Uint64(stats.skipped);
    writer.Key("score");
    writer.Double(QueryScore(stats));
  }
  writer.Key("latency_ms");
  writer.StartObject();
  const std::pair<const char*, double> percentiles[] = {
      {"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}};
  for (const auto& [key, p] : percentiles) {
    writer.Key(key);
    writer.Double(Millis(stats.latency.PercentileNanos(p)));
  }
  writer.Key("max");
  writer.Double(Millis(stats.latency.max_nanos()));
  writer.EndObject();
  writer.EndObject();
}

template <typename Writer>
void WriteReport(Writer& writer, const RunReport& report) {
  writer.StartObject();
  writer.Key("score");
  writer.Double(report.score());
  writer.Key("progress_percent");
  writer.Double(report.progress_percent);
  writer.Key("profiles_score");
  writer.Double(report.profile_score());
  writer.Key("aggregates_score");
  writer.Double(report.aggregate_score());
  writer.Key("state");
  writer.String(report.state.c_str());
  writer.Key("seed");
  writer.Uint64(report.seed);
  writer.Key("target");
  writer.String(absl::StrCat(report.host, ":", report.port).c_str());
  writer.Key("throughput");
  writer.Double(report.throughput);
  writer.Key("tags_planned");
  writer.Uint64(report.tags_planned);
  writer.Key("tags_sent");
  writer.Uint64(report.tags_sent);
  writer.Key("elapsed_seconds");
  writer.Double(report.elapsed_seconds);
  writer.Key("tags_per_second");
  writer.Double(report.tags_per_second());
  writer.Key("loadgen_cpu_seconds");
  writer.Double(report.cpu_seconds);
  writer.Key("stream_digest");
  writer.String(report.digest.c_str());
  writer.Key("endpoints");
  writer.StartObject();
  WriteEndpoint(writer, "user_tags", report.tags, false);
  WriteEndpoint(writer, "user_profiles", report.profiles, true);
  WriteEndpoint(writer, "aggregates", report.aggregates, true);
  writer.EndObject();
  writer.Key("samples");
  writer.StartArray();
  for (const Sample& sample : report.samples) {
    writer.StartObject();
    writer.Key("endpoint");
    writer.String(sample.endpoint.c_str());
    writer.Key("request");
    writer.String(sample.request.c_str());
    writer.Key("problem");
    writer.String(sample.problem.c_str());
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
}

std::string EndpointLine(const char* name, const EndpointStats& stats, bool query) {
  std::string line = absl::StrFormat("  %-14s %9d", name, stats.answered());
  if (query) {
    absl::StrAppendFormat(&line, " %9d %7d %6d %6d %6d", stats.correct, stats.wrong, stats.late,
                          stats.failed, stats.skipped);
  } else {
    absl::StrAppendFormat(&line, " %9d %7s %6d %6d %6s", stats.correct, "-", stats.late,
                          stats.failed, "-");
  }
  absl::StrAppendFormat(
      &line, "  %8.2f %8.2f %8.2f %8.2f %9.2f\n", Millis(stats.latency.PercentileNanos(50)),
      Millis(stats.latency.PercentileNanos(90)), Millis(stats.latency.PercentileNanos(99)),
      Millis(stats.latency.PercentileNanos(99.9)), Millis(stats.latency.max_nanos()));
  return line;
}

}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBucketCount, 0) {}

size_t LatencyHistogram::BucketOf(uint64_t micros) {
  if (micros < kSubBuckets) return static_cast<size_t>(micros);
  const int shift = BitWidth(micros) - kSubBucketBits - 1;  // micros >> shift in [64, 128)
  const size_t bucket = kSubBuckets * static_cast<size_t>(shift + 1) +
                        static_cast<size_t>((micros >> shift) - kSubBuckets);
  return std::min(bucket, kBucketCount - 1);
}

int64_t LatencyHistogram::UpperEdgeMicros(size_t bucket) {
  if (bucket < kSubBuckets) return static_cast<int64_t>(bucket);
  const size_t shift = bucket / kSubBuckets - 1;
  const uint64_t top = kSubBuckets + bucket % kSubBuckets;
  return static_cast<int64_t>(((top + 1) << shift) - 1);
}

void LatencyHistogram::Record(int64_t nanos) {
  if (nanos < 0) nanos = 0;
  ++buckets_[BucketOf(static_cast<uint64_t>(nanos / 1000))];
  ++count_;
  max_ = std::max(max_, nanos);
}

int64_t LatencyHistogram::PercentileNanos(double p) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t bucket = 0; bucket < buckets_.size(); ++bucket) {
    seen += buckets_[bucket];
    if (seen >= rank) return std::min(max_, UpperEdgeMicros(bucket) * 1000 + 999);
  }
  return max_;
}

double QueryScore(const EndpointStats& stats) {
  const uint64_t answered = stats.answered();
  if (answered == 0) return 100.0;
  return static_cast<double>(stats.correct) / static_cast<double>(answered) * 100.0;
}

double TotalScore(double progress_percent, double profile_score, double aggregate_score) {
  return progress_percent * (profile_score + aggregate_score);
}

double RunReport::score() const {
  return TotalScore(progress_percent, profile_score(), aggregate_score());
}

std::string ReportJson(const RunReport& report, bool pretty) {
  rapidjson::StringBuffer buffer;
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
    writer.SetIndent(' ', 2);
    WriteReport(writer, report);
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    WriteReport(writer, report);
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string ReportText(const RunReport& report) {
  std::string text =
      absl::StrFormat("allezon-loadgen: %s against %s:%d, seed %d, %d tags, %.1f s (%.0f tags/s)\n",
                      report.state, report.host, report.port, report.seed, report.tags_sent,
                      report.elapsed_seconds, report.tags_per_second());
  absl::StrAppendFormat(
      &text, "  stream digest %s; load generator CPU %.2f s (%.0f tags per CPU-second)\n\n",
      report.digest, report.cpu_seconds,
      report.cpu_seconds > 0 ? static_cast<double>(report.tags_sent) / report.cpu_seconds : 0.0);
  absl::StrAppendFormat(&text, "  %-14s %9s %9s %7s %6s %6s %6s  %8s %8s %8s %8s %9s\n", "endpoint",
                        "requests", "correct", "wrong", "late", "failed", "skip", "p50 ms",
                        "p90 ms", "p99 ms", "p99.9 ms", "max ms");
  absl::StrAppend(&text, EndpointLine("user_tags", report.tags, false));
  absl::StrAppend(&text, EndpointLine("user_profiles", report.profiles, true));
  absl::StrAppend(&text, EndpointLine("aggregates", report.aggregates, true));
  absl::StrAppend(&text, "  (late: tags and profiles over 200 ms, aggregates over 60 s)\n");
  if (!report.samples.empty()) {
    absl::StrAppend(&text, "\nFirst problems:\n");
    for (const Sample& sample : report.samples) {
      absl::StrAppend(&text, "- ", sample.endpoint, ": ", sample.request, "\n");
      std::string_view problem = sample.problem;
      while (!problem.empty()) {
        const size_t end = problem.find('\n');
        absl::StrAppend(&text, "    ", std::string(problem.substr(0, end)), "\n");
        if (end == std::string_view::npos) break;
        problem.remove_prefix(end + 1);
      }
    }
  }
  absl::StrAppendFormat(&text,
                        "\nScore: %.2f  (progress %.2f %% x (profiles %.2f + aggregates %.2f); "
                        "max 20000)\n",
                        report.score(), report.progress_percent, report.profile_score(),
                        report.aggregate_score());
  return text;
}

std::string ProgressLine(const RunReport& report) {
  const double rate = report.tags_per_second();
  auto query = [](const char* name, const EndpointStats& stats) {
    return absl::StrFormat("%s %d/%d/%d/%d p50 %.1f p99 %.1f ms", name, stats.correct, stats.wrong,
                           stats.late, stats.failed, Millis(stats.latency.PercentileNanos(50)),
                           Millis(stats.latency.PercentileNanos(99)));
  };
  return absl::StrFormat("[%6.1fs %s] tags %d (%.0f/s, %d failed) | %s | %s",
                         report.elapsed_seconds, report.state, report.tags_sent, rate,
                         report.tags.failed, query("profiles ok/wrong/late/fail", report.profiles),
                         query("aggregates", report.aggregates));
}

}  // namespace allezon::loadgen
