# Fuzzing and ThreadSanitizer switches (issue 7). Include this from the top-level
# CMakeLists.txt before the first add_subdirectory(), so that its compile flags reach every
# target; then add_subdirectory(fuzz) when ALLEZON_FUZZ is on.
#
#   ALLEZON_FUZZ  libFuzzer targets in fuzz/ (clang only). Every target is compiled with
#                 -fsanitize=fuzzer-no-link,address,undefined so the library's code is
#                 coverage-instrumented; the fuzz executables link -fsanitize=fuzzer.
#   ALLEZON_TSAN  everything with -fsanitize=thread (gcc or clang). Exclusive with
#                 ALLEZON_SANITIZE and ALLEZON_FUZZ.
option(ALLEZON_FUZZ "Build the libFuzzer targets in fuzz/ (clang only)" OFF)
option(ALLEZON_TSAN "Build everything with -fsanitize=thread" OFF)

if(ALLEZON_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ALLEZON_FUZZ needs clang: configure with "
                        "-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(ALLEZON_TSAN OR ALLEZON_SANITIZE)
    message(FATAL_ERROR "ALLEZON_FUZZ brings its own sanitizers: turn ALLEZON_TSAN and "
                        "ALLEZON_SANITIZE off")
  endif()
  # RapidJSON 1.1.0's internal Stack adds offsets to its null buffer before the first push
  # (rapidjson/internal/stack.h:117), which clang's pointer-overflow check reports. That one
  # check is left recoverable so that fuzz/ubsan.supp can silence it for RapidJSON alone.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined -fsanitize-recover=pointer-overflow)
  add_link_options(-fsanitize=address,undefined)
endif()

if(ALLEZON_TSAN)
  if(ALLEZON_SANITIZE)
    message(FATAL_ERROR "ALLEZON_TSAN and ALLEZON_SANITIZE exclude each other")
  endif()
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
