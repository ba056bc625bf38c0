/* audit_json: an audit's result as JSON (aud_json, aud_case_json,
 * aud_summary_json); the contract is in include/casebisect/audit.h. */
#include <assert.h>
#include <math.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "casebisect/audit.h"
#include "casebisect/json.h"
#include "casebisect/util.h"

static void die_oom(const void *p)
{
	if (!p)
		die("out of memory building JSON");
}

static cJSON *jnum(double v)
{
	cJSON *it = isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();

	die_oom(it);
	return it;
}

static cJSON *jbox(const int64_t v[3])
{
	cJSON *a = cJSON_CreateArray();
	int k;

	die_oom(a);
	for (k = 0; k < 3; k++)
		cJSON_AddItemToArray(a, jnum((double)v[k]));
	return a;
}

cJSON *aud_case_json(const struct aud_result *r, size_t i)
{
	const struct aud_case *c;
	cJSON *o = cJSON_CreateObject(), *files, *fs, *vs;
	size_t k;

	assert(i < r->ncases);
	c = &r->cases[i];
	die_oom(o);
	cJSON_AddItemToObject(o, "case", json_string(c->id));
	files = cJSON_AddArrayToObject(o, "files");
	die_oom(files);
	for (k = 0; k < c->nfiles; k++)
		cJSON_AddItemToArray(files, json_string(c->files[k]));
	if (c->label >= 0)
		cJSON_AddItemToObject(o, "label", json_string(c->files[c->label]));
	else
		die_oom(cJSON_AddNullToObject(o, "label"));
	fs = cJSON_AddArrayToObject(o, "findings");
	die_oom(fs);
	for (k = 0; k < c->nfindings; k++) {
		const struct aud_finding *f = &c->findings[k];
		cJSON *fo = cJSON_CreateObject();

		die_oom(fo);
		cJSON_AddItemToObject(fo, "severity", json_string(aud_severity_name(f->severity)));
		cJSON_AddItemToObject(fo, "kind", json_string(aud_kind_name(f->kind)));
		cJSON_AddItemToObject(fo, "file", json_string(c->files[f->file]));
		cJSON_AddItemToObject(fo, "detail", json_string(f->detail));
		if (f->has_value) {
			if (isnan(f->value))
				cJSON_AddItemToObject(fo, "value", json_string("NaN"));
			else if (isinf(f->value))
				cJSON_AddItemToObject(fo, "value", json_string(f->value > 0 ? "Inf" : "-Inf"));
			else
				cJSON_AddItemToObject(fo, "value", jnum(f->value));
		}
		if (f->voxels)
			cJSON_AddItemToObject(fo, "voxels", jnum((double)f->voxels));
		if (f->has_bbox) {
			cJSON *b = cJSON_CreateObject();

			die_oom(b);
			cJSON_AddItemToObject(b, "min", jbox(f->lo));
			cJSON_AddItemToObject(b, "max", jbox(f->hi));
			cJSON_AddItemToObject(fo, "bbox", b);
		}
		cJSON_AddItemToArray(fs, fo);
	}
	vs = cJSON_AddArrayToObject(o, "values");
	die_oom(vs);
	for (k = 0; k < c->nvalues; k++) {
		cJSON *pair = cJSON_CreateArray();

		die_oom(pair);
		cJSON_AddItemToArray(pair, isnan(c->values[k].value) ? json_string("NaN")
								     : jnum(c->values[k].value));
		cJSON_AddItemToArray(pair, jnum((double)c->values[k].voxels));
		cJSON_AddItemToArray(vs, pair);
	}
	if (c->skip_reason)
		cJSON_AddItemToObject(o, "skipped", json_string(c->skip_reason));
	if (c->nskipped_files) {
		cJSON *sk = cJSON_AddArrayToObject(o, "not_nifti");

		die_oom(sk);
		for (k = 0; k < c->nskipped_files; k++)
			cJSON_AddItemToArray(sk, json_string(c->skipped_files[k]));
	}
	return o;
}

static const char *mode_name(enum aud_mode m)
{
	switch (m) {
	case AUD_MODE_DECLARED: return "dataset.json";
	case AUD_MODE_REGIONS: return "dataset.json-regions";
	case AUD_MODE_LIST: return "--labels";
	default: return "histogram";
	}
}

cJSON *aud_summary_json(const struct aud_result *r)
{
	cJSON *s = cJSON_CreateObject(), *f, *cw, *d;
	size_t k, skipped = 0;

	die_oom(s);
	for (k = 0; k < r->ncases; k++)
		skipped += r->cases[k].skip_reason != NULL;
	cJSON_AddItemToObject(s, "cases", jnum((double)r->ncases));
	cJSON_AddItemToObject(s, "cases_read", jnum((double)r->cases_read));
	cJSON_AddItemToObject(s, "cases_skipped", jnum((double)skipped));
	cJSON_AddItemToObject(s, "files_read", jnum((double)r->files_read));
	cJSON_AddItemToObject(s, "mb_read", jnum((double)r->bytes / 1e6));
	cJSON_AddItemToObject(s, "seconds", jnum(r->seconds));
	cJSON_AddItemToObject(s, "jobs", jnum(r->jobs));
	cJSON_AddItemToObject(s, "labels_from", json_string(mode_name(r->mode)));
	d = cJSON_AddArrayToObject(s, "labels");
	die_oom(d);
	for (k = 0; k < r->ndeclared; k++)
		cJSON_AddItemToArray(d, jnum((double)r->declared[k]));
	if (r->has_ignore)
		cJSON_AddItemToObject(s, "ignore", jnum((double)r->ignore));
	f = cJSON_AddObjectToObject(s, "findings");
	cw = cJSON_AddObjectToObject(s, "cases_with");
	die_oom(f);
	die_oom(cw);
	for (k = 0; k < AUD_NSEVERITIES; k++) {
		cJSON_AddItemToObject(f, aud_severity_name((enum aud_severity)k),
				      jnum((double)r->findings[k]));
		cJSON_AddItemToObject(cw, aud_severity_name((enum aud_severity)k),
				      jnum((double)r->cases_with[k]));
	}
	return s;
}

cJSON *aud_json(const struct aud_result *r, bool all)
{
	cJSON *o = cJSON_CreateObject(), *cases;
	size_t i;

	die_oom(o);
	cases = cJSON_AddArrayToObject(o, "cases");
	die_oom(cases);
	for (i = 0; i < r->ncases; i++)
		if (all || r->cases[i].nfindings || r->cases[i].skip_reason)
			cJSON_AddItemToArray(cases, aud_case_json(r, i));
	cJSON_AddItemToObject(o, "summary", aud_summary_json(r));
	return o;
}
