#include "cluster_node.h"

#include <pthread.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "allezon/json.h"
#include "cluster_node_state.h"
#include "http_api.h"
#include "http_message.h"
#include "log.h"
#include "peer_calls.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace allezon::cluster {
namespace {

using Clock = std::chrono::steady_clock;
constexpr char kJson[] = "application/json";
constexpr std::chrono::microseconds kPositionCoalescing{1000};
constexpr std::chrono::milliseconds kNotReadyAfterApplyFailure{5000};
// A log entry's most bytes of tag lines: well under NATS's 1 MB max_payload.
constexpr size_t kMaxEntryBytes = 128 << 10;

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

absl::string_view Sv(std::string_view text) { return {text.data(), text.size()}; }

std::string Subject(const ClusterConfig& config, int partition) {
  return absl::StrCat(config.nats.subject_prefix, ".", partition);
}

// One subject per node, outside the stream's subjects ("<prefix>.*": heartbeats are not
// logged); each node listens to its peers' only.
std::string HeartbeatSubject(const ClusterConfig& config, std::string_view node) {
  return absl::StrCat("allezon-heartbeat.", config.nats.stream, ".", Sv(node));
}

}  // namespace

ClusterNode::ClusterNode(ClusterConfig config, ClusterNodeOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      self_(config_.NodeIndex(options_.node_id)),
      positions_(config_, self_,
                 {options_.owners.dead_after,
                  // No grace before the deadline: every live owner must have the tag.
                  std::max(options_.owners.grace, options_.ingest_timeout * 2)}) {}

absl::StatusOr<std::unique_ptr<ClusterNode>> ClusterNode::Start(ClusterConfig config,
                                                                ClusterNodeOptions options) {
  if (config.NodeIndex(options.node_id) < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--node-id: \"", Sv(options.node_id), "\" is not a node of the cluster file"));
  }
  std::unique_ptr<ClusterNode> node(new ClusterNode(std::move(config), std::move(options)));
  if (absl::Status s = node->Open(); !s.ok()) return s;
  return node;
}

absl::Status ClusterNode::Open() {
  std::mt19937_64 random(std::random_device{}());
  boot_id_ = absl::StrCat(options_.node_id, "-", absl::Hex(random()));
  std::map<std::pair<int, int>, Group*> by_owners;
  for (int p = 0; p < config_.partitions; ++p) {
    const PartitionOwners& owners = config_.owners[static_cast<size_t>(p)];
    Group*& group = by_owners[{owners.primary, owners.secondary}];
    if (group == nullptr) {
      groups_.push_back(std::make_unique<Group>());
      group = groups_.back().get();
      group->primary = owners.primary;
      group->secondary = owners.secondary;
      group->key = config_.nodes[static_cast<size_t>(owners.primary)].id;
      if (owners.secondary >= 0) {
        absl::StrAppend(&group->key, "-", config_.nodes[static_cast<size_t>(owners.secondary)].id);
      }
    }
    group->partitions.push_back(p);
    auto partition = std::make_unique<Partition>();
    partition->id = p;
    partition->group = group;
    partition->subject = Subject(config_, p);
    partitions_.push_back(std::move(partition));
  }
  // Copies handed to a peer in a previous life are of no use now.
  const std::string snapshot_dir = absl::StrCat(options_.data_dir, "/snapshots");
  std::error_code ignored;
  std::filesystem::remove_all(snapshot_dir, ignored);
  snapshots_ = std::make_unique<SnapshotStore>(snapshot_dir, std::chrono::minutes(10));
  for (auto& group : groups_) {
    if (group->primary != self_ && group->secondary != self_) continue;
    if (absl::Status s = OpenGroup(*group); !s.ok()) return s;
    for (int p : group->partitions) {
      Partition& partition = *partitions_[static_cast<size_t>(p)];
      absl::StatusOr<uint64_t> applied = group->db->GetSourcePosition(partition.subject);
      if (!applied.ok()) return applied.status();
      partition.applied = *applied;
      positions_.LocalApplied(p, *applied);
    }
  }

  TagLogOptions log_options;
  log_options.servers = config_.nats.servers;
  log_options.stream = config_.nats.stream;
  log_options.subject_prefix = config_.nats.subject_prefix;
  log_options.partitions = config_.partitions;
  log_options.replicas = config_.nats.replicas;
  log_options.max_age = std::chrono::hours(config_.nats.max_age_hours);
  log_options.client_name = options_.node_id;
  log_options.append_timeout =
      std::min<std::chrono::milliseconds>(std::chrono::milliseconds(2000), options_.ingest_timeout);
  absl::StatusOr<std::unique_ptr<TagLog>> log = TagLog::Open(log_options);
  if (!log.ok()) return log.status();
  log_ = *std::move(log);
  for (const NodeSpec& node : config_.nodes) {
    if (node.id == options_.node_id) continue;
    heartbeats_.push_back(log_->Listen(HeartbeatSubject(config_, node.id),
                                       [this](std::string_view data) { OnHeartbeat(data); }));
  }
  for (auto& partition : partitions_) {
    if (partition->group->db == nullptr) continue;
    Partition* p = partition.get();
    p->reader = log_->Read(p->id, p->applied.load() + 1,
                           [this, p](const ReadBatch& batch) { return Apply(*p, batch); });
  }
  analytics_ = std::make_unique<ClusterAnalytics>(AnalystSources());
  heartbeat_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "alz-heartbeat");
    HeartbeatLoop();
  });
  return absl::OkStatus();
}

absl::Status ClusterNode::OpenGroup(Group& group) {
  Options db_options = options_.database;
  db_options.data_dir = absl::StrCat(options_.data_dir, "/group-", group.key);
  const auto open = [&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(db_options);
    if (!db.ok()) {
      return absl::Status(db.status().code(), absl::StrCat("cannot open ", db_options.data_dir,
                                                           ": ", db.status().message()));
    }
    group.db = *std::move(db);
    return absl::OkStatus();
  };
  if (absl::Status s = open(); !s.ok()) return s;
  bool fresh = true;
  for (int p : group.partitions) {
    absl::StatusOr<uint64_t> applied =
        group.db->GetSourcePosition(partitions_[static_cast<size_t>(p)]->subject);
    if (!applied.ok()) return applied.status();
    fresh = fresh && *applied == 0;
  }
  const int peer = group.primary == self_ ? group.secondary : group.primary;
  if (!fresh || peer < 0) return absl::OkStatus();
  // Started empty (new, or wiped): the other owner's copy holds what the log may no longer.
  const NodeSpec& owner = config_.nodes[static_cast<size_t>(peer)];
  const std::string incoming = db_options.data_dir + ".incoming";
  std::error_code error;
  std::filesystem::remove_all(incoming, error);
  std::filesystem::create_directories(incoming, error);
  const auto started = Clock::now();
  absl::StatusOr<uint64_t> fetched =
      error ? absl::InternalError(absl::StrCat("cannot create ", incoming, ": ", error.message()))
            : FetchSnapshot(owner, group.key, incoming, SnapshotFetchOptions{});
  if (!fetched.ok()) {
    std::filesystem::remove_all(incoming, error);
    server::LogLine(server::LogLevel::kInfo,
                    "no copy of the group from its other owner; "
                    "rebuilding from the log")
        .Add("group", group.key)
        .Add("owner", owner.id)
        .Add("reason", std::string(fetched.status().message()));
    return absl::OkStatus();
  }
  group.db.reset();
  std::filesystem::remove_all(db_options.data_dir, error);
  if (!error) std::filesystem::rename(incoming, db_options.data_dir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot move ", incoming, " to ", db_options.data_dir, ": ", error.message()));
  }
  if (absl::Status s = open(); !s.ok()) return s;
  group.rebuilt_from = owner.id;
  server::LogLine(server::LogLevel::kInfo, "rebuilt the group from its other owner's copy")
      .Add("group", group.key)
      .Add("owner", owner.id)
      .Add("bytes", *fetched)
      .Add("ms", static_cast<int64_t>(
                     std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started)
                         .count()));
  return absl::OkStatus();
}

ClusterNode::~ClusterNode() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  for (auto& partition : partitions_) partition->reader.reset();
  heartbeats_.clear();
  log_.reset();
  for (auto& group : groups_) group->db.reset();  // commits what is queued
}

uint64_t ClusterNode::Apply(Partition& partition, const ReadBatch& batch) {
  if (batch.truncated) {
    truncated_reads_.fetch_add(1, std::memory_order_relaxed);
    server::LogLine(server::LogLevel::kWarn, "the log no longer holds entries this node lacks")
        .Add("partition", partition.id)
        .Add("applied", partition.applied.load());
  }
  partition.pending.store(batch.pending, std::memory_order_relaxed);
  if (batch.entries.empty()) {
    if (batch.caught_up) partition.caught_up.store(true);
    return partition.applied.load() + 1;
  }
  const uint64_t last = batch.entries.back().sequence;
  std::vector<UserTag> tags;
  for (const LogEntry& entry : batch.entries) {
    if (entry.sequence <= partition.applied.load()) continue;  // a redelivery
    for (absl::string_view line : absl::StrSplit(Sv(entry.data), '\n', absl::SkipEmpty())) {
      absl::StatusOr<UserTag> tag = ParseUserTagJson(std::string_view(line.data(), line.size()));
      if (tag.ok() && ValidateUserTag(*tag).ok()) {
        tags.push_back(*std::move(tag));
      } else {
        // Nodes log only tags they validated; anything else was written by a stranger.
        server::LogLine(server::LogLevel::kWarn, "skipped an invalid tag in the log")
            .Add("partition", partition.id)
            .Add("sequence", entry.sequence);
      }
    }
  }
  if (last > partition.applied.load()) {
    std::promise<absl::Status> committed;
    std::future<absl::Status> done = committed.get_future();
    partition.group->db->SubmitTags(
        std::move(tags), {SourcePosition{partition.subject, last}},
        [&committed](absl::Status status) { committed.set_value(std::move(status)); });
    if (absl::Status status = done.get(); !status.ok()) {
      apply_failures_.fetch_add(1, std::memory_order_relaxed);
      last_apply_failure_ms_.store(SteadyMillis());
      server::LogLine(server::LogLevel::kWarn, "applying log entries failed; retrying")
          .Add("partition", partition.id)
          .Add("error", std::string(status.message()));
      std::unique_lock lock(stop_mu_);
      stop_cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_; });
      return partition.applied.load() + 1;
    }
    partition.applied.store(last);
    if (last_apply_failure_ms_.load(std::memory_order_relaxed) != 0)
      last_apply_failure_ms_.store(0);
    positions_.LocalApplied(partition.id, last);
    if (!positions_changed_.exchange(true)) {
      { std::lock_guard lock(stop_mu_); }  // the heartbeat thread is waiting, not about to
      stop_cv_.notify_all();
    }
  }
  if (batch.caught_up) partition.caught_up.store(true);
  return last + 1;
}

bool ClusterNode::GroupReady(const Group& group) const {
  if (group.db == nullptr) return false;
  for (int p : group.partitions) {
    if (!partitions_[static_cast<size_t>(p)]->caught_up.load()) return false;
  }
  return true;
}

absl::Status ClusterNode::Ready() const {
  if (ever_ready_.load()) {
    // Applying failed lately (a full disk, say): the log goes on without this node, whose
    // answers would miss tags, until an apply succeeds again.
    const int64_t failed_at = last_apply_failure_ms_.load();
    if (failed_at != 0 && SteadyMillis() - failed_at < kNotReadyAfterApplyFailure.count()) {
      return absl::UnavailableError(
          "not ready: applying the log failed in the last 5 s (see the log for why)");
    }
    return absl::OkStatus();
  }
  size_t owned = 0, caught_up = 0;
  uint64_t lag = 0;
  for (const auto& partition : partitions_) {
    if (partition->group->db == nullptr) continue;
    ++owned;
    if (partition->caught_up.load()) ++caught_up;
    lag += partition->pending.load();
  }
  return absl::UnavailableError(absl::StrCat("not ready: catching up with the log (", caught_up,
                                             " of ", owned, " partitions, ", lag,
                                             " entries behind)"));
}

void ClusterNode::HeartbeatLoop() {
  std::vector<const Partition*> local;
  for (const auto& partition : partitions_) {
    if (partition->group->db != nullptr) local.push_back(partition.get());
  }
  std::unique_lock lock(stop_mu_);
  while (!stopping_) {
    if (positions_changed_.load()) {
      // Peers wait for these positions before answering 204: send them at once, but let the
      // applies of the next millisecond join (one message instead of one per apply halves
      // the NATS traffic at load).
      stop_cv_.wait_for(lock, kPositionCoalescing, [this] { return stopping_; });
      positions_changed_.store(false);
    }
    lock.unlock();
    if (!ever_ready_.load()) {
      const bool all = std::all_of(local.begin(), local.end(),
                                   [](const Partition* p) { return p->caught_up.load(); });
      if (all) {
        ever_ready_.store(true);
        server::LogLine(server::LogLevel::kInfo, "caught up with the log: ready")
            .Add("partitions", static_cast<uint64_t>(local.size()));
      }
    }
    positions_.SetLocalReady(ever_ready_.load());
    Broadcast(local);
    positions_.Tick(Clock::now());
    lock.lock();
    stop_cv_.wait_for(lock, options_.heartbeat_interval,
                      [this] { return stopping_ || positions_changed_.load(); });
  }
}

// "<node> <ready 0|1> <partition>:<applied> ..."
void ClusterNode::Broadcast(const std::vector<const Partition*>& partitions) {
  std::string message = absl::StrCat(options_.node_id, " ", ever_ready_.load() ? 1 : 0);
  for (const Partition* p : partitions)
    absl::StrAppend(&message, " ", p->id, ":", p->applied.load());
  log_->Broadcast(HeartbeatSubject(config_, options_.node_id), message);
}

void ClusterNode::OnHeartbeat(std::string_view data) {
  std::vector<absl::string_view> fields = absl::StrSplit(Sv(data), ' ', absl::SkipEmpty());
  if (fields.size() < 2) return;
  const int node = config_.NodeIndex(std::string_view(fields[0].data(), fields[0].size()));
  if (node < 0 || node == self_) return;
  std::vector<std::pair<int, uint64_t>> applied;
  for (size_t i = 2; i < fields.size(); ++i) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(fields[i], ':');
    int partition = 0;
    uint64_t sequence = 0;
    if (absl::SimpleAtoi(kv.first, &partition) && absl::SimpleAtoi(kv.second, &sequence)) {
      applied.emplace_back(partition, sequence);
    }
  }
  positions_.PeerReport(node, fields[1] == "1", applied, Clock::now());
}

void ClusterNode::Submit(std::vector<UserTag> tags, std::function<void(absl::Status)> done) {
  if (tags.empty()) return done(absl::OkStatus());
  // One log entry per partition of the request, lines joined (a batch's tags share entries:
  // fewer appends; single tags are unchanged), cut before kMaxEntryBytes. A client's retry of
  // a failed request forms the same entries, so RetryIds finds each one's first Msg-Id.
  struct Attempt {
    int partition = 0;
    std::string line;  // one tag's JSON line, or several
    std::string msg_id;
    bool retry = false;  // sent under the id of an earlier, failed attempt
  };
  struct Join {
    std::atomic<size_t> remaining;
    std::mutex mu;
    absl::Status status;  // the first failure, guarded by mu
    std::vector<Attempt> attempts;
    std::function<void(absl::Status)> done;
    void Finish(absl::Status outcome) {
      if (!outcome.ok()) {
        std::lock_guard lock(mu);
        if (status.ok()) status = std::move(outcome);
      }
      if (remaining.fetch_sub(1) == 1) done(std::move(status));
    }
  };
  auto join = std::make_shared<Join>();
  const Clock::time_point now = Clock::now();
  {
    std::vector<int> open_entry(static_cast<size_t>(config_.partitions), -1);
    std::string line;
    for (const UserTag& tag : tags) {
      const int partition = static_cast<int>(PartitionOf(tag.cookie, config_.partitions));
      line.clear();
      AppendUserTagJson(tag, &line);
      line.push_back('\n');
      int& entry = open_entry[static_cast<size_t>(partition)];
      if (entry < 0 ||
          join->attempts[static_cast<size_t>(entry)].line.size() + line.size() > kMaxEntryBytes) {
        entry = static_cast<int>(join->attempts.size());
        join->attempts.emplace_back().partition = partition;
      }
      join->attempts[static_cast<size_t>(entry)].line += line;
    }
  }
  for (Attempt& attempt : join->attempts) {
    std::optional<std::string> earlier = retry_ids_.Find(attempt.line, now);
    attempt.retry = earlier.has_value();
    if (attempt.retry) {
      retried_tags_.fetch_add(std::count(attempt.line.begin(), attempt.line.end(), '\n'),
                              std::memory_order_relaxed);
    }
    attempt.msg_id = earlier.has_value() ? *std::move(earlier)
                                         : absl::StrCat(boot_id_, "-", next_message_.fetch_add(1));
  }
  join->remaining = join->attempts.size();
  // Every entry of a failed request is answered 503, although some may be in the log:
  // remember them all, so that retrying the request cannot store a second copy.
  join->done = [this, join_ptr = join.get(), done = std::move(done)](absl::Status status) {
    if (!status.ok()) {
      ingest_failures_.fetch_add(1, std::memory_order_relaxed);
      const Clock::time_point failed_at = Clock::now();
      for (Attempt& attempt : join_ptr->attempts) {
        retry_ids_.Remember(std::move(attempt.line), std::move(attempt.msg_id), failed_at);
      }
    } else {
      for (const Attempt& attempt : join_ptr->attempts) {
        if (attempt.retry) retry_ids_.Forget(attempt.line);
      }
    }
    done(std::move(status));
  };
  const Clock::time_point deadline = now + options_.ingest_timeout;
  for (const Attempt& attempt : join->attempts) {
    const int partition = attempt.partition;
    log_->Append(partition, attempt.line, attempt.msg_id,
                 [this, partition, deadline, join](absl::StatusOr<uint64_t> sequence) {
                   if (!sequence.ok()) {
                     return join->Finish(absl::UnavailableError(absl::StrCat(
                         "the log did not take the tag: ", sequence.status().message())));
                   }
                   positions_.Wait(partition, *sequence, deadline, [join](absl::Status status) {
                     join->Finish(std::move(status));
                   });
                 });
  }
}

absl::Status ClusterNode::AppendProfileJson(std::string_view cookie, TimeRange range, int32_t limit,
                                            std::string* out) {
  const Partition& partition = *partitions_[PartitionOf(cookie, config_.partitions)];
  if (partition.group->db != nullptr && partition.caught_up.load()) {
    return allezon::AppendProfileJson(partition.group->db->user_tags(), cookie, range, limit, out);
  }
  const std::string target =
      absl::StrCat("/cluster/profile?cookie=", PercentEncode(cookie), "&begin=", range.begin,
                   "&end=", range.end, "&limit=", limit);
  absl::Status last = absl::UnavailableError("no owner");
  for (int owner : {partition.group->primary, partition.group->secondary}) {
    if (owner < 0 || owner == self_) continue;
    absl::StatusOr<std::string> body =
        PeerGet(config_.nodes[static_cast<size_t>(owner)], target, options_.peer_connect_timeout,
                options_.peer_timeout);
    if (body.ok()) {
      out->append(*body);
      return absl::OkStatus();
    }
    if (absl::IsInvalidArgument(body.status())) return body.status();
    last = body.status();
  }
  return absl::UnavailableError(
      absl::StrCat("no owner of partition ", partition.id, " can answer: ", last.message()));
}

absl::StatusOr<AggregateResult> ClusterNode::LocalGroupAggregate(
    std::string_view group_key, const AggregateQuery& query) const {
  absl::StatusOr<const Database*> db = ReadyGroupDatabase(group_key);
  if (!db.ok()) return db.status();
  AggregateQuery both = query;
  both.aggregates = {AggregateFunction::kCount, AggregateFunction::kSumPrice};
  return (*db)->aggregates().Query(both);
}

absl::StatusOr<const Database*> ClusterNode::ReadyGroupDatabase(std::string_view group_key) const {
  const Group* group = FindGroup(group_key);
  if (group == nullptr || group->db == nullptr) {
    return absl::UnavailableError(
        absl::StrCat(options_.node_id, " does not own group ", Sv(group_key)));
  }
  if (!GroupReady(*group)) {
    return absl::UnavailableError(
        absl::StrCat(options_.node_id, " is still catching up on group ", Sv(group_key)));
  }
  return group->db.get();
}

const ClusterNode::Group* ClusterNode::FindGroup(std::string_view key) const {
  for (const auto& group : groups_) {
    if (group->key == key) return group.get();
  }
  return nullptr;
}

absl::StatusOr<AggregateResult> ClusterNode::GroupAggregate(const Group& group,
                                                            const AggregateQuery& query) {
  int candidates[2] = {group.primary, group.secondary};
  if (group.secondary == self_) std::swap(candidates[0], candidates[1]);  // local first
  absl::Status last = absl::UnavailableError("no owner");
  for (int owner : candidates) {
    if (owner < 0) continue;
    absl::StatusOr<AggregateResult> result;
    if (owner == self_) {
      result = LocalGroupAggregate(group.key, query);
    } else {
      absl::StatusOr<std::string> body =
          PeerGet(config_.nodes[static_cast<size_t>(owner)],
                  absl::StrCat("/cluster/aggregates?", AggregateQueryString(group.key, query)),
                  options_.peer_connect_timeout, options_.peer_timeout);
      result = body.ok() ? ParseRows(*body) : absl::StatusOr<AggregateResult>(body.status());
    }
    if (result.ok() || absl::IsInvalidArgument(result.status())) return result;
    last = result.status();
  }
  return absl::UnavailableError(
      absl::StrCat("no owner of partitions group ", group.key, " can answer: ", last.message()));
}

absl::StatusOr<AggregateResult> ClusterNode::Aggregate(const AggregateQuery& query) {
  std::vector<std::future<absl::StatusOr<AggregateResult>>> remote;
  std::vector<absl::StatusOr<AggregateResult>> answers;
  for (const auto& group : groups_) {
    if (GroupReady(*group)) {
      answers.push_back(LocalGroupAggregate(group->key, query));
    } else {
      remote.push_back(std::async(std::launch::async, [this, g = group.get(), &query] {
        return GroupAggregate(*g, query);
      }));
    }
  }
  for (auto& future : remote) answers.push_back(future.get());
  AggregateResult sum;
  for (absl::StatusOr<AggregateResult>& answer : answers) {
    if (!answer.ok()) return answer.status();
    if (sum.rows.empty()) {
      sum = *std::move(answer);
      continue;
    }
    if (answer->rows.size() != sum.rows.size()) {
      return absl::InternalError("owners answered different numbers of buckets");
    }
    for (size_t i = 0; i < sum.rows.size(); ++i) {
      sum.rows[i].count += answer->rows[i].count;
      sum.rows[i].sum_price += answer->rows[i].sum_price;
    }
  }
  return sum;
}

Database* ClusterNode::first_database() const {
  for (const auto& group : groups_) {
    if (group->db != nullptr) return group->db.get();
  }
  return nullptr;
}

std::string ClusterNode::StatusJson() const {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  const Clock::time_point now = Clock::now();
  uint64_t lag = 0;
  w.StartObject();
  w.Key("node");
  w.String(options_.node_id.c_str());
  w.Key("ready");
  w.Bool(ever_ready_.load());
  w.Key("partitions");
  w.StartArray();
  for (const auto& partition : partitions_) {
    const Group& group = *partition->group;
    if (group.db == nullptr) continue;
    lag += partition->pending.load();
    w.StartObject();
    w.Key("partition");
    w.Int(partition->id);
    w.Key("role");
    w.String(group.primary == self_ ? "primary" : "secondary");
    w.Key("group");
    w.String(group.key.c_str());
    w.Key("applied");
    w.Uint64(partition->applied.load());
    w.Key("pending");
    w.Uint64(partition->pending.load());
    w.Key("caught_up");
    w.Bool(partition->caught_up.load());
    if (!group.rebuilt_from.empty()) {
      w.Key("rebuilt_from");
      w.String(group.rebuilt_from.c_str());
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("lag");
  w.Uint64(lag);
  w.Key("peers");
  w.StartArray();
  for (size_t n = 0; n < config_.nodes.size(); ++n) {
    if (static_cast<int>(n) == self_) continue;
    w.StartObject();
    w.Key("node");
    w.String(config_.nodes[n].id.c_str());
    w.Key("live");
    w.Bool(positions_.Live(static_cast<int>(n), now));
    w.EndObject();
  }
  w.EndArray();
  const TagLogStats log = log_->Stats();
  w.Key("log");
  w.StartObject();
  w.Key("connected");
  w.Bool(log.connected);
  w.Key("appends");
  w.Uint64(log.appends);
  w.Key("append_resends");
  w.Uint64(log.append_resends);
  w.Key("append_failures");
  w.Uint64(log.append_failures);
  w.Key("reader_restarts");
  w.Uint64(log.reader_restarts);
  w.Key("consumer_create_failures");
  w.Uint64(log.consumer_create_failures);
  w.Key("consumers_misplaced");
  w.Uint64(log.consumers_misplaced);
  w.EndObject();
  w.Key("ingest_waiting");
  w.Uint64(positions_.waiting());
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string ClusterNode::MetricsText() const {
  std::string out;
  absl::StrAppend(&out, "# HELP allezon_cluster_ready 1 once caught up with the log\n",
                  "# TYPE allezon_cluster_ready gauge\nallezon_cluster_ready ",
                  ever_ready_.load() ? 1 : 0, "\n");
  absl::StrAppend(&out,
                  "# HELP allezon_cluster_applied_sequence last log sequence applied, per "
                  "owned partition\n# TYPE allezon_cluster_applied_sequence gauge\n");
  for (const auto& p : partitions_) {
    if (p->group->db == nullptr) continue;
    absl::StrAppend(&out, "allezon_cluster_applied_sequence{partition=\"", p->id, "\"} ",
                    p->applied.load(), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP allezon_cluster_log_lag log entries not yet applied, per owned "
                  "partition\n# TYPE allezon_cluster_log_lag gauge\n");
  for (const auto& p : partitions_) {
    if (p->group->db == nullptr) continue;
    absl::StrAppend(&out, "allezon_cluster_log_lag{partition=\"", p->id, "\"} ", p->pending.load(),
                    "\n");
  }
  const TagLogStats log = log_->Stats();
  absl::StrAppend(
      &out, "# TYPE allezon_cluster_log_connected gauge\nallezon_cluster_log_connected ",
      log.connected ? 1 : 0, "\n# TYPE allezon_cluster_log_appends_total counter\n",
      "allezon_cluster_log_appends_total ", log.appends,
      "\n# TYPE allezon_cluster_log_append_resends_total counter\n",
      "allezon_cluster_log_append_resends_total ", log.append_resends,
      "\n# TYPE allezon_cluster_log_append_failures_total counter\n",
      "allezon_cluster_log_append_failures_total ", log.append_failures,
      "\n# TYPE allezon_cluster_log_reader_restarts_total counter\n",
      "allezon_cluster_log_reader_restarts_total ", log.reader_restarts,
      "\n# TYPE allezon_cluster_log_consumer_create_failures_total counter\n",
      "allezon_cluster_log_consumer_create_failures_total ", log.consumer_create_failures,
      "\n# TYPE allezon_cluster_log_consumers_misplaced_total counter\n",
      "allezon_cluster_log_consumers_misplaced_total ", log.consumers_misplaced,
      "\n# TYPE allezon_cluster_ingest_failures_total counter\n",
      "allezon_cluster_ingest_failures_total ", ingest_failures_.load(),
      "\n# TYPE allezon_cluster_retried_tags_total counter\n",
      "allezon_cluster_retried_tags_total ", retried_tags_.load(),
      "\n# TYPE allezon_cluster_apply_failures_total counter\n",
      "allezon_cluster_apply_failures_total ", apply_failures_.load(),
      "\n# TYPE allezon_cluster_truncated_reads_total counter\n",
      "allezon_cluster_truncated_reads_total ", truncated_reads_.load(),
      "\n# TYPE allezon_cluster_ingest_waiting gauge\nallezon_cluster_ingest_waiting ",
      positions_.waiting(), "\n");
  return out;
}

void ClusterNode::Register(server::HttpRouter& server) {
  using Req = const server::HttpRequest&;
  using Res = server::HttpResponse&;
  server.Get("/cluster/status", [this](Req, Res r) { r.set_content(StatusJson(), kJson); });
  server.Get("/cluster/aggregates", [this](Req q, Res r) {
    absl::StatusOr<int64_t> begin = IntParam(q, "begin"), end = IntParam(q, "end");
    if (!begin.ok()) return SendJsonError(r, begin.status());
    if (!end.ok()) return SendJsonError(r, end.status());
    AggregateQuery query;
    query.range = {*begin, *end};
    std::optional<Action> action = ParseAction(q.param("action"));
    if (!action) return SendJsonError(r, absl::InvalidArgumentError("action: VIEW or BUY"));
    query.action = *action;
    if (q.has_param("bucket")) {
      std::optional<BucketSize> bucket = ParseBucketSize(q.param("bucket"));
      if (!bucket) return SendJsonError(r, absl::InvalidArgumentError("bucket: 1m, 15m, 1h or 1d"));
      query.bucket = *bucket;
    }
    for (auto [name, field] :
         {std::pair{"origin", &query.origin}, std::pair{"brand_id", &query.brand_id},
          std::pair{"category_id", &query.category_id}}) {
      if (q.has_param(name)) *field = q.param(name);
    }
    absl::StatusOr<AggregateResult> result = LocalGroupAggregate(q.param("group"), query);
    if (!result.ok()) return SendJsonError(r, result.status());
    r.set_content(RowsJson(*result), kJson);
  });
  // A group's copy for an owner rebuilding it (group_snapshot.h): ?group=G prepares it,
  // &id=I&offset=O&bytes=B reads a chunk, &id=I&done=1 drops it.
  server.Get(
      "/cluster/snapshot",
      [this](Req q, Res r) {
        const Group* group = FindGroup(q.param("group"));
        if (group == nullptr || group->db == nullptr) {
          return SendJsonError(
              r, absl::UnavailableError(
                     absl::StrCat(options_.node_id, " does not own group ", Sv(q.param("group")))));
        }
        const std::string id = q.param("id");
        if (id.empty()) {
          if (!GroupReady(*group)) {
            return SendJsonError(
                r, absl::UnavailableError(absl::StrCat(
                       options_.node_id, " is still catching up on group ", group->key)));
          }
          absl::StatusOr<std::string> prepared = snapshots_->Prepare(*group->db);
          if (!prepared.ok())
            return SendJsonError(r, absl::UnavailableError(prepared.status().message()));
          return r.set_content(*prepared, kJson);
        }
        if (q.has_param("done")) {
          snapshots_->Finish(id);
          return r.set_content("{}", kJson);
        }
        absl::StatusOr<int64_t> offset = IntParam(q, "offset"), bytes = IntParam(q, "bytes");
        if (!offset.ok()) return SendJsonError(r, offset.status());
        if (!bytes.ok()) return SendJsonError(r, bytes.status());
        if (*offset < 0 || *bytes <= 0) {
          return SendJsonError(r, absl::InvalidArgumentError("offset >= 0 and bytes > 0"));
        }
        absl::StatusOr<std::string> chunk =
            snapshots_->Read(id, static_cast<uint64_t>(*offset),
                             std::min<uint64_t>(static_cast<uint64_t>(*bytes), 64 << 20));
        if (!chunk.ok()) return SendJsonError(r, absl::UnavailableError(chunk.status().message()));
        r.set_content(std::move(*chunk), "application/octet-stream");
      },
      server::HttpRouter::Dispatch::kWorker);
  RegisterAnalystRoutes(server);
  RegisterExportRoutes(server);
  server.Get("/cluster/profile", [this](Req q, Res r) {
    absl::StatusOr<int64_t> begin = IntParam(q, "begin"), end = IntParam(q, "end"),
                            limit = IntParam(q, "limit");
    for (const auto* param : {&begin, &end, &limit}) {
      if (!param->ok()) return SendJsonError(r, param->status());
    }
    const std::string cookie = q.param("cookie");
    const Partition& partition = *partitions_[PartitionOf(cookie, config_.partitions)];
    if (partition.group->db == nullptr || !partition.caught_up.load()) {
      return SendJsonError(
          r, absl::UnavailableError(
                 absl::StrCat(options_.node_id, " cannot answer for partition ", partition.id)));
    }
    std::string body;
    if (absl::Status s =
            allezon::AppendProfileJson(partition.group->db->user_tags(), cookie, {*begin, *end},
                                       static_cast<int32_t>(*limit), &body);
        !s.ok()) {
      return SendJsonError(r, s);
    }
    r.set_content(std::move(body), kJson);
  });
}

}  // namespace allezon::cluster
