#include "lmdb_env.h"

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl_compat.h"

namespace allezon::internal {

absl::Status LmdbError(int rc, std::string_view what) {
  const std::string message = absl::StrCat(Sv(what), ": ", mdb_strerror(rc));
  switch (rc) {
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
      return absl::ResourceExhaustedError(message);
    case MDB_NOTFOUND:
      return absl::NotFoundError(message);
    case EAGAIN:
    case EACCES:
    case EROFS:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

bool IsMapFull(const absl::Status& status) {
  return absl::IsResourceExhausted(status) &&
         absl::StrContains(status.message(), mdb_strerror(MDB_MAP_FULL));
}

absl::StatusOr<Txn> Txn::Begin(MDB_env* env, bool read_only) {
  Txn txn;
  const int rc = mdb_txn_begin(env, nullptr, read_only ? MDB_RDONLY : 0, &txn.txn_);
  if (rc != 0) {
    txn.txn_ = nullptr;
    return LmdbError(rc, "mdb_txn_begin");
  }
  return txn;
}

absl::Status Txn::Commit() {
  const int rc = mdb_txn_commit(std::exchange(txn_, nullptr));
  return rc == 0 ? absl::OkStatus() : LmdbError(rc, "mdb_txn_commit");
}

absl::StatusOr<std::string_view> Txn::Get(MDB_dbi dbi, std::string_view key) const {
  MDB_val k = ToVal(key);
  MDB_val v;
  const int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc != 0) return LmdbError(rc, "mdb_get");
  return ToView(v);
}

absl::Status Txn::Put(MDB_dbi dbi, std::string_view key, std::string_view value,
                      unsigned flags) const {
  MDB_val k = ToVal(key);
  MDB_val v = ToVal(value);
  const int rc = mdb_put(txn_, dbi, &k, &v, flags);
  return rc == 0 ? absl::OkStatus() : LmdbError(rc, "mdb_put");
}

absl::Status Txn::Delete(MDB_dbi dbi, std::string_view key) const {
  MDB_val k = ToVal(key);
  const int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc == 0 || rc == MDB_NOTFOUND) return absl::OkStatus();
  return LmdbError(rc, "mdb_del");
}

}  // namespace allezon::internal
