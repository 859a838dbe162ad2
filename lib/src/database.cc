#include "allezon/database.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl_compat.h"
#include "aggregate_index_impl.h"
#include "analytics_impl.h"
#include "catalogue.h"
#include "page_check.h"
#include "profile_staging.h"
#include "raw_tags.h"
#include "storage.h"
#include "tag_log.h"
#include "user_tag_store_impl.h"

namespace allezon {
namespace {

using internal::AggregateDelta;
using internal::AggregateIndexImpl;
using internal::LmdbError;
using internal::TagIds;
using internal::Txn;
using internal::UserTagStoreImpl;

constexpr std::string_view kFormatKey = "format";
constexpr std::string_view kFormatValue = "allezon/5";
// The previous format, opened and converted in place by a new marker alone: it had no
// rollups (agg_rollups), which the next maintenance builds from the minutes it holds.
constexpr std::string_view kNoRollupsFormatValue = "allezon/4";
// The format before, converted in place: it had no catalogue either, which is then built
// from the tags the database holds.
constexpr std::string_view kPreviousFormatValue = "allezon/3";
// The format before, converted in place too: it also kept a second log of its own for the
// aggregates ("agg_log"), which the tag log (profile_log) has made redundant.
constexpr std::string_view kAggregateLogFormatValue = "allezon/2";
constexpr const char* kLegacyAggregateLog = "agg_log";
// Source positions live in `meta` under this prefix (the format's other keys never start
// with it), 8-byte big-endian sequences.
constexpr std::string_view kSourcePositionPrefix = "source/";
constexpr size_t kMaxSourceNameBytes = 200;

std::string SourcePositionKey(std::string_view source) {
  return absl::StrCat(internal::Sv(kSourcePositionPrefix), internal::Sv(source));
}

absl::Status ValidateOptions(const Options& options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("data_dir is required");
  if (options.profile_cap < 1) return absl::InvalidArgumentError("profile_cap must be >= 1");
  if (options.retention_ms < kMillisPerMinute) {
    return absl::InvalidArgumentError("retention must be at least one minute");
  }
  for (auto [retention, size] : {std::pair{options.retention_15m_ms, BucketSize::k15m},
                                 std::pair{options.retention_1h_ms, BucketSize::k1h},
                                 std::pair{options.retention_1d_ms, BucketSize::k1d}}) {
    if (retention < BucketMillis(size)) {
      return absl::InvalidArgumentError(absl::StrCat("the ", internal::Sv(BucketName(size)),
                                                     " retention must be at least one bucket"));
    }
  }
  if (options.tuning.aggregate_fold_delay_ms < 0 || options.tuning.aggregate_fold_interval_ms < 0) {
    return absl::InvalidArgumentError("aggregate fold delay and interval must be >= 0");
  }
  if (options.tuning.max_batch_tags < 1)
    return absl::InvalidArgumentError("max_batch_tags must be >= 1");

  if (options.max_query_buckets < 1) {
    return absl::InvalidArgumentError("max_query_buckets must be >= 1");
  }
  if (options.tuning.initial_map_size < (1u << 20)) {
    return absl::InvalidArgumentError("initial_map_size must be at least 1 MiB");
  }
  if (options.max_map_size != 0 && options.max_map_size < options.tuning.initial_map_size) {
    return absl::InvalidArgumentError("max_map_size must be 0 or >= initial_map_size");
  }
  if (options.tuning.max_readers < 1) return absl::InvalidArgumentError("max_readers must be >= 1");
  if (options.raw_retention_ms < 0) {
    return absl::InvalidArgumentError("raw_retention_ms must be >= 0");
  }
  return absl::OkStatus();
}

class DatabaseImpl final : public Database {
 public:
  DatabaseImpl()
      : tag_log_(&storage_),
        staging_(&storage_, &tag_log_),
        user_tags_(&storage_, &staging_),
        aggregates_(&storage_),
        catalogue_(&storage_),
        analytics_(&storage_, &aggregates_, &catalogue_, &user_tags_),
        raw_tags_(&storage_) {}
  ~DatabaseImpl() override;

  absl::Status OpenEnvironment(const Options& options);

  absl::Status AddTags(std::span<const UserTag> tags) override;
  void SubmitTags(std::vector<UserTag> tags, std::function<void(absl::Status)> done) override;
  void SubmitTags(std::vector<UserTag> tags, std::vector<SourcePosition> positions,
                  std::function<void(absl::Status)> done) override;
  absl::StatusOr<uint64_t> GetSourcePosition(std::string_view source) const override;
  const UserTagStore& user_tags() const override { return user_tags_; }
  const AggregateIndex& aggregates() const override { return aggregates_; }
  const Analytics& analytics() const override { return analytics_; }
  DatabaseStats Stats() const override;
  absl::Status SetMaxMapSize(uint64_t bytes) override;
  absl::Status Backup(const std::string& directory) const override;
  absl::Status ExportTags(TimeRange range, const ExportSink& sink) const override {
    return raw_tags_.Export(range, sink);
  }
  absl::StatusOr<EpochMillis> EarliestRawTime() const override {
    return raw_tags_.EarliestAvailable();
  }

 private:
  struct WriteRequest {
    std::span<const UserTag> tags;
    absl::Status status;
    // Set to 1 (release) by the writer after `status`; the caller sleeps on it with a futex
    // of its own rather than on queue_mu_, so waking a batch's callers is one direct
    // FUTEX_WAKE each, with no lock hand-off between them and no condition re-evaluation
    // (measured: see bench/RESULTS.md).
    std::atomic<uint32_t> done{0};
    // SubmitTags: the request owns its tags and is deleted by the writer after on_done.
    std::vector<UserTag> owned;
    std::vector<SourcePosition> positions;  // committed with the tags
    std::function<void(absl::Status)> on_done;
  };

  // Checks every tag and queues the request; an error means it was not queued.
  absl::Status Enqueue(std::span<const UserTag> tags, WriteRequest* request);

  absl::Status LockDirectory(const std::string& directory);
  absl::Status CheckFileSize() const;
  absl::Status InitializeDatabases();
  void WriterLoop();
  absl::Status CommitBatch(const std::vector<WriteRequest*>& batch);
  // Hands `status` to every request (callback or waiting caller) and empties the vector.
  void Answer(std::vector<WriteRequest*>& requests, const absl::Status& status);
  // Makes every commit so far durable (their meta pages too): mdb_env_sync.
  absl::Status FlushMeta();
  absl::Status TryCommit(std::span<const UserTag* const> tags,
                         std::span<const SourcePosition* const> positions, size_t fold_tags);
  // With no tags waiting: folds a slice of staged profile tags and trims their log.
  absl::Status FoldIdle();
  // The aggregates' and the catalogue's marks in the tag log, from what they hold now.
  void SetLogMarks();
  // Doubles the map (bounded by the max map size). ResourceExhausted when it cannot grow.
  absl::Status GrowMap();
  uint64_t CurrentMapSize() const;

  internal::Storage storage_;
  internal::TagLog tag_log_;  // before its consumers: they hold a pointer to it
  internal::ProfileStaging staging_;
  UserTagStoreImpl user_tags_;
  AggregateIndexImpl aggregates_;
  internal::Catalogue catalogue_;
  internal::AnalyticsImpl analytics_;
  internal::RawTags raw_tags_;
  int lock_fd_ = -1;

  std::mutex queue_mu_;
  std::condition_variable work_cv_;  // the writer waits on it for queued work
  std::deque<WriteRequest*> queue_;  // guarded by queue_mu_
  bool closing_ = false;             // guarded by queue_mu_
  std::thread writer_;

  std::atomic<uint64_t> max_map_size_{0};
  std::atomic<uint64_t> tags_written_{0};
  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> largest_batch_{0};
  std::array<std::atomic<uint64_t>, DatabaseStats::kBatchSizeBuckets> batch_sizes_{};
};

DatabaseImpl::~DatabaseImpl() {
  if (writer_.joinable()) {
    {
      std::lock_guard lock(queue_mu_);
      closing_ = true;
    }
    work_cv_.notify_one();
    writer_.join();
  }
  if (storage_.env != nullptr) mdb_env_close(storage_.env);
  if (lock_fd_ >= 0) close(lock_fd_);
}

absl::Status DatabaseImpl::LockDirectory(const std::string& directory) {
  const std::string path = directory + "/LOCK";
  lock_fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("data directory ", directory,
                                                      " is in use by another allezon process (",
                                                      path, " is locked)"));
  }
  return absl::OkStatus();
}

absl::Status DatabaseImpl::OpenEnvironment(const Options& options) {
  storage_.options = options;
  max_map_size_ = options.max_map_size;
  const std::string& dir = options.data_dir;
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    if (std::filesystem::exists(dir, error)) {
      return absl::FailedPreconditionError(absl::StrCat(dir, " is not a directory"));
    }
    if (!options.create_if_missing) {
      return absl::NotFoundError(absl::StrCat("data directory ", dir, " does not exist"));
    }
    std::filesystem::create_directories(dir, error);
    if (error) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create data directory ", dir, ": ", error.message()));
    }
  }
  if (absl::Status s = LockDirectory(dir); !s.ok()) return s;

  if (int rc = mdb_env_create(&storage_.env); rc != 0) {
    storage_.env = nullptr;
    return LmdbError(rc, "mdb_env_create");
  }
  mdb_env_set_maxdbs(storage_.env, 16);
  mdb_env_set_maxreaders(storage_.env, options.tuning.max_readers);
  mdb_env_set_mapsize(storage_.env, options.tuning.initial_map_size);
  // MDB_NOTLS: read transactions belong to the caller, not the thread, which suits thread
  // pools. Another process may not share the lock file anyway (LOCK above).
  unsigned flags = MDB_NOTLS | MDB_NOMEMINIT;
  if (!options.sync) {
    flags |= MDB_NOSYNC;
  } else if (!options.tuning.sync_meta_every_commit) {
    // One flush per commit: the meta page is written but not flushed, and the next commit's
    // flush (or an explicit one) makes it durable; the writer answers a commit's tags only
    // then (WriterLoop). README "Durability guarantee".
    flags |= MDB_NOMETASYNC;
  }
  if (int rc = mdb_env_open(storage_.env, dir.c_str(), flags, 0644); rc != 0) {
    absl::Status status = LmdbError(rc, absl::StrCat("cannot open the database in ", dir));
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
      status = absl::FailedPreconditionError(
          absl::StrCat(dir, "/data.mdb is not an allezon (LMDB) database or is damaged"));
    }
    return status;
  }
  if (absl::Status s = CheckFileSize(); !s.ok()) return s;
  return InitializeDatabases();
}

absl::Status DatabaseImpl::CheckFileSize() const {
  // LMDB's meta page records the last page number in use, and the file may legitimately end
  // before it: pages allocated and freed again within one transaction ("loose" pages) are
  // never written, and kill -9 leaves the file that short (seen after a crash). But pages
  // past the end of the file fault with SIGBUS when touched, which is also what a file cut
  // short by damage or an incomplete copy does. A short file whose reachable pages are all
  // there is extended with zeros to the recorded size (a loose page is rewritten before it is
  // read again); one missing a reachable page is refused.
  MDB_envinfo info;
  MDB_stat stat;
  mdb_env_info(storage_.env, &info);
  mdb_env_stat(storage_.env, &stat);
  int fd = -1;
  struct stat file;
  if (mdb_env_get_fd(storage_.env, &fd) != 0 || fstat(fd, &file) != 0) {
    return absl::FailedPreconditionError("cannot inspect data.mdb");
  }
  const uint64_t needed = (static_cast<uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
  if (static_cast<uint64_t>(file.st_size) >= needed) return absl::OkStatus();
  // A page lost to damage that a tree still reaches would read as zeros, and liblmdb asserts
  // (aborts) on some of those, e.g. a zeroed leaf met while stepping a cursor; so before
  // extending, every reachable page is read once where a fault cannot hurt.
  if (absl::Status s = internal::CheckReachablePagesReadable(storage_.options.data_dir); !s.ok()) {
    return s;
  }
  if (ftruncate(fd, static_cast<off_t>(needed)) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        storage_.options.data_dir, "/data.mdb is shorter (", file.st_size,
        " bytes) than its pages (", needed, ") and cannot be extended: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status DatabaseImpl::InitializeDatabases() {
  absl::StatusOr<Txn> txn = Txn::Begin(storage_.env, /*read_only=*/false);
  if (!txn.ok()) return txn.status();
  // A foreign LMDB environment has keys of its own in the main database.
  {
    MDB_dbi main;
    if (int rc = mdb_dbi_open(txn->get(), nullptr, 0, &main); rc != 0) {
      return LmdbError(rc, "mdb_dbi_open");
    }
    internal::Cursor cursor;
    if (absl::Status s = cursor.Open(*txn, main); !s.ok()) return s;
    MDB_val key, value;
    for (absl::StatusOr<bool> more = cursor.Seek(MDB_FIRST, &key, &value);;
         more = cursor.Seek(MDB_NEXT, &key, &value)) {
      if (!more.ok()) return more.status();
      if (!*more) break;
      const std::string_view name = internal::ToView(key);
      const bool ours = std::any_of(std::begin(internal::kTables), std::end(internal::kTables),
                                    [&](const internal::TableSpec& t) { return name == t.name; });
      if (!ours && name != kLegacyAggregateLog) {
        return absl::FailedPreconditionError(absl::StrCat(
            storage_.options.data_dir, " holds an LMDB database that is not allezon's"));
      }
    }
  }
  for (const internal::TableSpec& table : internal::kTables) {
    if (int rc = mdb_dbi_open(txn->get(), table.name, MDB_CREATE, &(storage_.*table.handle));
        rc != 0) {
      return LmdbError(rc, absl::StrCat("cannot open table ", table.name));
    }
  }
  absl::StatusOr<std::string_view> format = txn->Get(storage_.meta, kFormatKey);
  MDB_dbi legacy_aggregate_log = 0;
  bool build_catalogue = false;  // a format without it: built from the tags held
  if (format.ok() && (*format == kAggregateLogFormatValue || *format == kPreviousFormatValue)) {
    if (*format == kAggregateLogFormatValue) {
      if (int rc = mdb_dbi_open(txn->get(), kLegacyAggregateLog, 0, &legacy_aggregate_log);
          rc != 0) {
        return LmdbError(rc, absl::StrCat("cannot open table ", kLegacyAggregateLog));
      }
    }
    build_catalogue = true;
    if (absl::Status s = txn->Put(storage_.meta, kFormatKey, kFormatValue); !s.ok()) return s;
  } else if (format.ok() && *format == kNoRollupsFormatValue) {
    if (absl::Status s = txn->Put(storage_.meta, kFormatKey, kFormatValue); !s.ok()) return s;
  } else if (format.ok()) {
    if (*format != kFormatValue) {
      return absl::FailedPreconditionError(absl::StrCat(
          "unsupported database format \"", internal::Sv(*format), "\" in ",
          storage_.options.data_dir, " (this build reads ", internal::Sv(kFormatValue), ")"));
    }
  } else if (absl::IsNotFound(format.status())) {
    if (absl::Status s = txn->Put(storage_.meta, kFormatKey, kFormatValue); !s.ok()) return s;
  } else {
    return format.status();
  }
  if (absl::Status s = storage_.strings_pool.Load(*txn, storage_.strings, storage_.string_ids);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = tag_log_.Recover(*txn); !s.ok()) return s;
  if (absl::Status s = staging_.Recover(*txn); !s.ok()) return s;
  // In the previous format every logged tag was counted in the aggregates' own log or blocks.
  if (absl::Status s =
          aggregates_.Recover(*txn, legacy_aggregate_log, tag_log_.next_sequence() - 1);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = catalogue_.Recover(*txn, build_catalogue, tag_log_.next_sequence() - 1);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          raw_tags_.Recover(*txn, tag_log_.next_sequence() == 1, aggregates_.newest_time());
      !s.ok()) {
    return s;
  }
  SetLogMarks();
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  writer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "alz-db-writer");  // as `top -H` shows it
    WriterLoop();
  });
  return absl::OkStatus();
}

absl::Status DatabaseImpl::Enqueue(std::span<const UserTag> tags, WriteRequest* request) {
  for (size_t i = 0; i < tags.size(); ++i) {
    if (absl::Status s = ValidateUserTag(tags[i]); !s.ok()) {
      if (tags.size() == 1) return s;
      return absl::InvalidArgumentError(absl::StrCat("tag ", i, ": ", s.message()));
    }
  }
  request->tags = tags;
  {
    std::lock_guard lock(queue_mu_);
    if (closing_) return absl::UnavailableError("database is closing");
    queue_.push_back(request);
  }
  work_cv_.notify_one();
  return absl::OkStatus();
}

absl::Status DatabaseImpl::AddTags(std::span<const UserTag> tags) {
  if (tags.empty()) return absl::OkStatus();
  WriteRequest request;
  if (absl::Status s = Enqueue(tags, &request); !s.ok()) return s;
  while (request.done.load(std::memory_order_acquire) == 0) {
    // Returns at once if `done` is no longer 0; spurious wakes just loop.
    syscall(SYS_futex, &request.done, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
  }
  return request.status;
}

void DatabaseImpl::SubmitTags(std::vector<UserTag> tags, std::function<void(absl::Status)> done) {
  SubmitTags(std::move(tags), {}, std::move(done));
}

void DatabaseImpl::SubmitTags(std::vector<UserTag> tags, std::vector<SourcePosition> positions,
                              std::function<void(absl::Status)> done) {
  if (tags.empty() && positions.empty()) {
    done(absl::OkStatus());
    return;
  }
  for (const SourcePosition& position : positions) {
    if (position.source.empty() || position.source.size() > kMaxSourceNameBytes) {
      done(absl::InvalidArgumentError(
          absl::StrCat("a source position's name must be 1..", kMaxSourceNameBytes, " bytes")));
      return;
    }
  }
  auto request = std::make_unique<WriteRequest>();
  request->owned = std::move(tags);
  request->positions = std::move(positions);
  request->on_done = std::move(done);
  if (absl::Status s = Enqueue(request->owned, request.get()); !s.ok()) {
    request->on_done(std::move(s));
    return;
  }
  request.release();  // the writer deletes it after on_done
}

void DatabaseImpl::WriterLoop() {
  const auto has_work = [this] {  // called with queue_mu_ held
    return !queue_.empty() || closing_;
  };
  const auto idle_wait = std::chrono::milliseconds(
      std::max<int64_t>(10, storage_.options.tuning.aggregate_fold_interval_ms));
  std::vector<WriteRequest*> batch;
  // Committed, not yet answered: their meta page is not known to be on disk yet.
  std::vector<WriteRequest*> unflushed;
  const bool defer_meta_flush =
      storage_.options.sync && !storage_.options.tuning.sync_meta_every_commit;
  bool folding_idle = false;  // folding staged profile tags while no writes wait
  for (;;) {
    batch.clear();
    bool force_fold = false;
    {
      std::unique_lock lock(queue_mu_);
      work_cv_.wait_for(lock, folding_idle ? std::chrono::milliseconds(0) : idle_wait, has_work);
      if (queue_.empty() && closing_) {
        if (!unflushed.empty()) {
          lock.unlock();
          Answer(unflushed, FlushMeta());
        }
        break;
      }
      size_t tags = 0;
      while (!queue_.empty() && (batch.empty() || tags + queue_.front()->tags.size() <=
                                                      storage_.options.tuning.max_batch_tags)) {
        tags += queue_.front()->tags.size();
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    if (batch.empty() && !unflushed.empty()) Answer(unflushed, FlushMeta());
    if (!batch.empty()) {
      const absl::Status status = CommitBatch(batch);
      // This commit's flush also flushed the previous commit's meta page: it is durable.
      if (!unflushed.empty()) Answer(unflushed, status.ok() ? status : FlushMeta());
      if (!status.ok() || !defer_meta_flush) {
        Answer(batch, status);
      } else {
        bool more_waiting;
        {
          std::lock_guard lock(queue_mu_);
          more_waiting = !queue_.empty();
        }
        // With more writes queued, the next commit flushes this one's meta page for free;
        // else flush it now rather than keep its callers waiting.
        if (more_waiting) {
          unflushed.swap(batch);
        } else {
          Answer(batch, FlushMeta());
        }
      }
      folding_idle = false;
    } else if (staging_.HasBacklog()) {
      // Idle (a full wait without writes): fold staged profile tags in slices, checking for
      // writes between slices, so memory and the log shrink while the disk has time.
      folding_idle = FoldIdle().ok() && staging_.HasBacklog();
    } else {
      // Idle with the profiles folded: fold the open minutes too (even the newest, whose
      // later tags are merged into its blocks on its next fold), so that the log they keep
      // drains while the disk has time.
      folding_idle = false;
      force_fold = aggregates_.open_minutes() > 0;
    }
    absl::Status maintained = aggregates_.Maintain(force_fold);
    if (internal::IsMapFull(maintained) && GrowMap().ok()) {
      maintained = aggregates_.Maintain(/*force=*/true);
    }
    (void)maintained;  // a failed fold changes nothing and is retried on the next round
    absl::Status flushed = catalogue_.Maintain(force_fold);
    if (internal::IsMapFull(flushed) && GrowMap().ok()) {
      flushed = catalogue_.Maintain(/*force=*/true);
    }
    (void)flushed;  // likewise: the log keeps what it has not flushed
    absl::Status raw = raw_tags_.Maintain(aggregates_.newest_time(), force_fold);
    if (internal::IsMapFull(raw) && GrowMap().ok()) {
      raw = raw_tags_.Maintain(aggregates_.newest_time(), /*force=*/true);
    }
    (void)raw;  // unmerged blocks and untrimmed minutes stay correct; retried next round
    // After the round's commit and folds, before the next Write: the one place the log's
    // trim bound follows the open minutes and the catalogue's mark.
    SetLogMarks();
  }
}

void DatabaseImpl::SetLogMarks() {
  tag_log_.SetNeededFrom(internal::TagLog::Consumer::kAggregates, aggregates_.LogNeededFrom());
  tag_log_.SetNeededFrom(internal::TagLog::Consumer::kCatalogue, catalogue_.LogNeededFrom());
}

void DatabaseImpl::Answer(std::vector<WriteRequest*>& requests, const absl::Status& status) {
  for (WriteRequest* request : requests) {
    if (request->on_done) {
      std::function<void(absl::Status)> on_done = std::move(request->on_done);
      delete request;
      on_done(status);
      continue;
    }
    request->status = status;
    std::atomic<uint32_t>* done = &request->done;
    done->store(1, std::memory_order_release);
    // The caller may return, ending the request's lifetime, as soon as it sees `done`; the
    // wake only hands the address to the kernel (a stack address of a live thread: at
    // worst a spurious wake of another futex user, as with glibc's mutex unlock).
    syscall(SYS_futex, done, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
  requests.clear();
}

absl::Status DatabaseImpl::FlushMeta() {
  if (int rc = mdb_env_sync(storage_.env, /*force=*/1); rc != 0) {
    return LmdbError(rc, "flushing the database file");
  }
  return absl::OkStatus();
}

absl::Status DatabaseImpl::CommitBatch(const std::vector<WriteRequest*>& batch) {
  std::vector<const UserTag*> tags;
  std::vector<const SourcePosition*> positions;
  for (const WriteRequest* request : batch) {
    for (const UserTag& tag : request->tags) tags.push_back(&tag);
    for (const SourcePosition& position : request->positions) positions.push_back(&position);
  }
  const size_t fold_tags = staging_.FoldQuota(tags.size());
  for (;;) {
    absl::Status status = TryCommit(tags, positions, fold_tags);
    if (status.ok()) {
      tags_written_.fetch_add(tags.size(), std::memory_order_relaxed);
      commits_.fetch_add(1, std::memory_order_relaxed);
      uint64_t largest = largest_batch_.load(std::memory_order_relaxed);
      while (tags.size() > largest && !largest_batch_.compare_exchange_weak(largest, tags.size())) {
      }
      const size_t bucket =
          std::min<size_t>(std::bit_width(tags.size() - 1), DatabaseStats::kBatchSizeBuckets - 1);
      batch_sizes_[bucket].fetch_add(1, std::memory_order_relaxed);
      return status;
    }
    if (!internal::IsMapFull(status)) return status;
    if (absl::Status grown = GrowMap(); !grown.ok()) return grown;
  }
}

absl::Status DatabaseImpl::TryCommit(std::span<const UserTag* const> tags,
                                     std::span<const SourcePosition* const> positions,
                                     size_t fold_tags) {
  std::vector<TagIds> ids(tags.size());
  std::vector<AggregateDelta> deltas;
  const uint64_t first_sequence = tag_log_.next_sequence();
  tag_log_.Begin();
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<Txn> txn = Txn::Begin(storage_.env, /*read_only=*/false);
    if (!txn.ok()) return txn.status();
    internal::StringPool& pool = storage_.strings_pool;
    for (size_t i = 0; i < tags.size(); ++i) {
      const UserTag& tag = *tags[i];
      for (auto [text, id] :
           {std::pair{&tag.country, &ids[i].country}, std::pair{&tag.origin, &ids[i].origin},
            std::pair{&tag.brand_id, &ids[i].brand},
            std::pair{&tag.category_id, &ids[i].category}}) {
        absl::StatusOr<uint32_t> interned = pool.Intern(*txn, *text);
        if (!interned.ok()) return interned.status();
        *id = *interned;
      }
    }
    if (absl::Status s = staging_.Write(*txn, tags, ids, fold_tags); !s.ok()) return s;
    if (absl::Status s = aggregates_.Write(*txn, tags, ids, first_sequence, &deltas); !s.ok()) {
      return s;
    }
    if (absl::Status s = raw_tags_.Write(*txn, tags, ids, first_sequence); !s.ok()) return s;
    for (const SourcePosition* position : positions) {  // in submission order: the last wins
      char fixed[8];
      for (int i = 0; i < 8; ++i) fixed[i] = static_cast<char>(position->sequence >> (56 - 8 * i));
      if (absl::Status s = txn->Put(storage_.meta, SourcePositionKey(position->source),
                                    std::string_view(fixed, 8));
          !s.ok()) {
        return s;
      }
    }
    return txn->Commit();
  }();
  if (!status.ok()) {
    storage_.strings_pool.Rollback();
    tag_log_.Rollback();
    staging_.Rollback();
    aggregates_.Rollback();
    raw_tags_.Rollback();
    return status;
  }
  storage_.strings_pool.Commit();
  tag_log_.Commit();
  staging_.Commit();
  raw_tags_.Commit();
  aggregates_.Apply(deltas);
  catalogue_.Apply(tags, ids, first_sequence + tags.size() - 1);
  return absl::OkStatus();
}

absl::Status DatabaseImpl::FoldIdle() {
  for (;;) {
    tag_log_.Begin();
    absl::Status status = [&]() -> absl::Status {
      absl::StatusOr<Txn> txn = Txn::Begin(storage_.env, /*read_only=*/false);
      if (!txn.ok()) return txn.status();
      if (absl::Status s = staging_.Write(*txn, {}, {}, storage_.options.tuning.max_batch_tags);
          !s.ok()) {
        return s;
      }
      return txn->Commit();
    }();
    if (status.ok()) {
      tag_log_.Commit();
      staging_.Commit();
      commits_.fetch_add(1, std::memory_order_relaxed);
      return status;
    }
    tag_log_.Rollback();
    staging_.Rollback();
    if (!internal::IsMapFull(status)) return status;
    if (absl::Status grown = GrowMap(); !grown.ok()) return grown;
  }
}

uint64_t DatabaseImpl::CurrentMapSize() const {
  MDB_envinfo info;
  mdb_env_info(storage_.env, &info);
  return info.me_mapsize;
}

absl::Status DatabaseImpl::GrowMap() {
  std::unique_lock lock(storage_.resize_mu);  // waits out every open read transaction
  const uint64_t current = CurrentMapSize();
  const uint64_t limit = max_map_size_.load();
  uint64_t target = current * 2;
  if (limit != 0) target = std::min(target, limit);
  if (target <= current) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "database is full: it reached its maximum size of ", limit, " bytes (max map size)"));
  }
  if (int rc = mdb_env_set_mapsize(storage_.env, target); rc != 0) {
    return LmdbError(rc, "mdb_env_set_mapsize");
  }
  return absl::OkStatus();
}

absl::Status DatabaseImpl::SetMaxMapSize(uint64_t bytes) {
  max_map_size_.store(bytes);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> DatabaseImpl::GetSourcePosition(std::string_view source) const {
  internal::ReadScope scope(storage_);
  if (!scope.status().ok()) return scope.status();
  absl::StatusOr<std::string_view> stored =
      scope.txn().Get(storage_.meta, SourcePositionKey(source));
  if (absl::IsNotFound(stored.status())) return uint64_t{0};
  if (!stored.ok()) return stored.status();
  if (stored->size() != 8) {
    return absl::DataLossError(
        absl::StrCat("source position of ", internal::Sv(source), " is damaged"));
  }
  uint64_t sequence = 0;
  for (unsigned char byte : *stored) sequence = sequence << 8 | byte;
  return sequence;
}

DatabaseStats DatabaseImpl::Stats() const {
  DatabaseStats stats;
  stats.tags_written = tags_written_.load(std::memory_order_relaxed);
  stats.commits = commits_.load(std::memory_order_relaxed);
  stats.largest_batch = largest_batch_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < batch_sizes_.size(); ++i) {
    stats.commits_by_batch_size[i] = batch_sizes_[i].load(std::memory_order_relaxed);
  }
  stats.staged_profile_tags = staging_.staged_tags();
  stats.profile_log_tags = tag_log_.log_tags();
  stats.newest_time = aggregates_.newest_time();
  stats.open_minutes = aggregates_.open_minutes();
  internal::ReadScope scope(storage_);
  MDB_envinfo info;
  mdb_env_info(storage_.env, &info);
  MDB_stat env_stat;
  mdb_env_stat(storage_.env, &env_stat);
  stats.map_size = info.me_mapsize;
  stats.map_used = (info.me_last_pgno + 1) * static_cast<uint64_t>(env_stat.ms_psize);
  stats.profile_records = staging_.lists();
  return stats;
}

absl::Status DatabaseImpl::Backup(const std::string& directory) const {
  std::error_code error;
  if (!std::filesystem::is_directory(directory, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("backup directory ", directory, " does not exist or is not a directory"));
  }
  if (!std::filesystem::is_empty(directory, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("backup directory ", directory, " is not empty"));
  }
  std::shared_lock lock(storage_.resize_mu);
  if (int rc = mdb_env_copy2(storage_.env, directory.c_str(), MDB_CP_COMPACT); rc != 0) {
    return LmdbError(rc, absl::StrCat("backup to ", directory));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const Options& options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  auto database = std::make_unique<DatabaseImpl>();
  if (absl::Status s = database->OpenEnvironment(options); !s.ok()) return s;
  return std::unique_ptr<Database>(std::move(database));
}

}  // namespace allezon
