/* journal_run: the run's settings (WORKDIR/run.json): written, read, and
 * compared on resume; the contract is in include/casebisect/journal.h.
 *
 * run.json is replaced atomically and durably (cb_write_atomic(): a
 * temporary file made with O_EXCL|O_NOFOLLOW, so nothing is written
 * through a planted link, fsync, rename, fsync of the directory). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "casebisect/journal.h"
#include "casebisect/util.h"
#include "journal_int.h"

#define RUN_NAME "run.json"
/* Values shown in jrn_check_run's "was X, now Y" are cut to this. */
#define SHOW_MAX 120

/* ---- run.json ---- */

int jrn_write_run(const char *workdir, const char *run_json, char *err, size_t errlen)
{
	char *path = cb_path_join(workdir, RUN_NAME), *text = NULL, *line = NULL;
	cJSON *root = cJSON_Parse(run_json);
	int ret = -1;

	if (!cJSON_IsObject(root)) {
		cb_set_err(err, errlen, "%s: the run's settings are not a JSON object", path);
		goto out;
	}
	text = cJSON_Print(root);
	if (!text)
		die("out of memory printing JSON");
	line = cb_fmt("%s\n", text);
	ret = cb_write_atomic(path, line, strlen(line), CB_WRITE_DURABLE, err, errlen);
out:
	free(line);
	free(text);
	cJSON_Delete(root);
	free(path);
	return ret;
}

/* The stored run.json, parsed (the caller deletes it), or NULL with err. */
static cJSON *load_run(const char *workdir, char **text_out, char *err, size_t errlen)
{
	char *path = cb_path_join(workdir, RUN_NAME);
	size_t len = 0;
	char *text = cb_read_file(path, &len);
	cJSON *root = NULL;

	if (!text) {
		if (errno == ENOENT || errno == ENOTDIR)
			cb_set_err(err, errlen, "%s: not a casebisect work directory (no %s)", workdir,
				RUN_NAME);
		else
			cb_set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	root = jrn_parse_whole(text, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		root = NULL;
		cb_set_err(err, errlen, "%s: not a JSON object (the file is damaged)", path);
		goto out;
	}
	if (text_out) {
		*text_out = text;
		text = NULL;
	}
out:
	free(text);
	free(path);
	return root;
}

char *jrn_read_run(const char *workdir, char *err, size_t errlen)
{
	char *text = NULL;
	cJSON *root = load_run(workdir, &text, err, errlen);

	cJSON_Delete(root);
	return text;
}

/* A growable list of the changes found, one message each. */
struct changes {
	char **v;
	size_t n, cap;
};

static void change_add(struct changes *c, const char *fmt, ...) CB_PRINTF(2, 3);

static void change_add(struct changes *c, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = cb_vfmt(fmt, ap);
	va_end(ap);
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 8;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n++] = s;
}

/* A value as the user reads it: compact JSON, cut to SHOW_MAX bytes,
 * "(absent)" for a key that is not there. The caller frees it. */
static char *show(const cJSON *v, bool bare_string)
{
	char *text, *out;
	size_t len;

	if (!v)
		return xstrdup("(absent)");
	if (bare_string && cJSON_IsString(v))
		text = xstrdup(v->valuestring);
	else if (!(text = cJSON_PrintUnformatted(v)))
		die("out of memory printing JSON");
	len = strlen(text);
	out = xmalloc(SHOW_MAX + 4);
	cb_utf8_copy(out, SHOW_MAX + 1, text, len);
	if (len > SHOW_MAX)
		memcpy(out + strlen(out), "...", 4);
	free(text);
	return out;
}

static bool ignored(const char *key, const char *const *ignore)
{
	for (; ignore && *ignore; ignore++)
		if (!strcmp(key, *ignore))
			return true;
	return false;
}

/* Where run.json may keep the dataset's digest; compared before the rest. */
static const char *const digest_keys[] = {"digest", "dataset.digest", NULL};

static char *key_path(const char *prefix, const char *key)
{
	size_t lp = strlen(prefix), lk = strlen(key);
	char *p = xmalloc(lp + lk + 2);

	memcpy(p, prefix, lp);
	if (lp)
		p[lp++] = '.';
	memcpy(p + lp, key, lk + 1);
	return p;
}

static void change_value(struct changes *c, const char *key, const cJSON *was, const cJSON *now)
{
	char *w = show(was, false), *n = show(now, false);

	change_add(c, "%s: was %s, now %s", key, w, n);
	free(w);
	free(n);
}

/* Key by key; objects inside are compared key by key too ("env.CUDA_HOME"). */
static void diff(const cJSON *was, const cJSON *now, const char *prefix,
		 const char *const *ignore, struct changes *c)
{
	const cJSON *w, *n;

	cJSON_ArrayForEach(w, was)
	{
		char *key;

		if (!w->string)
			continue;
		key = key_path(prefix, w->string);
		n = cJSON_GetObjectItemCaseSensitive(now, w->string);
		if (ignored(key, ignore) || ignored(key, digest_keys))
			;
		else if (cJSON_IsObject(w) && cJSON_IsObject(n))
			diff(w, n, key, ignore, c);
		else if (!n || !cJSON_Compare(w, n, true))
			change_value(c, key, w, n);
		free(key);
	}
	cJSON_ArrayForEach(n, now)
	{
		char *key;

		if (!n->string || cJSON_GetObjectItemCaseSensitive(was, n->string))
			continue;
		key = key_path(prefix, n->string);
		if (!ignored(key, ignore) && !ignored(key, digest_keys))
			change_value(c, key, NULL, n);
		free(key);
	}
}

static const cJSON *at_path(const cJSON *o, const char *path)
{
	const char *dot;

	while (o && (dot = strchr(path, '.'))) {
		char part[64];
		size_t len = (size_t)(dot - path);

		if (len >= sizeof(part))
			return NULL;
		memcpy(part, path, len);
		part[len] = '\0';
		o = cJSON_GetObjectItemCaseSensitive(o, part);
		path = dot + 1;
	}
	return o ? cJSON_GetObjectItemCaseSensitive(o, path) : NULL;
}

/* The changes, one a line, into err; when they do not all fit, whole lines
 * and then how many were left out (only the first line is ever cut). */
static void report_changes(const struct changes *c, char *err, size_t errlen)
{
	size_t used = 0, i;
	char more[64];

	if (!err || !errlen)
		return;
	err[0] = '\0';
	for (i = 0; i < c->n; i++) {
		size_t len = strlen(c->v[i]), reserve = 0;

		/* Room to say "(and N more)" if the next line does not fit. */
		if (i + 1 < c->n) {
			snprintf(more, sizeof(more), "\n(and %zu more)", c->n - i - 1);
			reserve = strlen(more);
		}
		if (used + (i ? 1 : 0) + len + reserve >= errlen) {
			if (i == 0)
				cb_strlcpy(err, c->v[0], errlen);
			else
				snprintf(err + used, errlen - used, "\n(and %zu more)", c->n - i);
			return;
		}
		if (i)
			err[used++] = '\n';
		memcpy(err + used, c->v[i], len + 1);
		used += len;
	}
}

int jrn_check_run(const char *workdir, const char *run_json, const char *const *ignore,
		  char *err, size_t errlen)
{
	cJSON *now = cJSON_Parse(run_json), *was = NULL;
	struct changes c = {NULL, 0, 0};
	const char *const *dk;
	size_t i;
	int ret = -1;

	if (!cJSON_IsObject(now)) {
		cb_set_err(err, errlen, "the run's settings are not a JSON object");
		goto out;
	}
	was = load_run(workdir, NULL, err, errlen);
	if (!was)
		goto out;
	for (dk = digest_keys; *dk; dk++) {
		const cJSON *w = at_path(was, *dk), *n = at_path(now, *dk);
		char *ws, *ns;

		if ((!w && !n) || ignored(*dk, ignore) || (w && n && cJSON_Compare(w, n, true)))
			continue;
		ws = show(w, true);
		ns = show(n, true);
		change_add(&c,
			   "the dataset changed since this run started (digest was %s, now %s): "
			   "start a new run with a new --workdir",
			   ws, ns);
		free(ws);
		free(ns);
	}
	diff(was, now, "", ignore, &c);
	if (c.n) {
		report_changes(&c, err, errlen);
		goto out;
	}
	ret = 0;
out:
	for (i = 0; i < c.n; i++)
		free(c.v[i]);
	free(c.v);
	cJSON_Delete(was);
	cJSON_Delete(now);
	return ret;
}
