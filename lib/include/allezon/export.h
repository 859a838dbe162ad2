// Symbol visibility for the allezon shared library.
//
// The library is built with -fvisibility=hidden; every public class and function carries
// ALLEZON_EXPORT so that the shared object exports exactly the public API.
#ifndef ALLEZON_EXPORT_H_
#define ALLEZON_EXPORT_H_

#if defined(ALLEZON_SHARED_LIBRARY) && defined(ALLEZON_COMPILE_LIBRARY)
#define ALLEZON_EXPORT __attribute__((visibility("default")))
#else
#define ALLEZON_EXPORT
#endif

#endif  // ALLEZON_EXPORT_H_
