# Shared compiler flags for falcon's native libraries.
# Portable baseline (x86-64, SSE2) for everything; kernels that matter are compiled once per
# instruction set (AVX-512, AVX2+FMA, generic) and chosen at run time (__builtin_cpu_supports),
# so the library runs on any x86-64 CPU and uses the widest vectors the CPU offers.
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
set(CMAKE_CXX_VISIBILITY_PRESET hidden)
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE Release)
endif()
set(FALCON_COMMON_FLAGS -O3 -fno-math-errno -Wall -Wextra -Wno-unused-parameter -Wno-psabi)
set(FALCON_FLAGS_AVX512 -mavx512f -mavx512vl -mavx512bw -mavx512dq -mfma -mprefer-vector-width=512)
set(FALCON_FLAGS_AVX2 -mavx2 -mfma)
set(FALCON_FLAGS_GENERIC)
# Bit-exact reproduction of the Java reference (random fills) needs no contraction into FMA.
set(FALCON_FLAGS_EXACT -ffp-contract=off)
