# Turns one file into a C++ source holding its bytes, so that the server serves the dashboard
# from its own binary (no install path to find at run time, no file to go missing).
# Run as: cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DSYMBOL=<name> -P embed_asset.cmake
# Defines allezon::server::dashboard_assets::<SYMBOL> (the bytes plus a trailing NUL, so that
# an empty file still makes a valid array) and <SYMBOL>Size (the file's length, NUL excluded).
foreach(var INPUT OUTPUT SYMBOL)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_asset.cmake: -D${var}=... is required")
  endif()
endforeach()

file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
# "0x..," for every byte, then a line break after every 8 bytes (CMake regexes have no {n}),
# to keep lines short for editors and compiler diagnostics.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],))" "\\1\n" bytes "${bytes}")

file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by server/dashboard/embed_asset.cmake; do not edit.\n"
  "#include <cstddef>\n\n"
  "namespace allezon::server::dashboard_assets {\n"
  "extern const unsigned char ${SYMBOL}[] = {\n${bytes}0x00};\n"
  "extern const std::size_t ${SYMBOL}Size = ${size};\n"
  "}  // namespace allezon::server::dashboard_assets\n")
# Only a changed source touches OUTPUT, so an unchanged asset does not recompile.
# (file(COPY_FILE ... ONLY_IF_DIFFERENT) needs CMake 3.21; the project requires 3.20.)
execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${OUTPUT}.tmp" "${OUTPUT}")
file(REMOVE "${OUTPUT}.tmp")
