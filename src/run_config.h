/* run_config: run.json, written and read from the table of run_options.h.
 * The engine's own header (src/run.c, src/run_health.c): not an API. */
#ifndef CASEBISECT_RUN_CONFIG_H
#define CASEBISECT_RUN_CONFIG_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "casebisect/dataset.h"
#include "casebisect/run.h"

#define RUN_SCHEMA_VERSION 1

/* run.json keys resume may change (RESUME MAY in run_options.h),
 * NULL-terminated, for jrn_check_run(). */
extern const char *const run_overridable[];

/* run.json's text for c and its dataset ds; free() it. */
char *run_config_json(const struct run_config *c, const struct dataset *ds);

/* Fills c from run.json's text. *root keeps the strings c points to, and
 * *command_v and *env_v the arrays (free() both, cJSON_Delete() *root,
 * also after an error). */
int run_config_from_json(struct run_config *c, const char *text, cJSON **root,
			 const char ***command_v, const char ***env_v, char *err, size_t errlen);

#endif
