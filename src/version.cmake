# Writes version.h at build time (cmake -P, run by the ds_version target on
# every build), so the commit a binary reports, and records in every result
# file it creates, is the one it was built from, not the one CMake was first
# configured at. "-dirty" marks a build with uncommitted changes to tracked
# files. configure_file rewrites version.h only when its text changes, so an
# unchanged tree recompiles nothing.
# Inputs: -DDS_SRC=<source dir> -DDS_OUT=<version.h> -DDS_VERSION=<x.y.z>
execute_process(COMMAND git rev-parse --short=12 HEAD
  WORKING_DIRECTORY ${DS_SRC}
  OUTPUT_VARIABLE DISTSWEEP_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE rc ERROR_QUIET)
if(NOT rc EQUAL 0 OR NOT DISTSWEEP_GIT_COMMIT)
  set(DISTSWEEP_GIT_COMMIT "unknown")  # a source tarball, not a checkout
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no
    WORKING_DIRECTORY ${DS_SRC}
    OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(changes)
    string(APPEND DISTSWEEP_GIT_COMMIT "-dirty")
  endif()
endif()
set(PROJECT_VERSION ${DS_VERSION})
configure_file(${DS_SRC}/src/version.h.in ${DS_OUT} @ONLY)
