# Finds the library's dependencies and gives each the target name Conan generates, so the
# same CMake code works with Debian's packages, a plain install and a Conan build.
find_package(absl CONFIG REQUIRED)
find_package(LMDB REQUIRED)

if(NOT TARGET rapidjson)
  find_package(RapidJSON CONFIG QUIET)
  find_path(ALLEZON_RAPIDJSON_INCLUDE_DIR rapidjson/document.h HINTS ${RAPIDJSON_INCLUDE_DIRS})
  if(NOT ALLEZON_RAPIDJSON_INCLUDE_DIR)
    message(FATAL_ERROR "RapidJSON not found (Debian: rapidjson-dev)")
  endif()
  add_library(rapidjson INTERFACE IMPORTED)
  set_target_properties(rapidjson PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${ALLEZON_RAPIDJSON_INCLUDE_DIR}")
endif()
