/* path: the small path helpers several modules share: the parts of a path,
 * and whether a relative path stays inside its folder. Pure string work,
 * no file system calls. */
#ifndef CASEBISECT_PATH_H
#define CASEBISECT_PATH_H

#include <stdbool.h>

/* The last component of path (path itself when it has no '/'). */
const char *path_base(const char *path);

/* Does path end in ".nii" or ".nii.gz" (any case)? */
bool path_is_nifti(const char *path);

/* The folder part of path ("/" for "/x", "." for "x"); the caller frees it. */
char *path_dir(const char *path);

/* Is rel a path that stays inside its folder (not absolute, no "", "." or
 * ".." part, no trailing '/')? */
bool path_rel_is_safe(const char *rel);

/* path relative to dir when it lies under it (a safe relative path), else
 * NULL; the caller frees it. */
char *path_under(const char *dir, const char *path);

#endif
