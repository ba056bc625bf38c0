/* gpu_select: --gpus turned into device ordinals, checked against what
 * discovery found; see include/casebisect/gpu.h. */
#include "gpu_select.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "casebisect/util.h"

static CB_PRINTF(3, 4) int select_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

bool gpu_has_device(const struct gpu_info *info, int index)
{
	size_t i;

	for (i = 0; i < info->count; i++)
		if (info->dev[i].index == index)
			return true;
	return false;
}

/* "0..3", "only 0", or "0, 1, 3": the ordinals info lists. */
void gpu_describe_devices(const struct gpu_info *info, char *buf, size_t len)
{
	bool contiguous = true;
	size_t i, used = 0;

	buf[0] = '\0';
	if (info->count == 1) {
		snprintf(buf, len, "only device %d", info->dev[0].index);
		return;
	}
	for (i = 1; i < info->count; i++)
		if (info->dev[i].index != info->dev[i - 1].index + 1)
			contiguous = false;
	if (contiguous) {
		snprintf(buf, len, "%d..%d", info->dev[0].index,
			 info->dev[info->count - 1].index);
		return;
	}
	for (i = 0; i < info->count && used + 1 < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%d", i ? ", " : "",
				 info->dev[i].index);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

int gpu_select(const char *spec, const struct gpu_info *info, int *out, size_t max,
	       size_t *n, char *err, size_t errlen)
{
	static const char expected[] = "expected auto, none or a list such as 0,2,3";
	const char *p = spec;
	size_t i, k = 0;

	assert(spec && info && n);
	*n = 0;
	if (strcmp(spec, "none") == 0)
		return 0;
	if (strcmp(spec, "auto") == 0) {
		if (!info->available)
			return 0;
		if (info->count > max)
			return select_error(err, errlen, "--gpus: %zu devices found, more than %zu",
					    info->count, max);
		for (i = 0; i < info->count; i++)
			out[i] = info->dev[i].index;
		*n = info->count;
		return 0;
	}
	if (!*spec)
		return select_error(err, errlen, "--gpus: empty value (%s)", expected);
	for (;;) {
		size_t len = strcspn(p, ",");
		long v = 0;

		if (!len)
			return select_error(err, errlen, "--gpus: empty device number in '%s' (%s)",
					    spec, expected);
		for (i = 0; i < len; i++) {
			if (p[i] < '0' || p[i] > '9')
				return select_error(err, errlen,
						    "--gpus: '%.*s' is not a device number (%s)",
						    (int)len, p, expected);
			v = v * 10 + (p[i] - '0');
			if (v > INT_MAX)
				return select_error(err, errlen,
						    "--gpus: device '%.*s' is out of range",
						    (int)len, p);
		}
		for (i = 0; i < k; i++)
			if (out[i] == (int)v)
				return select_error(err, errlen, "--gpus: device %ld is listed twice", v);
		if (info->available && !gpu_has_device(info, (int)v)) {
			char have[128];

			gpu_describe_devices(info, have, sizeof(have));
			return select_error(err, errlen, "--gpus: device %ld not found; this machine has %s",
					    v, have);
		}
		if (k == max)
			return select_error(err, errlen, "--gpus: more than %zu devices listed", max);
		out[k++] = (int)v;
		p += len;
		if (!*p)
			break;
		p++; /* the comma */
	}
	*n = k;
	return 0;
}
