/* launch_local: trials run here (--launcher local), and the table of
 * launchers. A local trial is only its process and what it forks, which
 * the supervisor ends itself (supervise.h, step 4): this launcher adds
 * nothing to that, so every hook of its table is empty. */
#include <assert.h>
#include <string.h>

#include "casebisect/launch.h"
#include "casebisect/util.h"

const struct sup_launcher_ops sup_launch_local = {
	.name = "local",
};

/* Indexed by enum sup_launcher. */
static const struct sup_launcher_ops *const launchers[] = {
	[SUP_LAUNCH_LOCAL] = &sup_launch_local,
	[SUP_LAUNCH_SLURM] = &sup_launch_slurm,
};

const struct sup_launcher_ops *sup_launcher_ops(enum sup_launcher l)
{
	assert((unsigned)l < CB_ARRAY_SIZE(launchers) && launchers[l]);
	return launchers[l];
}

int sup_launcher_parse(const char *name, enum sup_launcher *out)
{
	size_t i;

	for (i = 0; i < CB_ARRAY_SIZE(launchers); i++)
		if (!strcmp(name, launchers[i]->name)) {
			*out = (enum sup_launcher)i;
			return 0;
		}
	return -1;
}
