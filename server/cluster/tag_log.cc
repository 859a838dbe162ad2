#include "tag_log.h"

#include <nats/nats.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <queue>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"

namespace allezon::cluster {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Every JetStream API call is bounded by this, so that a Reader or the log stops within
// about a second even while the cluster does not answer.
constexpr int64_t kApiWaitMs = 1000;
// At most this many entries per apply call.
constexpr int kDeliverBatch = 512;
// A reader that received nothing for this long checks on its consumer (IdleCheck).
constexpr int64_t kIdleWaitMs = 1000;
// A push consumer's idle heartbeat (required by flow control); libnats uses it to detect a
// missed delivery, the IdleCheck covers a consumer that died.
constexpr auto kConsumerHeartbeat = std::chrono::seconds(5);
// Every append leaves a heap entry that falls due after attempt_timeout, mostly stale by then;
// waking a little late handles them in batches instead of one wakeup each.
constexpr auto kTimerSlack = milliseconds(5);
// Waiting for a callback to return gives up after this. Closures own what they touch, so
// giving up is safe; it only happens when a user callback blocks that long.
constexpr auto kCallbackDrain = std::chrono::seconds(5);
// libnats 3.4.1 (Debian's) looks a subscription up for an incoming message, then uses it
// without holding a reference (fixed upstream in 3.6, nats.c#638): freeing one while a
// message for it is in that window corrupts the heap, as seen after a stream leader's kill
// ("malloc(): invalid size"). So a subscription is unsubscribed at once, which takes it out
// of the lookup, and freed this much later, or once the connection's read loop has ended.
constexpr auto kRetireDelay = std::chrono::seconds(5);

template <typename Duration>
int64_t Nanos(Duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}
// Dot-separated name tokens: a wildcard or space would make "<prefix>.<p>" match more.
bool IsSubjectPrefix(const std::string& s) {
  return !s.empty() && s.front() != '.' && s.back() != '.' && s.find("..") == std::string::npos &&
         std::all_of(s.begin(), s.end(), [](char c) { return c == '.' || IsNameChar(c); });
}

std::string NatsText(natsStatus s) {
  std::string text = natsStatus_GetText(s);
  if (const char* last = nats_GetLastError(nullptr); last != nullptr && *last != '\0') {
    absl::StrAppend(&text, " (", last, ")");
  }
  return text;
}

// The PubAck's stream sequence, or 0 with `error` set.
uint64_t ParsePubAck(natsMsg* msg, std::string& error) {
  if (natsMsg_IsNoResponders(msg)) {
    error = "no responders (no stream leader)";
    return 0;
  }
  rapidjson::Document doc;
  doc.Parse(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
  if (doc.HasParseError() || !doc.IsObject()) {
    error = "malformed PubAck";
  } else if (auto q = doc.FindMember("seq");
             q != doc.MemberEnd() && q->value.IsUint64() && !doc.HasMember("error")) {
    return q->value.GetUint64();
  } else if (auto e = doc.FindMember("error"); e != doc.MemberEnd() && e->value.IsObject() &&
                                               e->value.HasMember("description") &&
                                               e->value["description"].IsString()) {
    error = e->value["description"].GetString();
  } else {
    error = "PubAck without a sequence";
  }
  return 0;
}

struct PendingAppend {
  // Immutable once in Core::pending.
  uint64_t id = 0;
  std::string subject, reply, data, msg_id;
  Clock::time_point deadline;
  std::function<void(absl::StatusOr<uint64_t>)> done;
  // Guarded by Core::mu.
  Clock::time_point wake;  // the one heap entry that counts; others are stale
  int errors = 0;
  std::string last_error = "no acknowledgement";
  absl::Status failure;  // answered with this at the next wake when set
};

struct Wake {
  Clock::time_point at;
  uint64_t id;
  bool operator>(const Wake& other) const { return at > other.at; }
};

// The end of a subscription's delivery thread: after it libnats calls nothing of ours.
struct Completion {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::atomic<std::thread::id> callback_thread{};

  void Signal() {
    std::lock_guard lock(mu);
    done = true;
    cv.notify_all();
  }
  void Wait() {
    // A callback destroying its own Listener (or the log) must not wait for itself.
    if (callback_thread.load() == std::this_thread::get_id()) return;
    std::unique_lock lock(mu);
    cv.wait_for(lock, kCallbackDrain, [&] { return done; });
  }
};

struct ReaderState;
struct ListenerState;

// All that libnats' threads and Readers reach, alive until the last of them lets go, so a
// late callback never touches a destroyed TagLog.
struct Core {
  TagLogOptions options;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;  // stream management
  std::string ack_prefix;
  natsSubscription* ack_sub = nullptr;
  Completion ack_completion;

  std::atomic<bool> closing{false}, stream_ready{false};
  std::atomic<uint64_t> appends{0}, resends{0}, failures{0}, restarts{0};
  std::atomic<uint64_t> create_failures{0}, misplaced{0};

  std::mutex mu;  // guards the appends
  std::condition_variable cv, ready_cv;
  std::unordered_map<uint64_t, std::shared_ptr<PendingAppend>> pending;
  std::priority_queue<Wake, std::vector<Wake>, std::greater<>> wakes;
  uint64_t next_id = 1;

  std::mutex registry_mu;
  std::vector<std::weak_ptr<ReaderState>> readers;
  std::vector<std::weak_ptr<ListenerState>> listeners;

  std::mutex retired_mu;
  std::deque<std::pair<Clock::time_point, natsSubscription*>> retired;

  // Ends a subscription now and frees it after kRetireDelay (see there).
  void Retire(natsSubscription* sub) {
    if (sub == nullptr) return;
    natsSubscription_Unsubscribe(sub);  // fails harmlessly once closed
    std::vector<natsSubscription*> expired;
    {
      std::lock_guard lock(retired_mu);
      const auto now = Clock::now();
      while (!retired.empty() && retired.front().first + kRetireDelay <= now) {
        expired.push_back(retired.front().second);
        retired.pop_front();
      }
      retired.emplace_back(now, sub);
    }
    for (natsSubscription* old : expired) natsSubscription_Destroy(old);
  }

  ~Core() {
    // The log closed the connection (its read loop is over) before the last reference went.
    for (auto& [at, sub] : retired) natsSubscription_Destroy(sub);
    natsSubscription_Destroy(ack_sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }

  std::string Subject(int partition) const {
    return absl::StrCat(options.subject_prefix, ".", partition);
  }

  void Schedule(PendingAppend& p, Clock::time_point at) {  // mu held
    p.wake = std::min(at, p.deadline);
    const bool first = wakes.empty() || p.wake < wakes.top().at;
    wakes.push({p.wake, p.id});
    if (first) cv.notify_all();
  }
  static milliseconds Backoff(int errors) {
    return milliseconds(std::min(25 << std::min(errors, 4), 250));
  }

  // Our own request/reply rather than js_PublishMsgAsync: one inbox per log, the reply token
  // is the append's id, and the deadlines and re-sends stay ours (3.4.1's async publish keeps
  // a timeout entry per publish until its deadline, and cannot say when its callbacks end).
  void Send(const std::shared_ptr<PendingAppend>& p) {
    // While reconnecting libnats would buffer the message and flush it after the reconnect,
    // possibly long after this append failed: a tag stored that was answered 503.
    if (natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED) {
      std::lock_guard lock(mu);
      if (pending.count(p->id) == 0) return;
      p->last_error = "not connected to any NATS server";
      Schedule(*p, Clock::now() + Backoff(p->errors++));
      return;
    }
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, p->subject.c_str(), p->reply.c_str(), p->data.data(),
                                  static_cast<int>(p->data.size()));
    if (s == NATS_OK && !p->msg_id.empty()) {
      s = natsMsgHeader_Set(msg, "Nats-Msg-Id", p->msg_id.c_str());
    }
    if (s == NATS_OK) s = natsConnection_PublishMsg(nc, msg);
    natsMsg_Destroy(msg);
    if (s == NATS_OK) return;
    std::lock_guard lock(mu);
    if (pending.count(p->id) == 0) return;
    p->last_error = absl::StrCat("publish: ", natsStatus_GetText(s));
    Schedule(*p, Clock::now() + Backoff(p->errors++));
  }

  void Finish(const std::shared_ptr<PendingAppend>& p, absl::StatusOr<uint64_t> result) {
    (result.ok() ? appends : failures).fetch_add(1, std::memory_order_relaxed);
    p->done(std::move(result));
  }

  void OnAck(natsMsg* msg) {
    const std::string_view subject = natsMsg_GetSubject(msg);
    const char* end = subject.data() + subject.size();
    uint64_t id = 0;
    if (subject.size() <= ack_prefix.size() ||
        std::from_chars(subject.data() + ack_prefix.size(), end, id).ptr != end) {
      return;
    }
    std::string error;
    const uint64_t sequence = ParsePubAck(msg, error);
    std::shared_ptr<PendingAppend> p;
    {
      std::lock_guard lock(mu);
      auto it = pending.find(id);
      if (it == pending.end()) return;  // answered already (a re-send's twin, or timed out)
      if (sequence == 0) {              // e.g. no stream leader yet: re-send soon
        it->second->last_error = std::move(error);
        Schedule(*it->second, Clock::now() + Backoff(it->second->errors++));
        return;
      }
      p = std::move(it->second);
      pending.erase(it);
    }
    Finish(p, sequence);
  }

  // Re-sends what is due and fails what is out of time; on closing, fails everything left.
  void TimerLoop() {
    std::unique_lock lock(mu);
    while (!closing) {
      if (wakes.empty()) {
        cv.wait(lock);
        continue;
      }
      const Wake next = wakes.top();
      const auto now = Clock::now();
      if (next.at > now) {
        cv.wait_until(lock, next.at + kTimerSlack);
        continue;
      }
      wakes.pop();
      auto it = pending.find(next.id);
      if (it == pending.end() || it->second->wake != next.at) continue;
      std::shared_ptr<PendingAppend> p = it->second;
      if (p->failure.ok() && now < p->deadline) {
        Schedule(*p, now + options.attempt_timeout);
        resends.fetch_add(1, std::memory_order_relaxed);
        lock.unlock();
        Send(p);  // the same Msg-Id: the stream keeps one copy
        lock.lock();
        continue;
      }
      pending.erase(it);
      absl::Status status = !p->failure.ok()
                                ? p->failure
                                : absl::UnavailableError(absl::StrCat(
                                      "tag log: no quorum acknowledged the append within ",
                                      options.append_timeout.count(), " ms: ", p->last_error));
      lock.unlock();
      Finish(p, std::move(status));
      lock.lock();
    }
    std::vector<std::shared_ptr<PendingAppend>> left;
    for (auto& [id, p] : pending) left.push_back(std::move(p));
    pending.clear();
    lock.unlock();
    for (auto& p : left) Finish(p, absl::UnavailableError("tag log closed"));
  }

  // Creates (or updates) the stream, retrying until it succeeds: Open does not wait for an
  // unreachable cluster, Appends fail and Readers wait meanwhile.
  void EnsureLoop() {
    while (!closing && !EnsureStream()) {
      std::unique_lock lock(mu);
      ready_cv.wait_for(lock, milliseconds(250), [&] { return closing.load(); });
    }
    std::lock_guard lock(mu);
    ready_cv.notify_all();
  }
  bool EnsureStream() {
    const std::string subjects = absl::StrCat(options.subject_prefix, ".*");
    const char* subject_list[] = {subjects.c_str()};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = options.stream.c_str();
    cfg.Subjects = subject_list;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = options.replicas;
    cfg.MaxAge = Nanos(options.max_age);
    cfg.Duplicates = Nanos(options.duplicate_window);
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(&si, js, &cfg, nullptr, &jerr);
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK && jerr == JSStreamNameExistErr) {
      // Exists with another configuration: bring it to ours. A refused update (e.g. another
      // storage type) leaves a usable stream all the same.
      si = nullptr;
      js_UpdateStream(&si, js, &cfg, nullptr, &jerr);
      jsStreamInfo_Destroy(si);
      s = NATS_OK;
    }
    if (s == NATS_OK) stream_ready = true;
    return s == NATS_OK;
  }
};

// ---- Readers ----

struct ReaderState {
  std::shared_ptr<Core> core;
  std::string subject;
  uint64_t from = 1;
  std::function<uint64_t(const ReadBatch&)> apply;

  // The thread is detached: a destroyed Reader only waits until no apply runs, and the
  // thread ends after its current call (the log's destructor waits for that).
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false, in_apply = false, finished = false;
  std::thread::id thread_id;

  // The reader thread's own.
  jsCtx* js = nullptr;
  natsSubscription* sub = nullptr;
  std::string consumer;
  std::string deliver_subject;    // the consumer pushes to this inbox
  uint64_t consumer_seq = 0;      // the last consumer sequence received
  bool truncated = false;         // to report on the next batch
  uint64_t pending_at_start = 0;  // the partition's entries from `next` on, at creation
  std::vector<LogEntry> entries;

  void RequestStop() {
    std::lock_guard lock(mu);
    stop = true;
    cv.notify_all();
  }
  void WaitNoApply() {
    std::unique_lock lock(mu);
    if (thread_id == std::this_thread::get_id()) return;  // from apply: the loop ends after it
    cv.wait(lock, [&] { return !in_apply; });
    apply = nullptr;  // never called again: release what it holds now, on the caller's thread
  }
  void WaitFinished(Clock::time_point deadline) {
    std::unique_lock lock(mu);
    cv.wait_until(lock, deadline, [&] { return finished; });
  }
  uint64_t Apply(const ReadBatch& batch, uint64_t next) {
    {
      std::lock_guard lock(mu);
      if (stop) return next;
      in_apply = true;
    }
    const uint64_t wanted = apply(batch);
    std::lock_guard lock(mu);
    in_apply = false;
    cv.notify_all();
    return wanted;
  }
  bool Stopped() {
    std::lock_guard lock(mu);
    return stop || core->closing;
  }
  void Sleep(milliseconds d) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, d, [&] { return stop; });
  }

  // Fire and forget (the reply goes to the ack inbox, which ignores id 0): a delete that
  // never arrives is done by the server after InactiveThreshold.
  void DeleteConsumer() {
    const std::string api =
        absl::StrCat("$JS.API.CONSUMER.DELETE.", core->options.stream, ".", consumer);
    natsConnection_PublishRequestString(core->nc, api.c_str(), (core->ack_prefix + "0").c_str(),
                                        "");
  }
  uint64_t Restart(uint64_t next, bool failure) {
    if (failure) core->restarts.fetch_add(1, std::memory_order_relaxed);
    if (sub != nullptr) {
      core->Retire(sub);  // binds to our own consumer: unsubscribing never deletes it
      sub = nullptr;
      DeleteConsumer();
    }
    return std::max<uint64_t>(next, 1);
  }

  // The server leading the stream ("" without a cluster) and the stream's first sequence.
  bool StreamState(std::string& leader, uint64_t& first_seq) {
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js, core->options.stream.c_str(), nullptr, nullptr) != NATS_OK) {
      return false;
    }
    leader = si->Cluster != nullptr && si->Cluster->Leader != nullptr ? si->Cluster->Leader : "";
    first_seq = si->State.FirstSeq;
    jsStreamInfo_Destroy(si);
    return true;
  }
  static std::string Host(const jsConsumerInfo* ci) {
    return ci->Cluster != nullptr && ci->Cluster->Leader != nullptr ? ci->Cluster->Leader : "";
  }

  // An ephemeral consumer starting at `next`, this reader's alone (the caller keeps the
  // position, so nothing is acked), in memory and R1: losing it costs only re-creating it.
  // It pushes entries as they are stored, with flow control: a pull consumer costs a pull
  // request and an empty reply per wakeup, which at one entry per wakeup (a partition's
  // rate under single-tag load) was most of the log servers' CPU per tag.
  // It must live on the stream leader: the server puts an R1 consumer on a random replica and
  // serves it from that replica's store, and a replica recovering from a kill -9 was seen
  // (nats-server 2.9.10) to report nothing pending for tens of seconds, or to lack acked
  // entries, while the leader had them. So a consumer placed elsewhere is made again.
  bool CreateConsumer(uint64_t next) {
    if (MakeConsumer(next)) return true;
    core->create_failures.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  bool MakeConsumer(uint64_t next) {
    natsInbox* inbox = nullptr;
    if (natsInbox_Create(&inbox) != NATS_OK) return false;
    deliver_subject = inbox;
    natsInbox_Destroy(inbox);
    std::string leader;
    uint64_t first_seq = 0;
    if (!StreamState(leader, first_seq)) return false;
    // Sequences are dense from 1 and trimming (MaxAge) removes the oldest first, so a start
    // below the stream's first sequence means entries from there were dropped. Whether one
    // was this partition's is unknowable once gone, so the caller is told to assume so. An
    // empty stream has FirstSeq 0 (new) or LastSeq + 1 (all expired).
    truncated = first_seq > next;

    jsConsumerConfig cfg;
    jsConsumerConfig_Init(&cfg);
    cfg.DeliverPolicy = js_DeliverByStartSequence;
    cfg.OptStartSeq = next;
    cfg.AckPolicy = js_AckNone;
    cfg.FilterSubject = subject.c_str();
    cfg.DeliverSubject = deliver_subject.c_str();
    cfg.FlowControl = true;
    cfg.Heartbeat = Nanos(kConsumerHeartbeat);
    cfg.InactiveThreshold = Nanos(std::chrono::seconds(30));
    cfg.Replicas = 1;
    cfg.MemoryStorage = true;
    for (int attempt = 0;; ++attempt) {
      jsConsumerInfo* ci = nullptr;
      if (js_AddConsumer(&ci, js, core->options.stream.c_str(), &cfg, nullptr, nullptr) !=
          NATS_OK) {
        return false;
      }
      consumer = ci->Name;
      pending_at_start = ci->NumPending;
      const bool on_leader = Host(ci) == leader;
      jsConsumerInfo_Destroy(ci);
      if (on_leader) break;
      core->misplaced.fetch_add(1, std::memory_order_relaxed);
      DeleteConsumer();
      if (attempt == 8) return false;  // ~1 in 3 lands there: a moving leader, most likely
    }
    jsErrCode jerr = static_cast<jsErrCode>(0);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = core->options.stream.c_str();
    so.Consumer = consumer.c_str();
    so.Config.MemoryStorage = true;  // libnats 3.4.1 compares this flag even when binding
    if (js_SubscribeSync(&sub, js, subject.c_str(), nullptr, &so, &jerr) != NATS_OK) {
      sub = nullptr;
      DeleteConsumer();
      return false;
    }
    natsSubscription_SetPendingLimits(sub, -1, -1);
    consumer_seq = 0;
    return true;
  }

  // Hands the received entries to apply (and frees them); returns where to read on from. A
  // gap (a delivery lost with a connection: AckNone never redelivers) re-creates the consumer.
  uint64_t Deliver(std::vector<natsMsg*>& received, uint64_t next) {
    entries.clear();
    uint64_t pending = 0;
    bool gap = false;
    for (natsMsg* msg : received) {
      if (!gap) {
        jsMsgMetaData* meta = nullptr;
        gap = natsMsg_GetMetaData(&meta, msg) != NATS_OK ||
              meta->Sequence.Consumer != consumer_seq + 1 || meta->Sequence.Stream < next;
        if (!gap) {
          ++consumer_seq;
          next = meta->Sequence.Stream + 1;
          pending = meta->NumPending;
          entries.push_back({meta->Sequence.Stream,
                             std::string(natsMsg_GetData(msg), natsMsg_GetDataLength(msg))});
        }
        jsMsgMetaData_Destroy(meta);
      }
      natsMsg_Destroy(msg);
    }
    received.clear();
    if (!entries.empty()) {
      ReadBatch batch;
      batch.entries = entries;
      batch.pending = gap ? std::max<uint64_t>(pending, 1) : pending;
      batch.caught_up = !gap && pending == 0;
      batch.truncated = std::exchange(truncated, false);
      const uint64_t wanted = Apply(batch, next);
      if (wanted != next) return Restart(wanted, false);
    }
    return gap ? Restart(next, true) : next;
  }

  // Idle: asks the server what is pending. That proves the consumer still lives (an R1
  // consumer dies with its server) and still sits on the stream leader, and lets an empty
  // partition be caught up.
  uint64_t IdleCheck(uint64_t next, int& stale_checks) {
    jsConsumerInfo* ci = nullptr;
    if (js_GetConsumerInfo(&ci, js, core->options.stream.c_str(), consumer.c_str(), nullptr,
                           nullptr) != NATS_OK) {
      return Restart(next, true);
    }
    const bool all_received = ci->NumPending == 0 && ci->Delivered.Consumer == consumer_seq;
    const std::string host = Host(ci);
    jsConsumerInfo_Destroy(ci);
    std::string leader;
    uint64_t first_seq = 0;
    if (!StreamState(leader, first_seq) || host != leader) {
      return Restart(next, true);  // the leader moved (or is unknown): follow it
    }
    if (!all_received) {
      // Delivered but never received (lost with a connection), or pending yet not delivered:
      // the next delivery normally brings them; twice in a row, the consumer is stuck.
      return ++stale_checks >= 2 ? Restart(next, true) : next;
    }
    stale_checks = 0;
    return ApplyCaughtUp(next);
  }

  // Tells apply that nothing of the partition lies past `next` (an empty batch).
  uint64_t ApplyCaughtUp(uint64_t next) {
    ReadBatch batch;
    batch.caught_up = true;
    batch.truncated = std::exchange(truncated, false);
    const uint64_t wanted = Apply(batch, next);
    return wanted != next ? Restart(wanted, false) : next;
  }

  void Run() {
    {
      std::lock_guard lock(mu);
      thread_id = std::this_thread::get_id();
    }
    pthread_setname_np(pthread_self(), "alz-log-reader");
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = kApiWaitMs;
    if (natsConnection_JetStream(&js, core->nc, &jo) == NATS_OK) Loop();
    jsCtx_Destroy(js);
    std::lock_guard lock(mu);
    finished = true;
    cv.notify_all();
  }
  void Loop() {
    uint64_t next = std::max<uint64_t>(from, 1);
    int failures = 0, stale_checks = 0;
    std::vector<natsMsg*> received;
    received.reserve(kDeliverBatch);
    while (!Stopped()) {
      if (sub == nullptr) {
        // Back off only after trouble (or a rewind by apply, which may fail again).
        if (failures > 0) Sleep(milliseconds(std::min(50 << std::min(failures - 1, 4), 500)));
        if (Stopped()) break;
        if (!core->stream_ready || !CreateConsumer(next)) {
          ++failures;
          continue;
        }
        stale_checks = 0;
        // Nothing to catch up with (a restart with the log unchanged, an empty partition):
        // ready now rather than after the first idle wait.
        if (pending_at_start == 0) {
          next = ApplyCaughtUp(next);
          if (sub == nullptr) {  // apply rewound
            ++failures;
            continue;
          }
        }
      }
      // Waits for one entry, then takes what else has arrived: one apply for all of them.
      natsMsg* msg = nullptr;
      natsStatus s = natsSubscription_NextMsg(&msg, sub, kIdleWaitMs);
      if (s == NATS_OK) {
        received.push_back(msg);
        uint64_t queued = 0;
        if (natsSubscription_QueuedMsgs(sub, &queued) == NATS_OK) {
          for (uint64_t i = std::min<uint64_t>(queued, kDeliverBatch - 1); i > 0; --i) {
            if (natsSubscription_NextMsg(&msg, sub, 1) != NATS_OK) break;
            received.push_back(msg);
          }
        }
        next = Deliver(received, next);
        failures = sub == nullptr ? failures + 1 : 0;
        stale_checks = 0;
        continue;
      }
      if (s != NATS_TIMEOUT) {
        // Consumer deleted, a missed heartbeat or sequence mismatch, connection closed.
        next = Restart(next, true);
        ++failures;
      } else {  // a whole kIdleWaitMs without an entry
        next = IdleCheck(next, stale_checks);
        if (sub == nullptr) ++failures;
      }
    }
    Restart(next, false);
  }
};

class ReaderImpl final : public TagLog::Reader {
 public:
  explicit ReaderImpl(std::shared_ptr<ReaderState> state) : state_(std::move(state)) {}
  ~ReaderImpl() override {
    if (!state_) return;
    state_->RequestStop();
    state_->WaitNoApply();
  }

 private:
  std::shared_ptr<ReaderState> state_;
};

// ---- Listeners and the ack inbox: closures are heap shared_ptrs freed on completion ----

struct ListenerState {
  std::shared_ptr<Core> core;  // to retire the subscription
  std::function<void(std::string_view)> on_message;
  natsSubscription* sub = nullptr;
  Completion completion;
};

template <typename State>
void OnComplete(void* closure) {
  auto* state = static_cast<std::shared_ptr<State>*>(closure);
  if constexpr (std::is_same_v<State, Core>) {
    (*state)->ack_completion.Signal();
  } else {
    (*state)->completion.Signal();
  }
  delete state;
}
void OnListenMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto& state = **static_cast<std::shared_ptr<ListenerState>*>(closure);
  state.completion.callback_thread = std::this_thread::get_id();
  state.on_message(std::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
}
void OnAckMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  Core& core = **static_cast<std::shared_ptr<Core>*>(closure);
  core.ack_completion.callback_thread = std::this_thread::get_id();
  core.OnAck(msg);
  natsMsg_Destroy(msg);
}
template <typename State>
natsStatus Subscribe(natsConnection* nc, natsSubscription** sub, const std::string& subject,
                     natsMsgHandler handler, const std::shared_ptr<State>& state) {
  auto* closure = new std::shared_ptr<State>(state);
  natsStatus s = natsConnection_Subscribe(sub, nc, subject.c_str(), handler, closure);
  if (s != NATS_OK) {
    delete closure;
    *sub = nullptr;
    return s;
  }
  natsSubscription_SetPendingLimits(*sub, -1, -1);
  return natsSubscription_SetOnCompleteCB(*sub, OnComplete<State>, closure);
}

class ListenerImpl final : public TagLog::Listener {
 public:
  explicit ListenerImpl(std::shared_ptr<ListenerState> state) : state_(std::move(state)) {}
  ~ListenerImpl() override {
    natsSubscription_Unsubscribe(state_->sub);  // fails harmlessly once the log closed it
    state_->completion.Wait();
    state_->core->Retire(state_->sub);
  }

 private:
  std::shared_ptr<ListenerState> state_;
};

// ---- The log ----

class TagLogImpl final : public TagLog {
 public:
  explicit TagLogImpl(std::shared_ptr<Core> core) : core_(std::move(core)) {}

  absl::Status Start() {
    Core& c = *core_;
    natsOptions* opts = nullptr;
    if (natsOptions_Create(&opts) != NATS_OK) return absl::InternalError("tag log: no memory");
    std::vector<const char*> servers;
    for (const auto& server : c.options.servers) servers.push_back(server.c_str());
    natsStatus s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
    natsOptions_SetMaxReconnect(opts, -1);
    natsOptions_SetReconnectWait(opts, 250);
    // Loopback kills are seen at once; pings find a silently dead host within ~6 s.
    natsOptions_SetPingInterval(opts, 2000);
    natsOptions_SetMaxPingsOut(opts, 3);
    // Write each publish from the publishing thread: the default hands every one to a flusher
    // thread, a wakeup per append, per position broadcast and per JetStream API request.
    natsOptions_SetSendAsap(opts, true);
    // With a callback, Connect returns at once when no server answers and goes on trying.
    natsOptions_SetRetryOnFailedConnect(
        opts, true, [](natsConnection*, void*) {}, nullptr);
    if (!c.options.client_name.empty()) natsOptions_SetName(opts, c.options.client_name.c_str());
    if (s == NATS_OK) s = natsConnection_Connect(&c.nc, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
      return absl::InvalidArgumentError(absl::StrCat("tag log connect: ", NatsText(s)));
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = kApiWaitMs;
    s = natsConnection_JetStream(&c.js, c.nc, &jo);
    natsInbox* inbox = nullptr;
    if (s == NATS_OK) s = natsInbox_Create(&inbox);
    if (s == NATS_OK) {
      c.ack_prefix = absl::StrCat(inbox, ".");
      natsInbox_Destroy(inbox);
      s = Subscribe(c.nc, &c.ack_sub, c.ack_prefix + "*", OnAckMessage, core_);
    }
    if (s != NATS_OK) return absl::InternalError(absl::StrCat("tag log setup: ", NatsText(s)));

    timer_ = std::thread([core = core_] { core->TimerLoop(); });
    ensure_ = std::thread([core = core_] { core->EnsureLoop(); });
    // A reachable cluster gets a moment, so that a fresh log is ready on return.
    if (natsConnection_Status(c.nc) == NATS_CONN_STATUS_CONNECTED) {
      std::unique_lock lock(c.mu);
      c.ready_cv.wait_for(lock, std::chrono::seconds(2), [&] { return c.stream_ready.load(); });
    }
    return absl::OkStatus();
  }

  ~TagLogImpl() override {
    Core& c = *core_;
    {
      std::lock_guard lock(c.mu);
      c.closing = true;
    }
    c.ready_cv.notify_all();
    std::vector<std::shared_ptr<ReaderState>> readers;
    std::vector<std::shared_ptr<ListenerState>> listeners;
    {
      std::lock_guard lock(c.registry_mu);
      for (auto& weak : c.readers) {
        if (auto r = weak.lock()) readers.push_back(std::move(r));
      }
      for (auto& weak : c.listeners) {
        if (auto l = weak.lock()) listeners.push_back(std::move(l));
      }
    }
    for (auto& r : readers) r->RequestStop();
    for (auto& r : readers) r->WaitNoApply();
    // No `done` may run once this returns: end the acks first, then fail what is left.
    if (c.ack_sub != nullptr) {
      natsSubscription_Unsubscribe(c.ack_sub);
      c.ack_completion.Wait();
    }
    c.cv.notify_all();
    if (timer_.joinable()) timer_.join();
    // Aborts the readers' and the stream creation's calls, ends the Listeners' subscriptions.
    if (c.nc != nullptr) natsConnection_Close(c.nc);
    if (ensure_.joinable()) ensure_.join();
    const auto deadline = Clock::now() + kCallbackDrain;
    for (auto& r : readers) r->WaitFinished(deadline);
    for (auto& l : listeners) l->completion.Wait();
  }

  void Append(int partition, std::string data, std::string msg_id,
              std::function<void(absl::StatusOr<uint64_t>)> done) override {
    Core& c = *core_;
    auto p = std::make_shared<PendingAppend>();
    p->subject = c.Subject(partition);
    p->data = std::move(data);
    p->msg_id = std::move(msg_id);
    p->done = std::move(done);
    const auto now = Clock::now();
    p->deadline = now + c.options.append_timeout;
    const bool valid = partition >= 0 && partition < c.options.partitions;
    {
      std::lock_guard lock(c.mu);
      p->id = c.next_id++;
      p->reply = absl::StrCat(c.ack_prefix, p->id);
      // Even this is answered on the log's thread, as every `done` is.
      if (!valid) p->failure = absl::InvalidArgumentError(absl::StrCat("no partition ", partition));
      c.pending.emplace(p->id, p);
      c.Schedule(*p, valid ? now + c.options.attempt_timeout : now);
    }
    if (valid) c.Send(p);
  }

  std::unique_ptr<Reader> Read(int partition, uint64_t from_sequence,
                               std::function<uint64_t(const ReadBatch&)> apply) override {
    if (partition < 0 || partition >= core_->options.partitions) {
      return std::make_unique<ReaderImpl>(nullptr);  // nothing to deliver, ever
    }
    auto state = std::make_shared<ReaderState>();
    state->core = core_;
    state->subject = core_->Subject(partition);
    state->from = from_sequence;
    state->apply = std::move(apply);
    {
      std::lock_guard lock(core_->registry_mu);
      std::erase_if(core_->readers, [](const auto& weak) { return weak.expired(); });
      core_->readers.push_back(state);
    }
    std::thread([state] { state->Run(); }).detach();
    return std::make_unique<ReaderImpl>(std::move(state));
  }

  void Broadcast(std::string_view subject, std::string_view data) override {
    const std::string subj(subject);
    natsConnection_Publish(core_->nc, subj.c_str(), data.data(), static_cast<int>(data.size()));
  }

  std::unique_ptr<Listener> Listen(std::string_view subject,
                                   std::function<void(std::string_view)> on_message) override {
    auto state = std::make_shared<ListenerState>();
    state->core = core_;
    state->on_message = std::move(on_message);
    if (Subscribe(core_->nc, &state->sub, std::string(subject), OnListenMessage, state) !=
        NATS_OK) {
      state->completion.done = true;  // nothing will call it
    }
    std::lock_guard lock(core_->registry_mu);
    std::erase_if(core_->listeners, [](const auto& weak) { return weak.expired(); });
    core_->listeners.push_back(state);
    return std::make_unique<ListenerImpl>(std::move(state));
  }

  TagLogStats Stats() const override {
    Core& c = *core_;
    TagLogStats stats;
    stats.appends = c.appends.load(std::memory_order_relaxed);
    stats.append_resends = c.resends.load(std::memory_order_relaxed);
    stats.append_failures = c.failures.load(std::memory_order_relaxed);
    stats.reader_restarts = c.restarts.load(std::memory_order_relaxed);
    stats.consumer_create_failures = c.create_failures.load(std::memory_order_relaxed);
    stats.consumers_misplaced = c.misplaced.load(std::memory_order_relaxed);
    {
      std::lock_guard lock(c.mu);
      stats.appends_in_flight = c.pending.size();
    }
    stats.connected = natsConnection_Status(c.nc) == NATS_CONN_STATUS_CONNECTED;
    natsStatistics* ns = nullptr;
    if (natsStatistics_Create(&ns) == NATS_OK && natsConnection_GetStats(c.nc, ns) == NATS_OK) {
      natsStatistics_GetCounts(ns, nullptr, nullptr, nullptr, nullptr, &stats.reconnects);
    }
    natsStatistics_Destroy(ns);
    return stats;
  }

 private:
  std::shared_ptr<Core> core_;
  std::thread timer_, ensure_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TagLog>> TagLog::Open(const TagLogOptions& options) {
  const auto& stream = options.stream;
  if (options.servers.empty()) return absl::InvalidArgumentError("tag log: no NATS server");
  if (stream.empty() || stream.size() > 64 ||
      !std::all_of(stream.begin(), stream.end(), IsNameChar)) {
    return absl::InvalidArgumentError("tag log: the stream name must be 1-64 of [A-Za-z0-9_-]");
  }
  if (!IsSubjectPrefix(options.subject_prefix)) {
    return absl::InvalidArgumentError("tag log: the subject prefix must be dot-separated names");
  }
  if (options.partitions <= 0 || options.replicas < 1 || options.replicas > 5 ||
      options.append_timeout.count() <= 0 || options.attempt_timeout.count() <= 0 ||
      options.max_age.count() <= 0 || options.duplicate_window.count() <= 0) {
    return absl::InvalidArgumentError("tag log: partitions, replicas (1-5) and times must be > 0");
  }
  if (options.duplicate_window > options.max_age) {  // JetStream would refuse the stream
    return absl::InvalidArgumentError("tag log: the duplicate window exceeds max_age");
  }
  auto core = std::make_shared<Core>();
  core->options = options;
  auto log = std::make_unique<TagLogImpl>(core);
  if (absl::Status status = log->Start(); !status.ok()) return status;
  return log;
}

}  // namespace allezon::cluster
