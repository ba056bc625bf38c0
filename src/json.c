/* json: the JSON shapes several commands share; see include/casebisect/json.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "casebisect/gpu.h"
#include "casebisect/journal.h"
#include "casebisect/json.h"
#include "casebisect/util.h"

cJSON *json_object(void)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		die("out of memory building JSON");
	return o;
}

cJSON *json_array(void)
{
	cJSON *a = cJSON_CreateArray();

	if (!a)
		die("out of memory building JSON");
	return a;
}

cJSON *json_string(const char *s)
{
	char *clean = cb_utf8_clean(s);
	cJSON *v = cJSON_CreateString(clean);

	free(clean);
	if (!v)
		die("out of memory building JSON");
	return v;
}

void json_add_str(cJSON *obj, const char *key, const char *v)
{
	char *clean = cb_utf8_clean(v);
	bool ok = *clean ? cJSON_AddStringToObject(obj, key, clean) != NULL
			 : cJSON_AddNullToObject(obj, key) != NULL;

	free(clean);
	if (!ok)
		die("out of memory building JSON");
}

void json_add_num(cJSON *obj, const char *key, double n, bool present)
{
	if (!(present ? cJSON_AddNumberToObject(obj, key, n) : cJSON_AddNullToObject(obj, key)))
		die("out of memory building JSON");
}

void json_add_signature(cJSON *obj, const struct cls_signature *sig, enum cls_match level)
{
	char fp[17];

	cls_fingerprint_hex(sig, level, fp);
	json_add_str(obj, "kernel", sig->kernel);
	json_add_str(obj, "assert_expr", sig->assert_expr);
	json_add_str(obj, "source", sig->source);
	json_add_str(obj, "exception", sig->exception);
	json_add_str(obj, "message", sig->message);
	json_add_str(obj, "frame", sig->frame);
	json_add_str(obj, "error_code", sig->error_code);
	json_add_num(obj, "line", (double)sig->line, sig->line != 0);
	json_add_str(obj, "evidence", sig->evidence);
	json_add_str(obj, "fingerprint", fp);
}

char *json_finish(cJSON *obj, bool pretty)
{
	char *text = pretty ? cJSON_Print(obj) : cJSON_PrintUnformatted(obj);

	cJSON_Delete(obj);
	if (!text)
		die("out of memory printing JSON");
	return text;
}

char *json_line(const cJSON *obj, bool pretty)
{
	char *text = pretty ? cJSON_Print(obj) : cJSON_PrintUnformatted(obj), *line;
	size_t n;

	if (!text)
		die("out of memory printing JSON");
	n = strlen(text);
	line = xmalloc(n + 2);
	memcpy(line, text, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	cJSON_free(text);
	return line;
}

cJSON *json_gpu_info(const struct gpu_info *info)
{
	cJSON *obj = json_object(), *devs;
	size_t i;

	if (!cJSON_AddBoolToObject(obj, "available", info->available))
		die("out of memory building JSON");
	json_add_str(obj, "reason", info->reason);
	json_add_str(obj, "library", info->library);
	json_add_num(obj, "driver_version", info->driver_version, info->driver_version != 0);
	json_add_num(obj, "runtime_version", info->runtime_version, info->runtime_version != 0);
	if (!(devs = cJSON_AddArrayToObject(obj, "devices")))
		die("out of memory building JSON");
	for (i = 0; i < info->count; i++) {
		const struct gpu_device *d = &info->dev[i];
		cJSON *dev = json_object();
		char cc[32];

		cJSON_AddItemToArray(devs, dev);
		json_add_num(dev, "index", d->index, true);
		json_add_str(dev, "name", d->name);
		json_add_num(dev, "total_mem", (double)d->total_mem, d->total_mem != 0);
		snprintf(cc, sizeof(cc), "%d.%d", d->cc_major, d->cc_minor);
		json_add_str(dev, "cc", cc);
	}
	return obj;
}

/* Copies obj[key] (a string) into dst; "" when absent or null. */
static void get_text(const cJSON *obj, const char *key, char *dst, size_t size)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	dst[0] = '\0';
	if (cJSON_IsString(v))
		cb_utf8_copy(dst, size, v->valuestring, strlen(v->valuestring));
}

void json_get_text(const cJSON *obj, const char *key, char *dst, size_t size)
{
	get_text(obj, key, dst, size);
}

int json_read_signature(const cJSON *result, struct cls_signature *sig)
{
	const cJSON *klass = cJSON_GetObjectItemCaseSensitive(result, "class");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(result, "signature");
	const cJSON *line, *code, *v;

	memset(sig, 0, sizeof(*sig));
	if (!cJSON_IsString(klass) || cls_class_parse(klass->valuestring, &sig->klass) ||
	    !cJSON_IsObject(s))
		return -1;
	get_text(s, "kernel", sig->kernel, sizeof(sig->kernel));
	get_text(s, "assert_expr", sig->assert_expr, sizeof(sig->assert_expr));
	get_text(s, "source", sig->source, sizeof(sig->source));
	get_text(s, "exception", sig->exception, sizeof(sig->exception));
	get_text(s, "message", sig->message, sizeof(sig->message));
	get_text(s, "frame", sig->frame, sizeof(sig->frame));
	get_text(s, "error_code", sig->error_code, sizeof(sig->error_code));
	get_text(s, "evidence", sig->evidence, sizeof(sig->evidence));
	line = cJSON_GetObjectItemCaseSensitive(s, "line");
	if (cJSON_IsNumber(line) && line->valuedouble >= 0)
		sig->line = (uint64_t)line->valuedouble;
	/* result.json's: the stream beside the signature's line, the exit
	 * beside the signature (absent in older files: stdout, not known) */
	v = cJSON_GetObjectItemCaseSensitive(s, "stream");
	sig->stream = cJSON_IsString(v) && !strcmp(v->valuestring, "stderr") ? CLS_STDERR : CLS_STDOUT;
	code = cJSON_GetObjectItemCaseSensitive(result, "exit_code");
	v = cJSON_GetObjectItemCaseSensitive(result, "signal");
	if (cJSON_IsNumber(v) && v->valueint > 0) {
		sig->exit_known = true;
		sig->exit_signal = v->valueint;
		sig->exit_code = -1;
	} else if (cJSON_IsNumber(code)) {
		sig->exit_known = true;
		sig->exit_code = code->valueint;
	}
	return 0;
}

int json_read_gpu_info(const cJSON *obj, struct gpu_info *info)
{
	const cJSON *avail = cJSON_GetObjectItemCaseSensitive(obj, "available");
	const cJSON *devs = cJSON_GetObjectItemCaseSensitive(obj, "devices"), *d, *v;

	memset(info, 0, sizeof(*info));
	if (!cJSON_IsBool(avail))
		return -1;
	info->available = cJSON_IsTrue(avail);
	get_text(obj, "reason", info->reason, sizeof(info->reason));
	get_text(obj, "library", info->library, sizeof(info->library));
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(obj, "driver_version")))
		info->driver_version = v->valueint;
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(obj, "runtime_version")))
		info->runtime_version = v->valueint;
	cJSON_ArrayForEach(d, devs)
	{
		struct gpu_device *g;
		char cc[32];

		if (info->count == GPU_MAX)
			break;
		g = &info->dev[info->count++];
		if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(d, "index")))
			g->index = v->valueint;
		get_text(d, "name", g->name, sizeof(g->name));
		if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(d, "total_mem")))
			g->total_mem = (size_t)v->valuedouble;
		get_text(d, "cc", cc, sizeof(cc));
		if (sscanf(cc, "%d.%d", &g->cc_major, &g->cc_minor) != 2)
			g->cc_major = g->cc_minor = 0;
	}
	return 0;
}

void json_add_trial(cJSON *obj, const struct jrn_entry *e)
{
	json_add_num(obj, "trial", (double)e->trial, true);
	json_add_str(obj, "phase", e->phase);
	json_add_num(obj, "cases", (double)e->ncases, true);
	json_add_str(obj, "outcome", e->outcome);
	json_add_str(obj, "reason", e->reason);
	json_add_str(obj, "class", e->klass);
	json_add_num(obj, "duration_s", e->duration_s, true);
	json_add_str(obj, "node", e->node);
	json_add_num(obj, "gpu", e->gpu, e->gpu >= 0);
}

cJSON *json_read_file(const char *path, char *err, size_t errlen)
{
	char *text = cb_read_file(path, NULL);
	cJSON *root;

	if (!text) {
		cb_set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	root = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(root)) {
		cb_set_err(err, errlen, "%s: not a JSON object", path);
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}
