// Online backup (issue 4): POST /admin/backup?dir=PATH while 8 connections stream; a server
// started on the copy holds every tag acknowledged before the backup request began, holds a
// consistent state (each tag wholly or not at all: aggregates equal the profiles' tags), and
// accepts and answers new tags.
#include <filesystem>

#include "stream.h"

namespace allezon_dur {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kBackupCap = 5000;

TEST_SUITE("backup") {
  TEST_CASE("a backup taken under load restores every tag acknowledged before it") {
    ServerOptions options;
    options.profile_cap = kBackupCap;
    ServerProcess server(options);
    HttpClient admin(server);
    TempDir tmp("allezon-dur-backup");
    const fs::path copy = tmp.path() / "copy" / "data";  // created by the server

    Endpoint endpoint;
    StreamShape shape;
    shape.writers = 8;
    shape.step_ms = 1000;  // several minutes: folded blocks and the open minutes' log both
    shape.max_tags_per_writer = 4000;
    Stream stream(shape, &endpoint);
    endpoint.Publish(server.port());
    stream.Start();
    stream.WaitAcked(1500);

    const std::vector<int64_t> answered_before = stream.Progress();
    HttpResponse r = admin.Post("/admin/backup?dir=" + UrlEncode(copy.string()));
    const int64_t acked_at_end = stream.Acked();
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    CHECK(r.MediaType() == "application/json");
    stream.WaitAcked(acked_at_end + 300);  // the stream went on during and after the copy
    stream.Stop();
    const std::vector<Sent> sent = stream.Results();
    CHECK(Count(sent).errors == 0);

    // A second backup into a non-empty directory is refused with a JSON error.
    {
      HttpResponse again = admin.Post("/admin/backup?dir=" + UrlEncode(copy.string()));
      CHECK_MESSAGE(again.status == 400, again.Describe());
      CHECK(CheckErrorBody(again.body).empty());
    }
    // The live database is unaffected.
    VerifyAcked(admin, sent, kBackupCap);

    // Restore: a server on the copy.
    ServerProcess restored(copy, options);
    HttpClient http(restored);
    const auto before_backup = [&](const Sent& s) {
      return s.outcome == Outcome::kAcked &&
             s.index < answered_before[static_cast<size_t>(s.writer - shape.first_writer)];
    };
    Tally t = VerifyStore(http, sent, before_backup, kBackupCap);
    int64_t must = 0;
    for (const Sent& s : sent) must += before_backup(s) ? 1 : 0;
    MESSAGE("backup holds " << t.present << " tags; " << must
                            << " were acknowledged before the request; " << sent.size()
                            << " sent in all");
    CHECK(must >= 1500);

    // The restored database works: it accepts, answers, and survives a crash.
    std::vector<Sent> restored_tags;
    for (int64_t i = 0; i < 20; ++i) {
      Sent s;
      s.tag = StreamTag(shape, 50, i);
      s.key = std::to_string(std::get<int64_t>(s.tag.product_id));
      s.writer = 50;
      s.index = i;
      HttpResponse a = http.PostTag(s.tag.ToJson());
      REQUIRE_MESSAGE(a.status == 204, a.Describe());
      s.outcome = Outcome::kAcked;
      restored_tags.push_back(s);
    }
    restored.KillAndRestart();
    HttpClient http2(restored);
    std::vector<Sent> everything = sent;
    everything.insert(everything.end(), restored_tags.begin(), restored_tags.end());
    const auto wanted = [&](const Sent& s) { return s.writer == 50 || before_backup(s); };
    VerifyStore(http2, everything, wanted, kBackupCap);
  }
}

}  // namespace
}  // namespace allezon_dur
