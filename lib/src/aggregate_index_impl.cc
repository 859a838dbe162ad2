#include "aggregate_index_impl.h"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "absl/strings/str_cat.h"
#include "absl_compat.h"
#include "codec.h"
#include "profile_log.h"
#include "profile_record.h"
#include "utf8.h"

namespace allezon::internal {
namespace {

// More open minutes than this (out-of-order producers) are folded regardless of their age.
constexpr size_t kMaxOpenMinutes = 64;
constexpr std::string_view kNewestKey = "newest";
// Tags logged up to this sequence are in the blocks (set when the previous format's own
// aggregate log was folded away).
constexpr std::string_view kFoldedFloorKey = "agg_folded_floor";
// The previous format's key of its aggregate log's sequence (deleted by the migration).
constexpr std::string_view kLegacySequenceKey = "sequence";

std::string MarkKey(int64_t minute) {
  std::string key(8, '\0');
  PutBigEndian64(key.data(), TimeKey(minute));
  return key;
}

int64_t MinuteOfKey(const MDB_val& key) {
  return TimeFromKey(GetBigEndian64(static_cast<const char*>(key.mv_data)));
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

EpochMillis AggregateIndexImpl::RetainedFrom(int level, EpochMillis newest) const {
  if (newest == kMinTime) return kMinTime;
  const int64_t retention[kLevels] = {storage_->options.retention_ms,
                                      storage_->options.retention_15m_ms,
                                      storage_->options.retention_1h_ms,
                                      storage_->options.retention_1d_ms};
  return std::max(kMinTime, BucketStartOf(newest - retention[level], level));
}

AggregateIndexImpl::CellKey AggregateIndexImpl::CellOf(const AggregateDelta& delta,
                                                       uint8_t mask) {
  return CellKey{delta.action, mask, (mask & kOriginBit) ? delta.origin : 0,
                 (mask & kBrandBit) ? delta.brand : 0, (mask & kCategoryBit) ? delta.category : 0};
}

void AggregateIndexImpl::AddToCells(MinuteCells& cells, const AggregateDelta& delta) {
  for (uint8_t mask = 0; mask < 8; ++mask) {
    CellValue& value = cells[CellOf(delta, mask)];
    value.count += 1;
    value.sum += delta.price;
  }
}

size_t AggregateIndexImpl::open_minutes() const {
  std::shared_lock lock(mu_);
  return open_.size();
}

absl::StatusOr<uint64_t> AggregateIndexImpl::FoldedThrough(const Txn& txn, int64_t minute) const {
  absl::StatusOr<std::string_view> mark = txn.Get(storage_->agg_marks, MarkKey(minute));
  if (absl::IsNotFound(mark.status())) return uint64_t{0};
  if (!mark.ok()) return mark.status();
  if (mark->size() != 8) return absl::DataLossError("aggregate mark damaged");
  return GetFixed64(mark->data());
}

absl::Status AggregateIndexImpl::ReplayLegacyLog(const Txn& txn, MDB_dbi legacy_log) {
  // The previous format: key = minute + sequence, value = action byte, then varints origin,
  // brand, category and zigzag price.
  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, legacy_log); !s.ok()) return s;
  MDB_val key, value;
  for (absl::StatusOr<bool> more = cursor.Seek(MDB_FIRST, &key, &value);;
       more = cursor.Seek(MDB_NEXT, &key, &value)) {
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
    if (key.mv_size != 16) return absl::DataLossError("aggregate log key damaged");
    ByteReader reader(ToView(value));
    AggregateDelta delta;
    delta.minute = MinuteOfKey(key);
    delta.action = reader.Byte();
    delta.origin = static_cast<uint32_t>(reader.Varint());
    delta.brand = static_cast<uint32_t>(reader.Varint());
    delta.category = static_cast<uint32_t>(reader.Varint());
    delta.price = static_cast<int32_t>(UnZigZag(reader.Varint()));
    if (!reader.ok() || delta.action > 1) return absl::DataLossError("aggregate log damaged");
    AddToCells(open_[delta.minute], delta);
  }
}

absl::Status AggregateIndexImpl::Recover(const Txn& txn, MDB_dbi legacy_log,
                                         uint64_t legacy_folded_through) {
  absl::StatusOr<std::string_view> newest = txn.Get(storage_->meta, kNewestKey);
  if (newest.ok() && newest->size() == 8) {
    committed_newest_ = static_cast<int64_t>(GetFixed64(newest->data()));
  } else if (!newest.ok() && !absl::IsNotFound(newest.status())) {
    return newest.status();
  }
  newest_.store(committed_newest_);
  if (absl::Status s = LoadRollupState(txn); !s.ok()) return s;
  const EpochMillis retained_from = RetainedFrom(0, committed_newest_);
  std::unique_lock lock(mu_);

  if (legacy_log != 0) {
    if (absl::Status s = ReplayLegacyLog(txn, legacy_log); !s.ok()) return s;
    for (const auto& [minute, cells] : open_) {
      if (minute < retained_from) continue;
      if (absl::Status s = FoldInto(txn, minute, cells); !s.ok()) return s;
    }
    open_.clear();
    if (int rc = mdb_drop(txn.get(), legacy_log, 1); rc != 0) {
      return LmdbError(rc, "dropping the previous format's aggregate log");
    }
    char fixed[8];
    PutFixed64(fixed, legacy_folded_through);
    if (absl::Status s = txn.Put(storage_->meta, kFoldedFloorKey, std::string_view(fixed, 8));
        !s.ok()) {
      return s;
    }
    if (absl::Status s = txn.Delete(storage_->meta, kLegacySequenceKey); !s.ok()) return s;
  }

  uint64_t floor = 0;
  absl::StatusOr<std::string_view> stored_floor = txn.Get(storage_->meta, kFoldedFloorKey);
  if (stored_floor.ok()) {
    if (stored_floor->size() != 8) return absl::DataLossError("aggregate floor damaged");
    floor = GetFixed64(stored_floor->data());
  } else if (!absl::IsNotFound(stored_floor.status())) {
    return stored_floor.status();
  }

  absl::flat_hash_map<int64_t, uint64_t> marks;  // minute -> folded through
  absl::Status status = absl::OkStatus();
  absl::Status walked = ForEachLoggedTag(txn, storage_->profile_log, [&](const LoggedTag& tag) {
    if (!status.ok()) return;
    committed_through_ = std::max(committed_through_, tag.sequence);
    const int64_t minute = MinuteStart(tag.time);
    if (tag.sequence <= floor || minute < retained_from) return;
    auto [mark, inserted] = marks.try_emplace(minute, 0);
    if (inserted) {
      absl::StatusOr<uint64_t> folded = FoldedThrough(txn, minute);
      if (!folded.ok()) {
        status = folded.status();
        return;
      }
      mark->second = *folded;
    }
    if (tag.sequence <= mark->second) return;
    if (tag.action > 1) {
      status = absl::DataLossError("profile log damaged: bad action");
      return;
    }
    ByteReader reader(tag.body);
    const DecodedBody body = ReadBody(reader);
    AggregateDelta delta;
    delta.minute = minute;
    delta.action = tag.action;
    delta.origin = body.ids.origin;
    delta.brand = body.ids.brand;
    delta.category = body.ids.category;
    delta.price = static_cast<int32_t>(body.price);
    delta.sequence = tag.sequence;
    AddToCells(open_[minute], delta);
    open_first_seq_.try_emplace(minute, tag.sequence);
  });
  if (!walked.ok()) return walked;
  return status;
}

uint64_t AggregateIndexImpl::LogNeededFrom() const {
  uint64_t oldest = UINT64_MAX;
  for (const auto& [minute, sequence] : open_first_seq_) oldest = std::min(oldest, sequence);
  return oldest;
}

absl::Status AggregateIndexImpl::Write(const Txn& txn, std::span<const UserTag* const> tags,
                                       std::span<const TagIds> ids, uint64_t first_sequence,
                                       std::vector<AggregateDelta>* deltas) {
  EpochMillis newest = newest_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < tags.size(); ++i) {
    const UserTag& tag = *tags[i];
    newest = std::max(newest, tag.time);
    const int64_t minute = MinuteStart(tag.time);
    if (minute < RetainedFrom(0, newest)) continue;  // would be dropped at once
    AggregateDelta& delta = deltas->emplace_back();
    delta.minute = minute;
    delta.action = static_cast<uint8_t>(tag.action);
    delta.origin = ids[i].origin;
    delta.brand = ids[i].brand;
    delta.category = ids[i].category;
    delta.price = tag.price;
    delta.sequence = first_sequence + i;
  }
  char fixed[8];
  PutFixed64(fixed, static_cast<uint64_t>(newest));
  if (absl::Status s = txn.Put(storage_->meta, kNewestKey, std::string_view(fixed, 8)); !s.ok()) {
    return s;
  }
  // Both take effect in Apply; Rollback restores them.
  committed_newest_ = newest;
  if (!tags.empty()) pending_through_ = first_sequence + tags.size() - 1;
  return absl::OkStatus();
}

void AggregateIndexImpl::Apply(std::span<const AggregateDelta> deltas) {
  // A busy minute holds hundreds of thousands of cells, far beyond the caches, and each tag
  // adds to 8 scattered ones: nearly every add waited for memory. Their slots are fetched a
  // few tags ahead, so that the waits overlap: the cells' share of the server's CPU in batch
  // ingest went from 14.1-15.2 % to 12.3-12.9 % (perf, bench/RESULTS.md, issue 20). Queries
  // wait for mu_ meanwhile: the shorter, the better.
  constexpr size_t kAhead = 4;
  const auto prefetch = [this](const AggregateDelta& delta) {
    const auto it = open_.find(delta.minute);
    if (it == open_.end()) return;  // a new minute: its map is small for a while
    for (uint8_t mask = 0; mask < 8; ++mask) it->second.prefetch(CellOf(delta, mask));
  };
  std::unique_lock lock(mu_);
  for (size_t i = 0; i < std::min(kAhead, deltas.size()); ++i) prefetch(deltas[i]);
  for (size_t i = 0; i < deltas.size(); ++i) {
    if (i + kAhead < deltas.size()) prefetch(deltas[i + kAhead]);
    const AggregateDelta& delta = deltas[i];
    AddToCells(open_[delta.minute], delta);
    open_first_seq_.try_emplace(delta.minute, delta.sequence);
  }
  committed_through_ = std::max(committed_through_, pending_through_);
  newest_.store(committed_newest_, std::memory_order_relaxed);
}

void AggregateIndexImpl::Rollback() {
  pending_through_ = committed_through_;
  committed_newest_ = newest_.load(std::memory_order_relaxed);
}

absl::Status AggregateIndexImpl::FoldInto(const Txn& txn, int64_t minute,
                                          const MinuteCells& cells) const {
  // Bucket the minute's cells by (action, stored mask).
  std::array<std::vector<BlockItem>, 2 * 8> buckets;
  for (const auto& [key, value] : cells) {
    if (std::find(kStoredMasks.begin(), kStoredMasks.end(), key.mask) == kStoredMasks.end()) {
      continue;
    }
    BlockItem item{};
    PutIds(item.ids.data(), key.mask, key.origin, key.brand, key.category);
    item.count = value.count;
    item.sum = value.sum;
    buckets[key.action * 8 + key.mask].push_back(item);
  }
  for (uint8_t action = 0; action < 2; ++action) {
    for (uint8_t mask : kStoredMasks) {
      std::vector<BlockItem>& items = buckets[action * 8 + mask];
      if (items.empty()) continue;
      const size_t ids_width = EntryWidth(mask) - 16;
      std::sort(items.begin(), items.end(), [ids_width](const BlockItem& a, const BlockItem& b) {
        return std::memcmp(a.ids.data(), b.ids.data(), ids_width) < 0;
      });
      if (absl::Status s = MergeIntoBlock(txn, storage_->agg_blocks,
                                          BlockKey(0, minute, action, mask), mask, items);
          !s.ok()) {
        return s;
      }
      // A coarse bucket already rolled up from its minutes takes the late ones directly.
      for (int level = 1; level < kLevels; ++level) {
        const int64_t bucket = BucketStartOf(minute, level);
        if (bucket >= rolled_through_[level]) continue;
        if (absl::Status s = MergeIntoBlock(txn, storage_->agg_rollups,
                                            BlockKey(level, bucket, action, mask), mask, items);
            !s.ok()) {
          return s;
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status AggregateIndexImpl::Maintain(bool force) {
  const int64_t now = NowMillis();
  const EpochMillis newest = newest_.load(std::memory_order_relaxed);
  std::array<EpochMillis, kLevels> retained;
  for (int level = 0; level < kLevels; ++level) retained[level] = RetainedFrom(level, newest);
  std::vector<int64_t> due;
  {
    std::shared_lock lock(mu_);
    if (!force && now - last_maintenance_ms_ < storage_->options.tuning.aggregate_fold_interval_ms &&
        open_.size() <= kMaxOpenMinutes) {
      return absl::OkStatus();
    }
    std::vector<int64_t> young;
    for (const auto& [minute, cells] : open_) {
      // A minute leaving the retention is folded too: its coarse buckets keep its counts.
      if (force || minute < retained[0] ||
          minute + kMillisPerMinute + storage_->options.tuning.aggregate_fold_delay_ms <= newest) {
        due.push_back(minute);
      } else {
        young.push_back(minute);
      }
    }
    if (young.size() > kMaxOpenMinutes) {
      std::sort(young.begin(), young.end());
      due.insert(due.end(), young.begin(), young.end() - kMaxOpenMinutes / 2);
    }
  }
  last_maintenance_ms_ = now;

  // Coarse buckets are rolled up from the level below once they ended the fold delay before
  // the newest time (and the level below is rolled that far); a level's blocks are dropped
  // past its retention, but never before the level above has rolled them up.
  std::array<EpochMillis, kLevels> roll_to = rolled_through_;
  if (newest != kMinTime) {
    const int64_t settled = newest - storage_->options.tuning.aggregate_fold_delay_ms;
    for (int level = 1; level < kLevels; ++level) {
      int64_t target = BucketStartOf(settled, level);
      if (level > 1) target = std::min(target, BucketStartOf(roll_to[level - 1], level));
      roll_to[level] = std::max(roll_to[level], target);
    }
  }
  std::array<EpochMillis, kLevels> drop_before;
  bool drop = false, roll = false;
  for (int level = 0; level < kLevels; ++level) {
    drop_before[level] =
        level + 1 < kLevels ? std::min(retained[level], roll_to[level + 1]) : retained[level];
    drop_before[level] = std::max(drop_before[level], dropped_before_[level]);
    drop = drop || drop_before[level] > dropped_before_[level];
    roll = roll || roll_to[level] > rolled_through_[level];
  }
  if (due.empty() && !drop && !roll) return absl::OkStatus();

  absl::StatusOr<Txn> txn = Txn::Begin(storage_->env, /*read_only=*/false);
  if (!txn.ok()) return txn.status();
  {
    std::shared_lock lock(mu_);
    char mark[8];
    PutFixed64(mark, committed_through_);  // every tag logged so far is in memory
    for (int64_t minute : due) {
      if (absl::Status s = FoldInto(*txn, minute, open_.at(minute)); !s.ok()) return s;
      if (absl::Status s =
              txn->Put(storage_->agg_marks, MarkKey(minute), std::string_view(mark, 8));
          !s.ok()) {
        return s;
      }
    }
  }
  for (int level = 1; level < kLevels; ++level) {
    if (roll_to[level] <= rolled_through_[level]) continue;
    if (absl::Status s = RollUp(*txn, level, rolled_through_[level], roll_to[level]); !s.ok()) {
      return s;
    }
  }
  for (int level = 0; level < kLevels; ++level) {
    if (drop_before[level] <= dropped_before_[level]) continue;
    if (absl::Status s = DeleteBlocksBefore(*txn, *storage_, level, drop_before[level]);
        !s.ok()) {
      return s;
    }
  }
  std::unique_lock lock(mu_);
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  for (int64_t minute : due) {
    open_.erase(minute);
    open_first_seq_.erase(minute);
  }
  rolled_through_ = roll_to;
  dropped_before_ = drop_before;
  return absl::OkStatus();
}

absl::StatusOr<AggregateResult> AggregateIndexImpl::Query(const AggregateQuery& query) const {
  const TimeRange range = query.range;
  if (query.aggregates.empty()) {
    return absl::InvalidArgumentError("at least one aggregate (COUNT, SUM_PRICE) is required");
  }
  for (const auto& [name, value] :
       {std::pair{"origin", &query.origin}, std::pair{"brand_id", &query.brand_id},
        std::pair{"category_id", &query.category_id}}) {
    if (value->has_value() && !IsValidUtf8(**value)) {
      return absl::InvalidArgumentError(absl::StrCat(name, " is not valid UTF-8"));
    }
  }
  if (range.begin > range.end) {
    return absl::InvalidArgumentError("invalid time_range: begin is after end");
  }
  const int level = static_cast<int>(query.bucket);
  if (level < 0 || level >= kLevels) return absl::InvalidArgumentError("unknown bucket size");
  const int64_t size = LevelMillis(level);
  if (BucketStartOf(range.begin, level) != range.begin ||
      BucketStartOf(range.end, level) != range.end) {
    return absl::InvalidArgumentError(
        level == 0 ? std::string("aggregates time_range must be whole minutes")
                   : absl::StrCat("aggregates time_range must be whole ",
                                  Sv(BucketName(query.bucket)), " buckets (UTC)"));
  }
  const int64_t buckets = (range.end - range.begin) / size;
  if (buckets > storage_->options.max_query_buckets) {
    return absl::InvalidArgumentError(absl::StrCat("time_range is longer than ",
                                                   storage_->options.max_query_buckets, " ",
                                                   Sv(BucketName(query.bucket)), " buckets"));
  }
  AggregateResult result;
  result.rows.resize(static_cast<size_t>(buckets));
  for (int64_t i = 0; i < buckets; ++i) {
    result.rows[static_cast<size_t>(i)].bucket_start = range.begin + i * size;
  }
  if (buckets == 0) return result;

  std::shared_lock lock(mu_);
  ReadScope scope(*storage_);
  if (!scope.status().ok()) return scope.status();
  const uint8_t mask = (query.origin ? kOriginBit : 0) | (query.brand_id ? kBrandBit : 0) |
                       (query.category_id ? kCategoryBit : 0);
  uint32_t ids[3] = {0, 0, 0};
  const std::optional<std::string>* filters[3] = {&query.origin, &query.brand_id,
                                                  &query.category_id};
  for (int f = 0; f < 3; ++f) {
    if (!filters[f]->has_value()) continue;
    absl::StatusOr<std::optional<uint32_t>> id =
        storage_->strings_pool.Find(scope.txn(), **filters[f]);
    if (!id.ok()) return id.status();
    if (!id->has_value()) return result;  // a value never seen matches nothing
    ids[f] = **id;
  }
  const CellLookup lookup(static_cast<uint8_t>(query.action), mask, ids[0], ids[1], ids[2]);
  // Buckets past their retention answer zeros even while their blocks await the next drop.
  const int64_t from = std::max(range.begin, RetainedFrom(level, newest_time()));
  absl::Status collected =
      Collect(scope.txn(), level, from, range.end, lookup,
              [&](int64_t time, int64_t count, int64_t sum) {
                AggregateRow& row = result.rows[static_cast<size_t>((time - range.begin) / size)];
                row.count += count;
                row.sum_price += sum;
              });
  if (!collected.ok()) return collected;
  return result;
}

absl::Status AggregateIndexImpl::Collect(
    const Txn& txn, int level, int64_t from, int64_t to, const CellLookup& lookup,
    absl::FunctionRef<void(int64_t time, int64_t count, int64_t sum)> add) const {
  if (from >= to) return absl::OkStatus();
  // [from, stored_to): this level's blocks; [stored_to, to): not rolled up yet, from below.
  const int64_t stored_to = level == 0 ? to : std::clamp(rolled_through_[level], from, to);
  absl::Status status = ForEachBlockOf(
      txn, *storage_, level, from, stored_to, lookup.action, lookup.stored_mask,
      [&](int64_t start, std::string_view block) {
        int64_t count = 0, sum = 0;
        if (absl::Status s = lookup.Sum(block, &count, &sum); !s.ok()) return s;
        add(start, count, sum);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  // Minutes still in memory are in no block of any level yet.
  const CellKey wanted{lookup.action, lookup.mask, lookup.ids[0], lookup.ids[1], lookup.ids[2]};
  for (const auto& [minute, cells] : open_) {
    if (minute < from || minute >= stored_to) continue;
    auto it = cells.find(wanted);
    if (it != cells.end()) add(minute, it->second.count, it->second.sum);
  }
  return Collect(txn, level - 1 < 0 ? 0 : level - 1, stored_to, to, lookup, add);
}

absl::Status AggregateIndexImpl::VisitFieldCells(
    TimeRange range, Dimension dimension, std::optional<Action> action,
    absl::FunctionRef<void(const FieldCell&)> visit) const {
  const uint8_t mask = dimension == Dimension::kOrigin    ? kOriginBit
                       : dimension == Dimension::kBrandId ? kBrandBit
                                                          : kCategoryBit;
  const auto wanted = [&](uint8_t cell_action) {
    return !action.has_value() || cell_action == static_cast<uint8_t>(*action);
  };
  std::shared_lock lock(mu_);
  ReadScope scope(*storage_);
  if (!scope.status().ok()) return scope.status();
  // Open minutes are emitted as the block walk passes them, so minutes never go backwards.
  std::vector<int64_t> open_minutes;
  for (const auto& [minute, cells] : open_) {
    if (minute >= range.begin && minute < range.end) open_minutes.push_back(minute);
  }
  std::sort(open_minutes.begin(), open_minutes.end());
  size_t next_open = 0;
  const auto emit_open_before = [&](int64_t limit) {
    for (; next_open < open_minutes.size() && open_minutes[next_open] < limit; ++next_open) {
      const int64_t minute = open_minutes[next_open];
      for (const auto& [key, value] : open_.at(minute)) {
        if (key.mask != mask || !wanted(key.action)) continue;
        const uint32_t id = mask == kOriginBit  ? key.origin
                            : mask == kBrandBit ? key.brand
                                                : key.category;
        visit(FieldCell{minute, key.action, id, value.count, value.sum});
      }
    }
  };
  const size_t width = EntryWidth(mask);
  absl::Status walked = ForEachBlock(
      scope.txn(), *storage_, 0, range.begin, range.end,
      [&](int64_t minute, uint8_t block_action, uint8_t block_mask, std::string_view block) {
        if (block_mask != mask || !wanted(block_action)) return absl::OkStatus();
        emit_open_before(minute);
        if (block.size() % width != 0) return absl::DataLossError("aggregate block damaged");
        for (size_t offset = 0; offset < block.size(); offset += width) {
          const char* entry = block.data() + offset;
          visit(FieldCell{minute, block_action, GetBigEndian32(entry),
                          static_cast<int64_t>(GetFixed64(entry + 4)),
                          static_cast<int64_t>(GetFixed64(entry + 12))});
        }
        return absl::OkStatus();
      });
  if (!walked.ok()) return walked;
  emit_open_before(range.end);
  return absl::OkStatus();
}

absl::StatusOr<EpochMillis> AggregateIndexImpl::FirstMinute() const {
  std::shared_lock lock(mu_);
  ReadScope scope(*storage_);
  if (!scope.status().ok()) return scope.status();
  EpochMillis first = kMaxTime;
  for (const auto& [minute, cells] : open_) first = std::min(first, minute);
  Cursor cursor;
  if (absl::Status s = cursor.Open(scope.txn(), storage_->agg_blocks); !s.ok()) return s;
  MDB_val key, value;
  absl::StatusOr<bool> found = cursor.Seek(MDB_FIRST, &key, &value);
  if (!found.ok()) return found.status();
  if (*found && key.mv_size == 10) first = std::min(first, MinuteOfKey(key));
  return first;
}

}  // namespace allezon::internal
