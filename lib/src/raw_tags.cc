#include "raw_tags.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <mutex>
#include <numeric>
#include <queue>
#include <shared_mutex>

#include "absl/strings/str_cat.h"
#include "absl_compat.h"
#include "codec.h"
#include "profile_record.h"

namespace allezon::internal {
namespace {

constexpr std::string_view kRawFromKey = "raw_from";
constexpr std::string_view kNextSequenceKey = "profile_seq";  // profile_staging.cc's
// A block this large is left alone by merging; merged blocks are cut at twice this. Large
// enough that the key and page overhead vanish per tag (a block of the standard stream is a
// few thousand tags), small enough that merging the tail of a busy minute each second stays
// cheap.
constexpr size_t kSmallBlockBytes = 128 << 10;
constexpr size_t kMergedBlockBytes = 2 * kSmallBlockBytes;
// Export: tags per read transaction, handed to the sink together (a few hundred KB of text:
// what a streamed export holds at once on top of its send buffer).
constexpr size_t kExportBatchTags = 2048;
constexpr uint8_t kActionBit = 1;
constexpr uint8_t kPackedBit = 2;

constexpr char kCookieChars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
// A byte's 6-bit code, -1 for a byte outside kCookieChars. A table rather than range tests:
// random cookie characters made those branches mispredict about once a character, which
// cost ~5 % of the server's CPU in batch ingest (bench/RESULTS.md, issue 20).
constexpr std::array<int8_t, 256> kCookieCodes = [] {
  std::array<int8_t, 256> codes{};
  codes.fill(-1);
  for (int8_t i = 0; i < 62; ++i) codes[static_cast<unsigned char>(kCookieChars[i])] = i;
  return codes;
}();

bool IsPackable(std::string_view cookie) {
  int8_t all = 0;  // negative once any byte has no code
  for (char c : cookie) all |= kCookieCodes[static_cast<unsigned char>(c)];
  return all >= 0;
}

// PackCookie of a cookie IsPackable accepts.
void AppendPacked(std::string_view cookie, std::string* out) {
  const size_t start = out->size();
  out->resize(start + (cookie.size() * 6 + 7) / 8);
  char* p = out->data() + start;
  uint32_t bits = 0;
  int count = 0;  // bits held, below 8 between characters: one byte out at most per character
  for (char c : cookie) {
    bits |= static_cast<uint32_t>(kCookieCodes[static_cast<unsigned char>(c)]) << count;
    count += 6;
    if (count >= 8) {
      *p++ = static_cast<char>(bits & 0xff);
      bits >>= 8;
      count -= 8;
    }
  }
  if (count > 0) *p = static_cast<char>(bits & 0xff);
}

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t KeyMinute(const MDB_val& key) {
  return TimeFromKey(GetBigEndian64(static_cast<const char*>(key.mv_data)));
}

absl::StatusOr<EpochMillis> ReadRawFrom(const Txn& txn, MDB_dbi meta) {
  absl::StatusOr<std::string_view> stored = txn.Get(meta, kRawFromKey);
  if (!stored.ok()) return stored.status();
  if (stored->size() != 8) return absl::DataLossError("raw_from damaged");
  return TimeFromKey(GetBigEndian64(stored->data()));
}

absl::Status WriteRawFrom(const Txn& txn, MDB_dbi meta, EpochMillis time) {
  char fixed[8];
  PutBigEndian64(fixed, TimeKey(time));
  return txn.Put(meta, kRawFromKey, std::string_view(fixed, 8));
}

// Reads one block entry by entry, for the export's merge.
struct BlockCursor {
  ByteReader reader{std::string_view()};
  uint64_t left = 0;
  int64_t time = 0;
  uint64_t sequence = 0;
  bool first = true;
  int64_t minute = 0;
  uint64_t key_sequence = 0;

  // Advances to the next entry, leaving the reader at its tail; false at the end.
  bool Next() {
    if (left == 0) return false;
    --left;
    const uint64_t time_delta = reader.Varint();
    const int64_t seq_delta = UnZigZag(reader.Varint());
    time = (first ? minute : time) + static_cast<int64_t>(time_delta);
    sequence = (first ? key_sequence : sequence) + static_cast<uint64_t>(seq_delta);
    first = false;
    return reader.ok();
  }
};

// Reads a tail at the reader's position into an owned item of an export batch.
struct ExportItem {
  int64_t time;
  uint8_t action;
  DecodedBody body;
  size_t cookie_at, cookie_size;    // in the batch's text
  size_t product_at, product_size;  // likewise, when the product id is text
};

bool ReadTail(ByteReader& reader, std::string* text, ExportItem* item) {
  const uint64_t header = reader.Varint();
  const size_t length = header >> 2;
  item->action = header & kActionBit;
  item->cookie_at = text->size();
  item->cookie_size = length;
  if (header & kPackedBit) {
    UnpackCookie(reader.Bytes((length * 6 + 7) / 8), length, text);
  } else {
    const std::string_view bytes = reader.Bytes(length);
    text->append(bytes);
  }
  item->body = ReadBody(reader);
  item->product_at = text->size();
  item->product_size = item->body.product_text.size();
  text->append(item->body.product_text);
  item->body.product_text = {};
  return reader.ok() && text->size() - item->cookie_at >= length;
}

}  // namespace

bool PackCookie(std::string_view cookie, std::string* out) {
  if (!IsPackable(cookie)) return false;
  AppendPacked(cookie, out);
  return true;
}

void UnpackCookie(std::string_view packed, size_t length, std::string* out) {
  uint32_t bits = 0;
  int count = 0;
  size_t at = 0;
  for (size_t i = 0; i < length; ++i) {
    while (count < 6) {
      if (at >= packed.size()) return;  // damaged: the caller sees a short cookie
      bits |= static_cast<uint32_t>(static_cast<uint8_t>(packed[at++])) << count;
      count += 8;
    }
    out->push_back(kCookieChars[std::min<uint32_t>(bits & 0x3f, 61)]);
    bits >>= 6;
    count -= 6;
  }
}

std::string RawKey(int64_t minute, uint64_t sequence) {
  std::string key(16, '\0');
  PutBigEndian64(key.data(), TimeKey(minute));
  PutBigEndian64(key.data() + 8, sequence);
  return key;
}

void AppendRawTail(const UserTag& tag, const TagIds& ids, std::string* out) {
  const bool is_packed = IsPackable(tag.cookie);
  PutVarint(out, (static_cast<uint64_t>(tag.cookie.size()) << 2) | (is_packed ? kPackedBit : 0) |
                     (tag.action == Action::kBuy ? kActionBit : 0));
  if (is_packed) {
    AppendPacked(tag.cookie, out);
  } else {
    out->append(tag.cookie);
  }
  AppendBody(tag, ids, out);
}

void EncodeRawBlock(int64_t minute, uint64_t key_sequence, std::span<const RawEntry> entries,
                    std::string* out) {
  PutVarint(out, entries.size());
  int64_t time = minute;
  uint64_t sequence = key_sequence;
  for (const RawEntry& entry : entries) {
    PutVarint(out, static_cast<uint64_t>(entry.time - time));
    PutVarint(out, ZigZag(static_cast<int64_t>(entry.sequence - sequence)));
    out->append(entry.tail);
    time = entry.time;
    sequence = entry.sequence;
  }
}

absl::Status DecodeRawBlock(int64_t minute, uint64_t key_sequence, std::string_view block,
                            std::vector<RawEntry>* out) {
  BlockCursor cursor;
  cursor.reader = ByteReader(block);
  cursor.left = cursor.reader.Varint();
  cursor.minute = minute;
  cursor.key_sequence = key_sequence;
  if (!cursor.reader.ok() || cursor.left > block.size()) {
    return absl::DataLossError("raw tag block damaged");
  }
  while (cursor.Next()) {
    const char* start = cursor.reader.position();
    const uint64_t header = cursor.reader.Varint();
    const size_t length = header >> 2;
    cursor.reader.Bytes((header & kPackedBit) ? (length * 6 + 7) / 8 : length);
    SkipBody(cursor.reader);
    if (!cursor.reader.ok()) break;
    out->push_back(
        {cursor.time, cursor.sequence,
         std::string_view(start, static_cast<size_t>(cursor.reader.position() - start))});
  }
  if (!cursor.reader.ok() || cursor.left != 0) return absl::DataLossError("raw tag block damaged");
  return absl::OkStatus();
}

absl::Status RawTags::Recover(const Txn& txn, bool database_empty, EpochMillis newest_time) {
  absl::StatusOr<EpochMillis> stored = ReadRawFrom(txn, storage_->meta);
  if (!stored.ok() && !absl::IsNotFound(stored.status())) return stored.status();
  if (!enabled()) {
    if (stored.ok()) {
      if (int rc = mdb_drop(txn.get(), storage_->raw_tags, 0); rc != 0) {
        return LmdbError(rc, "emptying raw_tags");
      }
      return txn.Delete(storage_->meta, kRawFromKey);
    }
    return absl::OkStatus();
  }
  if (stored.ok()) {
    raw_from_ = *stored;
  } else {
    raw_from_ = database_empty ? kMinTime : newest_time + 1;
    if (absl::Status s = WriteRawFrom(txn, storage_->meta, raw_from_); !s.ok()) return s;
  }
  // Minutes holding two or more small blocks (a crash or a stop before they were merged):
  // a pass over the keys only (block values are not touched).
  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, storage_->raw_tags); !s.ok()) return s;
  MDB_val key, value;
  int64_t minute = 0;
  int small = 0;
  for (absl::StatusOr<bool> more = cursor.Seek(MDB_FIRST, &key, &value);;
       more = cursor.Seek(MDB_NEXT, &key, &value)) {
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (key.mv_size != 16) return absl::DataLossError("raw_tags key damaged");
    if (KeyMinute(key) != minute) small = 0;
    minute = KeyMinute(key);
    if (value.mv_size < kSmallBlockBytes && ++small == 2) pending_minutes_.insert(minute);
  }
  return absl::OkStatus();
}

absl::Status RawTags::Write(const Txn& txn, std::span<const UserTag* const> tags,
                            std::span<const TagIds> ids, uint64_t first_sequence) {
  if (!enabled()) return absl::OkStatus();
  std::vector<uint32_t> order;
  order.reserve(tags.size());
  for (uint32_t i = 0; i < tags.size(); ++i) {
    if (tags[i]->time >= raw_from_) order.push_back(i);
  }
  // By time; a stable sort keeps acceptance order among equal times.
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return tags[a]->time < tags[b]->time; });
  std::string tails;
  std::vector<size_t> ends;
  std::vector<RawEntry> entries;
  std::string block;
  for (size_t begin = 0; begin < order.size();) {
    const int64_t minute = MinuteStart(tags[order[begin]]->time);
    size_t end = begin;
    tails.clear();
    ends.clear();
    uint64_t smallest = UINT64_MAX;
    while (end < order.size() && MinuteStart(tags[order[end]]->time) == minute) {
      AppendRawTail(*tags[order[end]], ids[order[end]], &tails);
      ends.push_back(tails.size());
      smallest = std::min<uint64_t>(smallest, first_sequence + order[end]);
      ++end;
    }
    entries.clear();
    for (size_t i = begin, at = 0; i < end; ++i) {
      const size_t tail_end = ends[i - begin];
      entries.push_back({tags[order[i]]->time, first_sequence + order[i],
                         std::string_view(tails).substr(at, tail_end - at)});
      at = tail_end;
    }
    block.clear();
    EncodeRawBlock(minute, smallest, entries, &block);
    if (absl::Status s = txn.Put(storage_->raw_tags, RawKey(minute, smallest), block); !s.ok()) {
      return s;
    }
    written_minutes_.push_back(minute);
    begin = end;
  }
  return absl::OkStatus();
}

void RawTags::Commit() {
  pending_minutes_.insert(written_minutes_.begin(), written_minutes_.end());
  written_minutes_.clear();
}

absl::Status RawTags::Maintain(EpochMillis newest, bool force) {
  if (!enabled()) return absl::OkStatus();
  const int64_t now = SteadyMillis();
  if (!force && now - last_maintain_ms_ < storage_->options.tuning.aggregate_fold_interval_ms) {
    return absl::OkStatus();
  }
  last_maintain_ms_ = now;
  const EpochMillis cutoff =
      newest == kMinTime ? kMinTime : MinuteStart(newest - storage_->options.raw_retention_ms);
  if (pending_minutes_.empty() && cutoff <= raw_from_) return absl::OkStatus();
  absl::StatusOr<Txn> txn = Txn::Begin(storage_->env, /*read_only=*/false);
  if (!txn.ok()) return txn.status();
  EpochMillis raw_from = raw_from_;
  if (absl::Status s = MaintainIn(*txn, newest, &raw_from); !s.ok()) return s;
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  raw_from_ = raw_from;
  pending_minutes_.clear();
  return absl::OkStatus();
}

absl::Status RawTags::MaintainIn(const Txn& txn, EpochMillis newest, EpochMillis* raw_from) {
  const EpochMillis cutoff =
      newest == kMinTime ? kMinTime : MinuteStart(newest - storage_->options.raw_retention_ms);
  if (cutoff > *raw_from) {
    // Whole minutes before the cutoff's, oldest first; their pages are reused by later
    // writes, so the file stays flat once the window is full.
    Cursor cursor;
    if (absl::Status s = cursor.Open(txn, storage_->raw_tags); !s.ok()) return s;
    MDB_val key, value;
    for (;;) {
      absl::StatusOr<bool> more = cursor.Seek(MDB_FIRST, &key, &value);
      if (!more.ok()) return more.status();
      if (!*more || KeyMinute(key) >= cutoff) break;
      if (absl::Status s = cursor.DeleteCurrent(); !s.ok()) return s;
    }
    *raw_from = cutoff;
    if (absl::Status s = WriteRawFrom(txn, storage_->meta, cutoff); !s.ok()) return s;
  }
  for (int64_t minute : pending_minutes_) {
    if (minute < *raw_from) continue;
    if (absl::Status s = MergeSmallBlocks(txn, minute); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status RawTags::MergeSmallBlocks(const Txn& txn, int64_t minute) {
  Cursor cursor;
  if (absl::Status s = cursor.Open(txn, storage_->raw_tags); !s.ok()) return s;
  std::string seek = RawKey(minute, 0);
  MDB_val key = ToVal(seek), value;
  std::vector<std::string> small_keys;
  std::vector<RawEntry> entries;
  std::string copies;  // the small blocks' bytes: their pages are freed by the deletes below
  std::vector<std::pair<std::string, std::pair<size_t, size_t>>> blocks;
  for (absl::StatusOr<bool> more = cursor.Seek(MDB_SET_RANGE, &key, &value);;
       more = cursor.Seek(MDB_NEXT, &key, &value)) {
    if (!more.ok()) return more.status();
    if (!*more || KeyMinute(key) != minute) break;
    if (value.mv_size >= kSmallBlockBytes) continue;
    blocks.push_back({std::string(ToView(key)), {copies.size(), value.mv_size}});
    copies.append(ToView(value));
  }
  if (blocks.size() < 2) return absl::OkStatus();
  for (const auto& [block_key, span] : blocks) {
    const uint64_t key_sequence = GetBigEndian64(block_key.data() + 8);
    if (absl::Status s =
            DecodeRawBlock(minute, key_sequence,
                           std::string_view(copies).substr(span.first, span.second), &entries);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = txn.Delete(storage_->raw_tags, block_key); !s.ok()) return s;
  }
  std::sort(entries.begin(), entries.end(), [](const RawEntry& a, const RawEntry& b) {
    return a.time != b.time ? a.time < b.time : a.sequence < b.sequence;
  });
  std::string block;
  for (size_t begin = 0; begin < entries.size();) {
    size_t end = begin, bytes = 0;
    uint64_t smallest = UINT64_MAX;
    while (end < entries.size() && (end == begin || bytes < kMergedBlockBytes)) {
      bytes += entries[end].tail.size() + 4;
      smallest = std::min(smallest, entries[end].sequence);
      ++end;
    }
    block.clear();
    EncodeRawBlock(minute, smallest, std::span<const RawEntry>(entries.data() + begin, end - begin),
                   &block);
    if (absl::Status s = txn.Put(storage_->raw_tags, RawKey(minute, smallest), block); !s.ok()) {
      return s;
    }
    begin = end;
  }
  return absl::OkStatus();
}

absl::StatusOr<EpochMillis> RawTags::EarliestAvailable() const {
  if (!enabled()) {
    return absl::FailedPreconditionError(
        "raw tags are not kept: raw retention is off (--raw-retention-hours / "
        "Options::raw_retention_ms)");
  }
  std::shared_lock lock(storage_->resize_mu);
  absl::StatusOr<Txn> txn = Txn::Begin(storage_->env, /*read_only=*/true);
  if (!txn.ok()) return txn.status();
  return ReadRawFrom(*txn, storage_->meta);
}

absl::Status RawTags::Export(TimeRange range, const ExportSink& sink) const {
  if (!enabled()) return EarliestAvailable().status();
  if (range.begin > range.end) {
    return absl::InvalidArgumentError("time range begins after it ends");
  }
  uint64_t through = 0;  // the newest log sequence committed when the export began
  bool started = false;
  // Resume point: the last tag handed over, (time, sequence); the next minute to read.
  int64_t last_time = kMinTime;
  uint64_t last_sequence = 0;
  bool any = false;
  int64_t minute = MinuteStart(range.begin);
  std::vector<BlockCursor> cursors;
  std::vector<ExportItem> items;
  std::vector<UserTagView> views;
  std::string text;
  const StringPool& pool = storage_->strings_pool;
  for (bool done = false; !done;) {
    items.clear();
    text.clear();
    {
      std::shared_lock lock(storage_->resize_mu);
      absl::StatusOr<Txn> txn = Txn::Begin(storage_->env, /*read_only=*/true);
      if (!txn.ok()) return txn.status();
      absl::StatusOr<EpochMillis> raw_from = ReadRawFrom(*txn, storage_->meta);
      if (!raw_from.ok()) return raw_from.status();
      if (!started) {
        if (range.begin < *raw_from) {
          return absl::InvalidArgumentError(
              absl::StrCat("time_range begins before the raw tags kept: the earliest time "
                           "available is ",
                           FormatTagTime(*raw_from)));
        }
        absl::StatusOr<std::string_view> next = txn->Get(storage_->meta, kNextSequenceKey);
        if (next.ok() && next->size() == 8) through = GetBigEndian64(next->data()) - 1;
        started = true;
      } else if (*raw_from > (any ? last_time : range.begin)) {
        return absl::AbortedError(
            absl::StrCat("raw tags were trimmed while they were being exported (the earliest time "
                         "available is now ",
                         FormatTagTime(*raw_from), ")"));
      }
      Cursor cursor;
      if (absl::Status s = cursor.Open(*txn, storage_->raw_tags); !s.ok()) return s;
      while (items.size() < kExportBatchTags) {
        if (minute >= range.end) {
          done = true;
          break;
        }
        // The blocks of the first minute at or after `minute`.
        std::string seek = RawKey(minute, 0);
        MDB_val key = ToVal(seek), value;
        absl::StatusOr<bool> more = cursor.Seek(MDB_SET_RANGE, &key, &value);
        if (!more.ok()) return more.status();
        if (!*more) {
          done = true;
          break;
        }
        minute = KeyMinute(key);
        if (minute >= range.end) {
          done = true;
          break;
        }
        cursors.clear();
        while (*more && KeyMinute(key) == minute) {
          BlockCursor& block = cursors.emplace_back();
          block.reader = ByteReader(ToView(value));
          block.left = block.reader.Varint();
          block.minute = minute;
          block.key_sequence = GetBigEndian64(static_cast<const char*>(key.mv_data) + 8);
          if (!block.Next()) cursors.pop_back();
          more = cursor.Seek(MDB_NEXT, &key, &value);
          if (!more.ok()) return more.status();
        }
        // Merge by (time, sequence): a heap of block indexes, smallest on top.
        const auto later = [&](size_t a, size_t b) {
          return cursors[a].time != cursors[b].time ? cursors[a].time > cursors[b].time
                                                    : cursors[a].sequence > cursors[b].sequence;
        };
        std::vector<size_t> heap(cursors.size());
        std::iota(heap.begin(), heap.end(), size_t{0});
        std::make_heap(heap.begin(), heap.end(), later);
        bool minute_done = true;
        while (!heap.empty()) {
          std::pop_heap(heap.begin(), heap.end(), later);
          BlockCursor& block = cursors[heap.back()];
          const bool wanted = block.time >= range.begin && block.time < range.end &&
                              block.sequence <= through &&
                              (!any || block.time > last_time ||
                               (block.time == last_time && block.sequence > last_sequence));
          if (wanted && items.size() >= kExportBatchTags) {
            minute_done = false;  // resume within this minute in the next transaction
            break;
          }
          if (wanted) {
            ExportItem& item = items.emplace_back();
            item.time = block.time;
            if (!ReadTail(block.reader, &text, &item)) {
              return absl::DataLossError("raw tag block damaged");
            }
            last_time = block.time;
            last_sequence = block.sequence;
            any = true;
          } else {
            const uint64_t header = block.reader.Varint();
            const size_t length = header >> 2;
            block.reader.Bytes((header & kPackedBit) ? (length * 6 + 7) / 8 : length);
            SkipBody(block.reader);
          }
          if (!block.reader.ok()) return absl::DataLossError("raw tag block damaged");
          if (block.Next()) {
            std::push_heap(heap.begin(), heap.end(), later);
          } else {
            heap.pop_back();
          }
        }
        if (minute_done) minute += kMillisPerMinute;
      }
    }
    if (items.empty()) continue;
    views.clear();
    for (const ExportItem& item : items) {
      UserTagView& view = views.emplace_back();
      view.time = item.time;
      view.cookie = std::string_view(text).substr(item.cookie_at, item.cookie_size);
      view.country = pool.Get(item.body.ids.country);
      view.device = item.body.device();
      view.action = item.action ? Action::kBuy : Action::kView;
      view.origin = pool.Get(item.body.ids.origin);
      view.product_id_is_text = item.body.product_is_text();
      view.product_id_number = item.body.product_number;
      view.product_id_text = std::string_view(text).substr(item.product_at, item.product_size);
      view.brand_id = pool.Get(item.body.ids.brand);
      view.category_id = pool.Get(item.body.ids.category);
      view.price = static_cast<int32_t>(item.body.price);
    }
    if (absl::Status s = sink(std::span<const UserTagView>(views)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace allezon::internal
