#include "aggregate_index_impl.h"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "absl/strings/str_cat.h"
#include "codec.h"
#include "profile_log.h"
#include "profile_record.h"
#include "utf8.h"

namespace allezon::internal {
namespace {

constexpr uint8_t kOriginBit = 4;
constexpr uint8_t kBrandBit = 2;
constexpr uint8_t kCategoryBit = 1;
constexpr std::array<uint8_t, 6> kStoredMasks = {0, 1, 2, 3, 4, 7};
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

std::string BlockKey(int64_t minute, uint8_t action, uint8_t mask) {
  std::string key(10, '\0');
  PutBigEndian64(key.data(), TimeKey(minute));
  key[8] = static_cast<char>(action);
  key[9] = static_cast<char>(mask);
  return key;
}

int64_t MinuteOfKey(const MDB_val& key) {
  return TimeFromKey(GetBigEndian64(static_cast<const char*>(key.mv_data)));
}

// The id bytes of a cell in a block of `mask`: the present fields' ids, big-endian.
size_t PutIds(char* out, uint8_t mask, uint32_t origin, uint32_t brand, uint32_t category) {
  size_t n = 0;
  if (mask & kOriginBit) PutBigEndian32(out + 4 * n++, origin);
  if (mask & kBrandBit) PutBigEndian32(out + 4 * n++, brand);
  if (mask & kCategoryBit) PutBigEndian32(out + 4 * n++, category);
  return 4 * n;
}

size_t EntryWidth(uint8_t mask) { return 4 * std::popcount(mask) + 16; }

struct BlockItem {
  std::array<char, 12> ids;
  int64_t count;
  int64_t sum;
};

// Sums the entries of a block whose id bytes start with `prefix`; when `category` is set,
// only those whose third id (the {o,b,c} block's category) equals *category.
absl::Status SumBlock(std::string_view block, uint8_t mask, std::string_view prefix,
                      const uint32_t* category, AggregateRow* row) {
  const size_t width = EntryWidth(mask);
  if (block.size() % width != 0) return absl::DataLossError("aggregate block damaged");
  const size_t n = block.size() / width;
  const char* base = block.data();
  size_t lo = 0, hi = n;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (std::memcmp(base + mid * width, prefix.data(), prefix.size()) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const size_t ids_width = width - 16;
  for (size_t i = lo; i < n; ++i) {
    const char* entry = base + i * width;
    if (std::memcmp(entry, prefix.data(), prefix.size()) != 0) break;
    if (category != nullptr && GetBigEndian32(entry + 8) != *category) continue;
    row->count += static_cast<int64_t>(GetFixed64(entry + ids_width));
    row->sum_price += static_cast<int64_t>(GetFixed64(entry + ids_width + 8));
  }
  return absl::OkStatus();
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

EpochMillis AggregateIndexImpl::RetainedFrom(EpochMillis newest) const {
  if (newest == kMinTime) return kMinTime;
  return MinuteStart(newest - storage_->options.retention_ms);
}

void AggregateIndexImpl::AddToCells(MinuteCells& cells, const AggregateDelta& delta) {
  for (uint8_t mask = 0; mask < 8; ++mask) {
    CellValue& value = cells[CellKey{delta.action, mask, (mask & kOriginBit) ? delta.origin : 0,
                                     (mask & kBrandBit) ? delta.brand : 0,
                                     (mask & kCategoryBit) ? delta.category : 0}];
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
  const EpochMillis retained_from = RetainedFrom(committed_newest_);
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
    if (minute < RetainedFrom(newest)) continue;  // would be dropped at once
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
  std::unique_lock lock(mu_);
  for (const AggregateDelta& delta : deltas) {
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
      const std::string key = BlockKey(minute, action, mask);
      std::string_view existing;
      absl::StatusOr<std::string_view> stored = txn.Get(storage_->agg_blocks, key);
      if (stored.ok()) {
        existing = *stored;
      } else if (!absl::IsNotFound(stored.status())) {
        return stored.status();
      }
      const size_t width = ids_width + 16;
      if (existing.size() % width != 0) return absl::DataLossError("aggregate block damaged");
      std::string merged;
      merged.reserve(existing.size() + items.size() * width);
      size_t e = 0, i = 0;
      const size_t n_existing = existing.size() / width;
      char entry[28];
      while (e < n_existing || i < items.size()) {
        const char* old_entry = e < n_existing ? existing.data() + e * width : nullptr;
        const int order = old_entry == nullptr ? 1
                          : i == items.size()
                              ? -1
                              : std::memcmp(old_entry, items[i].ids.data(), ids_width);
        if (order < 0) {
          merged.append(old_entry, width);
          ++e;
          continue;
        }
        int64_t count = items[i].count;
        int64_t sum = items[i].sum;
        if (order == 0) {
          count += static_cast<int64_t>(GetFixed64(old_entry + ids_width));
          sum += static_cast<int64_t>(GetFixed64(old_entry + ids_width + 8));
          ++e;
        }
        std::memcpy(entry, items[i].ids.data(), ids_width);
        PutFixed64(entry + ids_width, static_cast<uint64_t>(count));
        PutFixed64(entry + ids_width + 8, static_cast<uint64_t>(sum));
        merged.append(entry, width);
        ++i;
      }
      if (absl::Status s = txn.Put(storage_->agg_blocks, key, merged); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// Deletes the keys of `dbi` whose leading minute lies in [from, to).
static absl::Status DeleteMinutes(const Txn& txn, MDB_dbi dbi, int64_t from, int64_t to) {
  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, dbi); !s.ok()) return s;
  char start[8];
  PutBigEndian64(start, TimeKey(from));
  MDB_val key{8, start}, value;
  for (absl::StatusOr<bool> more = cursor.Seek(MDB_SET_RANGE, &key, &value);;
       more = cursor.Seek(MDB_NEXT, &key, &value)) {
    if (!more.ok()) return more.status();
    if (!*more || key.mv_size < 8 || MinuteOfKey(key) >= to) break;
    // After mdb_cursor_del, MDB_NEXT yields the item that followed the deleted one.
    if (absl::Status s = cursor.DeleteCurrent(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status AggregateIndexImpl::Maintain(bool force) {
  const int64_t now = NowMillis();
  const EpochMillis newest = newest_.load(std::memory_order_relaxed);
  const EpochMillis retained_from = RetainedFrom(newest);
  std::vector<int64_t> due;
  size_t open_count;
  {
    std::shared_lock lock(mu_);
    open_count = open_.size();
    if (!force && now - last_maintenance_ms_ < storage_->options.aggregate_fold_interval_ms &&
        open_count <= kMaxOpenMinutes) {
      return absl::OkStatus();
    }
    std::vector<int64_t> young;
    for (const auto& [minute, cells] : open_) {
      if (minute < retained_from) continue;  // dropped below
      if (force ||
          minute + kMillisPerMinute + storage_->options.aggregate_fold_delay_ms <= newest) {
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
  const bool drop = retained_from > kMinTime && retained_from > dropped_before_;
  if (due.empty() && !drop) return absl::OkStatus();

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
  if (drop) {
    for (MDB_dbi dbi : {storage_->agg_blocks, storage_->agg_marks}) {
      if (absl::Status s = DeleteMinutes(*txn, dbi, kMinTime, retained_from); !s.ok()) return s;
    }
  }
  std::unique_lock lock(mu_);
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  for (int64_t minute : due) {
    open_.erase(minute);
    open_first_seq_.erase(minute);
  }
  if (drop) {
    absl::erase_if(open_, [&](const auto& entry) { return entry.first < retained_from; });
    absl::erase_if(open_first_seq_, [&](const auto& entry) { return entry.first < retained_from; });
    dropped_before_ = retained_from;
  }
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
  if (MinuteStart(range.begin) != range.begin || MinuteStart(range.end) != range.end) {
    return absl::InvalidArgumentError("aggregates time_range must be whole minutes");
  }
  const int64_t buckets = (range.end - range.begin) / kMillisPerMinute;
  if (buckets > storage_->options.max_query_buckets) {
    return absl::InvalidArgumentError(absl::StrCat(
        "time_range is longer than ", storage_->options.max_query_buckets, " one-minute buckets"));
  }
  AggregateResult result;
  result.rows.resize(static_cast<size_t>(buckets));
  for (int64_t i = 0; i < buckets; ++i) {
    result.rows[static_cast<size_t>(i)].bucket_start = range.begin + i * kMillisPerMinute;
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
  const uint8_t action = static_cast<uint8_t>(query.action);

  // Folded minutes: one block per minute.
  const bool derived = mask == (kOriginBit | kBrandBit) || mask == (kOriginBit | kCategoryBit);
  const uint8_t stored_mask = derived ? 7 : mask;
  char prefix[12];
  size_t prefix_len = PutIds(prefix, mask == (kOriginBit | kCategoryBit) ? kOriginBit : mask,
                             ids[0], ids[1], ids[2]);
  const uint32_t* category_filter = mask == (kOriginBit | kCategoryBit) ? &ids[2] : nullptr;
  Cursor cursor;
  if (absl::Status s = cursor.Open(scope.txn(), storage_->agg_blocks); !s.ok()) return s;
  std::string start = BlockKey(range.begin, 0, 0);
  MDB_val key = ToVal(start), value;
  for (absl::StatusOr<bool> more = cursor.Seek(MDB_SET_RANGE, &key, &value);;
       more = cursor.Seek(MDB_NEXT, &key, &value)) {
    if (!more.ok()) return more.status();
    if (!*more || key.mv_size != 10) break;
    const int64_t minute = MinuteOfKey(key);
    if (minute >= range.end) break;
    const char* k = static_cast<const char*>(key.mv_data);
    if (static_cast<uint8_t>(k[8]) != action || static_cast<uint8_t>(k[9]) != stored_mask) {
      continue;
    }
    AggregateRow& row = result.rows[static_cast<size_t>((minute - range.begin) / kMillisPerMinute)];
    if (absl::Status s = SumBlock(ToView(value), stored_mask, std::string_view(prefix, prefix_len),
                                  category_filter, &row);
        !s.ok()) {
      return s;
    }
  }

  // Open minutes: in memory, every mask.
  const CellKey wanted{action, mask, ids[0], ids[1], ids[2]};
  for (const auto& [minute, cells] : open_) {
    if (minute < range.begin || minute >= range.end) continue;
    auto it = cells.find(wanted);
    if (it == cells.end()) continue;
    AggregateRow& row = result.rows[static_cast<size_t>((minute - range.begin) / kMillisPerMinute)];
    row.count += it->second.count;
    row.sum_price += it->second.sum;
  }
  return result;
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
  Cursor cursor;
  if (absl::Status s = cursor.Open(scope.txn(), storage_->agg_blocks); !s.ok()) return s;
  const std::string start = BlockKey(range.begin, 0, 0);
  MDB_val key = ToVal(start), value;
  const size_t width = EntryWidth(mask);
  for (absl::StatusOr<bool> more = cursor.Seek(MDB_SET_RANGE, &key, &value);;
       more = cursor.Seek(MDB_NEXT, &key, &value)) {
    if (!more.ok()) return more.status();
    if (!*more || key.mv_size != 10) break;
    const int64_t minute = MinuteOfKey(key);
    if (minute >= range.end) break;
    const char* k = static_cast<const char*>(key.mv_data);
    const uint8_t block_action = static_cast<uint8_t>(k[8]);
    if (static_cast<uint8_t>(k[9]) != mask || !wanted(block_action)) continue;
    emit_open_before(minute);
    const std::string_view block = ToView(value);
    if (block.size() % width != 0) return absl::DataLossError("aggregate block damaged");
    for (size_t offset = 0; offset < block.size(); offset += width) {
      const char* entry = block.data() + offset;
      visit(FieldCell{minute, block_action, GetBigEndian32(entry),
                      static_cast<int64_t>(GetFixed64(entry + 4)),
                      static_cast<int64_t>(GetFixed64(entry + 12))});
    }
  }
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
