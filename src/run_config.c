/* run_config: run.json from the table of run_options.h (contract in
 * run_config.h). Each KIND of the table has a writer (put_KIND) and a
 * reader (get_KIND); the rows expand into calls to them. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casebisect/json.h"
#include "casebisect/pictures.h"
#include "casebisect/util.h"
#include "run_config.h"

void run_config_init(struct run_config *c)
{
	memset(c, 0, sizeof(*c));
#define INIT(field, ctype, kind, dflt, key, resume, when) c->field = dflt;
	RUN_OPTIONS(INIT)
#undef INIT
}

struct sup_limits run_limits(const struct run_config *c)
{
	struct sup_limits l = SUP_LIMITS_INIT;

	l.timeout_s = c->timeout_s;
	l.stall_s = c->stall_s;
	l.pass_after_s = c->pass_after_s;
	l.settle_s = c->settle_s;
	l.grace_s = c->grace_s;
	l.log_head = c->log_head;
	l.log_tail = c->log_tail;
	return l;
}

#define RESUME_MAY(key) "options." key,
#define RESUME_KEEP(key)
#define OVERRIDABLE(field, ctype, kind, dflt, key, resume, when) RESUME_##resume(key)
const char *const run_overridable[] = { RUN_OPTIONS(OVERRIDABLE) NULL };
#undef OVERRIDABLE

/* ---- writers ---- */

static void put_STR(cJSON *o, const char *key, const char *v)
{
	json_add_str(o, key, v ? v : "");
}

static void put_SIZE(cJSON *o, const char *key, size_t v)
{
	json_add_num(o, key, (double)v, true);
}

static void put_UINT(cJSON *o, const char *key, unsigned v)
{
	json_add_num(o, key, v, true);
}

static void put_SEC(cJSON *o, const char *key, double v)
{
	json_add_num(o, key, v, true);
}

static void put_BOOL(cJSON *o, const char *key, bool v)
{
	cJSON_AddBoolToObject(o, key, v);
}

static void put_MATCH(cJSON *o, const char *key, enum cls_match v)
{
	json_add_str(o, key, cls_match_name(v));
}

static void put_STRATEGY(cJSON *o, const char *key, enum red_strategy v)
{
	json_add_str(o, key, v == RED_DDMIN ? "ddmin" : "find-all");
}

static void put_PRIOR(cJSON *o, const char *key, unsigned p)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%s%s%s", p & RUN_PRIOR_AUDIT ? "audit" : "",
		 (p & RUN_PRIOR_AUDIT) && (p & RUN_PRIOR_BATCH) ? "," : "",
		 p & RUN_PRIOR_BATCH ? "batch" : "");
	json_add_str(o, key, *buf ? buf : "none");
}

static void put_PICTURES(cJSON *o, const char *key, int v)
{
	json_add_str(o, key, pic_mode_name((enum pic_mode)v));
}

static void put_LAUNCHER(cJSON *o, const char *key, enum sup_launcher v)
{
	json_add_str(o, key, v == SUP_LAUNCH_SLURM ? "slurm" : "local");
}

/* ---- readers: a missing or unreadable value reads as dflt ---- */

static const char *get_STR(const cJSON *o, const char *key, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static double get_SEC(const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static size_t get_SIZE(const cJSON *o, const char *key, size_t dflt)
{
	return (size_t)get_SEC(o, key, (double)dflt);
}

static unsigned get_UINT(const cJSON *o, const char *key, unsigned dflt)
{
	return (unsigned)get_SEC(o, key, dflt);
}

static bool get_BOOL(const cJSON *o, const char *key, bool dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* An enum read by its parser, dflt when missing or unknown. */
#define ENUM_READER(KIND, type, parse)                                                      \
	static type get_##KIND(const cJSON *o, const char *key, type dflt)                  \
	{                                                                                   \
		const char *s = get_STR(o, key, NULL);                                      \
		type v = dflt;                                                              \
                                                                                            \
		if (s && parse(s, &v))                                                      \
			v = dflt;                                                           \
		return v;                                                                   \
	}

ENUM_READER(MATCH, enum cls_match, cls_match_parse)
ENUM_READER(LAUNCHER, enum sup_launcher, sup_launcher_parse)

static enum red_strategy get_STRATEGY(const cJSON *o, const char *key, enum red_strategy dflt)
{
	const char *s = get_STR(o, key, NULL);

	(void)dflt; /* anything but "ddmin" is find-all, the default */
	return s && !strcmp(s, "ddmin") ? RED_DDMIN : RED_FIND_ALL;
}

/* A missing "prior" is none, not the default: run.json always had it. */
static unsigned get_PRIOR(const cJSON *o, const char *key, unsigned dflt)
{
	const char *s = get_STR(o, key, NULL);
	unsigned p = 0;

	(void)dflt;
	if (s) {
		p |= strstr(s, "batch") ? RUN_PRIOR_BATCH : 0;
		p |= strstr(s, "audit") ? RUN_PRIOR_AUDIT : 0;
	}
	return p;
}

static int get_PICTURES(const cJSON *o, const char *key, int dflt)
{
	const char *s = get_STR(o, key, NULL);
	enum pic_mode m = (enum pic_mode)dflt;

	if (s && pic_mode_parse(s, &m))
		m = (enum pic_mode)dflt;
	return (int)m;
}

/* ---- run.json ---- */

static cJSON *string_array(const char *const *v)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; v && v[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static const char **strings_of(const cJSON *a)
{
	const char **v = xcalloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*v));
	const cJSON *s;
	size_t n = 0;

	cJSON_ArrayForEach(s, a)
		if (cJSON_IsString(s))
			v[n++] = s->valuestring;
	return v;
}

#define WHEN_ALWAYS(c, field, dflt) true
#define WHEN_NOT_DEFAULT(c, field, dflt) ((c)->field != (dflt))
#define WHEN_SLURM(c, field, dflt) ((c)->launcher == SUP_LAUNCH_SLURM)

char *run_config_json(const struct run_config *c, const struct dataset *ds)
{
	cJSON *o = json_object(), *d = json_object(), *opt = json_object(), *cd = json_object();
	size_t i;

	json_add_num(o, "schema_version", RUN_SCHEMA_VERSION, true);
	json_add_str(d, "path", ds->root);
	json_add_str(d, "format", ds_format_name(ds->format));
	json_add_str(d, "configuration", c->dso.configuration ? c->dso.configuration : "");
	json_add_str(d, "plans", c->dso.plans ? c->dso.plans : "");
	json_add_str(d, "digest", ds->digest);
	/* The digests of the files read for their content: a resume refused for a
	 * changed dataset then also says which of them changed. */
	for (i = 0; i < ds->ncontents; i++)
		json_add_str(cd, ds->contents[i].name, ds->contents[i].digest);
	cJSON_AddItemToObject(d, "content_digests", cd);
	cJSON_AddItemToObject(o, "dataset", d);
	cJSON_AddItemToObject(o, "command", string_array(c->command));
	cJSON_AddItemToObject(o, "env", string_array(c->env));
#define PUT(field, ctype, kind, dflt, key, resume, when)                                    \
	if (WHEN_##when(c, field, dflt))                                                    \
		put_##kind(opt, key, c->field);
	RUN_OPTIONS(PUT)
#undef PUT
	cJSON_AddItemToObject(o, "options", opt);
	return json_finish(o, true);
}

int run_config_from_json(struct run_config *c, const char *text, cJSON **root,
			 const char ***command_v, const char ***env_v, char *err, size_t errlen)
{
	cJSON *o = cJSON_Parse(text);
	const cJSON *d, *opt, *cmd;
	const char *s;

	if (!o) {
		cb_set_err(err, errlen, "run.json: not valid JSON");
		return -1;
	}
	*root = o;
	d = cJSON_GetObjectItemCaseSensitive(o, "dataset");
	opt = cJSON_GetObjectItemCaseSensitive(o, "options");
	cmd = cJSON_GetObjectItemCaseSensitive(o, "command");
	if (!cJSON_IsObject(d) || !cJSON_IsObject(opt) || !cJSON_IsArray(cmd) ||
	    !get_STR(d, "path", NULL) || cJSON_GetArraySize(cmd) < 1) {
		cb_set_err(err, errlen, "run.json: \"dataset\", \"command\" or \"options\" is missing");
		return -1;
	}
	c->dataset = get_STR(d, "path", NULL);
	if ((s = get_STR(d, "format", NULL)) && ds_format_parse(s, &c->dso.format))
		c->dso.format = DS_AUTO;
	c->dso.configuration = get_STR(d, "configuration", NULL);
	c->dso.plans = get_STR(d, "plans", NULL);
	*command_v = strings_of(cmd);
	*env_v = strings_of(cJSON_GetObjectItemCaseSensitive(o, "env"));
	c->command = *command_v;
	c->env = *env_v;
#define GET(field, ctype, kind, dflt, key, resume, when) c->field = get_##kind(opt, key, dflt);
	RUN_OPTIONS(GET)
#undef GET
	return 0;
}
