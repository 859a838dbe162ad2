// The request parser against the attacks issue 17 found: a decompression bomb (bodies are never
// inflated: any Content-Encoding but identity is 415 before a byte of the body is read), a
// chunked body trickled in small reads (linear CPU: the parser keeps its state between reads),
// and the strict points of RFC 9112 (bare LF, Host, 100 Continue, Transfer-Encoding).
#include <zlib.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "hardening.h"

namespace allezon_hardening {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// User + system CPU of the process, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
    if (i == 15) break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// `zeros` zero bytes, gzip-compressed (512 MiB make ~510 KB).
std::string GzipOfZeros(size_t zeros) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string in(1 << 20, '\0'), out, buffer(1 << 16, '\0');
  for (size_t left = zeros; left > 0 || z.avail_in > 0;) {
    if (z.avail_in == 0) {
      const size_t n = std::min(left, in.size());
      left -= n;
      z.next_in = reinterpret_cast<Bytef*>(in.data());
      z.avail_in = static_cast<uInt>(n);
    }
    do {
      z.next_out = reinterpret_cast<Bytef*>(buffer.data());
      z.avail_out = static_cast<uInt>(buffer.size());
      deflate(&z, left == 0 ? Z_FINISH : Z_NO_FLUSH);
      out.append(buffer.data(), buffer.size() - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  return out;
}

std::string Chunked(std::string_view body, size_t chunk) {
  std::string out;
  for (size_t at = 0; at < body.size(); at += chunk) {
    const std::string_view piece = body.substr(at, chunk);
    std::ostringstream size;
    size << std::hex << piece.size();
    out += size.str() + "\r\n" + std::string(piece) + "\r\n";
  }
  return out + "0\r\n\r\n";
}

TEST_SUITE("parsing") {
  TEST_CASE("a gzip decompression bomb is refused 415 unread, memory stays flat") {
    Victim v;
    const std::string bomb = GzipOfZeros(size_t{512} << 20);
    MESSAGE("bomb: " << bomb.size() << " bytes of gzip");
    const long idle_kb = StatusKb(v.server.pid(), "VmRSS");
    for (bool chunked : {true, false}) {
      RawConnection c(v.server);
      std::string request =
          "POST /aggregates?time_range=2022-03-01T12:00:00_2022-03-01T12:01:00&action=VIEW&"
          "aggregates=COUNT HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          "Content-Encoding: gzip\r\n";
      request += chunked ? "Transfer-Encoding: chunked\r\n\r\n" + Chunked(bomb, 64 * 1024)
                         : "Content-Length: " + std::to_string(bomb.size()) + "\r\n\r\n" + bomb;
      c.SendAll(request);  // the server may close before it is all sent
      const HttpResponse r = c.ReadResponse(seconds(10));
      CHECK_MESSAGE(r.status == 415, r.Describe());
      CHECK(r.MediaType() == "application/json");
      CHECK(r.body.find("\"error\"") != std::string::npos);
    }
    const long peak_kb = StatusKb(v.server.pid(), "VmHWM");
    MESSAGE("RSS idle " << idle_kb << " kB, peak after the bombs " << peak_kb << " kB");
    CHECK(peak_kb - idle_kb < 50 * 1024);
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("a chunked body trickled in small reads costs about what it costs whole") {
    ServerOptions options;
    options.extra_args = {"--debug-compare=false"};
    Victim v(options);
    // 300k one-byte chunks (1.8 MB on the wire, 300 KB of body), as the expected answer of an
    // aggregates query (compared with nothing: --debug-compare=false).
    const std::string body = Chunked(std::string(300'000, ' '), 1);
    const std::string head =
        "POST /aggregates?time_range=2022-03-01T12:00:00_2022-03-01T12:01:00&action=VIEW&"
        "aggregates=COUNT HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    const auto deliver = [&](size_t piece) {
      RawConnection c(v.server);
      const double before = CpuSeconds(v.server.pid());
      REQUIRE(c.SendAll(head));
      for (size_t at = 0; at < body.size(); at += piece) {
        REQUIRE(c.SendAll(std::string_view(body).substr(at, piece)));
        if (piece < body.size()) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      const HttpResponse r = c.ReadResponse(seconds(30));
      CHECK_MESSAGE(r.status == 200, r.Describe());
      return CpuSeconds(v.server.pid()) - before;
    };
    const double whole = deliver(body.size());
    const double trickled = deliver(1024);
    MESSAGE("server CPU: whole " << whole << " s, trickled in 1 KB pieces " << trickled << " s");
    // Linear: a trickle costs a wake-up and a read per piece on top (1,800 of them), nothing
    // that grows with what came before. The quadratic framer of before took seconds.
    CHECK(trickled < 10 * whole + 0.5);
  }

  TEST_CASE("RFC 9112: bare LF, Host, 100 Continue, codings, Keep-Alive") {
    Victim v;
    // Bare LF line ends are refused, in the head and in chunk framing.
    ExpectRefused(SendRaw(v.server, "GET /healthz HTTP/1.1\nHost: x\n\n", seconds(3)), "bare LF");
    HttpResponse r = SendRaw(v.server, "GET /healthz HTTP/1.1\r\nHost: x\nX: y\r\n\r\n");
    CHECK_MESSAGE(r.status == 400, r.Describe());
    r = SendRaw(v.server,
                "POST /user_tags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "2\nab\r\n0\r\n\r\n");
    CHECK_MESSAGE(r.status == 400, r.Describe());
    // HTTP/1.1 without Host is a 400; HTTP/1.0 needs none.
    r = SendRaw(v.server, "GET /healthz HTTP/1.1\r\n\r\n");
    CHECK_MESSAGE(r.status == 400, r.Describe());
    CHECK(r.body.find("Host") != std::string::npos);
    r = SendRaw(v.server, "GET /healthz HTTP/1.0\r\n\r\n");
    CHECK_MESSAGE(r.status == 200, r.Describe());
    // No 100 Continue to an HTTP/1.0 client: the first answer is the final one.
    {
      RawConnection c(v.server);
      const std::string tag = TagJson("continue10", 5);
      REQUIRE(c.SendAll("POST /user_tags HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: " +
                        std::to_string(tag.size()) + "\r\n\r\n"));
      std::this_thread::sleep_for(milliseconds(300));
      REQUIRE(c.SendAll(tag));
      r = c.ReadResponse();
      CHECK_MESSAGE(r.status == 204, r.Describe());
    }
    // Codings: a Transfer-Encoding other than chunked is 400, so is one with Content-Length.
    r = SendRaw(v.server,
                "POST /user_tags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                "0\r\n\r\n");
    CHECK_MESSAGE(r.status == 400, r.Describe());
    r = SendRaw(v.server,
                "POST /user_tags HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    CHECK_MESSAGE(r.status == 400, r.Describe());
    // Content-Encoding: identity is fine, anything else 415 with a JSON body.
    r = SendRaw(v.server, BuildRequest("POST", "/user_tags", TagJson("identity", 6),
                                       "application/json", {"Content-Encoding: identity"}));
    CHECK_MESSAGE(r.status == 204, r.Describe());
    r = SendRaw(v.server, BuildRequest("POST", "/user_tags", TagJson("br", 7), "application/json",
                                       {"Content-Encoding: br"}));
    CHECK_MESSAGE(r.status == 415, r.Describe());
    CHECK(r.MediaType() == "application/json");
    // No Keep-Alive header (the old one announced max=1099511627776).
    HttpClient fresh(v.server);
    r = fresh.Get("/healthz");
    CHECK(r.status == 200);
    CHECK(r.Header("Keep-Alive").empty());
    // A trailing slash names the same endpoint.
    r = fresh.Post(
        "/aggregates/?time_range=2022-03-01T12:00:00_2022-03-01T12:01:00&action=VIEW&"
        "aggregates=COUNT");
    CHECK_MESSAGE(r.status == 200, r.Describe());
    // These cases store tags on purpose: the server must still answer.
    REQUIRE_MESSAGE(v.server.Running(), "the server died:\n" << v.server.Log());
    CHECK(v.http.Get("/healthz").status == 200);
  }
}

}  // namespace
}  // namespace allezon_hardening
