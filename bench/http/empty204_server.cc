// allezon-empty204-server: the HTTP ceiling of allezon-server. The same connection layer as
// server/main.cc (HttpServer with the same ConnectionLimits defaults, backlog 4096) but
// POST /user_tags answers 204 at once without parsing or storing anything.
// bench/http_ingest.sh measures both under the same wrk load and prints the ratio: what the
// storage path costs on top of HTTP.
//
//   allezon-empty204-server [--port 0] [--port-file F] [--parse] [--event-loops N]
//
// --parse additionally parses and validates the tag (ParseUserTagJson) before the 204, so
// the parse share can be told apart from the storage share. The tags go through the same
// batched hot path as allezon-server's, minus the storage.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "allezon/user_tag.h"
#include "http_server.h"

namespace {

// The hot path without storage: checks the tag (with --parse) and answers 204.
class NoStorage final : public allezon::server::TagIngest {
 public:
  explicit NoStorage(bool parse) : parse_(parse) {}
  int Accept(std::string_view body, std::vector<allezon::UserTag>*, std::string* error) override {
    if (!parse_) return 0;
    if (!allezon::ParseUserTagJson(body).ok()) {
      *error = "bad tag";
      return 400;
    }
    return 0;
  }
  size_t max_body_bytes() const override { return 64 * 1024; }
  void Submit(std::vector<allezon::UserTag>, std::function<void(absl::Status)> done) override {
    done(absl::OkStatus());
  }
  int StatusFor(const absl::Status&) const override { return 503; }
  void Observe(const Answered&) override {}

 private:
  const bool parse_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", port_file;
  int port = 0;
  bool parse = false;
  size_t loops = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc)
      port = std::atoi(argv[++i]);
    else if (arg == "--host" && i + 1 < argc)
      host = argv[++i];
    else if (arg == "--port-file" && i + 1 < argc)
      port_file = argv[++i];
    else if (arg == "--parse")
      parse = true;
    else if (arg == "--event-loops" && i + 1 < argc)
      loops = static_cast<size_t>(std::atoi(argv[++i]));
    else {
      std::fprintf(stderr,
                   "usage: %s [--host H] [--port P] [--port-file F] [--parse] [--event-loops N]\n",
                   argv[0]);
      return 2;
    }
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // As server/main.cc with its default flags.
  allezon::server::ConnectionLimits limits;
  limits.loops = loops;
  NoStorage ingest(parse);
  allezon::server::HttpRouter router;
  allezon::server::HttpServer server(limits, &router, &ingest);
  const int bound = server.Bind(host, port, 4096);
  if (bound < 0) {
    std::fprintf(stderr, "cannot listen on %s:%d\n", host.c_str(), port);
    return 1;
  }
  if (!port_file.empty()) {
    {
      std::ofstream out(port_file + ".tmp");
      out << bound << "\n";
    }
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  std::thread stopper([&server, stop_signals] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    server.Stop();
  });
  server.Run();
  stopper.join();
  return 0;
}
