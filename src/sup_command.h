/* sup_command: what a trial is started with (its environment, step 1 of
 * include/casebisect/supervise.h) and the patterns its lines are read with;
 * private to the supervisor. */
#ifndef CASEBISECT_SUP_COMMAND_H
#define CASEBISECT_SUP_COMMAND_H

#include <regex.h>
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

/* The patterns a trial's lines are read with (--pass-pattern, --batch-pattern;
 * sup_check_patterns() is the public check): compiles pass_pattern into
 * *pass and batch_pattern into *batch; a NULL pattern is not compiled. 0, or
 * -1 with err naming the option, nothing left compiled. */
int sup_compile_patterns(const char *pass_pattern, regex_t *pass, const char *batch_pattern,
			 regex_t *batch, char *err, size_t errlen);

#endif
