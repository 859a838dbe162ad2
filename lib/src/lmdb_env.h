// Internal: thin RAII helpers over the LMDB C API and the mapping of its errors to Status.
// A Txn belongs to one thread at a time; it aborts on destruction unless committed.
#ifndef ALLEZON_SRC_LMDB_ENV_H_
#define ALLEZON_SRC_LMDB_ENV_H_

#include <lmdb.h>

#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace allezon::internal {

// MDB_MAP_FULL and ENOSPC become ResourceExhausted (the caller may grow the map or retry
// later), MDB_NOTFOUND NotFound, a lock conflict FailedPrecondition, anything else Internal.
absl::Status LmdbError(int rc, std::string_view what);

// True for the error of a write that did not fit the current map (growing it may help).
bool IsMapFull(const absl::Status& status);

inline MDB_val ToVal(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}
inline std::string_view ToView(const MDB_val& value) {
  return std::string_view(static_cast<const char*>(value.mv_data), value.mv_size);
}

class Txn {
 public:
  Txn() = default;
  Txn(Txn&& other) noexcept : txn_(std::exchange(other.txn_, nullptr)) {}
  Txn& operator=(Txn&& other) noexcept {
    if (this != &other) {
      Abort();
      txn_ = std::exchange(other.txn_, nullptr);
    }
    return *this;
  }
  ~Txn() { Abort(); }

  static absl::StatusOr<Txn> Begin(MDB_env* env, bool read_only);

  MDB_txn* get() const { return txn_; }
  absl::Status Commit();
  void Abort() {
    if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
  }

  // Value of `key` (valid until the transaction ends or the key is written), or nullopt.
  absl::StatusOr<std::string_view> Get(MDB_dbi dbi, std::string_view key) const;
  absl::Status Put(MDB_dbi dbi, std::string_view key, std::string_view value,
                   unsigned flags = 0) const;
  absl::Status Delete(MDB_dbi dbi, std::string_view key) const;

 private:
  MDB_txn* txn_ = nullptr;
};

class Cursor {
 public:
  Cursor() = default;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  absl::Status Open(const Txn& txn, MDB_dbi dbi) {
    const int rc = mdb_cursor_open(txn.get(), dbi, &cursor_);
    return rc == 0 ? absl::OkStatus() : LmdbError(rc, "mdb_cursor_open");
  }
  // Positions the cursor; false at the end (MDB_NOTFOUND), error status otherwise.
  absl::StatusOr<bool> Seek(MDB_cursor_op op, MDB_val* key, MDB_val* value) {
    const int rc = mdb_cursor_get(cursor_, key, value, op);
    if (rc == MDB_NOTFOUND) return false;
    if (rc != 0) return LmdbError(rc, "mdb_cursor_get");
    return true;
  }
  // Inserts or replaces `key`'s value and leaves the cursor on it; with MDB_CURRENT, replaces
  // the value at the cursor (whose key is `key`) without searching the tree again.
  absl::Status Put(std::string_view key, std::string_view value, unsigned flags = 0) {
    MDB_val k = ToVal(key);
    MDB_val v = ToVal(value);
    const int rc = mdb_cursor_put(cursor_, &k, &v, flags);
    return rc == 0 ? absl::OkStatus() : LmdbError(rc, "mdb_cursor_put");
  }
  absl::Status DeleteCurrent() {
    const int rc = mdb_cursor_del(cursor_, 0);
    return rc == 0 ? absl::OkStatus() : LmdbError(rc, "mdb_cursor_del");
  }
  MDB_cursor* get() const { return cursor_; }

 private:
  MDB_cursor* cursor_ = nullptr;
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_LMDB_ENV_H_
