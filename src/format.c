/* format: the table of dataset formats, indexed by enum ds_format, and the
 * names --format and run.json use. A new format adds its row here and its
 * own format_*.c file (see format.h). */
#include <string.h>

#include "casebisect/dataset.h"
#include "casebisect/util.h"
#include "format.h"

static const struct ds_format_ops *const formats[] = {
	[DS_AUTO] = NULL,
	[DS_NNUNET_PRE] = &fmt_nnunet_pre,
	[DS_NNUNET_RAW] = &fmt_nnunet_raw,
	[DS_MSD] = &fmt_msd,
	[DS_LIST] = &fmt_list,
};

const struct ds_format_ops *ds_format_ops(enum ds_format f)
{
	if ((size_t)f >= CB_ARRAY_SIZE(formats))
		return NULL;
	return formats[f];
}

const char *ds_format_name(enum ds_format f)
{
	const struct ds_format_ops *ops;

	if (f == DS_AUTO)
		return "auto";
	ops = ds_format_ops(f);
	return ops ? ops->name : "unknown";
}

int ds_format_parse(const char *name, enum ds_format *out)
{
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(formats); i++) {
		if (strcmp(name, ds_format_name((enum ds_format)i)) == 0) {
			*out = (enum ds_format)i;
			return 0;
		}
	}
	return -1;
}
