# ctest -L fuzz driver: copies the seed corpus to WORK and runs FUZZER on it for SECONDS.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/corpus")
file(GLOB seeds "${CORPUS}/*")
if(seeds)
  file(COPY ${seeds} DESTINATION "${WORK}/corpus")
endif()
set(dict_arg "")
if(EXISTS "${DICT}")
  set(dict_arg "-dict=${DICT}")
endif()
get_filename_component(here "${CMAKE_CURRENT_LIST_FILE}" DIRECTORY)
set(ENV{UBSAN_OPTIONS}
    "suppressions=${here}/ubsan.supp:halt_on_error=1:print_stacktrace=1:report_error_type=1")
execute_process(
  COMMAND "${FUZZER}" -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048
          -artifact_prefix=${WORK}/ ${dict_arg} "${WORK}/corpus"
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${result}); the crashing input is in ${WORK}/")
endif()
