# MODE=install (default): installs the build tree to a scratch prefix, then configures,
# builds and runs, each as its own top-level project that only knows the prefix
# (find_package(allezon CONFIG)): examples/c, examples/cpp and test_package/ (the Conan
# test_package's CMake side); and compiles the C example once more with pkg-config.
# MODE=subdirectory: a project that add_subdirectory()s the allezon source tree builds and runs
# the same examples through the same target names (allezon::allezon, allezon::allezon_c).
#
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DCONFIG=... -DGENERATOR=...
#         -DC_COMPILER=... -DCXX_COMPILER=... [-DSANITIZE_FLAGS=...] [-DMODE=...]
#         -P run_packaging_test.cmake
cmake_minimum_required(VERSION 3.20)

foreach(var BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR C_COMPILER CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "${var} is required")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()

function(run)
  string(REPLACE ";" " " pretty "${ARGN}")
  message(STATUS "$ ${pretty}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}):\n${out}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

set(common_args
  -G "${GENERATOR}"
  "-DCMAKE_BUILD_TYPE=${CONFIG}"
  "-DCMAKE_C_COMPILER=${C_COMPILER}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  # Nothing of the source or build tree may leak in through the package registry.
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(SANITIZE_FLAGS)
  list(APPEND common_args "-DCMAKE_C_FLAGS=${SANITIZE_FLAGS}" "-DCMAKE_CXX_FLAGS=${SANITIZE_FLAGS}"
       "-DCMAKE_EXE_LINKER_FLAGS=${SANITIZE_FLAGS}" "-DCMAKE_SHARED_LINKER_FLAGS=${SANITIZE_FLAGS}")
endif()

function(consume name source_dir)  # ARGN: executable names to run
  set(build "${WORK_DIR}/${name}")
  run(${CMAKE_COMMAND} -S "${source_dir}" -B "${build}" ${common_args} ${extra_args})
  run(${CMAKE_COMMAND} --build "${build}" --config "${CONFIG}" --parallel 2)
  foreach(exe IN LISTS ARGN)
    file(GLOB_RECURSE exe_path "${build}/${exe}")
    if(NOT exe_path)
      message(FATAL_ERROR "${name}: ${exe} was not built")
    endif()
    list(GET exe_path 0 exe_path)
    run("${exe_path}" "${WORK_DIR}/data-${name}-${exe}")
    message(STATUS "${exe}: ok")
  endforeach()
endfunction()

if(MODE STREQUAL "subdirectory")
  set(extra_args "-DALLEZON_SOURCE_DIR=${SOURCE_DIR}")
  consume(subdirectory "${CMAKE_CURRENT_LIST_DIR}/subdirectory" allezon_example_c
          allezon_example_cpp)
  file(REMOVE_RECURSE "${WORK_DIR}")
  message(STATUS "packaging: add_subdirectory consumer built and ran")
  return()
endif()
set(extra_args "-DCMAKE_PREFIX_PATH=${prefix}")

# 1. Install.
run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" --config "${CONFIG}")
foreach(file include/allezon/allezon.hpp include/allezon/database.h include/allezon/c.h
        include/allezon/allezon.h
        lib/cmake/allezon/allezonConfig.cmake lib/cmake/allezon/allezonConfigVersion.cmake
        lib/cmake/allezon/allezonTargets.cmake lib/cmake/allezon/FindLMDB.cmake
        lib/pkgconfig/allezon_c.pc)
  string(REPLACE "lib/" "lib*/" pattern "${file}")
  file(GLOB found "${prefix}/${file}" "${prefix}/${pattern}")
  if(NOT found)
    message(FATAL_ERROR "not installed: ${file}")
  endif()
endforeach()
file(GLOB_RECURSE shared_c "${prefix}/lib*/liballezon_c.so")
if(NOT shared_c)
  message(FATAL_ERROR "not installed: liballezon_c.so")
endif()

# 2. Consumers, out of tree, against the prefix only.
consume(example_c "${SOURCE_DIR}/examples/c" allezon_example_c)
consume(example_cpp "${SOURCE_DIR}/examples/cpp" allezon_example_cpp)
consume(test_package "${SOURCE_DIR}/test_package" test_package test_package_c)

# 3. pkg-config, the way a C build without CMake links the C ABI.
find_program(PKG_CONFIG pkg-config)
if(PKG_CONFIG AND NOT SANITIZE_FLAGS)
  file(GLOB_RECURSE pc "${prefix}/*/allezon_c.pc")
  get_filename_component(pc_dir "${pc}" DIRECTORY)
  set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
  run(${PKG_CONFIG} --cflags --libs allezon_c)
  string(STRIP "${last_output}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  get_filename_component(lib_dir "${shared_c}" DIRECTORY)
  run(${C_COMPILER} -std=c11 "${SOURCE_DIR}/examples/c/main.c" ${flags}
      "-Wl,-rpath,${lib_dir}" -o "${WORK_DIR}/example_c_pkgconfig")
  run("${WORK_DIR}/example_c_pkgconfig" "${WORK_DIR}/data-pkgconfig")
  message(STATUS "pkg-config build: ok")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
message(STATUS "packaging: all consumers built and ran")
