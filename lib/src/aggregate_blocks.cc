#include "aggregate_blocks.h"

#include <cstring>

#include "codec.h"

namespace allezon::internal {
namespace {

size_t KeySize(int level) { return level == 0 ? 10 : 11; }
MDB_dbi TableOf(const Storage& storage, int level) {
  return level == 0 ? storage.agg_blocks : storage.agg_rollups;
}

}  // namespace

std::string BlockKey(int level, int64_t start, uint8_t action, uint8_t mask) {
  std::string key(KeySize(level), '\0');
  char* out = key.data();
  if (level != 0) *out++ = static_cast<char>(level);
  PutBigEndian64(out, TimeKey(start));
  out[8] = static_cast<char>(action);
  out[9] = static_cast<char>(mask);
  return key;
}

size_t PutIds(char* out, uint8_t mask, uint32_t origin, uint32_t brand, uint32_t category) {
  size_t n = 0;
  if (mask & kOriginBit) PutBigEndian32(out + 4 * n++, origin);
  if (mask & kBrandBit) PutBigEndian32(out + 4 * n++, brand);
  if (mask & kCategoryBit) PutBigEndian32(out + 4 * n++, category);
  return 4 * n;
}

absl::Status MergeIntoBlock(const Txn& txn, MDB_dbi dbi, const std::string& key, uint8_t mask,
                            const std::vector<BlockItem>& items) {
  if (items.empty()) return absl::OkStatus();
  std::string_view existing;
  absl::StatusOr<std::string_view> stored = txn.Get(dbi, key);
  if (stored.ok()) {
    existing = *stored;
  } else if (!absl::IsNotFound(stored.status())) {
    return stored.status();
  }
  const size_t width = EntryWidth(mask);
  const size_t ids_width = width - 16;
  if (existing.size() % width != 0) return absl::DataLossError("aggregate block damaged");
  std::string merged;
  merged.reserve(existing.size() + items.size() * width);
  size_t e = 0, i = 0;
  const size_t n_existing = existing.size() / width;
  char entry[28];
  while (e < n_existing || i < items.size()) {
    const char* old_entry = e < n_existing ? existing.data() + e * width : nullptr;
    const int order = old_entry == nullptr ? 1
                      : i == items.size()  ? -1
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
  return txn.Put(dbi, key, merged);
}

absl::Status ForEachBlock(const Txn& txn, const Storage& storage, int level, int64_t from,
                          int64_t to,
                          absl::FunctionRef<absl::Status(int64_t start, uint8_t action,
                                                         uint8_t mask, std::string_view block)>
                              visit) {
  if (from >= to) return absl::OkStatus();
  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, TableOf(storage, level)); !s.ok()) return s;
  const std::string start = BlockKey(level, from, 0, 0);
  const size_t key_size = KeySize(level);
  const size_t time_at = level == 0 ? 0 : 1;
  MDB_val key = ToVal(start), value;
  for (absl::StatusOr<bool> more = cursor.Seek(MDB_SET_RANGE, &key, &value);;
       more = cursor.Seek(MDB_NEXT, &key, &value)) {
    if (!more.ok()) return more.status();
    if (!*more || key.mv_size != key_size) break;
    const char* k = static_cast<const char*>(key.mv_data);
    if (level != 0 && k[0] != static_cast<char>(level)) break;
    const int64_t bucket = TimeFromKey(GetBigEndian64(k + time_at));
    if (bucket >= to) break;
    if (absl::Status s = visit(bucket, static_cast<uint8_t>(k[time_at + 8]),
                               static_cast<uint8_t>(k[time_at + 9]), ToView(value));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ForEachBlockOf(const Txn& txn, const Storage& storage, int level, int64_t from,
                            int64_t to, uint8_t action, uint8_t mask,
                            absl::FunctionRef<absl::Status(int64_t start, std::string_view block)>
                                visit) {
  if (from >= to) return absl::OkStatus();
  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, TableOf(storage, level)); !s.ok()) return s;
  const size_t key_size = KeySize(level);
  const size_t time_at = level == 0 ? 0 : 1;
  const int64_t size = LevelMillis(level);
  int64_t bucket = from;
  while (bucket < to) {
    const std::string wanted = BlockKey(level, bucket, action, mask);
    MDB_val key = ToVal(wanted), value;
    absl::StatusOr<bool> found = cursor.Seek(MDB_SET_RANGE, &key, &value);
    if (!found.ok()) return found.status();
    if (!*found || key.mv_size != key_size) break;
    const char* k = static_cast<const char*>(key.mv_data);
    if (level != 0 && k[0] != static_cast<char>(level)) break;
    const int64_t at = TimeFromKey(GetBigEndian64(k + time_at));
    if (at >= to) break;
    if (at != bucket) {  // nothing of this bucket at or after (action, mask): go to `at`'s
      bucket = at;
      continue;
    }
    if (static_cast<uint8_t>(k[time_at + 8]) == action &&
        static_cast<uint8_t>(k[time_at + 9]) == mask) {
      if (absl::Status s = visit(at, ToView(value)); !s.ok()) return s;
    }
    bucket = at + size;
  }
  return absl::OkStatus();
}

absl::Status DeleteBlocksBefore(const Txn& txn, const Storage& storage, int level, int64_t before) {
  std::vector<MDB_dbi> tables = {TableOf(storage, level)};
  if (level == 0) tables.push_back(storage.agg_marks);  // keyed by TimeKey(minute) too
  for (MDB_dbi dbi : tables) {
    Cursor cursor;
    if (absl::Status s = cursor.Open(txn, dbi); !s.ok()) return s;
    const std::string start = BlockKey(level, kMinTime, 0, 0);
    MDB_val key{level == 0 ? size_t{8} : size_t{9}, const_cast<char*>(start.data())}, value;
    const size_t time_at = level == 0 ? 0 : 1;
    for (absl::StatusOr<bool> more = cursor.Seek(MDB_SET_RANGE, &key, &value);;
         more = cursor.Seek(MDB_NEXT, &key, &value)) {
      if (!more.ok()) return more.status();
      if (!*more || key.mv_size < time_at + 8) break;
      const char* k = static_cast<const char*>(key.mv_data);
      if (level != 0 && k[0] != static_cast<char>(level)) break;
      if (TimeFromKey(GetBigEndian64(k + time_at)) >= before) break;
      // After mdb_cursor_del, MDB_NEXT yields the item that followed the deleted one.
      if (absl::Status s = cursor.DeleteCurrent(); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

CellLookup::CellLookup(uint8_t action_in, uint8_t mask_in, uint32_t origin, uint32_t brand,
                       uint32_t category)
    : action(action_in), mask(mask_in), ids{origin, brand, category} {
  const bool derived = mask == (kOriginBit | kBrandBit) || mask == (kOriginBit | kCategoryBit);
  stored_mask = derived ? 7 : mask;
  filter_category = mask == (kOriginBit | kCategoryBit);
  prefix_len = PutIds(prefix, filter_category ? kOriginBit : mask, origin, brand, category);
}

absl::Status CellLookup::Sum(std::string_view block, int64_t* count, int64_t* sum) const {
  const size_t width = EntryWidth(stored_mask);
  if (block.size() % width != 0) return absl::DataLossError("aggregate block damaged");
  const size_t n = block.size() / width;
  const char* base = block.data();
  size_t lo = 0, hi = n;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (std::memcmp(base + mid * width, prefix, prefix_len) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const size_t ids_width = width - 16;
  for (size_t i = lo; i < n; ++i) {
    const char* entry = base + i * width;
    if (std::memcmp(entry, prefix, prefix_len) != 0) break;
    if (filter_category && GetBigEndian32(entry + 8) != ids[2]) continue;
    *count += static_cast<int64_t>(GetFixed64(entry + ids_width));
    *sum += static_cast<int64_t>(GetFixed64(entry + ids_width + 8));
  }
  return absl::OkStatus();
}

}  // namespace allezon::internal
