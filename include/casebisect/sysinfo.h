/* sysinfo: the machine a run trains on, found without --env-cmd, for the
 * report: the OS, the kernel, the NVIDIA driver, and the Python, PyTorch
 * and nnU-Net versions of the trainer's own interpreter. The CUDA runtime
 * is the gpu module's (gpu.h), which loads libcudart. */
#ifndef CASEBISECT_SYSINFO_H
#define CASEBISECT_SYSINFO_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

/* Each field "" when not known. */
struct si_info {
	char os[256];          /* /etc/os-release: PRETTY_NAME, else NAME VERSION_ID */
	char kernel[256];      /* uname: "Linux 6.1.0-18-amd64 x86_64" */
	char driver[64];       /* the NVIDIA kernel module's version: "535.129.03" */
	char python_exe[1024]; /* the interpreter asked (the trainer's); "" when the
				* command is not a Python program */
	char python[64];       /* its version: "3.11.2" */
	char torch[64];        /* PyTorch's version */
	char torch_cuda[64];   /* the CUDA PyTorch was built with; "none": a CPU build */
	char nnunet[64];       /* nnunetv2's version */
	char note[256];        /* why the interpreter said nothing, when it did not */
};

/* The parsers, for what the files and the interpreter print (tests feed
 * them fixture text). Each fills out (size bytes) or leaves "" there. */
/* /etc/os-release's text: PRETTY_NAME, else NAME and VERSION_ID, unquoted. */
void si_parse_os_release(const char *text, char *out, size_t size);
/* /proc/driver/nvidia/version ("NVRM version: NVIDIA UNIX x86_64 Kernel
 * Module  535.129.03  Thu Oct ...") or /sys/module/nvidia/version
 * ("535.129.03"): the first word of digits and dots with a dot. */
void si_parse_nvidia_version(const char *text, char *out, size_t size);
/* The interpreter's answer to SI_PYTHON_CODE: lines "key=value" (python,
 * executable, torch, torch_cuda, nnunetv2); the last of a key counts,
 * other lines are ignored. Fills info's Python fields. */
void si_parse_versions(const char *text, struct si_info *info);

/* The Python that runs the command argv (NULL-terminated, as given), or
 * NULL when it is not a Python program: argv[0] named python*; a script
 * (found as execvp would: relative to cwd when it holds a '/', else on
 * PATH) whose "#!" line names Python, directly, through env, or through
 * pip's "#!/bin/sh" trampoline for long paths; nnUNetv2_train; and
 * casebisect's nnU-Net launcher (casebisect-nnunet-train), whose Python
 * is that of the nnUNetv2_train on PATH. A malloc'd path or name that the
 * caller frees. */
char *si_python_of(const char *const *argv, const char *cwd);

/*
 * Fills info: reads the OS, kernel and driver files, and when the command
 * argv is a Python program asks its interpreter for its versions: one
 * short child (`PYTHON -c SI_PYTHON_CODE`, proc_capture.h), in cwd (NULL:
 * here), killed after timeout_s seconds, that imports nothing that must
 * be there: a module that is missing is left "". A child that cannot run
 * or does not answer in time leaves a note. Never fails.
 */
void si_gather(struct si_info *info, const char *const *argv, const char *cwd, double timeout_s);

/* info as JSON: {os, kernel, nvidia_driver, python: {executable, version,
 * torch, torch_cuda, nnunetv2, note} or null when not asked}, "" as null.
 * The caller owns it. */
struct cJSON *si_json(const struct si_info *info);
/* Reads si_json()'s object back; 0, or -1 when obj is not one. */
int si_read_json(const struct cJSON *obj, struct si_info *info);

#endif
