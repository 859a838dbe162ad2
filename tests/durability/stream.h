// Shared by the durability tests: concurrent writers that stream identifiable tags at full
// speed to a server that may die and come back at another port, a record of what each request
// got, and a check that the database holds exactly what the answers promise.
//
// Every tag is identifiable: its product_id names its writer and sequence number, so a tag
// found in a profile maps back to the request that sent it. Outcomes:
//   kAcked    answered 204: must be present (profile AND aggregates);
//   kUnknown  no answer (the server died, the connection broke): present or absent, never half;
//   kRejected answered 503 (full, closing): must be absent;
//   kError    any other answer: a test failure by itself, treated like kUnknown when verifying.
#pragma once

#include <doctest/doctest.h>
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "allezon_test/http.h"
#include "allezon_test/server_process.h"
#include "allezon_test/tags.h"
#include "allezon_test/time_scale.h"

namespace allezon_dur {

using namespace allezon_test;  // NOLINT: test code

// 2022-03-01T12:00:00.000Z.
inline const int64_t kT0 = TimeMs(2022, 3, 1, 12, 0, 0);

enum class Outcome { kAcked, kUnknown, kRejected, kError };

struct Sent {
  Tag tag;
  std::string key;  // product_id as text: the tag's identity
  int writer = 0;
  int64_t index = 0;  // the writer's sequence number
  Outcome outcome = Outcome::kUnknown;
  int status = 0;
};

struct StreamShape {
  int writers = 8;
  int first_writer = 0;  // writer ids first_writer.. (distinct ids for a second phase)
  int cookies_per_writer = 8;
  int64_t step_ms = 50;  // event time between one writer's consecutive tags
  int64_t max_tags_per_writer = 5000;
  // > 0: product_id is a string of at least this many bytes (fills storage fast); else an int.
  size_t product_bytes = 0;
  // Every writer stops at its first 503 (full-storage test); else 503 is recorded and skipped.
  bool stop_on_503 = false;
};

// Writer w's i-th tag: cookie, action, origin, brand, category and price vary with (w, i);
// time = kT0 + i * step_ms + w.
Tag StreamTag(const StreamShape& shape, int writer, int64_t index);

// The server the writers talk to. The test thread publishes each (re)started server's port;
// a writer that lost its server waits for a newer one.
class Endpoint {
 public:
  void Publish(int port);
  // Blocks until a server newer than *epoch is published or `stop` is set. Returns its port
  // and updates *epoch, or 0 when stopped.
  int AwaitNewer(uint64_t* epoch, const std::atomic<bool>& stop);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int port_ = 0;
  uint64_t epoch_ = 0;
};

class Stream {
 public:
  Stream(StreamShape shape, Endpoint* endpoint);
  ~Stream();  // Stop()s
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  void Start();
  // Sets the stop flag and joins the writers; idempotent.
  void Stop();
  // Writers exhausted their budget or all stopped on a 503.
  bool Finished() const;
  bool Saw503() const { return saw_503_.load(); }
  int64_t Acked() const { return acked_.load(); }
  // Per writer: how many of its requests have been answered (or given up) so far. A request
  // with index < Progress()[w] was answered before this call.
  std::vector<int64_t> Progress() const;
  // Blocks until at least `n` tags are acknowledged in total (or the stream finished), up to
  // `timeout` times TimeScale().
  void WaitAcked(int64_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  // After Stop(): every request, all writers.
  std::vector<Sent> Results() const;
  const StreamShape& shape() const { return shape_; }

 private:
  void Run(int slot);

  StreamShape shape_;
  Endpoint* endpoint_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> saw_503_{false};
  std::atomic<int64_t> acked_{0};
  std::atomic<int> running_{0};
  std::vector<std::vector<Sent>> sent_;  // per writer slot, written only by its writer
  std::unique_ptr<std::atomic<int64_t>[]> progress_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

struct Tally {
  size_t acked = 0, unknown = 0, rejected = 0, errors = 0;
  size_t unknown_present = 0;  // unknown tags found stored
  size_t present = 0;          // tags found stored
};

// Counts outcomes.
Tally Count(const std::vector<Sent>& sent);

// Checks what the server behind `http` stores against `sent`:
//  - each cookie's profile holds only sent tags, each once, equal to what was sent;
//  - every tag for which must_have(tag) holds is present; kRejected ones are absent;
//  - aggregates (counts and sums over several filters) equal exactly those of the tags found
//    in profiles, so a tag is never half stored and never counted twice.
// Every (cookie, action) must have fewer sent tags than `profile_cap` (checked).
// Returns the tally with present / unknown_present filled in.
Tally VerifyStore(HttpClient& http, const std::vector<Sent>& sent,
                  const std::function<bool(const Sent&)>& must_have, int64_t profile_cap);

// The common case: every acknowledged tag must be present.
inline Tally VerifyAcked(HttpClient& http, const std::vector<Sent>& sent, int64_t profile_cap) {
  return VerifyStore(
      http, sent, [](const Sent& s) { return s.outcome == Outcome::kAcked; }, profile_cap);
}

std::string Describe(const Tally& t);

// allezon-server run as a child with `args` (after the binary), its stdout and stderr going to
// a log: for runs that are expected to fail, where ServerProcess would throw.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args);
  ~Child();  // SIGKILLs a child still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Waits up to `timeout` for the exit; true once exited (fills the fields below).
  bool Wait(std::chrono::milliseconds timeout);
  void Kill();
  std::string Output() const;

  bool done = false;
  bool exited = false;  // exited normally with exit_code (else ended by term_signal)
  int exit_code = -1;
  int term_signal = 0;
  int64_t ms = 0;  // from start to exit

 private:
  TempDir scratch_{"allezon-dur-child"};
  pid_t pid_ = -1;
  std::chrono::steady_clock::time_point start_;
};

// Runs allezon-server --host 127.0.0.1 --port 0 `args` to its exit (SIGKILL after `timeout`).
struct RunResult {
  bool timed_out = false;
  bool exited = false;
  int exit_code = -1;
  int term_signal = 0;
  int64_t ms = 0;
  std::string output;
};
RunResult RunServer(const std::vector<std::string>& args, std::chrono::milliseconds timeout);

// A random seed, or $ALLEZON_DUR_SEED when set (printed by the tests for reproduction).
uint64_t TestSeed();

}  // namespace allezon_dur
