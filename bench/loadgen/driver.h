// The driver: sends the stream to a server, checks every answer against the oracle, and
// keeps the counts of the report. One thread runs everything (Run()); other threads may only
// call the control methods and Status(), which are thread-safe.
//
// How answers stay exactly checkable while requests overlap on many connections:
// - At most one request per cookie is in flight, so a cookie's tags are accepted in stream
//   order (that decides "equal times: later accepted first") and a profile query sees all of
//   its cookie's tags answered and nothing of it half-done. A tag whose cookie is busy waits
//   in that cookie's queue while the stream goes on with other cookies (a slow query must
//   not stall the tags), up to a bound.
// - A query is generated at its place in the stream (its path is deterministic) but sent
//   when the data it asks about is settled: a profile query once every tag earlier than its
//   range's end was answered at least --profile-latency ago (wall clock) and its cookie is
//   idle; an aggregates query once every tag earlier than its range's end was answered. Its
//   expected answer is computed at that moment from the oracle. Until then it is parked;
//   tags keep flowing.
// - A tag that fails (error status, timeout) may or may not be stored: its cookie and its
//   minute become "tainted" and queries about them are skipped rather than guessed.
#ifndef ALLEZON_BENCH_LOADGEN_DRIVER_H_
#define ALLEZON_BENCH_LOADGEN_DRIVER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "http_client.h"
#include "oracle.h"
#include "report.h"
#include "stream.h"

namespace allezon::loadgen {

struct DriverOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  StreamOptions stream;
  uint64_t max_tags = 0;    // stop after this many tags (0: no limit)
  int64_t duration_ns = 0;  // stop after this much running time (0: no limit)
  double throughput = 0;    // tags/s; 0: as fast as the server answers
  int connections = 16;
  int64_t profile_latency_ns = 10'000'000'000;  // see the header comment
  int profile_cap = 200;                        // what the server keeps per cookie and action
  bool send_expected = true;  // debug mode: query bodies carry the expected answer
  int64_t request_timeout_ns = 10'000'000'000;  // a request unanswered this long has failed
  int64_t tag_deadline_ns = 200'000'000;        // slower answers are "late"
  int64_t profile_deadline_ns = 200'000'000;
  int64_t aggregate_deadline_ns = 60'000'000'000;
  bool wait_for_start = false;  // stay "created" until Start() (the control endpoint)
  bool progress = false;        // a live status line on stderr
  int max_samples = 5;          // mismatches / failures kept per endpoint
};

class Driver {
 public:
  explicit Driver(DriverOptions options);
  ~Driver();

  // Runs the subscription to its end (tags or duration reached, or Close()). Returns false
  // with a message when the run could not start at all (e.g. the host does not resolve).
  bool Run(std::string* error);

  // Thread-safe controls, as the platform's panel: start (when created with
  // wait_for_start), pause, resume, close. Close ends Run() with the report of what was done.
  void Start() { command_.store(kStart); }
  void Pause() { command_.store(kPause); }
  void Resume() { command_.store(kResume); }
  void Close() { command_.store(kClose); }

  // Thread-safe: the latest status (refreshed about 10 times a second) as JSON.
  std::string StatusJson() const;
  // After Run(): the final report.
  const RunReport& report() const { return report_; }

 private:
  enum Command { kNone, kStart, kPause, kResume, kClose };
  enum class State { kCreated, kRunning, kPaused, kClosing, kFinished };
  enum class SlotKind { kEmpty, kTag, kProfile, kAggregate };

  // What is in flight on one connection (one request per connection).
  struct Slot {
    SlotKind kind = SlotKind::kEmpty;
    Tag tag;               // kTag
    uint32_t cookie = 0;   // kProfile
    int64_t end_ms = 0;    // kAggregate: the range's end
    std::string path;      // queries
    std::string expected;  // queries
  };
  struct ParkedProfile {
    ProfileQuery query;
    int64_t generated_at_newest_ms;
  };
  struct ParkedAggregate {
    AggregateQuery query;
    int64_t generated_at_newest_ms;
  };
  struct SafeTimeCheckpoint {
    int64_t safe_time_ms;
    int64_t wall_ns;
  };

  void HandleCommand(int64_t now_ns);
  // Sends as much as the connections, pacing and ordering rules allow. Returns the wall
  // time at which pacing next allows a tag (0 when not waiting on pacing).
  int64_t Dispatch(int64_t now_ns);
  bool DispatchParked(int connection, int64_t now_ns, int64_t safe_now, int64_t safe_old);
  void SendTag(int connection, const Tag& tag);
  void Defer(const Tag& tag);
  // Sends the oldest waiting tag of a cookie that has become free; false when none can go.
  bool DispatchDeferred(int connection, int64_t aggregate_block);
  void DigestTag(const Tag& tag);
  void OnDone(uint64_t token, const HttpResult& result);
  void CheckQuery(EndpointStats* stats, const char* endpoint, const Slot& slot,
                  const HttpResult& result, int64_t deadline_ns);
  void AddSample(const char* endpoint, const std::string& request, std::string problem);
  bool MoreItems() const;
  bool StreamOver() const;
  // All tags with an event time below this have been answered.
  int64_t SafeTime() const;
  void RecordSafeTime(int64_t now_ns);
  int64_t SafeTimeAged(int64_t now_ns);
  bool CookieBusy(uint32_t cookie) const;
  int64_t MaxInFlightAggregateEnd() const;
  void Prune();
  void PublishStatus(int64_t now_ns, bool final_report);
  double ProgressPercent(int64_t running_ns) const;
  int64_t RunningNanos(int64_t now_ns) const;

  DriverOptions options_;
  Catalog catalog_;
  StreamGenerator generator_;
  Oracle oracle_;
  std::unique_ptr<HttpClient> client_;
  StreamDigest digest_;

  std::atomic<int> command_{kNone};
  State state_ = State::kCreated;
  int64_t started_ns_ = 0;
  int64_t paused_at_ns_ = 0;
  int64_t paused_total_ns_ = 0;
  int64_t pacing_base_ns_ = 0;
  uint64_t paced_tags_ = 0;  // tags sent since pacing_base_ns_

  StreamItem pending_;
  bool has_pending_ = false;
  uint64_t tags_sent_ = 0;
  uint64_t tags_since_prune_ = 0;
  std::vector<Slot> slots_;
  absl::flat_hash_map<uint32_t, int> busy_cookies_;
  // Tags waiting for their cookie to be free, per cookie in stream order; cookies whose
  // request just finished and that have waiting tags; the waiting tags' times.
  absl::flat_hash_map<uint32_t, std::deque<Tag>> deferred_;
  std::deque<uint32_t> ready_cookies_;
  std::multiset<int64_t> deferred_times_;
  std::deque<ParkedProfile> parked_profiles_;
  std::deque<ParkedAggregate> parked_aggregates_;
  std::deque<SafeTimeCheckpoint> checkpoints_;
  std::string body_;  // scratch for request bodies

  RunReport report_;
  int64_t last_status_ns_ = 0;
  int64_t last_progress_ns_ = 0;
  mutable std::mutex status_mutex_;
  std::string status_json_;  // guarded by status_mutex_
};

}  // namespace allezon::loadgen

#endif  // ALLEZON_BENCH_LOADGEN_DRIVER_H_
