// Internal: tells a data.mdb that is merely short (kill -9 leaves unwritten free pages past
// its end) from one cut short by damage (pages its trees still reach are gone).
#ifndef ALLEZON_SRC_PAGE_CHECK_H_
#define ALLEZON_SRC_PAGE_CHECK_H_

#include <string>

#include "absl/status/status.h"

namespace allezon::internal {

// Reads every page reachable from data.mdb's newest meta page — every tree, the free list and
// every value's overflow pages — in a child process that opens `directory` read-only on its
// own, while the file is still short. A reachable page past the end of the file faults there
// and a damaged page trips liblmdb's assertions there: either ends the child, not the caller.
// OK when the child read everything; FailedPrecondition naming the directory when it did not.
// Costs one full read of the file, so it is meant for the rare short file only.
// The caller must hold the directory's lock and must not have a write transaction open.
absl::Status CheckReachablePagesReadable(const std::string& directory);

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_PAGE_CHECK_H_
