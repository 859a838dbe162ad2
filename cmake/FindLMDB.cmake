# FindLMDB: LMDB ships no CMake package of its own.
#
# Defines the imported target lmdb::lmdb (the name Conan generates) and LMDB_FOUND,
# LMDB_INCLUDE_DIR, LMDB_LIBRARY, LMDB_VERSION. Set LMDB_ROOT to search a prefix first.
# Installed with allezon's CMake package, so that find_package(allezon) finds LMDB the same way.
if(TARGET lmdb::lmdb)
  set(LMDB_FOUND TRUE)
  return()
endif()

# A package manager's CMake package (Conan's CMakeDeps writes lmdb-config.cmake) wins.
find_package(lmdb CONFIG QUIET)
if(TARGET lmdb::lmdb)
  set(LMDB_FOUND TRUE)
  if(NOT LMDB_FIND_QUIETLY)
    message(STATUS "Found LMDB: lmdb::lmdb from ${lmdb_DIR}")
  endif()
  return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_LMDB QUIET lmdb)
endif()

find_path(LMDB_INCLUDE_DIR NAMES lmdb.h HINTS ${PC_LMDB_INCLUDE_DIRS})
find_library(LMDB_LIBRARY NAMES lmdb HINTS ${PC_LMDB_LIBRARY_DIRS})

if(LMDB_INCLUDE_DIR AND EXISTS "${LMDB_INCLUDE_DIR}/lmdb.h")
  file(STRINGS "${LMDB_INCLUDE_DIR}/lmdb.h" _lmdb_version_lines
       REGEX "#define MDB_VERSION_(MAJOR|MINOR|PATCH)[ \t]+[0-9]+")
  foreach(_part MAJOR MINOR PATCH)
    string(REGEX REPLACE ".*#define MDB_VERSION_${_part}[ \t]+([0-9]+).*" "\\1" _v
           "${_lmdb_version_lines}")
    set(LMDB_VERSION_${_part} "${_v}")
  endforeach()
  set(LMDB_VERSION "${LMDB_VERSION_MAJOR}.${LMDB_VERSION_MINOR}.${LMDB_VERSION_PATCH}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LMDB
  REQUIRED_VARS LMDB_LIBRARY LMDB_INCLUDE_DIR
  VERSION_VAR LMDB_VERSION)

if(LMDB_FOUND AND NOT TARGET lmdb::lmdb)
  add_library(lmdb::lmdb UNKNOWN IMPORTED)
  set_target_properties(lmdb::lmdb PROPERTIES
    IMPORTED_LOCATION "${LMDB_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${LMDB_INCLUDE_DIR}")
endif()
mark_as_advanced(LMDB_INCLUDE_DIR LMDB_LIBRARY)
