// The per-connection state of EventLoopServer's loops and the small types they hand around:
// a connection's buffers and flags, one buffered request as cpp-httplib's Stream, an answer
// owed for a tag, and the queue the database's writer hands batch outcomes back through.
//
// Thread-safety: Connection, WholeRequestStream and Pending belong to one loop thread;
// Completions is shared between a loop and the writer thread (its mutex guards `done`).
#ifndef ALLEZON_SERVER_EVENT_LOOP_CONNECTION_H_
#define ALLEZON_SERVER_EVENT_LOOP_CONNECTION_H_

#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "http_server.h"

namespace allezon::server::event_loop {

using Clock = std::chrono::steady_clock;

struct Connection {
  int fd = -1;
  std::string in;  // received, not yet handled from in_pos on
  size_t in_pos = 0;
  std::string out;  // to send, from out_pos on
  size_t out_pos = 0;
  uint32_t interest = 0;              // events registered with epoll
  Clock::time_point request_start{};  // first byte of the request being received
  Clock::time_point last_read{};
  Clock::time_point idle_since{};
  Clock::time_point write_stalled_since{};  // {} while nothing waits to be sent
  int pending_tags = 0;                     // answers owed for tags not yet stored
  bool close_after_replies = false;         // the last pending tag asked for Connection: close
  bool close_after_flush = false;           // no more requests: close once `out` is sent
  bool linger = false;                      // close by draining (after an error answer)
  bool peer_closed = false;                 // recv returned 0
  bool dead = false;                        // to be closed and freed at the end of the iteration
  bool scheduled = false;                   // in the ready list
  bool unregistered = false;                // removed from epoll (dead, waiting for its tags)
  bool sent_continue = false;               // a 100 Continue went out for the current request
  std::string remote_ip, local_ip;
  int remote_port = -1, local_port = -1;

  size_t unparsed() const { return in.size() - in_pos; }
  size_t unsent() const { return out.size() - out_pos; }
  const std::string& RemoteIp() {
    if (remote_port < 0) SocketAddress(fd, true, &remote_ip, &remote_port);
    return remote_ip;
  }
};

// One whole request, already in memory, as cpp-httplib's Stream: reads come from the
// request's bytes, writes go to the connection's output buffer.
class WholeRequestStream final : public httplib::Stream {
 public:
  WholeRequestStream(std::string_view request, Connection* connection)
      : request_(request), connection_(connection) {}
  bool is_readable() const override { return pos_ < request_.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, request_.size() - pos_);
    std::copy_n(request_.data() + pos_, n, ptr);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    connection_->out.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = connection_->RemoteIp();
    port = connection_->remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    if (connection_->local_port < 0) {
      SocketAddress(connection_->fd, false, &connection_->local_ip, &connection_->local_port);
    }
    ip = connection_->local_ip;
    port = connection_->local_port;
  }
  socket_t socket() const override { return connection_->fd; }

 private:
  std::string_view request_;
  size_t pos_ = 0;
  Connection* connection_;
};

// An answer owed for a tag in a batch.
struct Pending {
  Connection* connection;
  Clock::time_point start;
  size_t bytes_in;
  std::string target;  // empty: kTagPath
};

// Outcomes of submitted batches, handed from the database's writer thread to a loop. Shared
// with the writer's callbacks, which may outlive the loop (a stop that does not wait).
struct Completions {
  explicit Completions(int fd) : wake_fd(fd) {}
  ~Completions() {
    if (wake_fd >= 0) ::close(wake_fd);
  }
  void Wake() const {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd, &one, sizeof(one));
  }
  // Resets the eventfd's counter (it stays readable, and epoll level-triggered, until read).
  void ClearWake() const {
    uint64_t value;
    [[maybe_unused]] const ssize_t n = ::read(wake_fd, &value, sizeof(value));
  }
  const int wake_fd;
  std::mutex mutex;
  std::vector<std::pair<uint64_t, absl::Status>> done;  // guarded by mutex
};

}  // namespace allezon::server::event_loop

#endif  // ALLEZON_SERVER_EVENT_LOOP_CONNECTION_H_
