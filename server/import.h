// allezon-server --import FILE.ndjson: loads an NDJSON file of tags (an export, say) into the
// database offline, without serving HTTP.
//
// The file is read line by line and stored in batches of `batch_tags` through
// Database::AddTags (all or none each, durable when it returns). On the first bad line the
// import stops with a message naming it: the batches before it are stored, nothing of the
// batch holding it is. Not thread-safe; run once from main().
#ifndef ALLEZON_SERVER_IMPORT_H_
#define ALLEZON_SERVER_IMPORT_H_

#include <cstddef>
#include <string>

#include "allezon/options.h"

namespace allezon::server {

// Returns the process exit code: 0 when every tag is stored, 1 otherwise (the reason on
// stderr). A progress line goes to stderr when it is a terminal.
int RunImport(const std::string& path, const Options& options, size_t batch_tags);

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_IMPORT_H_
