// One owner per data directory, and clear start-up errors (issue 4): a second server on a
// directory in use fails at once with a message naming it, while the first keeps serving; a
// foreign, damaged or unusable data directory gives a clear error and a non-zero exit, never
// a crash (death by a signal).
#include <lmdb.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "stream.h"

namespace allezon_dur {
namespace {

namespace fs = std::filesystem;

// A server started on `data_dir` must fail quickly and cleanly, saying something containing
// each of `mentions`.
void ExpectStartupError(const fs::path& data_dir, const std::vector<std::string>& mentions) {
  RunResult run = RunServer({"--data-dir", data_dir.string()}, Scaled(std::chrono::seconds(10)));
  INFO("data dir " << data_dir << "; output:\n" << run.output);
  CHECK_FALSE(run.timed_out);  // it started serving, or hung
  CHECK_MESSAGE(run.term_signal == 0, "crashed with signal " << run.term_signal);
  CHECK(run.exited);
  CHECK(run.exit_code != 0);
  CHECK(run.ms < Scaled(std::chrono::seconds(5)).count());
  for (const std::string& m : mentions) {
    CHECK_MESSAGE(run.output.find(m) != std::string::npos, "the message does not mention " << m);
  }
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE(out.good());
}

void CheckLmdb(int rc, const char* what) { REQUIRE_MESSAGE(rc == 0, what << ": " << mdb_strerror(rc)); }

// An LMDB environment in `dir` holding `name` -> {key: value} (name empty: the main database).
void MakeLmdb(const fs::path& dir, const char* name, const std::string& key, const std::string& value) {
  fs::create_directories(dir);
  MDB_env* env = nullptr;
  CheckLmdb(mdb_env_create(&env), "mdb_env_create");
  mdb_env_set_maxdbs(env, 4);
  CheckLmdb(mdb_env_open(env, dir.c_str(), 0, 0644), "mdb_env_open");
  MDB_txn* txn = nullptr;
  CheckLmdb(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
  MDB_dbi dbi;
  CheckLmdb(mdb_dbi_open(txn, name, MDB_CREATE, &dbi), "mdb_dbi_open");
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{value.size(), const_cast<char*>(value.data())};
  CheckLmdb(mdb_put(txn, dbi, &k, &v, 0), "mdb_put");
  CheckLmdb(mdb_txn_commit(txn), "mdb_txn_commit");
  mdb_env_close(env);
}

TEST_SUITE("owner") {
  TEST_CASE("a second server on a data directory in use exits at once; the first keeps serving") {
    ServerProcess first;
    HttpClient http(first);
    Tag before = MakeTag(kT0, "owner");
    REQUIRE(http.PostTag(before.ToJson()).status == 204);

    RunResult second =
        RunServer({"--data-dir", first.data_dir().string()}, Scaled(std::chrono::seconds(10)));
    INFO("second server's output:\n" << second.output);
    CHECK_FALSE(second.timed_out);
    CHECK(second.exited);
    CHECK(second.exit_code != 0);
    CHECK(second.ms < Scaled(std::chrono::seconds(3)).count());
    CHECK_MESSAGE(second.output.find(first.data_dir().string()) != std::string::npos,
                  "the message does not name the directory");
    CHECK_MESSAGE(second.output.find("in use") != std::string::npos,
                  "the message does not say the directory is in use");

    // The first is unharmed: it accepts and answers, and both tags are there.
    CHECK(first.Running());
    Tag after = MakeTag(kT0 + 1000, "owner");
    CHECK(http.PostTag(after.ToJson()).status == 204);
    HttpResponse r = http.Profile("owner", ProfileRange(kT0, kT0 + kMinute));
    ProfileAnswer want;
    want.views = {after, before};
    CHECK_MESSAGE(DiffProfile(r.body, "owner", want).empty(), r.Describe());

    // The lock dies with its owner, even a killed one: the next server starts.
    first.Kill();
    first.Start();
    HttpClient again(first);
    r = again.Profile("owner", ProfileRange(kT0, kT0 + kMinute));
    CHECK_MESSAGE(DiffProfile(r.body, "owner", want).empty(), r.Describe());
  }

  TEST_CASE("foreign, damaged and unusable data directories: clear error, non-zero exit") {
    TempDir tmp("allezon-dur-owner");

    SUBCASE("data.mdb full of garbage") {
      const fs::path dir = tmp.path() / "garbage";
      fs::create_directories(dir);
      std::mt19937 rng(7);
      std::string bytes(64 * 1024, '\0');
      for (char& c : bytes) c = static_cast<char>(rng());
      WriteFile(dir / "data.mdb", bytes);
      ExpectStartupError(dir, {dir.string()});
    }
    SUBCASE("the data directory is a regular file") {
      const fs::path file = tmp.path() / "file";
      WriteFile(file, "not a directory\n");
      ExpectStartupError(file, {file.string(), "not a directory"});
    }
    SUBCASE("the data directory cannot be created (its parent is a file)") {
      WriteFile(tmp.path() / "parent", "x");
      const fs::path dir = tmp.path() / "parent" / "data";
      ExpectStartupError(dir, {dir.string()});
    }
    SUBCASE("data.mdb is a directory") {
      const fs::path dir = tmp.path() / "mdbdir";
      fs::create_directories(dir / "data.mdb");
      ExpectStartupError(dir, {dir.string()});
    }
    SUBCASE("another program's LMDB database") {
      const fs::path dir = tmp.path() / "foreign";
      MakeLmdb(dir, nullptr, "hello", "world");
      ExpectStartupError(dir, {dir.string(), "not allezon"});
      // Left untouched: still the other program's data.
      MDB_env* env = nullptr;
      CheckLmdb(mdb_env_create(&env), "mdb_env_create");
      CheckLmdb(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0644), "mdb_env_open");
      MDB_txn* txn = nullptr;
      CheckLmdb(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin");
      MDB_dbi dbi;
      CheckLmdb(mdb_dbi_open(txn, nullptr, 0, &dbi), "mdb_dbi_open");
      MDB_stat stat;
      CheckLmdb(mdb_stat(txn, dbi, &stat), "mdb_stat");
      CHECK(stat.ms_entries == 1);
      mdb_txn_abort(txn);
      mdb_env_close(env);
    }
    SUBCASE("an allezon database of an unknown format version") {
      const fs::path dir = tmp.path() / "future";
      MakeLmdb(dir, "meta", "format", "allezon/999");
      ExpectStartupError(dir, {dir.string(), "allezon/999"});
    }
    SUBCASE("an unreadable data directory") {
      if (::geteuid() == 0) {
        MESSAGE("skipped: running as root, permissions do not apply");
      } else {
        const fs::path dir = tmp.path() / "locked";
        fs::create_directories(dir);
        fs::permissions(dir, fs::perms::none);
        ExpectStartupError(dir, {dir.string()});
        fs::permissions(dir, fs::perms::owner_all);
      }
    }
  }
}

}  // namespace
}  // namespace allezon_dur
