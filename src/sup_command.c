/* sup_command: what a trial is started with, besides what its launcher
 * adds: its command line with the placeholders ({trial_dir}, {view}, ...)
 * filled in, and the variables casebisect gives it; see
 * include/casebisect/supervise.h. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/supervise.h"
#include "casebisect/util.h"
#include "sup_command.h"

/* One list for the trials and the report (sup_trial_env()), so that what
 * repro.sh sets is what the trials got. */
#define TRIAL_ENV "TORCH_USE_CUDA_DSA=1", "PYTHONUNBUFFERED=1", "PYTHONFAULTHANDLER=1", \
		  "nnUNet_compile=f"
static const char *const trial_env[] = { TRIAL_ENV, "CUDA_LAUNCH_BLOCKING=1", NULL };
static const char *const trial_env_no_blocking[] = { TRIAL_ENV, NULL };

const char *const *sup_trial_env(bool no_blocking)
{
	return no_blocking ? trial_env_no_blocking : trial_env;
}

char **sup_expand_argv(const char *const *argv, const struct sup_placeholders *ph, char *err,
		       size_t errlen)
{
	const struct {
		const char *name;
		const char *value;
		const char *missing;
	} vars[] = {
		{ "{trial_dir}", ph->trial_dir, "{trial_dir} is not available here" },
		{ "{cases_file}", ph->cases_file, "{cases_file} needs a list of cases (--cases-file)" },
		{ "{files_file}", ph->files_file, "{files_file} needs the cases' files (--files-file)" },
		{ "{view}", ph->view, "{view} needs a dataset: use 'casebisect run'" },
		{ "{n}", ph->n, "{n} needs a list of cases (--cases-file)" },
	};
	size_t argc, i, j;
	char **out;

	for (argc = 0; argv[argc]; argc++)
		;
	out = xcalloc(argc + 1, sizeof(*out));
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		size_t cap = strlen(a) + 1, len = 0;
		char *o = xmalloc(cap);

		while (*a) {
			for (j = 0; j < CB_ARRAY_SIZE(vars); j++)
				if (!strncmp(a, vars[j].name, strlen(vars[j].name)))
					break;
			if (j == CB_ARRAY_SIZE(vars)) {
				if (len + 2 > cap)
					o = xrealloc(o, cap *= 2);
				o[len++] = *a++;
				continue;
			}
			if (!vars[j].value) {
				snprintf(err, errlen, "argument '%s': %s", argv[i], vars[j].missing);
				free(o);
				out[i] = NULL;
				sup_argv_free(out);
				return NULL;
			}
			{
				size_t vlen = strlen(vars[j].value);

				while (len + vlen + 1 > cap)
					o = xrealloc(o, cap *= 2);
				memcpy(o + len, vars[j].value, vlen);
				len += vlen;
				a += strlen(vars[j].name);
			}
		}
		o[len] = '\0';
		out[i] = o;
	}
	return out;
}

void sup_argv_free(char **argv)
{
	size_t i;

	if (!argv)
		return;
	for (i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

size_t sup_count_strings(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}


void sup_env_set(struct sup_env *e, const char *kv)
{
	size_t klen = strcspn(kv, "="), i;

	for (i = 0; i < e->n; i++)
		if (!strncmp(e->v[i], kv, klen) && e->v[i][klen] == '=') {
			free(e->v[i]);
			e->v[i] = xstrdup(kv);
			return;
		}
	if (e->n + 2 > e->cap)
		e->v = xrealloc(e->v, (e->cap = 2 * e->cap + 16) * sizeof(*e->v));
	e->v[e->n++] = xstrdup(kv);
	e->v[e->n] = NULL;
}

void sup_env_unset(struct sup_env *e, const char *name)
{
	size_t len = strlen(name), i;

	for (i = 0; i < e->n; i++)
		if (!strncmp(e->v[i], name, len) && e->v[i][len] == '=') {
			free(e->v[i]);
			e->v[i] = e->v[--e->n];
			e->v[e->n] = NULL;
			return;
		}
}

void sup_env_release(struct sup_env *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
}

/* ---- the patterns a trial's lines are read with ---- */

int sup_compile_patterns(const char *pass_pattern, regex_t *pass, const char *batch_pattern,
			 regex_t *batch, char *err, size_t errlen)
{
	char msg[256] = "it needs one group, (...), around the case names";
	int rc;

	if (pass_pattern && (rc = regcomp(pass, pass_pattern, REG_EXTENDED | REG_NOSUB))) {
		regerror(rc, pass, msg, sizeof(msg));
		snprintf(err, errlen, "--pass-pattern '%s': %s", pass_pattern, msg);
		return -1;
	}
	if (batch_pattern) {
		rc = regcomp(batch, batch_pattern, REG_EXTENDED);
		if (rc || batch->re_nsub < 1) {
			if (rc)
				regerror(rc, batch, msg, sizeof(msg));
			else
				regfree(batch);
			snprintf(err, errlen, "--batch-pattern '%s': %s", batch_pattern, msg);
			if (pass_pattern)
				regfree(pass);
			return -1;
		}
	}
	return 0;
}

int sup_check_patterns(const char *pass_pattern, const char *batch_pattern, char *err,
		       size_t errlen)
{
	regex_t pass, batch;

	if (sup_compile_patterns(pass_pattern, &pass, batch_pattern, &batch, err, errlen))
		return -1;
	if (pass_pattern)
		regfree(&pass);
	if (batch_pattern)
		regfree(&batch);
	return 0;
}
