/* gpu_select: the device ordinals a struct gpu_info lists, as --gpus and
 * the health probe check them. gpu_select() itself is in
 * include/casebisect/gpu.h. Private to the gpu module (gpu*.c). */
#ifndef CASEBISECT_GPU_SELECT_H
#define CASEBISECT_GPU_SELECT_H

#include <stdbool.h>
#include <stddef.h>

#include "casebisect/gpu.h"

/* Does info list the device with this ordinal? */
bool gpu_has_device(const struct gpu_info *info, int index);

/* "0..3", "only device 0", or "0, 1, 3": the ordinals info lists, in buf
 * (len bytes). */
void gpu_describe_devices(const struct gpu_info *info, char *buf, size_t len);

#endif
