// Helpers of the hardening tests: a server holding known data (the "victim") whose every
// observable answer is snapshotted before nasty requests and compared after, raw sockets for
// clients that misbehave at the byte level, and the verdict every case must reach.
#pragma once

#include <doctest/doctest.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "allezon_test/http.h"
#include "allezon_test/server_process.h"
#include "allezon_test/tags.h"
#include "allezon_test/time_scale.h"

namespace allezon_hardening {

using namespace allezon_test;  // NOLINT: test code

// 2022-03-01T12:00:00.000Z.
inline const int64_t kT0 = TimeMs(2022, 3, 1, 12, 0, 0);

// A server holding a VIEW and a BUY of cookie "victim", and a client for it.
class Victim {
 public:
  explicit Victim(ServerOptions options = {});
  // Every observable answer about the victim (profile over all time, the day's aggregates).
  std::string Snapshot();
  // The snapshot is as it was at start, and the server still stores and answers.
  void ExpectUnchangedAndAlive();

  ServerProcess server;
  HttpClient http;
  std::string before;
};

// The verdict for a nasty request: a 4xx with a JSON {"error": ...} body, or no response at
// all (a clean close). Never a 5xx.
void ExpectRefused(const HttpResponse& r, std::string_view what);

// Sends `bytes` on a fresh connection (optionally closing our write side after) and reads one
// response, waiting up to `timeout`.
HttpResponse SendRaw(const ServerProcess& server, std::string_view bytes,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A non-blocking TCP connection to 127.0.0.1:port (connect in progress). -1 on failure.
int ConnectNonBlocking(int port);
// Writes all of `bytes` to a blocking or non-blocking socket (polls as needed). False when the
// peer is gone.
bool WriteAll(int fd, std::string_view bytes, std::chrono::milliseconds timeout);
// The status code of an HTTP response beginning `text`, or 0.
int StatusOf(std::string_view text);

// A field of /proc/<pid>/status in kB ("VmRSS", "VmHWM", "RssAnon"); -1 when missing.
long StatusKb(pid_t pid, const std::string& field);

// A valid tag of `cookie` at kT0 + offset.
std::string TagJson(const std::string& cookie, int64_t offset_ms = 0);

}  // namespace allezon_hardening
