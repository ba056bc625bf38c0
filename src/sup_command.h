/* sup_command: what a trial is started with (its environment, step 1 of
 * include/casebisect/supervise.h); private to the supervisor. */
#ifndef CASEBISECT_SUP_COMMAND_H
#define CASEBISECT_SUP_COMMAND_H

#include <stddef.h>

/* "K=V" entries: the caller's environment, then ours, then the extras; a
 * later entry replaces an earlier one of the same name. */
struct sup_env {
	char **v;
	size_t n, cap;
};

/* Sets kv ("K=V") in e, replacing an entry of the same name. */
void sup_env_set(struct sup_env *e, const char *kv);

/* Removes the entry named name from e, when there is one. */
void sup_env_unset(struct sup_env *e, const char *name);

/* Frees what e holds. */
void sup_env_release(struct sup_env *e);

/* Strings in the NULL-terminated v (NULL: 0). */
size_t sup_count_strings(const char *const *v);

#endif
