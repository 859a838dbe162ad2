#include "driver.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <thread>

#include "absl/strings/str_cat.h"
#include "debug_compare.h"

namespace allezon::loadgen {
namespace {

constexpr int64_t kNanosPerMilli = 1'000'000;
constexpr int64_t kStatusEveryNs = 100 * kNanosPerMilli;
constexpr int64_t kProgressEveryNs = 1000 * kNanosPerMilli;
// After a stall, pacing resumes from now instead of bursting to catch up on more than this.
constexpr int64_t kMaxPacingDebtNs = 1000 * kNanosPerMilli;
// Tags due within this are sent now: sleeping for less than a millisecond is not possible
// with epoll, and spinning instead would burn the core the load generator must save.
constexpr int64_t kPacingSlackNs = kNanosPerMilli;
constexpr uint64_t kTagsPerPrune = 256;
// Beyond this many tags waiting for busy cookies, the stream waits instead.
constexpr size_t kMaxDeferredTags = 10'000;
constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();
constexpr int64_t kEndOfTime = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxShownAnswer = 300;

const char* StateName(int state) {
  static constexpr const char* kNames[] = {"created", "running", "paused", "closing", "finished"};
  return kNames[state];
}

}  // namespace

Driver::Driver(DriverOptions options)
    : options_(std::move(options)),
      catalog_(options_.stream.seed, options_.stream.cookie_population),
      generator_(options_.stream, &catalog_),
      oracle_(&catalog_, options_.profile_cap) {
  report_.seed = options_.stream.seed;
  report_.host = options_.host;
  report_.port = options_.port;
  report_.throughput = options_.throughput;
  report_.tags_planned = options_.max_tags;
  report_.state = "created";
  report_.digest = digest_.Hex();
  status_json_ = ReportJson(report_, false);
}

Driver::~Driver() = default;

int64_t Driver::RunningNanos(int64_t now_ns) const {
  if (started_ns_ == 0) return 0;  // never started
  int64_t running = now_ns - started_ns_ - paused_total_ns_;
  if (state_ == State::kPaused) running -= now_ns - paused_at_ns_;
  return std::max<int64_t>(running, 0);
}

bool Driver::MoreItems() const {
  if (generator_.query_due()) return true;
  if (state_ != State::kRunning && state_ != State::kPaused) return false;
  if (options_.max_tags > 0 && generator_.tags_generated() >= options_.max_tags) return false;
  if (options_.duration_ns > 0 && RunningNanos(MonotonicNanos()) >= options_.duration_ns) {
    return false;
  }
  return true;
}

bool Driver::StreamOver() const {
  return !has_pending_ && deferred_.empty() && !MoreItems() && parked_profiles_.empty() &&
         parked_aggregates_.empty() && client_->in_flight() == 0;
}

int64_t Driver::SafeTime() const {
  int64_t safe = kEndOfTime;
  if (has_pending_ && pending_.kind == StreamItem::Kind::kTag) safe = pending_.tag.time_ms;
  if (!deferred_times_.empty()) safe = std::min(safe, *deferred_times_.begin());
  if (MoreItems()) safe = std::min(safe, generator_.NextTagTimeLowerBound());
  for (const Slot& slot : slots_) {
    if (slot.kind == SlotKind::kTag) safe = std::min(safe, slot.tag.time_ms);
  }
  return safe;
}

void Driver::RecordSafeTime(int64_t now_ns) {
  if (options_.profile_latency_ns <= 0) return;
  const int64_t safe = SafeTime();
  // At most one checkpoint per millisecond: a skipped update is recorded by a later one
  // with a later wall time, which only makes queries wait a little longer, never less.
  if (checkpoints_.empty() || (safe > checkpoints_.back().safe_time_ms &&
                               now_ns - checkpoints_.back().wall_ns >= kNanosPerMilli)) {
    checkpoints_.push_back({safe, now_ns});
  }
}

int64_t Driver::SafeTimeAged(int64_t now_ns) {
  if (options_.profile_latency_ns <= 0) return SafeTime();
  const int64_t cutoff = now_ns - options_.profile_latency_ns;
  while (checkpoints_.size() >= 2 && checkpoints_[1].wall_ns <= cutoff) checkpoints_.pop_front();
  if (!checkpoints_.empty() && checkpoints_.front().wall_ns <= cutoff) {
    return checkpoints_.front().safe_time_ms;
  }
  return kNoTime;
}

bool Driver::CookieBusy(uint32_t cookie) const { return busy_cookies_.contains(cookie); }

int64_t Driver::MaxInFlightAggregateEnd() const {
  int64_t end = kNoTime;
  for (const Slot& slot : slots_) {
    if (slot.kind == SlotKind::kAggregate) end = std::max(end, slot.end_ms);
  }
  return end;
}

void Driver::Prune() {
  tags_since_prune_ = 0;
  const int64_t disorder = options_.stream.disorder_ms;
  const int64_t profile_window = options_.stream.profile_lag_ms + kMaxProfileEndOffsetMs +
                                 kMaxProfileRangeMs + 2 * disorder + 60'000;
  const int64_t aggregate_window = options_.stream.aggregate_lag_ms +
                                   kMaxAggregateMinutes * kMillisPerMinute + 2 * disorder +
                                   2 * kMillisPerMinute;
  int64_t oldest_reference = generator_.newest_tag_time_ms();
  if (!parked_profiles_.empty()) {
    oldest_reference = std::min(oldest_reference, parked_profiles_.front().generated_at_newest_ms);
  }
  if (!parked_aggregates_.empty()) {
    oldest_reference =
        std::min(oldest_reference, parked_aggregates_.front().generated_at_newest_ms);
  }
  oracle_.PruneBefore(oldest_reference - std::max(profile_window, aggregate_window));
}

void Driver::DigestTag(const Tag& tag) {
  // The fields, not the body: tags may leave in a different order than generated (see
  // Defer), and the body is a pure function of the fields.
  char fields[48];
  size_t size = 0;
  auto put = [&fields, &size](auto value) {
    std::memcpy(fields + size, &value, sizeof value);
    size += sizeof value;
  };
  put(tag.time_ms);
  put(tag.cookie);
  put(tag.product_id);
  put(tag.price);
  put(tag.origin);
  put(tag.brand);
  put(tag.country);
  put(tag.category);
  put(tag.device);
  put(static_cast<uint8_t>(tag.action));
  digest_.Update(std::string_view(fields, size));
}

void Driver::Defer(const Tag& tag) {
  deferred_[tag.cookie].push_back(tag);
  deferred_times_.insert(tag.time_ms);
}

bool Driver::DispatchDeferred(int connection, int64_t aggregate_block) {
  while (!ready_cookies_.empty()) {
    const uint32_t cookie = ready_cookies_.front();
    auto found = deferred_.find(cookie);
    if (found == deferred_.end() || CookieBusy(cookie)) {
      ready_cookies_.pop_front();  // stale: sent already, or a query took the cookie first
      continue;
    }
    const Tag tag = found->second.front();
    if (tag.time_ms < aggregate_block) return false;  // jittered stream only; brief
    ready_cookies_.pop_front();
    found->second.pop_front();
    if (found->second.empty()) deferred_.erase(found);
    deferred_times_.erase(deferred_times_.find(tag.time_ms));
    SendTag(connection, tag);
    return true;
  }
  return false;
}

void Driver::SendTag(int connection, const Tag& tag) {
  body_.clear();
  AppendStreamTagJson(tag, catalog_, &body_);
  oracle_.AddTag(tag);
  Slot& slot = slots_[static_cast<size_t>(connection)];
  slot.kind = SlotKind::kTag;
  slot.tag = tag;
  ++busy_cookies_[tag.cookie];
  client_->Send(connection, "/user_tags", body_, static_cast<uint64_t>(connection));
  ++tags_sent_;
  if (++tags_since_prune_ >= kTagsPerPrune) Prune();
}

bool Driver::DispatchParked(int connection, int64_t /*now_ns*/, int64_t safe_now,
                            int64_t safe_old) {
  Slot& slot = slots_[static_cast<size_t>(connection)];
  if (!parked_aggregates_.empty() && parked_aggregates_.front().query.end_ms <= safe_now) {
    AggregateQuery& query = parked_aggregates_.front().query;
    slot.expected.clear();
    if (!oracle_.ExpectedAggregates(query, &slot.expected)) {
      ++report_.aggregates.skipped;
    } else {
      slot.kind = SlotKind::kAggregate;
      slot.end_ms = query.end_ms;
      slot.path = std::move(query.path);
      client_->Send(connection, slot.path, options_.send_expected ? slot.expected : "",
                    static_cast<uint64_t>(connection),
                    std::max(options_.request_timeout_ns,
                             options_.aggregate_deadline_ns + 10'000 * kNanosPerMilli));
    }
    parked_aggregates_.pop_front();
    return true;
  }
  if (!parked_profiles_.empty() && parked_profiles_.front().query.end_ms <= safe_old &&
      !CookieBusy(parked_profiles_.front().query.cookie)) {
    ProfileQuery& query = parked_profiles_.front().query;
    slot.expected.clear();
    if (!oracle_.ExpectedProfile(query, &slot.expected)) {
      ++report_.profiles.skipped;
    } else {
      slot.kind = SlotKind::kProfile;
      slot.cookie = query.cookie;
      slot.path = std::move(query.path);
      ++busy_cookies_[query.cookie];
      client_->Send(connection, slot.path, options_.send_expected ? slot.expected : "",
                    static_cast<uint64_t>(connection));
    }
    parked_profiles_.pop_front();
    return true;
  }
  return false;
}

int64_t Driver::Dispatch(int64_t now_ns) {
  RecordSafeTime(now_ns);
  const int64_t safe_now = SafeTime();
  const int64_t safe_old = SafeTimeAged(now_ns);
  // Only a jittered stream can send a tag older than an aggregates query in flight.
  int64_t aggregate_block = options_.stream.disorder_ms > 0 ? MaxInFlightAggregateEnd() : kNoTime;
  while (true) {
    const int connection = client_->IdleConnection();
    if (connection < 0) return 0;
    if (DispatchParked(connection, now_ns, safe_now, safe_old)) {
      const Slot& slot = slots_[static_cast<size_t>(connection)];
      if (slot.kind == SlotKind::kAggregate)
        aggregate_block = std::max(aggregate_block, slot.end_ms);
      continue;
    }
    if (DispatchDeferred(connection, aggregate_block)) continue;
    if (!has_pending_) {
      if (!MoreItems()) return 0;
      generator_.Next(&pending_);
      if (pending_.kind == StreamItem::Kind::kProfileQuery) {
        digest_.Update(pending_.profile.path);
        parked_profiles_.push_back({std::move(pending_.profile), generator_.newest_tag_time_ms()});
        continue;
      }
      if (pending_.kind == StreamItem::Kind::kAggregateQuery) {
        digest_.Update(pending_.aggregate.path);
        parked_aggregates_.push_back(
            {std::move(pending_.aggregate), generator_.newest_tag_time_ms()});
        continue;
      }
      has_pending_ = true;
      DigestTag(pending_.tag);
    }
    const Tag& tag = pending_.tag;
    if (options_.throughput > 0) {
      const int64_t due = pacing_base_ns_ + static_cast<int64_t>(static_cast<double>(paced_tags_) *
                                                                 1e9 / options_.throughput);
      if (now_ns + kPacingSlackNs < due) return due;
      if (now_ns - due > kMaxPacingDebtNs) {
        pacing_base_ns_ = now_ns;
        paced_tags_ = 0;
      }
    }
    if (CookieBusy(tag.cookie) || deferred_.contains(tag.cookie)) {
      if (deferred_times_.size() >= kMaxDeferredTags) return 0;
      Defer(tag);
      has_pending_ = false;
      ++paced_tags_;
      continue;
    }
    if (tag.time_ms < aggregate_block) return 0;
    SendTag(connection, tag);
    has_pending_ = false;
    ++paced_tags_;
  }
}

void Driver::AddSample(const char* endpoint, const std::string& request, std::string problem) {
  int same_endpoint = 0;
  for (const Sample& sample : report_.samples) same_endpoint += sample.endpoint == endpoint;
  if (same_endpoint >= options_.max_samples) return;
  report_.samples.push_back(Sample{endpoint, request, std::move(problem)});
}

void Driver::CheckQuery(EndpointStats* stats, const char* endpoint, const Slot& slot,
                        const HttpResult& result, int64_t deadline_ns) {
  stats->latency.Record(result.latency_ns);
  const std::string request = absl::StrCat("POST ", slot.path);
  if (!result.ok) {
    ++stats->failed;
    AddSample(endpoint, request, result.error);
    return;
  }
  if (result.status != 200) {
    ++stats->failed;
    AddSample(endpoint, request,
              absl::StrCat("HTTP ", result.status, ": ",
                           std::string(result.body.substr(0, kMaxShownAnswer))));
    return;
  }
  // A conforming server usually writes byte for byte what the oracle writes; only when it
  // does not are both parsed and compared by the rules of SPEC §1 (times by value, …).
  if (result.body != slot.expected) {
    server::CompareResult compared = server::CompareAnswerBodies(slot.expected, result.body);
    if (compared.outcome != server::CompareOutcome::kMatch) {
      ++stats->wrong;
      AddSample(endpoint, request, std::move(compared.diff));
      return;
    }
  }
  if (result.latency_ns > deadline_ns) {
    ++stats->late;
  } else {
    ++stats->correct;
  }
}

void Driver::OnDone(uint64_t token, const HttpResult& result) {
  Slot& slot = slots_[static_cast<size_t>(token)];
  auto release_cookie = [this](uint32_t cookie) {
    auto found = busy_cookies_.find(cookie);
    if (found != busy_cookies_.end() && --found->second <= 0) {
      busy_cookies_.erase(found);
      if (deferred_.contains(cookie)) ready_cookies_.push_back(cookie);
    }
  };
  switch (slot.kind) {
    case SlotKind::kTag: {
      release_cookie(slot.tag.cookie);
      EndpointStats& stats = report_.tags;
      stats.latency.Record(result.latency_ns);
      report_.tag_phase_seconds = static_cast<double>(RunningNanos(MonotonicNanos())) / 1e9;
      if (result.ok && result.status >= 200 && result.status < 300) {
        ++(result.latency_ns > options_.tag_deadline_ns ? stats.late : stats.correct);
        break;
      }
      ++stats.failed;
      // The server may or may not have stored it: answers about it are unknowable now.
      oracle_.TaintCookie(slot.tag.cookie);
      oracle_.TaintMinute(FloorToMinute(slot.tag.time_ms));
      std::string body;
      AppendStreamTagJson(slot.tag, catalog_, &body);
      AddSample("user_tags", absl::StrCat("POST /user_tags ", body),
                result.ok ? absl::StrCat("HTTP ", result.status, ": ",
                                         std::string(result.body.substr(0, kMaxShownAnswer)))
                          : result.error);
      break;
    }
    case SlotKind::kProfile:
      release_cookie(slot.cookie);
      CheckQuery(&report_.profiles, "user_profiles", slot, result, options_.profile_deadline_ns);
      break;
    case SlotKind::kAggregate:
      CheckQuery(&report_.aggregates, "aggregates", slot, result, options_.aggregate_deadline_ns);
      break;
    case SlotKind::kEmpty:
      break;
  }
  slot.kind = SlotKind::kEmpty;
}

void Driver::HandleCommand(int64_t now_ns) {
  const int command = command_.exchange(kNone);
  switch (command) {
    case kStart:
      if (state_ == State::kCreated) {
        state_ = State::kRunning;
        started_ns_ = pacing_base_ns_ = now_ns;
        paced_tags_ = 0;
      }
      break;
    case kPause:
      if (state_ == State::kRunning) {
        state_ = State::kPaused;
        paused_at_ns_ = now_ns;
      }
      break;
    case kResume:
      if (state_ == State::kPaused) {
        state_ = State::kRunning;
        paused_total_ns_ += now_ns - paused_at_ns_;
        pacing_base_ns_ = now_ns;
        paced_tags_ = 0;
      }
      break;
    case kClose:
      if (state_ == State::kPaused) paused_total_ns_ += now_ns - paused_at_ns_;
      state_ = state_ == State::kCreated ? State::kFinished : State::kClosing;
      break;
    default:
      break;
  }
}

double Driver::ProgressPercent(int64_t running_ns) const {
  if (options_.max_tags > 0) {
    return std::min(100.0, static_cast<double>(report_.tags.answered()) * 100.0 /
                               static_cast<double>(options_.max_tags));
  }
  if (options_.duration_ns > 0) {
    if (state_ == State::kFinished) return 100.0;
    return std::min(
        100.0, static_cast<double>(running_ns) * 100.0 / static_cast<double>(options_.duration_ns));
  }
  return 100.0;  // an open-ended run has no plan to fall short of
}

void Driver::PublishStatus(int64_t now_ns, bool final_report) {
  const int64_t running = RunningNanos(now_ns);
  report_.tags_sent = tags_sent_;
  report_.elapsed_seconds = static_cast<double>(running) / 1e9;
  report_.progress_percent = ProgressPercent(running);
  report_.state =
      final_report && state_ == State::kClosing ? "closed" : StateName(static_cast<int>(state_));
  report_.digest = digest_.Hex();
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    report_.cpu_seconds = seconds(usage.ru_utime) + seconds(usage.ru_stime);
  }
  std::string json = ReportJson(report_, false);
  {
    std::lock_guard<std::mutex> lock(status_mutex_);
    status_json_ = std::move(json);
  }
  if (options_.progress && (final_report || now_ns - last_progress_ns_ >= kProgressEveryNs)) {
    last_progress_ns_ = now_ns;
    std::fprintf(stderr, "\r%s\033[K%s", ProgressLine(report_).c_str(), final_report ? "\n" : "");
    std::fflush(stderr);
  }
}

std::string Driver::StatusJson() const {
  std::lock_guard<std::mutex> lock(status_mutex_);
  return status_json_;
}

bool Driver::Run(std::string* error) {
  client_ = std::make_unique<HttpClient>(options_.host, options_.port, options_.connections,
                                         options_.request_timeout_ns);
  if (!client_->Init(error)) return false;
  slots_.assign(static_cast<size_t>(client_->connections()), Slot());
  const HttpClient::Completion done = [this](uint64_t token, const HttpResult& result) {
    OnDone(token, result);
  };
  if (!options_.wait_for_start) command_.store(kStart);

  while (true) {
    int64_t now = MonotonicNanos();
    HandleCommand(now);
    if (state_ == State::kFinished) break;
    if (state_ == State::kCreated) {
      if (now - last_status_ns_ >= kStatusEveryNs) {
        last_status_ns_ = now;
        PublishStatus(now, false);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    int64_t pacing_wake = 0;
    if (state_ == State::kRunning) pacing_wake = Dispatch(now);
    if (state_ == State::kClosing && client_->in_flight() == 0) break;
    if (state_ == State::kRunning && StreamOver()) {
      state_ = State::kFinished;
      break;
    }

    // Sleep until something can happen: an answer (epoll wakes us), pacing, or a parked
    // query's data getting old enough (checked every millisecond).
    int timeout_ms = 50;
    if (state_ == State::kRunning) {
      if (pacing_wake > 0) {
        const int64_t wait = pacing_wake - now;
        timeout_ms = static_cast<int>(std::clamp<int64_t>(wait / kNanosPerMilli, 1, 50));
      }
      if (!parked_profiles_.empty() || !parked_aggregates_.empty()) {
        timeout_ms = std::min(timeout_ms, 1);
      }
    }
    client_->Poll(timeout_ms, done);

    now = MonotonicNanos();
    if (now - last_status_ns_ >= kStatusEveryNs) {
      last_status_ns_ = now;
      PublishStatus(now, false);
    }
  }
  PublishStatus(MonotonicNanos(), true);
  client_->CloseAll(done);
  return true;
}

}  // namespace allezon::loadgen
