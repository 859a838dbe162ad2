#include "retry_ids.h"

#include <utility>

namespace allezon::cluster {

std::optional<std::string> RetryIds::Find(std::string_view line, Clock::time_point now) {
  if (count_.load(std::memory_order_relaxed) == 0) return std::nullopt;  // the common case
  std::lock_guard lock(mu_);
  Expire(now);
  auto it = entries_.find(absl::string_view(line.data(), line.size()));
  if (it == entries_.end()) return std::nullopt;
  return it->second.msg_id;
}

void RetryIds::Remember(std::string line, std::string msg_id, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Expire(now);
  const Clock::time_point expires = now + options_.window;
  order_.emplace_back(line, expires);
  if (auto it = entries_.find(line); it != entries_.end()) {
    it->second = Entry{std::move(msg_id), expires};
  } else {
    bytes_ += line.size();
    entries_.emplace(std::move(line), Entry{std::move(msg_id), expires});
  }
  while ((entries_.size() > options_.max_entries || bytes_ > options_.max_bytes) &&
         !order_.empty()) {
    EvictOldest();
  }
  count_.store(entries_.size(), std::memory_order_relaxed);
}

void RetryIds::Forget(std::string_view line) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(absl::string_view(line.data(), line.size())); it != entries_.end())
    Erase(it);
  count_.store(entries_.size(), std::memory_order_relaxed);
}

size_t RetryIds::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void RetryIds::Erase(absl::flat_hash_map<std::string, Entry>::iterator it) {
  bytes_ -= it->first.size();
  entries_.erase(it);
}

void RetryIds::EvictOldest() {
  auto it = entries_.find(order_.front().first);
  if (it != entries_.end() && it->second.expires == order_.front().second) Erase(it);
  order_.pop_front();
}

void RetryIds::Expire(Clock::time_point now) {
  while (!order_.empty() && order_.front().second <= now) EvictOldest();
  // Forgotten entries leave their order_ records behind; keep that garbage bounded.
  if (order_.size() > 2 * options_.max_entries + 1024) {
    std::deque<std::pair<std::string, Clock::time_point>> live;
    for (auto& record : order_) {
      auto it = entries_.find(record.first);
      if (it != entries_.end() && it->second.expires == record.second) {
        live.push_back(std::move(record));
      }
    }
    order_.swap(live);
  }
  count_.store(entries_.size(), std::memory_order_relaxed);
}

}  // namespace allezon::cluster
