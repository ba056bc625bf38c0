/* json: the JSON shapes several commands share, built with cJSON (this
 * header is where cJSON's types may appear outside a module's .c). */
#ifndef CASEBISECT_JSON_H
#define CASEBISECT_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "casebisect/classify.h"

/* A new empty object, or array; dies when out of memory. */
cJSON *json_object(void);
cJSON *json_array(void);

/* A string item holding s made valid UTF-8 (file names are bytes), even
 * when s is ""; dies when out of memory. */
cJSON *json_string(const char *s);

/* Adds key: v, or key: null when v is "" (absent). v is made valid UTF-8
 * (file names are bytes). Dies when out of memory. */
void json_add_str(cJSON *obj, const char *key, const char *v);

/* Adds key: n, or key: null when !present. */
void json_add_num(cJSON *obj, const char *key, double n, bool present);

/* Adds a signature's fields: kernel, assert_expr, source, exception,
 * message, error_code, line, evidence, and fingerprint at level. */
void json_add_signature(cJSON *obj, const struct cls_signature *sig, enum cls_match level);

/* Copies obj[key], a string, into dst (size bytes, cut to whole UTF-8
 * characters); "" when absent, null or not a string. */
void json_get_text(const cJSON *obj, const char *key, char *dst, size_t size);

/* Reads back a signature from an object shaped like a trial's result.json
 * ("class" and a "signature" object of json_add_signature's fields, with
 * "stream"), and the exit from its "exit_code" and "signal" (exit_known
 * when one is a number). 0, or -1 when it is not one. */
int json_read_signature(const cJSON *result, struct cls_signature *sig);

struct gpu_info;
struct jrn_entry;

/* Adds a finished trial's facts (not its cases): trial, phase, cases (how
 * many), outcome, reason, class, duration_s, node, gpu; null where absent.
 * The report's trial_log and run's trial_finished events share it. */
void json_add_trial(cJSON *obj, const struct jrn_entry *e);

/* The devices and versions (what `gpus --json` prints): available, reason,
 * library, driver_version, runtime_version, devices [{index, name,
 * total_mem, cc}]; null where unknown. Dies when out of memory. */
cJSON *json_gpu_info(const struct gpu_info *info);

/* Reads json_gpu_info()'s object back; 0, or -1 when it is not one. */
int json_read_gpu_info(const cJSON *obj, struct gpu_info *info);

/* obj printed (compact, or indented when pretty) with a final newline, as a
 * line of a file; obj is kept. The caller frees the text with free(). Dies
 * when out of memory. */
char *json_line(const cJSON *obj, bool pretty);

/* The JSON object in the file at path (the caller deletes it), or NULL
 * with "PATH: cannot read: REASON" or "PATH: not a JSON object" in err. */
cJSON *json_read_file(const char *path, char *err, size_t errlen);

/* Prints obj (compact, or indented when pretty) and deletes it; the caller
 * frees the text with free(). Dies when out of memory. */
char *json_finish(cJSON *obj, bool pretty);

#endif
