// RetryIds: makes a client's retry of a tag that was answered 503 idempotent.
//
// A failed ingest is not always a tag that was not stored: an append whose acknowledgement
// was lost, or one that the log took while the owners did not apply it in time, is in the
// log and will be applied. A client that retries it would store it twice. So when a batch
// fails, the node remembers each tag (its exact log line) with the Nats-Msg-Id it was sent
// under; a retry of the same line within the window is sent under the same id, and
// JetStream's de-duplication keeps one copy (answering the first copy's sequence). Once a
// retry is answered 204 its entry is forgotten, so a later identical tag is a new event.
//
// Keys are whole log lines, never hashes: a collision would drop a distinct tag. Entries
// expire after `window` (shorter than the stream's duplicate window) and the memory holds at
// most `max_entries` entries and `max_bytes` of lines (the oldest go first).
//
// Thread-safety: every method may be called from any thread.
#ifndef ALLEZON_SERVER_CLUSTER_RETRY_IDS_H_
#define ALLEZON_SERVER_CLUSTER_RETRY_IDS_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"

namespace allezon::cluster {

class RetryIds {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::chrono::milliseconds window{100'000};
    size_t max_entries = 100'000;
    size_t max_bytes = 64 << 20;  // of lines (a batch's entry holds many tags)
  };

  explicit RetryIds(Options options) : options_(options) {}

  // The id a failed earlier attempt of `line` was sent under, if it is still remembered.
  std::optional<std::string> Find(std::string_view line, Clock::time_point now);
  // Remembers that `line` was sent under `msg_id` and its request failed.
  void Remember(std::string line, std::string msg_id, Clock::time_point now);
  // The retry of `line` succeeded: a later identical line is a new tag.
  void Forget(std::string_view line);
  size_t size() const;

 private:
  struct Entry {
    std::string msg_id;
    Clock::time_point expires;
  };
  void Expire(Clock::time_point now);                                // mu_ held
  void EvictOldest();                                                // mu_ held
  void Erase(absl::flat_hash_map<std::string, Entry>::iterator it);  // mu_ held

  const Options options_;
  std::atomic<size_t> count_{0};  // entries_.size(): Find's lock-free answer when empty
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_;
  size_t bytes_ = 0;  // of entries_' lines
  // Insertion order for expiry and the size bound; may name entries already forgotten or
  // re-remembered (checked against `expires`).
  std::deque<std::pair<std::string, Clock::time_point>> order_;
};

}  // namespace allezon::cluster

#endif  // ALLEZON_SERVER_CLUSTER_RETRY_IDS_H_
