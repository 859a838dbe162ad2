// Internal: interning of the low-cardinality strings of a tag (country, origin, brand_id,
// category_id) as small integer ids, so that stored tags and aggregate cells stay compact.
//
// Durable form: two LMDB databases, string -> id and id -> string, written in the same
// transaction as the data that first uses the id. In memory: an append-only table of all
// strings, loaded at open.
//
// Thread-safety: Intern/Commit/Rollback only from the writer thread. Get may be called from
// any thread for any id referenced by committed data: the writer publishes a string before
// committing data that references it, and a published slot never moves or changes.
#ifndef ALLEZON_SRC_STRING_POOL_H_
#define ALLEZON_SRC_STRING_POOL_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "lmdb_env.h"

namespace allezon::internal {

class StringPool {
 public:
  StringPool();
  ~StringPool();
  StringPool(const StringPool&) = delete;
  StringPool& operator=(const StringPool&) = delete;

  // Loads every stored string. Call once, before any other method.
  absl::Status Load(const Txn& txn, MDB_dbi by_string, MDB_dbi by_id);

  // Writer: the id of `text`, adding it (in memory and in `txn`) when new.
  absl::StatusOr<uint32_t> Intern(const Txn& txn, std::string_view text);
  // Writer: the write transaction committed / aborted.
  void Commit();
  void Rollback();

  // Any thread: the string of a committed id; empty for an unknown id.
  // Inline: a profile query calls it four times per tag.
  std::string_view Get(uint32_t id) const {
    if (id >= published_.load(std::memory_order_acquire)) return {};
    const std::string* slots = chunks_[id >> kChunkBits].load(std::memory_order_acquire);
    return slots[id & (kChunkSize - 1)];
  }

  // Any thread: Get for many ids in a row (a profile query asks four per tag). It reads the
  // published count and the first chunk once, where Get's atomic loads repeat per call.
  // Ids past the first chunk, or published since it was made, go through Get.
  class Reader {
   public:
    explicit Reader(const StringPool& pool)
        : pool_(pool),
          first_chunk_size_(std::min(pool.published_.load(std::memory_order_acquire), kChunkSize)),
          first_chunk_(first_chunk_size_ > 0 ? pool.chunks_[0].load(std::memory_order_acquire)
                                             : nullptr) {}
    std::string_view Get(uint32_t id) const {
      return id < first_chunk_size_ ? std::string_view(first_chunk_[id]) : pool_.Get(id);
    }

   private:
    const StringPool& pool_;
    uint32_t first_chunk_size_;
    const std::string* first_chunk_;
  };

  // Any thread, inside a read transaction: the id of `text` in that snapshot.
  absl::StatusOr<std::optional<uint32_t>> Find(const Txn& txn, std::string_view text) const;

  size_t size() const { return published_.load(std::memory_order_acquire); }

 private:
  static constexpr int kChunkBits = 14;
  static constexpr uint32_t kChunkSize = 1u << kChunkBits;
  static constexpr uint32_t kMaxChunks = 1u << 18;

  void Publish(uint32_t id, std::string_view text);

  MDB_dbi by_string_ = 0;
  MDB_dbi by_id_ = 0;
  std::unique_ptr<std::atomic<std::string*>[]> chunks_;
  std::atomic<uint32_t> published_{0};
  uint32_t committed_ = 0;
  absl::flat_hash_map<std::string, uint32_t> ids_;  // writer only
  std::vector<std::string> added_since_commit_;     // writer only
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_STRING_POOL_H_
