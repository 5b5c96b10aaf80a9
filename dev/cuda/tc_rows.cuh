/* tc_rows.cuh (lab): the tensor-core consumer moved to src/cuda/tc_rows.cuh when the persistent
 * decoding step (src/cuda/decode_persistent.cu) was promoted; the labs include it from here. */
#include "../../src/cuda/tc_rows.cuh"
