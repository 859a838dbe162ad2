// The subscription's control panel over HTTP (issue 3): the actions of the platform's web
// panel for a running stream, and its status.
//
//   POST /start   POST /pause   POST /resume   POST /close     (GET works too)
//   GET  /status  -> the live report as JSON (same shape as --report, "state" included)
//
// Every action answers the status JSON. The server runs on its own thread (cpp-httplib) and
// only calls the Driver's thread-safe methods. Stop() (or the destructor) shuts it down.
#ifndef ALLEZON_BENCH_LOADGEN_CONTROL_H_
#define ALLEZON_BENCH_LOADGEN_CONTROL_H_

#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace allezon::loadgen {

class Driver;

class ControlServer {
 public:
  explicit ControlServer(Driver* driver);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds host:port (port 0: any free port) and starts serving. Returns the bound port, or
  // -1 with a message.
  int Start(const std::string& host, int port, std::string* error);
  void Stop();

 private:
  Driver* driver_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace allezon::loadgen

#endif  // ALLEZON_BENCH_LOADGEN_CONTROL_H_
