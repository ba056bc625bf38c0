/* gpu_cuda: what the gpu module knows of the CUDA ABI without its headers:
 * loading a library's calls (uv_dlopen'd) into a struct of function
 * pointers by name, and the names and texts of the error codes it meets.
 * Private to the gpu module (gpu*.c). */
#ifndef CASEBISECT_GPU_CUDA_H
#define CASEBISECT_GPU_CUDA_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

/* One member of a struct of function pointers: the symbol it holds (the
 * member is named after it), where it is, and whether a library may lack
 * it. */
struct gpu_sym {
	const char *name;
	size_t offset;
	bool optional;
};

#define GPU_SYM(type, sym) { #sym, offsetof(type, sym), false }
#define GPU_SYM_OPTIONAL(type, sym) { #sym, offsetof(type, sym), true }

/*
 * Zeroes the struct tab (size bytes), then fills its members syms[0..n)
 * from lib, in order. Returns NULL, or the name of the first required
 * symbol lib does not have (the optional ones come last, and are then left
 * NULL).
 */
const char *gpu_load_syms(uv_lib_t *lib, void *tab, size_t size, const struct gpu_sym *syms,
			  size_t n);

/* The name and text of error code: those the library gave (*name, *text;
 * may be NULL), else our list's (the runtime's or, with driver, the driver
 * API's name), else left NULL. */
void gpu_error_parts(int code, bool driver, const char **name, const char **text);

/* "cudaErrorNoDevice (no CUDA-capable device is detected)" in buf, from the
 * names the library gave (may be NULL) or our list; "error 12345" when
 * neither knows the code. */
void gpu_error_text(char *buf, size_t len, int code, bool driver, const char *name,
		    const char *text);

#endif
