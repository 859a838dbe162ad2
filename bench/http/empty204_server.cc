// allezon-empty204-server: the HTTP ceiling of allezon-server. The same connection layer and
// cpp-httplib setup as server/main.cc (HttpServer with the same ConnectionLimits defaults:
// 64 threads, 1024 queued connections, backlog 4096, unlimited keep-alive, TCP_NODELAY, the
// same timeouts and payload limit) but POST /user_tags answers 204 at once without parsing
// or storing anything. bench/http_ingest.sh measures both under the same wrk load and prints
// the ratio: what the storage path costs on top of HTTP.
//
//   allezon-empty204-server [--port 0] [--port-file F] [--threads 64] [--parse]
//                           [--http-engine epoll|threads] [--event-loops N]
//
// --parse additionally parses and validates the tag (ParseUserTagJson) before the 204, so
// the parse share can be told apart from the storage share. --http-engine picks the same
// connection layer as allezon-server's flag (default epoll, as the server's default): with
// epoll the tags go through the same batched hot path, minus the storage.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "allezon/user_tag.h"
#include "event_loop_server.h"
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
  size_t threads = 64;
  bool parse = false;
  std::string engine = "epoll";
  size_t loops = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc)
      port = std::atoi(argv[++i]);
    else if (arg == "--host" && i + 1 < argc)
      host = argv[++i];
    else if (arg == "--port-file" && i + 1 < argc)
      port_file = argv[++i];
    else if (arg == "--threads" && i + 1 < argc)
      threads = static_cast<size_t>(std::atoi(argv[++i]));
    else if (arg == "--parse")
      parse = true;
    else if (arg == "--http-engine" && i + 1 < argc)
      engine = argv[++i];
    else if (arg == "--event-loops" && i + 1 < argc)
      loops = static_cast<size_t>(std::atoi(argv[++i]));
    else {
      std::fprintf(stderr,
                   "usage: %s [--host H] [--port P] [--port-file F] [--threads N] [--parse] "
                   "[--http-engine epoll|threads] [--event-loops N]\n",
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
  const size_t payload_limit = 1024 * 1024;
  allezon::server::ConnectionLimits limits;
  limits.threads = threads;
  limits.max_queued = 1024;
  limits.max_header_bytes = 16 * 1024;
  limits.max_body_bytes = 2 * payload_limit + 64 * 1024;
  limits.read_timeout = std::chrono::seconds(5);
  limits.write_timeout = std::chrono::seconds(5);
  limits.request_timeout = std::chrono::seconds(10);
  limits.keep_alive_timeout = std::chrono::seconds(5);
  limits.idle_yield = std::chrono::milliseconds(100);
  allezon::server::HttpServer server(limits);
  server.set_tcp_nodelay(true);
  server.set_keep_alive_timeout(5);
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.set_payload_max_length(payload_limit);
  server.Post("/user_tags", [parse](const httplib::Request& request, httplib::Response& response) {
    if (parse) {
      auto tag = allezon::ParseUserTagJson(request.body);
      if (!tag.ok()) {
        response.status = 400;
        response.set_content(R"({"error":"bad tag"})", "application/json");
        return;
      }
    }
    response.status = 204;
  });
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
  NoStorage ingest(parse);
  allezon::server::EventLoopOptions loop_options;
  loop_options.loops = loops;
  allezon::server::EventLoopServer event_loops(&server, &ingest, loop_options);
  const bool epoll = engine == "epoll";
  std::thread stopper([&server, &event_loops, epoll, stop_signals] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    if (epoll) {
      event_loops.Stop();
    } else {
      server.stop();
    }
  });
  if (epoll) {
    event_loops.Run();
  } else {
    server.listen_after_bind();
  }
  stopper.join();
  return 0;
}
