// Options for opening a Database, in two parts: Options, what changes the store's answers
// (retention, caps, durability), and Options::tuning, what only changes its speed and
// memory. Plain structs, copied by Database::Open; every field states its default and its
// constraints. Thread-safety: none needed (values).
#ifndef ALLEZON_OPTIONS_H_
#define ALLEZON_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace allezon {

// What only changes speed, memory and how the file grows, never an answer: the defaults suit
// most uses; the benchmarks (bench/RESULTS.md) show what moving each one does.
struct TuningOptions {
  // New tags are logged and staged in memory, then merged into their shopper's stored
  // list in key-ordered passes, so that one pass writes each list once however many of its
  // tags arrived (see README "Storage layout"). This many staged tags is where the merge
  // keeps pace with arrivals: more means fewer page writes per tag, more memory (about
  // 80 bytes a staged tag) and a longer log to read at open. 0 merges staged tags at the
  // next commit. Default 1,000,000. Only affects speed and memory, never answers.
  uint64_t profile_staging_tags = 1'000'000;

  // Aggregates of recent minutes are kept in memory (and in a durable log) and folded into
  // their compact on-disk form once the newest event time is this far past the minute's
  // end (aggregate_fold_delay_ms, default 60 s), checked every aggregate_fold_interval_ms of
  // wall time (default 1 s), which is also how often at most the catalogue's changes are
  // written out of memory. Both must be >= 0. Only affect speed and memory, never answers.
  int64_t aggregate_fold_delay_ms = 60'000;
  int64_t aggregate_fold_interval_ms = 1'000;

  // The LMDB map starts at this many bytes and doubles whenever it fills (up to
  // Options::max_map_size). Default 256 MiB.
  uint64_t initial_map_size = 256ULL << 20;

  // With sync: false (the default) flushes the file once per commit — LMDB's meta page is
  // made durable by the next commit's flush (or a flush of its own when no commit follows
  // at once), and a commit's writes are answered only then. true lets LMDB flush twice per
  // commit (data, then meta page) and answers at once; for comparison. Same guarantee
  // either way; only affects speed.
  bool sync_meta_every_commit = false;

  // Group commit: at most this many tags per write transaction. Default 20000. Must be >= 1.
  size_t max_batch_tags = 20'000;

  // Maximum number of concurrent LMDB readers (threads querying at once). Default 512.
  uint32_t max_readers = 512;
};

// What a Database stores and answers. A plain struct: fill it, pass it to Database::Open,
// which copies what it needs. Every field states its default and its constraints.
struct Options {
  // Directory holding the LMDB environment (data.mdb, lock.mdb). Required. Created (with
  // parents) when missing and create_if_missing is true. One Database per directory: a
  // second open, from this or another process, fails with FailedPrecondition.
  std::string data_dir;

  // Create data_dir when it does not exist. Default true.
  bool create_if_missing = true;

  // How many of the most recent tags of each action are kept per cookie (SPEC §4). Default
  // 200. Must be >= 1. Older tags beyond the cap are dropped when a newer one is written.
  int32_t profile_cap = 200;

  // Aggregate buckets whose minute ended more than this long before the newest event time
  // accepted are dropped (SPEC §5). Default 24 hours. Must be >= 1 minute.
  int64_t retention_ms = 24LL * 60 * 60 * 1000;

  // The same for the coarser buckets (SPEC §10): a bucket of 15 minutes, 1 hour or 1 day is
  // dropped once it ended this long before the newest event time. Defaults 30 days, 122
  // days, 3 years (1,096 days). Each must be at least its bucket's length. A coarse bucket
  // holds the sums of its minutes, so it stays exact however long its minutes are kept.
  int64_t retention_15m_ms = 30LL * 86'400'000;
  int64_t retention_1h_ms = 122LL * 86'400'000;
  int64_t retention_1d_ms = 1096LL * 86'400'000;

  // Raw tags (SPEC §10): when > 0, every accepted tag is also kept whole, in the transaction
  // that stores it, for this long behind the newest event time (whole minutes older than
  // newest - raw_retention_ms are dropped), for Database::ExportTags. About 30 bytes a tag
  // on disk for the standard stream. 0 (the default) keeps none; opening a database with 0
  // deletes the raw tags it held. Must be >= 0.
  int64_t raw_retention_ms = 0;

  // The largest the LMDB map (the file) may grow to, 0 = no limit other than the disk. When
  // it cannot grow, writes fail with ResourceExhausted and succeed again once the limit is
  // raised (Database::SetMaxMapSize) or disk space is freed. Default 0.
  uint64_t max_map_size = 0;

  // Durability: when true (the default) every commit is fsync'ed before AddTags returns.
  // false trades the last commits on an OS crash (not a process crash) for speed.
  bool sync = true;

  // Longest aggregate query, in buckets of the query's size; longer ranges are
  // InvalidArgument. Default 527040 (366 days of minutes).
  int64_t max_query_buckets = 527'040;

  // Speed and memory only (above).
  TuningOptions tuning;
};

}  // namespace allezon

#endif  // ALLEZON_OPTIONS_H_
