/* path: see include/casebisect/path.h. */
#include <string.h>
#include <strings.h>

#include "casebisect/path.h"
#include "casebisect/util.h"

const char *path_base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

bool path_is_nifti(const char *path)
{
	size_t n = strlen(path);

	return (n > 4 && strcasecmp(path + n - 4, ".nii") == 0) ||
	       (n > 7 && strcasecmp(path + n - 7, ".nii.gz") == 0);
}

char *path_dir(const char *path)
{
	const char *s = strrchr(path, '/');
	char *d;

	if (!s)
		return xstrdup(".");
	if (s == path)
		return xstrdup("/");
	d = xstrdup(path);
	d[s - path] = '\0';
	return d;
}

bool path_rel_is_safe(const char *rel)
{
	const char *p = rel;

	if (!*rel || *rel == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
		if (!*p && p[-1] == '/')
			return false;
	}
	return true;
}

char *path_under(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	if (n && dir[n - 1] == '/')
		n--;
	if (strncmp(path, dir, n) || path[n] != '/' || !path_rel_is_safe(path + n + 1))
		return NULL;
	return xstrdup(path + n + 1);
}
