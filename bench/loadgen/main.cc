// allezon-loadgen: the project's testing platform (SPEC §6, issue 3). Subscribes a server to
// a deterministic stream of user tags with profile and aggregates queries in debug mode,
// checks every answer against an independent oracle and prints the platform's score.
//
//   allezon-loadgen --port 8080 --seed 1 --tags 1000000 --throughput 0
//
// Flags may be written with dashes or underscores (--time-step-ms == --time_step_ms).
// Exit status: 0 run passed, 1 --min-score / --max-wrong not met, 2 could not run.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "control.h"
#include "driver.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Server host.");
ABSL_FLAG(int, port, 8080, "Server port.");
ABSL_FLAG(uint64_t, seed, 1, "Stream seed: the same seed gives the same tags and queries.");
ABSL_FLAG(double, throughput, 1000, "Tags per second; 0 = as fast as the server answers.");
ABSL_FLAG(uint64_t, tags, 0, "Stop after this many tags (0 = no limit).");
ABSL_FLAG(absl::Duration, duration, absl::ZeroDuration(),
          "Stop after this much running time, e.g. 90s or 10m (0 = no limit).");
ABSL_FLAG(int, connections, 16, "Concurrent keep-alive connections to the server.");
ABSL_FLAG(int64_t, time_step_ms, 1,
          "Event time advance per tag; larger steps compress days into short runs.");
ABSL_FLAG(int64_t, disorder_ms, 0,
          "Jitter each tag's time by up to +/- this many ms (out-of-order and equal times).");
ABSL_FLAG(uint32_t, cookies, 1'000'000, "Distinct cookies in the stream.");
ABSL_FLAG(absl::Duration, profile_latency, absl::Seconds(10),
          "Profile queries ask only about tags answered at least this long ago (0 allowed).");
ABSL_FLAG(absl::Duration, aggregate_latency, absl::Seconds(60),
          "Aggregates queries ask only about minutes closed at least this long ago in event "
          "time (0 allowed).");
ABSL_FLAG(int, profile_cap, 200, "Tags the server keeps per cookie and action.");
ABSL_FLAG(bool, debug_bodies, true, "Debug mode: query bodies carry the expected answer.");
ABSL_FLAG(absl::Duration, request_timeout, absl::Seconds(10),
          "A request unanswered this long has failed (aggregates get at least 70s).");
ABSL_FLAG(int, control_port, -1,
          "Serve the control panel (start/pause/resume/close/status) on this port; 0 = any "
          "free port; -1 = none. With a panel the stream waits for /start unless --autostart.");
ABSL_FLAG(std::string, control_host, "127.0.0.1", "Address of the control panel.");
ABSL_FLAG(bool, autostart, false, "With --control-port: start without waiting for /start.");
ABSL_FLAG(std::string, report, "", "Write the final report as JSON to this file.");
ABSL_FLAG(double, min_score, -1, "Exit 1 when the score is below this.");
ABSL_FLAG(int64_t, max_wrong, -1,
          "Exit 1 when more than this many answers are wrong or failed (tags included; late "
          "answers lower the score but are not counted here). -1 = no limit.");
ABSL_FLAG(std::string, progress, "auto",
          "Live status line on stderr: auto (on a terminal), on, off.");
ABSL_FLAG(int, max_samples, 5, "Mismatches and failures shown per endpoint.");

namespace {

std::atomic<allezon::loadgen::Driver*> g_driver{nullptr};

void OnInterrupt(int) {
  // Ctrl-C closes the subscription; the report follows. A second one kills (SA_RESETHAND).
  allezon::loadgen::Driver* driver = g_driver.load();
  if (driver != nullptr) driver->Close();
}

// Abseil flag names are identifiers; the flags are spelled with dashes.
std::vector<std::string> NormalizeFlagNames(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    std::string& arg = args[i];
    if (arg == "--") break;
    if (arg.size() < 3 || arg[0] != '-') continue;
    const size_t name_start = arg[1] == '-' ? 2 : 1;
    const size_t name_end = std::min(arg.find('='), arg.size());
    for (size_t j = name_start; j < name_end; ++j) {
      if (arg[j] == '-') arg[j] = '_';
    }
  }
  return args;
}

int64_t Nanos(absl::Duration duration) { return absl::ToInt64Nanoseconds(duration); }

}  // namespace

int main(int argc, char** argv) {
  using allezon::loadgen::Driver;
  using allezon::loadgen::DriverOptions;
  absl::SetProgramUsageMessage(
      "Drives an Allezon server with the testing platform's stream and scores its answers.\n"
      "Example: allezon-loadgen --port 8080 --seed 1 --tags 1000000 --throughput 0");
  std::vector<std::string> normalized = NormalizeFlagNames(argc, argv);
  std::vector<char*> normalized_argv;
  for (std::string& arg : normalized) normalized_argv.push_back(arg.data());
  absl::ParseCommandLine(static_cast<int>(normalized_argv.size()), normalized_argv.data());

  DriverOptions options;
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.stream.seed = absl::GetFlag(FLAGS_seed);
  options.stream.cookie_population = std::max<uint32_t>(1, absl::GetFlag(FLAGS_cookies));
  options.stream.time_step_ms = std::max<int64_t>(0, absl::GetFlag(FLAGS_time_step_ms));
  options.stream.disorder_ms = std::max<int64_t>(0, absl::GetFlag(FLAGS_disorder_ms));
  const absl::Duration profile_latency = absl::GetFlag(FLAGS_profile_latency);
  options.profile_latency_ns = std::max<int64_t>(0, Nanos(profile_latency));
  // Queries are part of the deterministic stream, so their ranges cannot depend on how fast
  // this run goes: the lag is the wall-clock latency replayed at the real platform's rate
  // (1,000 tags/s). At a higher throughput the driver additionally holds a query back until
  // its data is that old on the wall clock.
  options.stream.profile_lag_ms = absl::ToInt64Milliseconds(profile_latency) *
                                  std::max<int64_t>(1, options.stream.time_step_ms);
  options.stream.aggregate_lag_ms =
      std::max<int64_t>(0, absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_aggregate_latency)));
  options.max_tags = absl::GetFlag(FLAGS_tags);
  options.duration_ns = std::max<int64_t>(0, Nanos(absl::GetFlag(FLAGS_duration)));
  options.throughput = std::max(0.0, absl::GetFlag(FLAGS_throughput));
  options.connections = std::max(1, absl::GetFlag(FLAGS_connections));
  options.profile_cap = std::max(1, absl::GetFlag(FLAGS_profile_cap));
  options.send_expected = absl::GetFlag(FLAGS_debug_bodies);
  options.request_timeout_ns =
      std::max<int64_t>(1'000'000, Nanos(absl::GetFlag(FLAGS_request_timeout)));
  options.max_samples = std::max(0, absl::GetFlag(FLAGS_max_samples));
  const std::string progress = absl::GetFlag(FLAGS_progress);
  options.progress = progress == "on" || (progress == "auto" && isatty(STDERR_FILENO));
  const int control_port = absl::GetFlag(FLAGS_control_port);
  options.wait_for_start = control_port >= 0 && !absl::GetFlag(FLAGS_autostart);

  Driver driver(options);
  allezon::loadgen::ControlServer control(&driver);
  if (control_port >= 0) {
    std::string error;
    const int bound = control.Start(absl::GetFlag(FLAGS_control_host), control_port, &error);
    if (bound < 0) {
      std::fprintf(stderr, "allezon-loadgen: %s\n", error.c_str());
      return 2;
    }
    std::fprintf(stderr, "allezon-loadgen: control panel on http://%s:%d/status%s\n",
                 absl::GetFlag(FLAGS_control_host).c_str(), bound,
                 options.wait_for_start ? " (waiting for POST /start)" : "");
  }

  g_driver.store(&driver);
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // A target server that dies mid-request must show up as failed requests, not end the run:
  // Debian's compiled cpp-httplib writes without MSG_NOSIGNAL.
  signal(SIGPIPE, SIG_IGN);

  std::string error;
  const bool ran = driver.Run(&error);
  g_driver.store(nullptr);
  control.Stop();
  if (!ran) {
    std::fprintf(stderr, "allezon-loadgen: %s\n", error.c_str());
    return 2;
  }

  const allezon::loadgen::RunReport& report = driver.report();
  std::fputs(allezon::loadgen::ReportText(report).c_str(), stdout);
  std::fflush(stdout);
  const std::string report_path = absl::GetFlag(FLAGS_report);
  if (!report_path.empty()) {
    std::ofstream file(report_path);
    file << allezon::loadgen::ReportJson(report, true) << "\n";
    if (!file) {
      std::fprintf(stderr, "allezon-loadgen: cannot write %s\n", report_path.c_str());
      return 2;
    }
  }

  int status = 0;
  const double min_score = absl::GetFlag(FLAGS_min_score);
  if (min_score >= 0 && report.score() < min_score) {
    std::fprintf(stderr, "allezon-loadgen: FAIL: score %.2f is below --min-score %.2f\n",
                 report.score(), min_score);
    status = 1;
  }
  const int64_t max_wrong = absl::GetFlag(FLAGS_max_wrong);
  const uint64_t wrong = report.profiles.wrong + report.profiles.failed + report.aggregates.wrong +
                         report.aggregates.failed + report.tags.failed;
  if (max_wrong >= 0 && wrong > static_cast<uint64_t>(max_wrong)) {
    std::fprintf(
        stderr, "allezon-loadgen: FAIL: %llu wrong or failed answers, more than --max-wrong %lld\n",
        static_cast<unsigned long long>(wrong), static_cast<long long>(max_wrong));
    status = 1;
  }
  return status;
}
