// A damaged database file (issue 4: "an unreadable, foreign or damaged data directory gives a
// clear startup error, never a crash"): data.mdb cut short, as an interrupted copy or restore
// leaves it. LMDB maps the file; pages past its end fault (SIGBUS) when touched.
#include <signal.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "stream.h"

namespace allezon_dur {
namespace {

namespace fs = std::filesystem;

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_SUITE("damaged") {
  TEST_CASE("a truncated data.mdb: a clear start-up error or errors, never a crash") {
    TempDir tmp("allezon-dur-damaged");
    const fs::path dir = tmp.path() / "data";
    StreamShape shape;
    shape.writers = 8;
    shape.cookies_per_writer = 16;
    shape.step_ms = 1000;
    shape.product_bytes = 200;
    shape.max_tags_per_writer = 250;
    {
      ServerProcess server(dir, ServerOptions{});
      Endpoint endpoint;
      Stream stream(shape, &endpoint);
      endpoint.Publish(server.port());
      stream.Start();
      while (!stream.Finished()) {
        REQUIRE_MESSAGE(server.Running(), "the server died; log:\n" << server.Log());
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      stream.Stop();
      REQUIRE(Count(stream.Results()).acked == 2000);
      ExitInfo stopped = server.Stop();
      REQUIRE((stopped.exited && stopped.exit_code == 0));
    }
    const uintmax_t size = fs::file_size(dir / "data.mdb");
    uintmax_t cut = 0;
    SUBCASE("cut to a quarter: the trees point past the end") {
      cut = std::max<uintmax_t>(size / 4 / 4096 * 4096, 3 * 4096);
    }
    SUBCASE("the last page missing: the free list points past the end") { cut = size - 4096; }
    fs::resize_file(dir / "data.mdb", cut);
    INFO("data.mdb cut from " << size << " to " << cut << " bytes");

    const fs::path port_file = tmp.path() / "port";
    Child child({"--host", "127.0.0.1", "--port", "0", "--port-file", port_file.string(),
                 "--data-dir", dir.string()});
    // Either it refuses to start (preferred: a clear error naming the directory), or it starts;
    // then queries and writes must be answered (errors are fine) without the process dying.
    const auto deadline = std::chrono::steady_clock::now() + Scaled(std::chrono::seconds(10));
    std::string port;
    while (!child.Wait(std::chrono::milliseconds(5)) &&
           std::chrono::steady_clock::now() < deadline) {
      port = ReadText(port_file);
      if (!port.empty() && port.back() == '\n') break;
    }
    if (!child.done && !port.empty()) {
      MESSAGE("the server started on the truncated file; querying it");
      HttpClient http("127.0.0.1", std::stoi(port));
      for (int w = 0; w < shape.writers; ++w) {
        for (int c = 0; c < shape.cookies_per_writer; ++c) {
          http.Profile("w" + std::to_string(w) + "c" + std::to_string(c),
                       ProfileRange(TimeMs(2000, 1, 1), TimeMs(2100, 1, 1)));
        }
      }
      AggregateQuery q;
      q.begin_ms = kT0;
      q.end_ms = kT0 + 10 * kMinute;
      http.Aggregates(q.ToQuery());
      for (int i = 0; i < 20; ++i) http.PostTag(StreamTag(shape, 90, i).ToJson());
      child.Wait(Scaled(std::chrono::milliseconds(200)));
    }
    INFO("output:\n" << child.Output());
    CHECK_MESSAGE(child.term_signal == 0, "the server crashed: signal " << child.term_signal
                                                                         << " ("
                                                                         << std::string(strsignal(child.term_signal))
                                                                         << ")");
    if (child.exited) {
      CHECK(child.exit_code != 0);
      CHECK_MESSAGE(child.Output().find(dir.string()) != std::string::npos,
                    "the error does not name the data directory");
    }
  }
}

}  // namespace
}  // namespace allezon_dur
