// TagLog: the replicated log of accepted tags, a NATS JetStream stream with one subject per
// partition ("<prefix>.<p>"), through libnats. Appends return once a quorum of the stream's
// replicas holds the entry; readers deliver one partition's entries in order, with no gap and
// no duplicate, from any sequence on.
//
// Ownership: Open returns the sole owner; destroying it stops every Reader and Listener it
// made (they must not outlive it) and closes the connection.
// Thread-safety: every method may be called from any thread. Callbacks run on threads of the
// log (libnats' or its own), never on the caller's.
#ifndef ALLEZON_SERVER_CLUSTER_TAG_LOG_H_
#define ALLEZON_SERVER_CLUSTER_TAG_LOG_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace allezon::cluster {

struct TagLogOptions {
  std::vector<std::string> servers;  // nats://host:port
  std::string stream = "TAGS";
  std::string subject_prefix = "tags";
  int partitions = 64;
  int replicas = 3;
  std::chrono::hours max_age{26};
  std::chrono::seconds duplicate_window{120};  // de-duplication by Nats-Msg-Id
  std::string client_name;                     // shown in NATS' monitoring
  // Total time an Append may take, re-sends with the same Msg-Id included, before it fails
  // with Unavailable.
  std::chrono::milliseconds append_timeout{2000};
  // How long one send waits for its PubAck before the same Msg-Id is sent again (a lost ack
  // or a server lost mid-request); errors such as "no responders" during a leader election
  // re-send sooner, with a short back-off.
  std::chrono::milliseconds attempt_timeout{500};
};

struct LogEntry {
  uint64_t sequence = 0;  // the stream's sequence
  std::string data;
};

struct ReadBatch {
  std::span<const LogEntry> entries;  // contiguous in the partition's order; may be empty
  // No entry of the partition after the batch's last at the time it was read (an empty batch
  // with caught_up comes when the reader is idle, so an empty partition can be caught up too).
  bool caught_up = false;
  uint64_t pending = 0;  // entries of the partition after this batch, as the server counted
  // The stream no longer holds the requested start (MaxAge trimmed it): the first entry
  // delivered is the partition's oldest kept. Set on the first batch after such a start.
  bool truncated = false;
};

struct TagLogStats {
  uint64_t appends = 0;          // entries acknowledged
  uint64_t append_resends = 0;   // re-sends after a timeout
  uint64_t append_failures = 0;  // Appends that failed
  uint64_t reader_restarts = 0;  // consumers recreated after a gap, error or server loss
  // Attempts to make a reader's consumer that failed (an API error or timeout, or 9 placements
  // in a row away from the stream leader); the reader retries with a back-off meanwhile.
  uint64_t consumer_create_failures = 0;
  uint64_t consumers_misplaced = 0;  // made off the stream leader, deleted and made again
  uint64_t reconnects = 0;
  uint64_t appends_in_flight = 0;  // Appends not yet answered
  bool connected = false;
};

class TagLog {
 public:
  // Connects and creates (or updates) the stream. When no server answers it still returns a
  // log that keeps reconnecting in the background (Appends fail with Unavailable meanwhile,
  // readers wait); InvalidArgument for bad options.
  static absl::StatusOr<std::unique_ptr<TagLog>> Open(const TagLogOptions& options);
  virtual ~TagLog() = default;

  // Appends `data` to the partition's subject with Nats-Msg-Id `msg_id`. `done` is called
  // exactly once with the entry's stream sequence once a quorum holds it (duplicate ids
  // answer the first copy's sequence), or Unavailable after append_timeout. Many appends may
  // be in flight at once.
  virtual void Append(int partition, std::string data, std::string msg_id,
                      std::function<void(absl::StatusOr<uint64_t>)> done) = 0;

  class Reader {
   public:
    virtual ~Reader() = default;  // stops delivering; returns once no apply call runs
  };
  // Delivers the partition's entries with sequence >= from_sequence, in order, to `apply`,
  // one batch at a time on a thread of the reader's. apply returns the sequence to read on
  // from: normally the batch's last + 1; anything smaller (a failed apply) makes the reader
  // deliver again from there. Survives server loss and reconnects by itself.
  virtual std::unique_ptr<Reader> Read(int partition, uint64_t from_sequence,
                                       std::function<uint64_t(const ReadBatch&)> apply) = 0;

  // Core NATS messages (not persisted, at most once): node heartbeats and applied positions.
  virtual void Broadcast(std::string_view subject, std::string_view data) = 0;
  class Listener {
   public:
    virtual ~Listener() = default;  // unsubscribes; returns once no callback runs
  };
  virtual std::unique_ptr<Listener> Listen(
      std::string_view subject, std::function<void(std::string_view data)> on_message) = 0;

  virtual TagLogStats Stats() const = 0;
};

}  // namespace allezon::cluster

#endif  // ALLEZON_SERVER_CLUSTER_TAG_LOG_H_
