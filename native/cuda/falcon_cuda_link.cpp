// Empty translation unit: libfalcon_cuda.so is the nvcc-built static library linked whole.
