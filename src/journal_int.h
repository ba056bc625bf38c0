/* journal_int: what the journal's files (journal.c, journal_entry.c,
 * journal_run.c) share; private to them. */
#ifndef CASEBISECT_JOURNAL_INT_H
#define CASEBISECT_JOURNAL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "casebisect/journal.h"

/* Trial numbers are kept in JSON numbers (doubles): whole up to 2^53. */
#define TRIAL_MAX 9007199254740992.0

/* buf[0..len) as one JSON value with nothing but whitespace after it (the
 * caller deletes it), or NULL. */
cJSON *jrn_parse_whole(const char *buf, size_t len);

/* Is s an outcome a journal line may hold (PASS, FAIL, UNRESOLVED)? */
bool jrn_valid_outcome(const char *s);

/* The line for e, with its newline; the caller frees it; *len its length. */
char *jrn_entry_line(const struct jrn_entry *e, size_t *len);

/* Fills e (zeroed first) from one journal object: 0, or -1 with msg
 * saying what is wrong. */
int jrn_entry_from_json(const cJSON *o, struct jrn_entry *e, char *msg, size_t msglen);

/* Adds dataset index i to e's ranges (*cap: their allocated count),
 * joining it to the last range when it follows it. */
void jrn_push_range(struct jrn_entry *e, size_t *cap, size_t i);

#endif
