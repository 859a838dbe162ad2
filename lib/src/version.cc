#include "allezon/version.h"

#define ALLEZON_STRINGIFY_(x) #x
#define ALLEZON_STRINGIFY(x) ALLEZON_STRINGIFY_(x)

namespace allezon {

const char* Version() {
  return ALLEZON_STRINGIFY(ALLEZON_VERSION_MAJOR) "." ALLEZON_STRINGIFY(
      ALLEZON_VERSION_MINOR) "." ALLEZON_STRINGIFY(ALLEZON_VERSION_PATCH);
}

}  // namespace allezon
