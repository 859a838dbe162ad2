# cpp-httplib for the server, the load generator and the HTTP tests (never the library).
# Debian ships it as a compiled library with a pkg-config file and no CMake package.
if(NOT TARGET httplib::httplib)
  find_package(httplib CONFIG QUIET)
endif()
if(NOT TARGET httplib::httplib)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(CPP_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
  add_library(httplib::httplib INTERFACE IMPORTED)
  target_link_libraries(httplib::httplib INTERFACE PkgConfig::CPP_HTTPLIB)
endif()
