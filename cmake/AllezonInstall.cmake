# Install rules: headers, libraries, binaries and the CMake package.
#
#   cmake --install build --prefix /opt/allezon
#   # then, in a consumer:  find_package(allezon 0.1 CONFIG REQUIRED)
#   #                       target_link_libraries(app PRIVATE allezon::allezon)    # C++
#   #                       target_link_libraries(tool PRIVATE allezon::allezon_c) # C ABI
#
# Layout (GNUInstallDirs):
#   include/allezon/*.h, allezon.hpp        C++ API;  include/allezon/c.h   C ABI
#                                            (include/allezon/allezon.h: its old name, forwarding)
#   lib/liballezon.a (BUILD_SHARED_LIBS=ON: liballezon.so)
#   lib/liballezon_c.so, lib/liballezon_c.a  C ABI, shared and static
#   lib/cmake/allezon/                       allezonConfig.cmake, ...Version, ...Targets, FindLMDB
#   lib/pkgconfig/allezon_c.pc               for C builds without CMake
#   bin/allezon-server, bin/allezon-loadgen  when built
#
# Included from the top-level CMakeLists.txt after every target is defined.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ALLEZON_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/allezon"
    CACHE STRING "Where allezonConfig.cmake is installed, relative to the prefix")
mark_as_advanced(ALLEZON_INSTALL_CMAKEDIR)

# ---- Headers -----------------------------------------------------------------------------------
install(DIRECTORY "${allezon_SOURCE_DIR}/lib/include/allezon"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        COMPONENT allezon_development
        FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")
install(FILES "${allezon_BINARY_DIR}/lib/generated/include/allezon/version.h"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/allezon"
        COMPONENT allezon_development)
if(TARGET allezon_c)
  # allezon.h only forwards to c.h: it stays one release for programs that include it.
  install(FILES "${allezon_SOURCE_DIR}/bindings/c/include/allezon/c.h"
                "${allezon_SOURCE_DIR}/bindings/c/include/allezon/allezon.h"
          DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/allezon"
          COMPONENT allezon_development)
endif()

# ---- Libraries and their exported targets --------------------------------------------------------
set(_allezon_export_targets allezon)
foreach(_target allezon_c allezon_c_static)
  if(TARGET ${_target})
    list(APPEND _allezon_export_targets ${_target})
  endif()
endforeach()

# Installed shared libraries and binaries find their siblings in ../lib.
set(_allezon_rpath "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
if(BUILD_SHARED_LIBS AND TARGET allezon_c)
  set_target_properties(allezon_c PROPERTIES INSTALL_RPATH "$ORIGIN")
endif()

install(TARGETS ${_allezon_export_targets}
        EXPORT allezonTargets
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT allezon_runtime
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT allezon_runtime
                NAMELINK_COMPONENT allezon_development
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT allezon_development
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

install(EXPORT allezonTargets
        NAMESPACE allezon::
        FILE allezonTargets.cmake
        DESTINATION "${ALLEZON_INSTALL_CMAKEDIR}"
        COMPONENT allezon_development)

# ---- Binaries ------------------------------------------------------------------------------------
foreach(_bin allezon-server allezon_server allezon-loadgen allezon_loadgen)
  if(TARGET ${_bin})
    get_target_property(_type ${_bin} TYPE)
    if(_type STREQUAL "EXECUTABLE")
      set_target_properties(${_bin} PROPERTIES INSTALL_RPATH "${_allezon_rpath}")
      install(TARGETS ${_bin} RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
              COMPONENT allezon_runtime)
    endif()
  endif()
endforeach()

# ---- CMake package -------------------------------------------------------------------------------
set(ALLEZON_CONFIG_SHARED ${BUILD_SHARED_LIBS})
configure_package_config_file(
  "${allezon_SOURCE_DIR}/cmake/allezonConfig.cmake.in"
  "${CMAKE_CURRENT_BINARY_DIR}/allezonConfig.cmake"
  INSTALL_DESTINATION "${ALLEZON_INSTALL_CMAKEDIR}")
# 0.x: a minor version may break the API, so only the same minor is compatible.
write_basic_package_version_file(
  "${CMAKE_CURRENT_BINARY_DIR}/allezonConfigVersion.cmake"
  VERSION ${allezon_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/allezonConfig.cmake"
              "${CMAKE_CURRENT_BINARY_DIR}/allezonConfigVersion.cmake"
              "${allezon_SOURCE_DIR}/cmake/FindLMDB.cmake"
        DESTINATION "${ALLEZON_INSTALL_CMAKEDIR}"
        COMPONENT allezon_development)

# ---- pkg-config, for C programs built without CMake: cc app.c $(pkg-config --cflags --libs allezon_c)
# The prefix is found relative to the .pc file, so `cmake --install --prefix` anywhere works.
if(TARGET allezon_c)
  set(_pc "${CMAKE_CURRENT_BINARY_DIR}/allezon_c.pc")
  if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(_pc_prefix "${CMAKE_INSTALL_PREFIX}")
  else()
    set(_pc_prefix "\${pcfiledir}")
    string(REPLACE "/" ";" _parts "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
    foreach(_part IN LISTS _parts)
      string(APPEND _pc_prefix "/..")
    endforeach()
  endif()
  foreach(_kind LIBDIR INCLUDEDIR)
    string(TOLOWER "${_kind}" _lower)
    if(IS_ABSOLUTE "${CMAKE_INSTALL_${_kind}}")
      set(_pc_${_lower} "${CMAKE_INSTALL_${_kind}}")
    else()
      set(_pc_${_lower} "\${prefix}/${CMAKE_INSTALL_${_kind}}")
    endif()
  endforeach()
  file(CONFIGURE OUTPUT "${_pc}" @ONLY CONTENT [=[
prefix=@_pc_prefix@
libdir=@_pc_libdir@
includedir=@_pc_includedir@

Name: allezon_c
Description: C API of the allezon event store
Version: @allezon_VERSION@
Libs: -L${libdir} -lallezon_c
Cflags: -I${includedir}
]=])
  install(FILES "${_pc}" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
          COMPONENT allezon_development)
endif()
