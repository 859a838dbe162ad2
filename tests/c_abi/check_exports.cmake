# Checks that LIBRARY (liballezon_c.so) exports exactly the functions HEADER declares: no
# C++ symbol of the library or its static dependencies leaks into the ABI, and none is missing.
# Usage: cmake -DNM=nm -DLIBRARY=liballezon_c.so -DHEADER=c.h -P check_exports.cmake
execute_process(COMMAND ${NM} -D --defined-only ${LIBRARY}
                OUTPUT_VARIABLE nm_out RESULT_VARIABLE nm_rc)
if(NOT nm_rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${LIBRARY}")
endif()
string(REPLACE "\n" ";" lines "${nm_out}")
set(exported "")
foreach(line IN LISTS lines)
  if(line MATCHES "^[0-9a-fA-F]+ ([A-Za-z]) (.+)$")
    set(kind "${CMAKE_MATCH_1}")
    set(name "${CMAKE_MATCH_2}")
    # Linker-defined markers are not part of any ABI.
    if(name MATCHES "^(_init|_fini|_edata|_end|__bss_start)$")
      continue()
    endif()
    list(APPEND exported "${name}")
  endif()
endforeach()

file(READ ${HEADER} header)
string(REGEX MATCHALL "ALLEZON_C_EXPORT[^;(]*[ *](allezon_[a-z0-9_]+)\\(" decls "${header}")
set(declared "")
foreach(decl IN LISTS decls)
  string(REGEX REPLACE ".*[ *](allezon_[a-z0-9_]+)\\($" "\\1" name "${decl}")
  list(APPEND declared "${name}")
endforeach()
list(LENGTH declared n_declared)
if(n_declared LESS 20)
  message(FATAL_ERROR "found only ${n_declared} declarations in ${HEADER}: ${declared}")
endif()

set(extra ${exported})
list(REMOVE_ITEM extra ${declared})
set(missing ${declared})
list(REMOVE_ITEM missing ${exported})
if(extra OR missing)
  message(FATAL_ERROR "ABI mismatch in ${LIBRARY}\n  exported but not declared: ${extra}\n"
                      "  declared but not exported: ${missing}")
endif()
list(LENGTH exported n)
message(STATUS "${LIBRARY} exports exactly the ${n} functions of ${HEADER}")
