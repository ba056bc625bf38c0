/* report: the public entry points of report.json, report.md and the repro
 * bundle (include/casebisect/report.h). Each counts the journal's facts
 * once (report_facts.c) and hands them to the renderers: report_json.c,
 * report_md.c, and bundle.c with bundle_repro.c and bundle_excerpt.c. */
#include <assert.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "report_facts.h"

char *report_json_text(const struct report_input *in)
{
	struct rep_facts f;
	char *text;

	rep_facts_init(&f, in);
	text = rep_json_text(&f);
	rep_facts_release(&f);
	return text;
}

char *report_confidence_text(const struct report_input *in)
{
	struct rep_facts f;
	struct rep_buf b = { 0 };

	rep_facts_init(&f, in);
	rep_confidence_sentence(&b, &f);
	rep_facts_release(&f);
	return b.len ? rep_buf_take(&b) : NULL;
}

char *report_md_text(const struct report_input *in)
{
	struct rep_facts f;
	char *text;

	rep_facts_init(&f, in);
	text = rep_md_text(&f);
	rep_facts_release(&f);
	return text;
}

int report_write(const struct report_input *in, char *err, size_t errlen)
{
	struct rep_facts f;
	char *json, *md, *jpath, *mpath;
	int rc;

	assert(in && in->workdir);
	rep_facts_init(&f, in);
	json = rep_json_text(&f);
	md = rep_md_text(&f);
	rep_facts_release(&f);
	jpath = cb_path_join(in->workdir, "report.json");
	mpath = cb_path_join(in->workdir, "report.md");
	rc = cb_write_atomic(jpath, json, strlen(json), CB_WRITE_DURABLE, err, errlen);
	if (rc == 0)
		rc = cb_write_atomic(mpath, md, strlen(md), CB_WRITE_DURABLE, err, errlen);
	free(jpath);
	free(mpath);
	free(json);
	free(md);
	return rc;
}

bool report_has_bundle(const struct report_input *in)
{
	struct rep_facts f;
	bool has;

	rep_facts_init(&f, in);
	has = f.nbundle != 0;
	rep_facts_release(&f);
	return has;
}

int report_bundle(const struct report_input *in, char *err, size_t errlen)
{
	struct rep_facts f;
	int rc = 0;

	assert(in && in->workdir);
	rep_facts_init(&f, in);
	if (f.nbundle)
		rc = rep_bundle_write(&f, err, errlen);
	rep_facts_release(&f);
	return rc;
}

size_t report_remove_leftovers(const char *workdir)
{
	DIR *d = opendir(workdir);
	struct dirent *e;
	size_t n = cb_remove_tmp_leftovers(workdir);
	char scratch[256];

	while (d && (e = readdir(d))) {
		char *path;

		if (strncmp(e->d_name, ".bundle.new.", 12) && strncmp(e->d_name, ".bundle.old.", 12))
			continue;
		path = cb_path_join(workdir, e->d_name);
		if (rep_remove_tree(path, scratch, sizeof(scratch)) == 0)
			n++;
		free(path);
	}
	if (d)
		closedir(d);
	return n;
}
