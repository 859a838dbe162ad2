#include "catalogue.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "codec.h"
#include "profile_log.h"
#include "profile_record.h"

namespace allezon::internal {
namespace {

constexpr std::string_view kMarkKey = "catalogue_through";
constexpr size_t kKeyBytes = 5;
constexpr size_t kValueBytes = 24;

constexpr size_t kOrigin = static_cast<size_t>(Dimension::kOrigin);
constexpr size_t kBrand = static_cast<size_t>(Dimension::kBrandId);
constexpr size_t kCategory = static_cast<size_t>(Dimension::kCategoryId);
constexpr size_t kCountry = static_cast<size_t>(Dimension::kCountry);
constexpr size_t kDevice = static_cast<size_t>(Dimension::kDevice);

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void Catalogue::Merge(size_t dimension, uint32_t id, const Cell& add) {
  std::vector<Cell>& cells = cells_[dimension];
  if (id >= cells.size()) {
    // Ids are dense (the pool numbers strings from 0), so a vector indexed by id is both the
    // smallest and the fastest map; doubling keeps growth off the per-tag cost.
    cells.resize(std::max<size_t>(id + 1, cells.size() * 2));
    dirty_flags_[dimension].resize(cells.size());
  }
  Cell& cell = cells[id];
  cell.first = std::min(cell.first, add.first);
  cell.last = std::max(cell.last, add.last);
  cell.tags += add.tags;
  if (!dirty_flags_[dimension][id]) {
    dirty_flags_[dimension][id] = 1;
    dirty_.emplace_back(static_cast<uint8_t>(dimension), id);
  }
}

void Catalogue::AddTag(EpochMillis time, Device device, const TagIds& ids) {
  const Cell one{time, time, 1};
  Merge(kOrigin, ids.origin, one);
  Merge(kBrand, ids.brand, one);
  Merge(kCategory, ids.category, one);
  Merge(kCountry, ids.country, one);
  Merge(kDevice, static_cast<uint32_t>(device), one);
}

void Catalogue::Apply(std::span<const UserTag* const> tags, std::span<const TagIds> ids,
                      uint64_t last_sequence) {
  if (tags.empty()) return;
  std::unique_lock lock(mu_);
  for (size_t i = 0; i < tags.size(); ++i) AddTag(tags[i]->time, tags[i]->device, ids[i]);
  applied_through_ = std::max(applied_through_, last_sequence);
}

std::vector<Catalogue::Value> Catalogue::Values(Dimension dimension) const {
  std::vector<Value> values;
  const size_t d = static_cast<size_t>(dimension);
  if (d >= kDimensions) return values;
  std::shared_lock lock(mu_);
  const std::vector<Cell>& cells = cells_[d];
  for (size_t id = 0; id < cells.size(); ++id) {
    if (cells[id].tags == 0) continue;
    values.push_back({static_cast<uint32_t>(id), cells[id].first, cells[id].last, cells[id].tags});
  }
  return values;
}

absl::Status Catalogue::WriteDirty(const Txn& txn, uint64_t through) const {
  char key[kKeyBytes];
  char value[kValueBytes];
  for (const auto& [dimension, id] : dirty_) {
    const Cell& cell = cells_[dimension][id];
    key[0] = static_cast<char>(dimension);
    PutBigEndian32(key + 1, id);
    PutFixed64(value, static_cast<uint64_t>(cell.first));
    PutFixed64(value + 8, static_cast<uint64_t>(cell.last));
    PutFixed64(value + 16, static_cast<uint64_t>(cell.tags));
    if (absl::Status s = txn.Put(storage_->catalogue, std::string_view(key, kKeyBytes),
                                 std::string_view(value, kValueBytes));
        !s.ok()) {
      return s;
    }
  }
  char mark[8];
  PutFixed64(mark, through);
  return txn.Put(storage_->meta, kMarkKey, std::string_view(mark, 8));
}

absl::Status Catalogue::Maintain(bool force) {
  if (applied_through_ <= flushed_through_) return absl::OkStatus();
  const int64_t now = NowMillis();
  if (!force && now - last_flush_ms_ < storage_->options.tuning.aggregate_fold_interval_ms) {
    return absl::OkStatus();
  }
  last_flush_ms_ = now;
  absl::StatusOr<Txn> txn = Txn::Begin(storage_->env, /*read_only=*/false);
  if (!txn.ok()) return txn.status();
  // Only the writer changes cells_, so it reads them here without the lock.
  if (absl::Status s = WriteDirty(*txn, applied_through_); !s.ok()) return s;
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  for (const auto& [dimension, id] : dirty_) dirty_flags_[dimension][id] = 0;
  dirty_.clear();
  flushed_through_ = applied_through_;
  return absl::OkStatus();
}

absl::Status Catalogue::Load(const Txn& txn) {
  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, storage_->catalogue); !s.ok()) return s;
  MDB_val key, value;
  for (absl::StatusOr<bool> more = cursor.Seek(MDB_FIRST, &key, &value);;
       more = cursor.Seek(MDB_NEXT, &key, &value)) {
    if (!more.ok()) return more.status();
    if (!*more) break;
    const char* k = static_cast<const char*>(key.mv_data);
    const char* v = static_cast<const char*>(value.mv_data);
    if (key.mv_size != kKeyBytes || value.mv_size != kValueBytes ||
        static_cast<uint8_t>(k[0]) >= kDimensions) {
      return absl::DataLossError("catalogue damaged");
    }
    const size_t dimension = static_cast<uint8_t>(k[0]);
    const uint32_t id = GetBigEndian32(k + 1);
    Merge(dimension, id,
          Cell{static_cast<int64_t>(GetFixed64(v)), static_cast<int64_t>(GetFixed64(v + 8)),
               static_cast<int64_t>(GetFixed64(v + 16))});
  }
  // What was just read is what the table holds.
  for (const auto& [dimension, id] : dirty_) dirty_flags_[dimension][id] = 0;
  dirty_.clear();
  return absl::OkStatus();
}

absl::Status Catalogue::ReplayLog(const Txn& txn, uint64_t after) {
  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, storage_->profile_log); !s.ok()) return s;
  // Log records are keyed by their first sequence: the one holding `after + 1` starts at or
  // before it, so the walk starts one record back (its older tags are skipped below).
  const std::string start = LogSequenceKey(after + 1);
  MDB_val key = ToVal(start), value;
  absl::StatusOr<bool> at = cursor.Seek(MDB_SET_RANGE, &key, &value);
  if (!at.ok()) return at.status();
  at = *at ? cursor.Seek(MDB_PREV, &key, &value) : cursor.Seek(MDB_LAST, &key, &value);
  if (at.ok() && !*at) at = cursor.Seek(MDB_FIRST, &key, &value);
  absl::Status status = absl::OkStatus();
  for (;; at = cursor.Seek(MDB_NEXT, &key, &value)) {
    if (!at.ok()) return at.status();
    if (!*at) break;
    if (key.mv_size != 8) return absl::DataLossError("profile log damaged");
    const uint64_t first = GetBigEndian64(static_cast<const char*>(key.mv_data));
    absl::Status walked = ForEachLoggedTag(first, ToView(value), [&](const LoggedTag& tag) {
      if (tag.sequence <= after || !status.ok()) return;
      ByteReader reader(tag.body);
      const DecodedBody body = ReadBody(reader);
      if (!reader.ok()) {
        status = absl::DataLossError("profile log damaged");
        return;
      }
      AddTag(tag.time, body.device(), body.ids);
      applied_through_ = std::max(applied_through_, tag.sequence);
    });
    if (!walked.ok()) return walked;
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status Catalogue::RebuildFromStoredTags(const Txn& txn) {
  // The log's tags that their list does not hold yet (newer than the record's merged
  // sequence), then every list: each tag still held, counted once.
  absl::flat_hash_map<std::string, uint64_t> merged;
  std::string profile_key;
  absl::Status status = absl::OkStatus();
  absl::Status walked = ForEachLoggedTag(txn, storage_->profile_log, [&](const LoggedTag& tag) {
    if (!status.ok()) return;
    AssignProfileKey(tag.cookie, static_cast<Action>(tag.action), &profile_key);
    auto [it, inserted] = merged.try_emplace(profile_key, 0);
    if (inserted) {
      std::string_view bytes;
      RecordHeader header;
      absl::Status read = ReadRecord(txn, storage_->profiles, profile_key, &bytes, &header);
      if (!read.ok() && !absl::IsDataLoss(read)) {
        status = read;
        return;
      }
      it->second = read.ok() ? header.merged_seq : 0;
    }
    if (tag.sequence <= it->second) return;
    ByteReader reader(tag.body);
    const DecodedBody body = ReadBody(reader);
    if (reader.ok()) AddTag(tag.time, body.device(), body.ids);
  });
  if (!walked.ok()) return walked;
  if (!status.ok()) return status;

  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, storage_->profiles); !s.ok()) return s;
  MDB_val key, value;
  for (absl::StatusOr<bool> more = cursor.Seek(MDB_FIRST, &key, &value);;
       more = cursor.Seek(MDB_NEXT, &key, &value)) {
    if (!more.ok()) return more.status();
    if (!*more) break;
    // A list that no longer decodes holds nothing countable (its queries fail too).
    (void)WalkRecord(ToView(value), [&](int64_t time, ByteReader& reader) {
      const DecodedBody body = ReadBody(reader);
      if (reader.ok()) AddTag(time, body.device(), body.ids);
      return reader.ok();
    });
  }
  return absl::OkStatus();
}

absl::Status Catalogue::Recover(const Txn& txn, bool rebuild, uint64_t logged_through) {
  std::unique_lock lock(mu_);
  if (rebuild) {
    // Whatever the table holds (written by a later build, then opened by an older one that
    // kept adding tags) is superseded by the rebuild.
    if (int rc = mdb_drop(txn.get(), storage_->catalogue, 0); rc != 0) {
      return LmdbError(rc, "emptying the catalogue");
    }
    if (absl::Status s = RebuildFromStoredTags(txn); !s.ok()) return s;
    if (absl::Status s = WriteDirty(txn, logged_through); !s.ok()) return s;
    for (const auto& [dimension, id] : dirty_) dirty_flags_[dimension][id] = 0;
    dirty_.clear();
    applied_through_ = flushed_through_ = logged_through;
    return absl::OkStatus();
  }
  if (absl::Status s = Load(txn); !s.ok()) return s;
  uint64_t mark = 0;
  absl::StatusOr<std::string_view> stored = txn.Get(storage_->meta, kMarkKey);
  if (stored.ok()) {
    if (stored->size() != 8) return absl::DataLossError("catalogue mark damaged");
    mark = GetFixed64(stored->data());
  } else if (!absl::IsNotFound(stored.status())) {
    return stored.status();
  }
  applied_through_ = flushed_through_ = mark;
  return ReplayLog(txn, mark);
}

}  // namespace allezon::internal
