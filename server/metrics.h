// Request metrics of the HTTP API and the Prometheus text format (version 0.0.4) they are
// served in at GET /metrics.
//
// Requests are counted by endpoint (the route, never the raw path: a cookie in the path must
// not create a time series per shopper) and status; latencies, from the request's first byte
// to its response written, go into one fixed-bucket histogram per endpoint.
//
// Thread-safety: Observe may be called from any number of threads at once (relaxed atomic
// counters; a scrape may see one request counted and its latency not yet, never torn values).
#ifndef ALLEZON_SERVER_METRICS_H_
#define ALLEZON_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace allezon::server {

enum class Endpoint : int {
  kUserTags,
  kUserProfiles,
  kAggregates,
  kMetrics,
  kHealthz,
  kReadyz,
  kDebugStats,
  kAdmin,
  kAnalyst,  // GET /top, /catalogue, /anomalies, /user_sessions/{cookie}
  kOther,    // unknown paths, and requests refused before routing
  kCount,
};

// The endpoint a request path belongs to.
Endpoint EndpointFor(std::string_view path);
// "user_tags", "user_profiles", ..., "other": the value of the `endpoint` label.
std::string_view EndpointName(Endpoint endpoint);

class HttpMetrics {
 public:
  // Histogram bucket upper bounds, seconds.
  static constexpr std::array<double, 15> kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 10};

  void Observe(Endpoint endpoint, int status, std::chrono::nanoseconds latency);
  // A response with no measured latency (written by the connection layer itself).
  void Count(Endpoint endpoint, int status);

  // allezon_http_requests_total and allezon_http_request_duration_seconds.
  void AppendPrometheus(std::string* out) const;

 private:
  // Statuses get their own series; any other status is counted under its class ("2xx"...).
  static constexpr std::array<int, 16> kStatuses = {200, 204, 400, 401, 403, 404, 405, 408,
                                                    411, 413, 414, 415, 431, 500, 503, 504};
  static constexpr int kStatusSlots = static_cast<int>(kStatuses.size()) + 5;  // + 1xx..5xx
  static constexpr int kEndpoints = static_cast<int>(Endpoint::kCount);
  static int StatusSlot(int status);

  std::array<std::array<std::atomic<uint64_t>, kStatusSlots>, kEndpoints> requests_{};
  std::array<std::array<std::atomic<uint64_t>, kBuckets.size() + 1>, kEndpoints> buckets_{};
  std::array<std::atomic<uint64_t>, kEndpoints> latency_sum_ns_{};
  std::array<std::atomic<uint64_t>, kEndpoints> latency_count_{};
};

// Prometheus text helpers: `# HELP` and `# TYPE` lines, and one sample line. `labels` is
// either empty or `name="value",...` with values already escaped.
void AppendMetricHeader(std::string* out, std::string_view name, std::string_view type,
                        std::string_view help);
void AppendSample(std::string* out, std::string_view name, std::string_view labels, double value);
void AppendSample(std::string* out, std::string_view name, std::string_view labels, uint64_t value);
// name{labels} value with its HELP and TYPE (gauge or counter), for single-series metrics.
void AppendSingle(std::string* out, std::string_view name, std::string_view type,
                  std::string_view help, double value);

// Process metrics (process_resident_memory_bytes, process_open_fds, process_max_fds,
// process_cpu_seconds_total, process_start_time_seconds, process_threads), from /proc.
void AppendProcessMetrics(std::string* out);

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_METRICS_H_
