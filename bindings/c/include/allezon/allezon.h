/* Deprecated name of the C API header: include "allezon/c.h" instead.
 *
 * The C header was renamed to allezon/c.h (as leveldb/c.h), which leaves allezon/allezon.hpp
 * alone as the C++ one. This forwarding header stays for one release so that existing C
 * programs keep compiling unchanged; it will then be removed. */
#ifndef ALLEZON_ALLEZON_H_
#define ALLEZON_ALLEZON_H_

#include "allezon/c.h"

#endif /* ALLEZON_ALLEZON_H_ */
