#include "metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace allezon::server {
namespace {

constexpr std::string_view kEndpointNames[] = {
    "user_tags", "user_profiles", "aggregates", "metrics", "healthz",
    "readyz",    "debug_stats",   "admin",      "analyst", "other"};
static_assert(std::size(kEndpointNames) == static_cast<size_t>(Endpoint::kCount));

void AppendNumber(std::string* out, double value) {
  char text[40];
  std::snprintf(text, sizeof(text), "%.9g", value);
  out->append(text);
}

// Bucket bounds printed as Prometheus clients do ("0.0001", "1", "+Inf").
std::string BucketLabel(double bound) {
  std::string text;
  AppendNumber(&text, bound);
  return text;
}

}  // namespace

Endpoint EndpointFor(std::string_view path) {
  if (path == "/user_tags") return Endpoint::kUserTags;
  if (path.substr(0, 15) == "/user_profiles/") return Endpoint::kUserProfiles;
  if (path == "/aggregates") return Endpoint::kAggregates;
  if (path == "/metrics") return Endpoint::kMetrics;
  if (path == "/healthz") return Endpoint::kHealthz;
  if (path == "/readyz") return Endpoint::kReadyz;
  if (path == "/debug/stats") return Endpoint::kDebugStats;
  if (path.substr(0, 7) == "/admin/") return Endpoint::kAdmin;
  if (path == "/top" || path == "/catalogue" || path == "/anomalies" ||
      path.substr(0, 15) == "/user_sessions/") {
    return Endpoint::kAnalyst;
  }
  return Endpoint::kOther;
}

std::string_view EndpointName(Endpoint endpoint) {
  const int i = static_cast<int>(endpoint);
  return i >= 0 && i < static_cast<int>(Endpoint::kCount) ? kEndpointNames[i] : "other";
}

int HttpMetrics::StatusSlot(int status) {
  for (size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) return static_cast<int>(i);
  }
  const int status_class = std::clamp(status / 100, 1, 5);
  return static_cast<int>(kStatuses.size()) + status_class - 1;
}

void HttpMetrics::Count(Endpoint endpoint, int status) {
  const int e = std::clamp(static_cast<int>(endpoint), 0, kEndpoints - 1);
  requests_[e][StatusSlot(status)].fetch_add(1, std::memory_order_relaxed);
}

void HttpMetrics::Observe(Endpoint endpoint, int status, std::chrono::nanoseconds latency) {
  Count(endpoint, status);
  const int e = std::clamp(static_cast<int>(endpoint), 0, kEndpoints - 1);
  const double seconds = std::chrono::duration<double>(latency).count();
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  buckets_[e][b].fetch_add(1, std::memory_order_relaxed);
  latency_sum_ns_[e].fetch_add(static_cast<uint64_t>(std::max<int64_t>(latency.count(), 0)),
                               std::memory_order_relaxed);
  latency_count_[e].fetch_add(1, std::memory_order_relaxed);
}

void HttpMetrics::AppendPrometheus(std::string* out) const {
  AppendMetricHeader(out, "allezon_http_requests_total", "counter",
                     "HTTP requests answered, by endpoint and status code.");
  for (int e = 0; e < kEndpoints; ++e) {
    for (int s = 0; s < kStatusSlots; ++s) {
      const uint64_t n = requests_[e][s].load(std::memory_order_relaxed);
      if (n == 0) continue;
      const std::string status = s < static_cast<int>(kStatuses.size())
                                     ? std::to_string(kStatuses[s])
                                     : std::to_string(s - kStatuses.size() + 1) + "xx";
      AppendSample(out, "allezon_http_requests_total",
                   std::string("endpoint=\"") + std::string(kEndpointNames[e]) + "\",status=\"" +
                       status + "\"",
                   n);
    }
  }
  AppendMetricHeader(out, "allezon_http_request_duration_seconds", "histogram",
                     "Time from a request's first byte to its response written, by endpoint.");
  for (int e = 0; e < kEndpoints; ++e) {
    const uint64_t count = latency_count_[e].load(std::memory_order_relaxed);
    if (count == 0) continue;
    const std::string endpoint = std::string("endpoint=\"") + std::string(kEndpointNames[e]) + "\"";
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += buckets_[e][b].load(std::memory_order_relaxed);
      const std::string le = b < kBuckets.size() ? BucketLabel(kBuckets[b]) : "+Inf";
      AppendSample(out, "allezon_http_request_duration_seconds_bucket",
                   endpoint + ",le=\"" + le + "\"", cumulative);
    }
    AppendSample(out, "allezon_http_request_duration_seconds_sum", endpoint,
                 static_cast<double>(latency_sum_ns_[e].load(std::memory_order_relaxed)) / 1e9);
    AppendSample(out, "allezon_http_request_duration_seconds_count", endpoint, cumulative);
  }
}

void AppendMetricHeader(std::string* out, std::string_view name, std::string_view type,
                        std::string_view help) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void AppendSample(std::string* out, std::string_view name, std::string_view labels, double value) {
  out->append(name);
  if (!labels.empty()) out->append("{").append(labels).append("}");
  out->append(" ");
  AppendNumber(out, value);
  out->append("\n");
}

void AppendSample(std::string* out, std::string_view name, std::string_view labels,
                  uint64_t value) {
  out->append(name);
  if (!labels.empty()) out->append("{").append(labels).append("}");
  out->append(" ").append(std::to_string(value)).append("\n");
}

void AppendSingle(std::string* out, std::string_view name, std::string_view type,
                  std::string_view help, double value) {
  AppendMetricHeader(out, name, type, help);
  AppendSample(out, name, "", value);
}

void AppendProcessMetrics(std::string* out) {
  const double page_size = static_cast<double>(::sysconf(_SC_PAGESIZE));
  double rss = 0, threads = 0, start_ticks = 0;
  {
    std::ifstream statm("/proc/self/statm");
    double size_pages = 0, rss_pages = 0;
    if (statm >> size_pages >> rss_pages) rss = rss_pages * page_size;
  }
  {
    // Fields after the command name, which sits in parentheses and may hold spaces.
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
    const size_t close = stat.rfind(')');
    if (close != std::string::npos) {
      std::istringstream fields(stat.substr(close + 2));
      std::string field;
      for (int i = 3; fields >> field; ++i) {
        if (i == 20) threads = std::strtod(field.c_str(), nullptr);
        if (i == 22) {
          start_ticks = std::strtod(field.c_str(), nullptr);
          break;
        }
      }
    }
  }
  double boot_time = 0;
  {
    std::ifstream proc_stat("/proc/stat");
    std::string key;
    while (proc_stat >> key) {
      if (key == "btime") {
        proc_stat >> boot_time;
        break;
      }
      proc_stat.ignore(1 << 20, '\n');
    }
  }
  std::error_code error;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++fds;
  }
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                     static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  AppendSingle(out, "process_cpu_seconds_total", "counter", "User and system CPU time, seconds.",
               cpu);
  AppendSingle(out, "process_resident_memory_bytes", "gauge", "Resident memory, bytes.", rss);
  AppendSingle(out, "process_open_fds", "gauge", "Open file descriptors.", fds);
  AppendSingle(out, "process_max_fds", "gauge", "Limit of open file descriptors.",
               static_cast<double>(limit.rlim_cur));
  AppendSingle(out, "process_threads", "gauge", "OS threads in the process.", threads);
  AppendSingle(out, "process_start_time_seconds", "gauge",
               "Start time of the process, seconds since the Unix epoch.",
               boot_time + start_ticks / static_cast<double>(::sysconf(_SC_CLK_TCK)));
}

}  // namespace allezon::server
