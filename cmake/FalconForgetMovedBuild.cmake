# Run as `cmake -DFALCON_SOURCE_DIR=<source> -DFALCON_BUILD_DIR=<build> -P FalconForgetMovedBuild.cmake` before the
# configure step. A clone that was moved or copied (mv ~/falcon ~/src/falcon) kept its target/native-build, whose
# CMakeCache.txt names the old source and build folders: CMake refused it ("The current CMakeCache.txt directory ... is
# different than the directory ... where CMakeCache.txt was created"), and no build of the new clone succeeded until
# `mvn clean`. A build folder made for other folders is removed, so that the configure step starts afresh.
cmake_minimum_required(VERSION 3.16)
if(NOT FALCON_SOURCE_DIR OR NOT FALCON_BUILD_DIR)
  message(FATAL_ERROR "FalconForgetMovedBuild.cmake needs -DFALCON_SOURCE_DIR=<source folder> and -DFALCON_BUILD_DIR=<build folder>")
endif()
set(cache "${FALCON_BUILD_DIR}/CMakeCache.txt")
if(NOT EXISTS "${cache}")
  return()
endif()
file(STRINGS "${cache}" cached_source REGEX "^CMAKE_HOME_DIRECTORY:INTERNAL=")
file(STRINGS "${cache}" cached_build REGEX "^CMAKE_CACHEFILE_DIR:INTERNAL=")
string(REGEX REPLACE "^[^=]*=" "" cached_source "${cached_source}")
string(REGEX REPLACE "^[^=]*=" "" cached_build "${cached_build}")
# the same folder may be written differently (native/cpu/../.., a symlink): compared as real paths
foreach(path cached_source cached_build FALCON_SOURCE_DIR FALCON_BUILD_DIR)
  get_filename_component(${path}_real "${${path}}" REALPATH)
endforeach()
if(NOT cached_source_real STREQUAL FALCON_SOURCE_DIR_real OR NOT cached_build_real STREQUAL FALCON_BUILD_DIR_real)
  message(STATUS "${FALCON_BUILD_DIR} was made for ${cached_source} (built in ${cached_build}), not for this clone's "
                 "${FALCON_SOURCE_DIR}, which was moved or copied: removed, to be configured afresh")
  file(REMOVE_RECURSE "${FALCON_BUILD_DIR}")
endif()
