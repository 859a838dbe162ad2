#include "control.h"

#include <httplib.h>

#include "driver.h"

namespace allezon::loadgen {

ControlServer::ControlServer(Driver* driver) : driver_(driver) {}

ControlServer::~ControlServer() { Stop(); }

int ControlServer::Start(const std::string& host, int port, std::string* error) {
  server_ = std::make_unique<httplib::Server>();
  // A panel has one or two users: a small pool is plenty.
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  // A body-less POST without Content-Length is read until this timeout (see below).
  server_->set_read_timeout(0, 200'000);
  auto answer_status = [this](httplib::Response& response) {
    response.set_content(driver_->StatusJson(), "application/json");
  };
  auto action = [this, answer_status](void (Driver::*method)()) {
    return [this, answer_status, method](const httplib::Request&, httplib::Response& response) {
      (driver_->*method)();
      answer_status(response);
    };
  };
  const std::pair<const char*, void (Driver::*)()> actions[] = {{"/start", &Driver::Start},
                                                                {"/pause", &Driver::Pause},
                                                                {"/resume", &Driver::Resume},
                                                                {"/close", &Driver::Close}};
  for (const auto& [path, method] : actions) {
    server_->Post(path, action(method));
    server_->Get(path, action(method));
  }
  server_->Get("/status", [answer_status](const httplib::Request&, httplib::Response& response) {
    answer_status(response);
  });
  server_->set_error_handler(
      [this, actions, answer_status](const httplib::Request& request, httplib::Response& response) {
        // cpp-httplib 0.11 rejects a POST without Content-Length (plain `curl -X POST …/pause`)
        // with 400 before routing; an action needs no body, so honour it here.
        if (response.status == 400 && request.method == "POST") {
          for (const auto& [path, method] : actions) {
            if (request.path == path) {
              (driver_->*method)();
              response.status = 200;
              answer_status(response);
              return;
            }
          }
        }
        if (response.body.empty()) {
          response.set_content(
              R"({"error":"unknown control action; use /start /pause /resume /close /status"})",
              "application/json");
        }
      });
  const int bound =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    *error = "cannot listen on " + host + ":" + std::to_string(port);
    return -1;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return bound;
}

void ControlServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace allezon::loadgen
