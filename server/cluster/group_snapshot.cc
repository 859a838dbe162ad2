#include "group_snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "peer_calls.h"
#include "rapidjson/document.h"

namespace allezon::cluster {
namespace {

absl::string_view Sv(std::string_view text) { return {text.data(), text.size()}; }

absl::Status ErrnoError(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(Sv(what), " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::string> SnapshotStore::Prepare(const Database& db) {
  std::string id;
  {
    std::lock_guard lock(mu_);
    ExpireLocked(Clock::now());
    // Random as well as counted: ids of a restarted owner never name an older copy.
    id = absl::StrCat(next_id_++, "-", absl::Hex(std::random_device{}()));
  }
  const std::string dir = absl::StrCat(directory_, "/", id);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", error.message()));
  if (absl::Status s = db.Backup(dir); !s.ok()) {
    std::filesystem::remove_all(dir, error);
    return s;
  }
  Copy copy;
  copy.path = dir + "/data.mdb";
  copy.bytes = std::filesystem::file_size(copy.path, error);
  if (error) return absl::InternalError(absl::StrCat("cannot stat ", copy.path));
  copy.expires = Clock::now() + expire_after_;
  const uint64_t bytes = copy.bytes;
  {
    std::lock_guard lock(mu_);
    copies_.emplace(id, std::move(copy));
  }
  return absl::StrCat(R"({"id":")", id, R"(","bytes":)", bytes, "}");
}

absl::StatusOr<std::string> SnapshotStore::Read(std::string_view id, uint64_t offset,
                                                uint64_t max_bytes) {
  std::string path;
  uint64_t bytes = 0;
  {
    std::lock_guard lock(mu_);
    ExpireLocked(Clock::now());
    auto it = copies_.find(id);
    if (it == copies_.end()) {
      return absl::NotFoundError(absl::StrCat("no snapshot ", Sv(id), " (expired?)"));
    }
    it->second.expires = Clock::now() + expire_after_;  // in use
    path = it->second.path;
    bytes = it->second.bytes;
  }
  if (offset >= bytes) return std::string();
  const uint64_t n = std::min(max_bytes, bytes - offset);
  std::string out(n, '\0');
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  uint64_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, out.data() + done, n - done, static_cast<off_t>(offset + done));
    if (got <= 0) {
      const absl::Status error = got == 0 ? absl::DataLossError(absl::StrCat(path, " is short"))
                                          : ErrnoError("cannot read", path);
      ::close(fd);
      return error;
    }
    done += static_cast<uint64_t>(got);
  }
  ::close(fd);
  return out;
}

void SnapshotStore::Finish(std::string_view id) {
  std::lock_guard lock(mu_);
  auto it = copies_.find(id);
  if (it == copies_.end()) return;
  std::error_code ignored;
  std::filesystem::remove_all(std::filesystem::path(it->second.path).parent_path(), ignored);
  copies_.erase(it);
}

void SnapshotStore::ExpireLocked(Clock::time_point now) {
  for (auto it = copies_.begin(); it != copies_.end();) {
    if (it->second.expires > now) {
      ++it;
      continue;
    }
    std::error_code ignored;
    std::filesystem::remove_all(std::filesystem::path(it->second.path).parent_path(), ignored);
    it = copies_.erase(it);
  }
}

absl::StatusOr<uint64_t> FetchSnapshot(const NodeSpec& owner, std::string_view group_key,
                                       const std::string& target_dir,
                                       const SnapshotFetchOptions& options) {
  const std::string group = PercentEncode(group_key);
  absl::StatusOr<std::string> prepared =
      PeerGet(owner, absl::StrCat("/cluster/snapshot?group=", group), options.connect_timeout,
              options.prepare_timeout);
  if (!prepared.ok()) return absl::UnavailableError(prepared.status().message());
  rapidjson::Document doc;
  if (doc.Parse(prepared->data(), prepared->size()).HasParseError() || !doc.IsObject() ||
      !doc.HasMember("id") || !doc["id"].IsString() || !doc.HasMember("bytes") ||
      !doc["bytes"].IsUint64()) {
    return absl::UnavailableError(absl::StrCat(owner.id, " answered a malformed snapshot"));
  }
  const std::string id = doc["id"].GetString();
  const uint64_t bytes = doc["bytes"].GetUint64();
  const std::string path = target_dir + "/data.mdb";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", path);
  absl::Status status = absl::OkStatus();
  uint64_t offset = 0;
  while (status.ok() && offset < bytes) {
    absl::StatusOr<std::string> chunk = PeerGet(
        owner,
        absl::StrCat("/cluster/snapshot?group=", group, "&id=", id, "&offset=", offset,
                     "&bytes=", options.chunk_bytes),
        options.connect_timeout, options.chunk_timeout);
    if (!chunk.ok()) {
      status = absl::UnavailableError(chunk.status().message());
    } else if (chunk->empty()) {
      status = absl::UnavailableError(absl::StrCat(owner.id, "'s snapshot ended early"));
    } else if (::pwrite(fd, chunk->data(), chunk->size(), static_cast<off_t>(offset)) !=
               static_cast<ssize_t>(chunk->size())) {
      status = ErrnoError("cannot write", path);
    } else {
      offset += chunk->size();
    }
  }
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError("cannot fsync", path);
  ::close(fd);
  // Either way the owner may drop its copy now.
  (void)PeerGet(owner, absl::StrCat("/cluster/snapshot?group=", group, "&id=", id, "&done=1"),
                options.connect_timeout, options.chunk_timeout);
  if (!status.ok()) return status;
  return bytes;
}

}  // namespace allezon::cluster
