// OwnerPositions: how far each owner of each partition has applied the log, which owners are
// alive, and the ingest requests waiting for their tags to be applied. A tag is answered 204
// once every live owner of its partition has committed it (at least one must have): then a
// profile read through HAProxy sees it whichever owner answers, also right after a failover.
//
// An owner is live while its heartbeats (with ready = true) keep arriving within `dead_after`
// (after a silence of every peer, e.g. NATS down, each gets a fresh `dead_after`); this node is
// live while it says it is ready. A live owner that stays behind for `grace` after another
// owner has the tag no longer holds the answer back; the cluster node sets the grace beyond
// its ingest timeout, preferring a 503 to a 204 that an owner's reads could miss.
//
// Thread-safety: every method may be called from any thread; callbacks given to Wait run on
// the thread whose call satisfied or expired them, with no lock held.
#ifndef ALLEZON_SERVER_CLUSTER_OWNER_POSITIONS_H_
#define ALLEZON_SERVER_CLUSTER_OWNER_POSITIONS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "cluster_config.h"

namespace allezon::cluster {

class OwnerPositions {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::chrono::milliseconds dead_after{1500};
    std::chrono::milliseconds grace{1000};
  };

  OwnerPositions(const ClusterConfig& config, int self, Options options);

  // Calls done(OK) once the partition's owners hold `sequence` (see above), or
  // done(Unavailable) at `deadline`. May call done before returning.
  void Wait(int partition, uint64_t sequence, Clock::time_point deadline,
            std::function<void(absl::Status)> done);

  // This node committed the partition's entries up to `sequence`.
  void LocalApplied(int partition, uint64_t sequence);
  void SetLocalReady(bool ready);
  // A peer's heartbeat: its readiness and (some of) its applied positions.
  void PeerReport(int node, bool ready, const std::vector<std::pair<int, uint64_t>>& applied,
                  Clock::time_point now);
  // Answers the waiters whose deadline or grace has passed, or whose lagging owners died.
  void Tick(Clock::time_point now);

  uint64_t Applied(int node, int partition) const;
  bool Live(int node, Clock::time_point now) const;
  size_t waiting() const;

 private:
  struct Waiter {
    uint64_t sequence;
    Clock::time_point deadline;
    Clock::time_point first_had{};  // when one owner first had it (grace starts)
    std::function<void(absl::Status)> done;
  };
  // With mu_ held: moves the partition's satisfied or expired waiters into `ready`.
  void Collect(int partition, Clock::time_point now,
               std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>>* ready);
  bool LiveLocked(int node, Clock::time_point now) const;
  static void Run(std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>>& ready);

  const ClusterConfig& config_;
  const int self_;
  const Options options_;
  mutable std::mutex mu_;
  std::vector<std::vector<uint64_t>> applied_;  // [node][partition]
  std::vector<Clock::time_point> last_heard_;   // [node]
  Clock::time_point last_any_heard_{};          // the newest heartbeat from any peer
  std::vector<bool> ready_;                     // [node]
  std::vector<std::multimap<uint64_t, Waiter>> waiters_;  // [partition], by sequence
  size_t waiting_ = 0;
};

}  // namespace allezon::cluster

#endif  // ALLEZON_SERVER_CLUSTER_OWNER_POSITIONS_H_
