#include "owner_positions.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace allezon::cluster {

OwnerPositions::OwnerPositions(const ClusterConfig& config, int self, Options options)
    : config_(config),
      self_(self),
      options_(options),
      applied_(config.nodes.size(), std::vector<uint64_t>(static_cast<size_t>(config.partitions))),
      last_heard_(config.nodes.size()),
      ready_(config.nodes.size(), false),
      waiters_(static_cast<size_t>(config.partitions)) {}

bool OwnerPositions::LiveLocked(int node, Clock::time_point now) const {
  const auto n = static_cast<size_t>(node);
  if (node == self_) return ready_[n];
  return ready_[n] && now - last_heard_[n] < options_.dead_after;
}

bool OwnerPositions::Live(int node, Clock::time_point now) const {
  std::lock_guard lock(mu_);
  return LiveLocked(node, now);
}

uint64_t OwnerPositions::Applied(int node, int partition) const {
  std::lock_guard lock(mu_);
  return applied_[static_cast<size_t>(node)][static_cast<size_t>(partition)];
}

size_t OwnerPositions::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

void OwnerPositions::Collect(
    int partition, Clock::time_point now,
    std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>>* ready) {
  const PartitionOwners& owners = config_.owners[static_cast<size_t>(partition)];
  int owner_list[2] = {owners.primary, owners.secondary};
  auto& waiting = waiters_[static_cast<size_t>(partition)];
  for (auto it = waiting.begin(); it != waiting.end();) {
    Waiter& waiter = it->second;
    bool any_has = false, every_live_has = true;
    for (int owner : owner_list) {
      if (owner < 0) continue;
      const bool has = applied_[static_cast<size_t>(owner)][static_cast<size_t>(partition)] >=
                       waiter.sequence;
      any_has = any_has || has;
      if (!has && LiveLocked(owner, now)) every_live_has = false;
    }
    if (any_has && waiter.first_had == Clock::time_point{}) waiter.first_had = now;
    if (any_has && (every_live_has || now - waiter.first_had >= options_.grace)) {
      ready->emplace_back(std::move(waiter.done), absl::OkStatus());
    } else if (now >= waiter.deadline) {
      ready->emplace_back(
          std::move(waiter.done),
          absl::UnavailableError(absl::StrCat(
              "the log holds the tag (partition ", partition, ", sequence ", waiter.sequence,
              ") but no owner of its partition applied it in time; it will be stored, do not "
              "retry blindly")));
    } else {
      ++it;
      continue;
    }
    it = waiting.erase(it);
    --waiting_;
  }
}

void OwnerPositions::Run(
    std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>>& ready) {
  for (auto& [done, status] : ready) done(std::move(status));
}

void OwnerPositions::Wait(int partition, uint64_t sequence, Clock::time_point deadline,
                          std::function<void(absl::Status)> done) {
  std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>> ready;
  {
    std::lock_guard lock(mu_);
    waiters_[static_cast<size_t>(partition)].emplace(sequence,
                                                     Waiter{sequence, deadline, {}, std::move(done)});
    ++waiting_;
    Collect(partition, Clock::now(), &ready);
  }
  Run(ready);
}

void OwnerPositions::LocalApplied(int partition, uint64_t sequence) {
  std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>> ready;
  {
    std::lock_guard lock(mu_);
    uint64_t& applied = applied_[static_cast<size_t>(self_)][static_cast<size_t>(partition)];
    applied = std::max(applied, sequence);
    Collect(partition, Clock::now(), &ready);
  }
  Run(ready);
}

void OwnerPositions::SetLocalReady(bool ready) {
  std::lock_guard lock(mu_);
  ready_[static_cast<size_t>(self_)] = ready;
}

void OwnerPositions::PeerReport(int node, bool ready_flag,
                                const std::vector<std::pair<int, uint64_t>>& applied,
                                Clock::time_point now) {
  if (node < 0 || node == self_ || static_cast<size_t>(node) >= applied_.size()) return;
  std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>> ready;
  {
    std::lock_guard lock(mu_);
    const auto n = static_cast<size_t>(node);
    if (now - last_any_heard_ >= options_.dead_after) {
      // Nobody was heard for a while: the silence was NATS's (or ours), not every peer's. Each
      // peer gets a fresh dead_after from now, or a tag could be answered while an owner that
      // merely went unheard still lacks it (and HAProxy still sends it that cookie's reads).
      for (auto& heard : last_heard_) heard = std::max(heard, now);
    }
    last_any_heard_ = now;
    const bool was_live = LiveLocked(node, now);
    last_heard_[n] = now;
    ready_[n] = ready_flag;
    for (auto [partition, sequence] : applied) {
      if (partition < 0 || partition >= config_.partitions) continue;
      uint64_t& known = applied_[n][static_cast<size_t>(partition)];
      // A node restarted wiped reports lower positions: believe it (it lost them).
      known = sequence;
      Collect(partition, now, &ready);
    }
    if (was_live && !ready_flag) {
      // It stopped being ready: its partitions' waiters no longer wait for it.
      for (int p = 0; p < config_.partitions; ++p) Collect(p, now, &ready);
    }
  }
  Run(ready);
}

void OwnerPositions::Tick(Clock::time_point now) {
  std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>> ready;
  {
    std::lock_guard lock(mu_);
    if (waiting_ == 0) return;
    for (int p = 0; p < config_.partitions; ++p) {
      if (!waiters_[static_cast<size_t>(p)].empty()) Collect(p, now, &ready);
    }
  }
  Run(ready);
}

}  // namespace allezon::cluster
