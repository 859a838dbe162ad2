// Library version. Thread-safe.
#ifndef ALLEZON_VERSION_H_
#define ALLEZON_VERSION_H_

#include "allezon/export.h"

#define ALLEZON_VERSION_MAJOR 0
#define ALLEZON_VERSION_MINOR 1
#define ALLEZON_VERSION_PATCH 0

namespace allezon {
// "MAJOR.MINOR.PATCH" of the library actually linked.
ALLEZON_EXPORT const char* Version();
}  // namespace allezon

#endif  // ALLEZON_VERSION_H_
