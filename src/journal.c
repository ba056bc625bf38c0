/* journal: the trial journal (WORKDIR/journal.jsonl) and the run's settings
 * (WORKDIR/run.json); the contract is in include/casebisect/journal.h.
 *
 * Design note: what a crash can leave, and how the next run copes. Each
 * line goes out in one write(2) of the whole line and its newline, then
 * fsync(2); the reducer hears of a trial only after that. A crash (or a
 * SIGKILL, or a full disk) can therefore leave only the last line short:
 * no newline at the end, or, after a power loss, a line of garbage or NUL
 * bytes. Replay drops such a line with a warning (its trial simply runs
 * again); any other bad line means the file was damaged some other way, and
 * guessing would risk a wrong answer, so it is an error naming the line.
 * Appending after a torn line would glue the next trial onto it and turn
 * it into a bad line in the middle, so jrn_open() first cuts the torn line
 * off, by the same rule replay uses. A write that fails halfway is undone
 * the same way (ftruncate back to the last whole line); when even that, or
 * an fsync, fails, the journal refuses further appends, since the kernel
 * may have dropped what it had not written (an fsync error is not
 * retryable). jrn_open() takes an exclusive flock() on the journal, so a
 * second casebisect on the same work directory is refused instead of
 * interleaving its trials with ours.
 *
 * run.json is replaced atomically and durably (cb_write_atomic(): a
 * temporary file made with O_EXCL|O_NOFOLLOW, so nothing is written
 * through a planted link, fsync, rename, fsync of the directory). */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "casebisect/error.h"
#include "casebisect/journal.h"
#include "casebisect/json.h"
#include "casebisect/util.h"

#define JOURNAL_NAME "journal.jsonl"
#define RUN_NAME "run.json"
#define TAIL_CHUNK (64 * 1024)
/* Values shown in jrn_check_run's "was X, now Y" are cut to this. */
#define SHOW_MAX 120
/* Trial numbers are kept in JSON numbers (doubles): whole up to 2^53. */
#define TRIAL_MAX 9007199254740992.0

struct jrn {
	int fd;
	char *path;
	off_t size;  /* bytes of whole lines: where an undo cuts back to */
	bool broken; /* a failed write could not be undone, or fsync failed */
	char warning[PATH_MAX + 96]; /* jrn_open dropped a torn line; "" when not */
};

static ssize_t pread_all(int fd, char *buf, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * Parses buf[0..len) as one JSON value with nothing but whitespace after it.
 * cJSON stops at the end of the first value, so without the check
 * `{"trial":1}xyz` would pass. NULL when it is not one whole value.
 */
static cJSON *parse_whole(const char *buf, size_t len)
{
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithLengthOpts(buf, len, &end, false);

	if (!v)
		return NULL;
	for (; end && end < buf + len; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
			cJSON_Delete(v);
			return NULL;
		}
	}
	return v;
}

/* ---- entries <-> JSON ---- */

static void add_item(cJSON *obj, const char *key, cJSON *item)
{
	if (!item || !cJSON_AddItemToObject(obj, key, item))
		die("out of memory building JSON");
}

/* A fixed-size field: "" (absent) is written as null. */
static void add_field(cJSON *obj, const char *key, const char *v, size_t size)
{
	assert(memchr(v, '\0', size));
	add_item(obj, key, *v ? cJSON_CreateString(v) : cJSON_CreateNull());
}

/*
 * A number that reads back as the same double. cJSON prints 15 digits and
 * accepts them when they come back within an epsilon, which moves start
 * times by a bit (1732665785.2229998 came back as 1732665785.223); replay
 * must give back what was written, so the shortest of %.15g..%.17g that
 * strtod turns back into d exactly goes out as raw JSON. Finite only.
 */
static cJSON *exact_number(double d)
{
	char buf[40], *p;
	int prec;

	assert(isfinite(d));
	for (prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	/* Under a locale with a decimal comma (cJSON copes with it too). */
	for (p = buf; *p; p++)
		if (*p == ',')
			*p = '.';
	return cJSON_CreateRaw(buf);
}

static cJSON *string_array(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	if (!a)
		die("out of memory building JSON");
	assert(n == 0 || v);
	for (i = 0; i < n; i++) {
		cJSON *s;

		assert(v[i]);
		s = cJSON_CreateString(v[i]);
		if (!s || !cJSON_AddItemToArray(a, s))
			die("out of memory building JSON");
	}
	return a;
}

/* The ranges as raw JSON text, "[[0,999999]]": written as text, since a
 * cJSON tree costs about a hundred bytes a number. */
static cJSON *ranges_raw(const struct jrn_range *v, size_t n)
{
	size_t cap = 64 + n * 44, len = 0, i;
	char *buf = xmalloc(cap);
	cJSON *raw;

	buf[len++] = '[';
	for (i = 0; i < n; i++) {
		assert(v[i].first <= v[i].last);
		len += (size_t)snprintf(buf + len, cap - len, "%s[%zu,%zu]", i ? "," : "",
					v[i].first, v[i].last);
	}
	buf[len++] = ']';
	buf[len] = '\0';
	raw = cJSON_CreateRaw(buf);
	free(buf);
	return raw;
}

static bool valid_outcome(const char *s)
{
	return !strcmp(s, "PASS") || !strcmp(s, "FAIL") || !strcmp(s, "UNRESOLVED");
}

/* The line for e, with its newline; the caller frees it. */
static char *entry_line(const struct jrn_entry *e, size_t *len)
{
	cJSON *o = cJSON_CreateObject();
	char *line;
	size_t n;

	if (!o)
		die("out of memory building JSON");
	add_item(o, "trial", exact_number((double)e->trial));
	add_field(o, "phase", e->phase, sizeof(e->phase));
	if (e->ranges || !e->ids)
		add_item(o, "case_ranges", ranges_raw(e->ranges, e->nranges));
	if (e->ids)
		add_item(o, "cases", string_array(e->ids, e->ncases));
	if (e->case_order[0])
		add_field(o, "case_order", e->case_order, sizeof(e->case_order));
	add_field(o, "outcome", e->outcome, sizeof(e->outcome));
	add_field(o, "class", e->klass, sizeof(e->klass));
	add_field(o, "fingerprint", e->fingerprint, sizeof(e->fingerprint));
	add_field(o, "reason", e->reason, sizeof(e->reason));
	add_field(o, "evidence", e->evidence, sizeof(e->evidence));
	add_item(o, "slot", exact_number(e->slot));
	add_item(o, "gpu", e->gpu >= 0 ? exact_number(e->gpu) : cJSON_CreateNull());
	if (e->node[0])
		add_field(o, "node", e->node, sizeof(e->node));
	add_item(o, "start", exact_number(e->start));
	add_item(o, "duration_s", exact_number(e->duration_s));
	add_item(o, "suspects", string_array(e->suspects, e->nsuspects));
	line = json_line(o, false);
	cJSON_Delete(o);
	/* cJSON escapes control characters in strings: no newline inside. */
	n = strlen(line);
	assert(memchr(line, '\n', n) == line + n - 1);
	*len = n;
	return line;
}

static const cJSON *member(const cJSON *o, const char *key, char *msg, size_t msglen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!v)
		cb_set_err(msg, msglen, "\"%s\" is missing", key);
	return v;
}

/* A string or null (""), into dst[size]. */
static int get_field(const cJSON *o, const char *key, char *dst, size_t size, char *msg,
		     size_t msglen)
{
	const cJSON *v = member(o, key, msg, msglen);

	if (!v)
		return -1;
	if (cJSON_IsNull(v)) {
		dst[0] = '\0';
		return 0;
	}
	if (!cJSON_IsString(v)) {
		cb_set_err(msg, msglen, "\"%s\" is not a string", key);
		return -1;
	}
	if (cb_strlcpy(dst, v->valuestring, size) >= size) {
		cb_set_err(msg, msglen, "\"%s\" is longer than %zu bytes", key, size - 1);
		return -1;
	}
	return 0;
}

/* A whole number in [lo, hi]; null gives null_value when null_ok. */
static int get_whole(const cJSON *o, const char *key, double lo, double hi, bool null_ok,
		     double null_value, double *out, char *msg, size_t msglen)
{
	const cJSON *v = member(o, key, msg, msglen);
	double d;

	if (!v)
		return -1;
	if (null_ok && cJSON_IsNull(v)) {
		*out = null_value;
		return 0;
	}
	d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
	if (!(d >= lo && d <= hi) || d != floor(d)) {
		cb_set_err(msg, msglen, "\"%s\" is not a whole number from %.0f to %.0f", key, lo, hi);
		return -1;
	}
	*out = d;
	return 0;
}

static int get_finite(const cJSON *o, const char *key, double *out, char *msg, size_t msglen)
{
	const cJSON *v = member(o, key, msg, msglen);

	if (!v)
		return -1;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
		cb_set_err(msg, msglen, "\"%s\" is not a number", key);
		return -1;
	}
	*out = v->valuedouble;
	return 0;
}

static int get_strings(const cJSON *o, const char *key, char ***out, size_t *nout, char *msg,
		       size_t msglen)
{
	const cJSON *a = member(o, key, msg, msglen), *s;
	size_t n = 0, i = 0;
	char **v;

	if (!a)
		return -1;
	if (!cJSON_IsArray(a))
		goto bad;
	/* cJSON_GetArrayItem walks from the start: iterate instead. */
	cJSON_ArrayForEach(s, a)
	{
		if (!cJSON_IsString(s))
			goto bad;
		n++;
	}
	if (n > SIZE_MAX / sizeof(*v))
		die("out of memory: %zu strings", n);
	v = n ? xmalloc(n * sizeof(*v)) : NULL;
	cJSON_ArrayForEach(s, a) v[i++] = xstrdup(s->valuestring);
	*out = v;
	*nout = n;
	return 0;
bad:
	cb_set_err(msg, msglen, "\"%s\" is not an array of strings", key);
	return -1;
}

/* "case_ranges" into e->ranges and e->ncases. */
static int get_ranges(const cJSON *o, struct jrn_entry *e, char *msg, size_t msglen)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "case_ranges"), *p;
	size_t n = 0, i = 0;

	if (!cJSON_IsArray(a))
		goto bad;
	cJSON_ArrayForEach(p, a) n++;
	e->ranges = xmalloc((n ? n : 1) * sizeof(*e->ranges));
	cJSON_ArrayForEach(p, a)
	{
		const cJSON *x = cJSON_GetArrayItem(p, 0), *y = cJSON_GetArrayItem(p, 1);
		double f = cJSON_IsNumber(x) ? x->valuedouble : NAN;
		double l = cJSON_IsNumber(y) ? y->valuedouble : NAN;

		if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2 || !(f >= 0 && f <= l) ||
		    !(l < TRIAL_MAX) || f != floor(f) || l != floor(l))
			goto bad;
		e->ranges[i].first = (size_t)f;
		e->ranges[i].last = (size_t)l;
		e->ncases += e->ranges[i].last - e->ranges[i].first + 1;
		i++;
	}
	e->nranges = n;
	return 0;
bad:
	cb_set_err(msg, msglen, "\"case_ranges\" is not an array of [first,last] index pairs");
	return -1;
}

/* Fills e (zeroed first) from one journal object; msg says what is wrong. */
static int entry_from_json(const cJSON *o, struct jrn_entry *e, char *msg, size_t msglen)
{
	double d;

	memset(e, 0, sizeof(*e));
	if (!cJSON_IsObject(o)) {
		cb_set_err(msg, msglen, "not a JSON object");
		return -1;
	}
	if (get_whole(o, "trial", 1, TRIAL_MAX, false, 0, &d, msg, msglen) < 0)
		goto fail;
	e->trial = (uint64_t)d;
	/* phase and evidence came later: a journal without them is fine. */
	if (cJSON_HasObjectItem(o, "phase") &&
	    get_field(o, "phase", e->phase, sizeof(e->phase), msg, msglen) < 0)
		goto fail;
	/* "case_ranges" came later: an older journal lists every ID. */
	if (cJSON_HasObjectItem(o, "case_ranges") && get_ranges(o, e, msg, msglen) < 0)
		goto fail;
	if ((!e->ranges || cJSON_HasObjectItem(o, "cases"))) {
		size_t nids = 0;

		if (get_strings(o, "cases", &e->ids, &nids, msg, msglen) < 0)
			goto fail;
		if (e->ranges && nids != e->ncases) {
			cb_set_err(msg, msglen, "\"cases\" holds %zu IDs, \"case_ranges\" %zu cases",
				   nids, e->ncases);
			goto fail;
		}
		e->ncases = nids;
	}
	if (cJSON_HasObjectItem(o, "case_order") &&
	    get_field(o, "case_order", e->case_order, sizeof(e->case_order), msg, msglen) < 0)
		goto fail;
	if (get_field(o, "outcome", e->outcome, sizeof(e->outcome), msg, msglen) < 0)
		goto fail;
	if (!valid_outcome(e->outcome)) {
		cb_set_err(msg, msglen, "\"outcome\" is \"%s\", not PASS, FAIL or UNRESOLVED",
			e->outcome);
		goto fail;
	}
	if (get_field(o, "class", e->klass, sizeof(e->klass), msg, msglen) < 0 ||
	    get_field(o, "fingerprint", e->fingerprint, sizeof(e->fingerprint), msg, msglen) < 0 ||
	    get_field(o, "reason", e->reason, sizeof(e->reason), msg, msglen) < 0 ||
	    (cJSON_HasObjectItem(o, "evidence") &&
	     get_field(o, "evidence", e->evidence, sizeof(e->evidence), msg, msglen) < 0))
		goto fail;
	if (get_whole(o, "slot", 0, INT_MAX, false, 0, &d, msg, msglen) < 0)
		goto fail;
	e->slot = (int)d;
	if (get_whole(o, "gpu", -1, INT_MAX, true, -1, &d, msg, msglen) < 0)
		goto fail;
	e->gpu = (int)d;
	/* node came with --launcher slurm: absent is "". */
	if (cJSON_HasObjectItem(o, "node") &&
	    get_field(o, "node", e->node, sizeof(e->node), msg, msglen) < 0)
		goto fail;
	if (get_finite(o, "start", &e->start, msg, msglen) < 0 ||
	    get_finite(o, "duration_s", &e->duration_s, msg, msglen) < 0)
		goto fail;
	if (get_strings(o, "suspects", &e->suspects, &e->nsuspects, msg, msglen) < 0)
		goto fail;
	return 0;
fail:
	jrn_entry_release(e);
	return -1;
}

void jrn_entry_release(struct jrn_entry *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; e->ids && i < e->ncases; i++)
		free(e->ids[i]);
	free(e->ids);
	free(e->ranges);
	for (i = 0; i < e->nsuspects; i++)
		free(e->suspects[i]);
	free(e->suspects);
	e->ids = e->suspects = NULL;
	e->ranges = NULL;
	e->ncases = e->nranges = e->nsuspects = 0;
}

void jrn_entries_free(struct jrn_entry *entries, size_t n)
{
	size_t i;

	for (i = 0; entries && i < n; i++)
		jrn_entry_release(&entries[i]);
	free(entries);
}

/* ---- the journal file ---- */

/*
 * Where the last '\n' in [0, end) of fd is: 0 with *pos set, 1 when there is
 * none, -1 on a read error. Reads backwards, so finding the last line of a
 * long journal costs that line, not the file.
 */
static int last_newline(int fd, off_t end, off_t *pos)
{
	char *buf = xmalloc(TAIL_CHUNK);
	int ret = 1;

	while (end > 0) {
		size_t len = end < TAIL_CHUNK ? (size_t)end : TAIL_CHUNK;
		off_t from = end - (off_t)len;
		ssize_t got = pread_all(fd, buf, len, from);
		char *nl;

		if (got < 0 || (size_t)got != len) {
			if (got >= 0)
				errno = EIO; /* the file shrank under us */
			ret = -1;
			break;
		}
		nl = memrchr(buf, '\n', len);
		if (nl) {
			*pos = from + (nl - buf);
			ret = 0;
			break;
		}
		end = from;
	}
	free(buf);
	return ret;
}

/*
 * How many bytes of the journal replay keeps: all but a torn last line (no
 * newline at the end, or a last line that is not one JSON value).
 */
static int whole_length(int fd, off_t size, off_t *keep)
{
	off_t nl, start;
	char last;
	char *line;
	cJSON *v;
	int r;

	*keep = size;
	if (size == 0)
		return 0;
	if (pread_all(fd, &last, 1, size - 1) != 1)
		return -1;
	if (last != '\n') {
		r = last_newline(fd, size, &nl);
		if (r < 0)
			return -1;
		*keep = r == 0 ? nl + 1 : 0;
		return 0;
	}
	r = last_newline(fd, size - 1, &nl);
	if (r < 0)
		return -1;
	start = r == 0 ? nl + 1 : 0;
	if ((uintmax_t)(size - start) >= SIZE_MAX)
		die("out of memory: a journal line of %jd bytes", (intmax_t)(size - start));
	line = xmalloc((size_t)(size - start));
	if (pread_all(fd, line, (size_t)(size - start), start) != size - start) {
		free(line);
		errno = EIO;
		return -1;
	}
	v = parse_whole(line, (size_t)(size - 1 - start));
	if (!v)
		*keep = start;
	cJSON_Delete(v);
	free(line);
	return 0;
}

/* How many newlines the first `end` bytes of the file hold, into *n. 0, or
 * -1 with errno. */
static int count_newlines(int fd, off_t end, uintmax_t *n)
{
	char *buf = xmalloc(TAIL_CHUNK);
	off_t at = 0;
	int ret = 0;

	*n = 0;
	while (at < end) {
		size_t len = end - at < TAIL_CHUNK ? (size_t)(end - at) : TAIL_CHUNK;
		ssize_t got = pread_all(fd, buf, len, at);
		const char *p = buf, *q;

		if (got < 0 || (size_t)got != len) {
			if (got >= 0)
				errno = EIO; /* the file shrank under us */
			ret = -1;
			break;
		}
		while ((q = memchr(p, '\n', len - (size_t)(p - buf)))) {
			++*n;
			p = q + 1;
		}
		at += (off_t)len;
	}
	free(buf);
	return ret;
}

struct jrn *jrn_open(const char *workdir, char *err, size_t errlen)
{
	struct jrn *j = xcalloc(1, sizeof(*j));
	struct stat st;
	off_t keep;

	j->path = cb_path_join(workdir, JOURNAL_NAME);
	j->fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (j->fd < 0) {
		if (errno == ELOOP)
			cb_set_err(err, errlen, "%s: is a symbolic link: not writing through it",
				j->path);
		else
			cb_set_err(err, errlen, "%s: cannot open: %s", j->path, strerror(errno));
		goto fail;
	}
	if (fstat(j->fd, &st) < 0) {
		cb_set_err(err, errlen, "%s: cannot stat: %s", j->path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		cb_set_err(err, errlen, "%s: not a regular file", j->path);
		goto fail;
	}
	if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			cb_set_err(err, errlen,
				"%s: in use by another casebisect (one run per work directory)",
				j->path);
		else
			cb_set_err(err, errlen, "%s: cannot lock: %s", j->path, strerror(errno));
		goto fail;
	}
	/* Only now, holding the lock, is the tail ours to cut. */
	if (whole_length(j->fd, st.st_size, &keep) < 0) {
		cb_set_err(err, errlen, "%s: cannot read: %s", j->path, strerror(errno));
		goto fail;
	}
	if (keep < st.st_size) {
		uintmax_t lines;

		/* Said as replay says it: after the cut replay sees nothing. */
		if (count_newlines(j->fd, keep, &lines) < 0) {
			cb_set_err(err, errlen, "%s: cannot read: %s", j->path, strerror(errno));
			goto fail;
		}
		if (ftruncate(j->fd, keep) < 0 || fsync(j->fd) < 0) {
			cb_set_err(err, errlen, "%s: cannot drop the torn last line: %s", j->path,
				strerror(errno));
			goto fail;
		}
		cb_set_err(j->warning, sizeof(j->warning),
			"%s: line %ju is torn (a crash mid-write?): dropped", j->path, lines + 1);
	}
	j->size = keep;
	/* The file may be new: make its name as durable as its lines. */
	if (cb_fsync_dir(workdir) < 0) {
		cb_set_err(err, errlen, "%s: cannot sync the directory: %s", workdir,
			strerror(errno));
		goto fail;
	}
	return j;
fail:
	jrn_close(j);
	return NULL;
}

int jrn_append(struct jrn *j, const struct jrn_entry *e, char *err, size_t errlen)
{
	char *line;
	size_t len;
	int ret = -1;

	assert(j && e);
	assert(e->trial >= 1 && (double)e->trial <= TRIAL_MAX);
	assert(valid_outcome(e->outcome));
	assert(e->slot >= 0 && e->gpu >= -1);
	assert(isfinite(e->start) && isfinite(e->duration_s));
	if (j->broken) {
		cb_set_err(err, errlen,
			"%s: not appending trial %ju: an earlier write failed and could not be "
			"undone",
			j->path, (uintmax_t)e->trial);
		return CB_EIO;
	}
	line = entry_line(e, &len);
	if (cb_write_all(j->fd, line, len) < 0) {
		int saved = errno;

		/* Cut a half-written line back off, or the next one glues onto it. */
		if (ftruncate(j->fd, j->size) < 0 || fsync(j->fd) < 0)
			j->broken = true;
		cb_set_err(err, errlen, "%s: cannot write trial %ju: %s%s", j->path,
			(uintmax_t)e->trial, strerror(saved),
			saved == ENOSPC ? " (free some space, then resume)" : "");
		ret = cb_err_from_errno(saved);
		goto out;
	}
	if (fsync(j->fd) < 0) {
		/* After a failed fsync the kernel may have dropped the pages:
		 * nothing about the file can be trusted any more. */
		int saved = errno;

		j->broken = true;
		ret = cb_err_from_errno(saved);
		cb_set_err(err, errlen, "%s: cannot sync trial %ju: %s", j->path,
			(uintmax_t)e->trial, strerror(saved));
		goto out;
	}
	j->size += (off_t)len;
	ret = 0;
out:
	free(line);
	return ret;
}

const char *jrn_warning(const struct jrn *j)
{
	return j->warning;
}

void jrn_close(struct jrn *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd); /* every line was fsync'd: nothing to lose here */
	free(j->path);
	free(j);
}

/* ---- subsets as index ranges ---- */

static void push_range(struct jrn_entry *e, size_t *cap, size_t i)
{
	if (e->nranges && e->ranges[e->nranges - 1].last + 1 == i) {
		e->ranges[e->nranges - 1].last = i;
		return;
	}
	if (e->nranges == *cap) {
		*cap = *cap ? 2 * *cap : 4;
		e->ranges = xrealloc(e->ranges, *cap * sizeof(*e->ranges));
	}
	e->ranges[e->nranges].first = e->ranges[e->nranges].last = i;
	e->nranges++;
}

void jrn_entry_set_cases(struct jrn_entry *e, const size_t *subset, size_t n,
			 const struct jrn_names *names)
{
	size_t cap = 0, i;

	free(e->ranges);
	e->ranges = xmalloc(sizeof(*e->ranges));
	e->nranges = 0;
	cap = 1;
	for (i = 0; i < n; i++)
		push_range(e, &cap, subset[i]);
	e->ncases = n;
	e->ids = NULL;
	if (names)
		cb_strlcpy(e->case_order, names->order, sizeof(e->case_order));
	if (names && n <= JRN_IDS_MAX) {
		e->ids = xcalloc(n + 1, sizeof(*e->ids));
		for (i = 0; i < n; i++)
			e->ids[i] = xstrdup(names->id(names->ctx, subset[i]));
	}
}

bool jrn_entry_same(const struct jrn_entry *e, const size_t *subset, size_t n)
{
	size_t r, i = 0, c;

	assert(e->ranges || !e->ncases);
	if (e->ncases != n)
		return false;
	for (r = 0; r < e->nranges; r++)
		for (c = e->ranges[r].first; c <= e->ranges[r].last; c++)
			if (subset[i++] != c)
				return false;
	return true;
}

void jrn_names_order(struct jrn_names *nm)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < nm->n; i++) {
		const unsigned char *p = (const unsigned char *)nm->id(nm->ctx, i);

		for (; *p; p++)
			h = (h ^ *p) * 0x100000001b3ull;
		h = (h ^ '\n') * 0x100000001b3ull;
	}
	snprintf(nm->order, sizeof(nm->order), "%016llx", (unsigned long long)h);
}

/* The dataset's IDs sorted, with their indices, to look an old entry's IDs
 * up; built the first time one is needed. */
struct id_at {
	const char *id;
	size_t i;
};

struct id_lookup {
	const struct jrn_names *names;
	struct id_at *by_id;
};

static int cmp_id_at(const void *a, const void *b)
{
	return strcmp(((const struct id_at *)a)->id, ((const struct id_at *)b)->id);
}

static bool find_index(struct id_lookup *l, const char *id, size_t *out)
{
	struct id_at key = { id, 0 };
	const struct id_at *hit;
	size_t i, n = l->names->n;

	if (!l->by_id) {
		l->by_id = xmalloc((n + 1) * sizeof(*l->by_id));
		for (i = 0; i < n; i++) {
			l->by_id[i].id = l->names->id(l->names->ctx, i);
			l->by_id[i].i = i;
		}
		qsort(l->by_id, n, sizeof(*l->by_id), cmp_id_at);
	}
	hit = n ? bsearch(&key, l->by_id, n, sizeof(*l->by_id), cmp_id_at) : NULL;
	if (hit)
		*out = hit->i;
	return hit != NULL;
}

/* Gives e ranges (from its IDs when it has none), checks them against the
 * dataset, and drops IDs past JRN_IDS_MAX. */
static int index_entry(struct jrn_entry *e, struct id_lookup *l, char *msg, size_t msglen)
{
	size_t i;

	if (!e->ranges) {
		size_t cap = 0, k;

		for (i = 0; i < e->ncases; i++) {
			if (!find_index(l, e->ids[i], &k)) {
				cb_set_err(msg, msglen, "case \"%s\" is not in the dataset", e->ids[i]);
				return -1;
			}
			push_range(e, &cap, k);
		}
		if (!e->ranges)
			e->ranges = xmalloc(sizeof(*e->ranges));
	}
	if (e->case_order[0] && l->names->order[0] && strcmp(e->case_order, l->names->order)) {
		cb_set_err(msg, msglen,
			   "the dataset's cases are in another order than when this trial ran "
			   "(case_order was %s, now %s): start a new run with a new --workdir",
			   e->case_order, l->names->order);
		return -1;
	}
	for (i = 0; i < e->nranges; i++)
		if (e->ranges[i].last >= l->names->n) {
			cb_set_err(msg, msglen, "case index %zu is past the dataset's %zu cases",
				   e->ranges[i].last, l->names->n);
			return -1;
		}
	if (e->ids && e->ncases > JRN_IDS_MAX) {
		for (i = 0; i < e->ncases; i++)
			free(e->ids[i]);
		free(e->ids);
		e->ids = NULL;
	}
	return 0;
}

/*
 * A line from before case_ranges lists every ID of its trial in "cases",
 * 11 MB for a million cases, and a cJSON tree of it costs about a hundred
 * bytes an ID. So a long line's IDs are looked up as they are read, into
 * tmp's ranges, and the array is cut out of the line (to "[]"), which is
 * then parsed as usual. 0: done, *len updated; 1: not of that shape (parse
 * the line whole, as any other); -1: an ID not in the dataset, in msg.
 */
#define STREAM_IDS_MIN (64 * 1024)

static int stream_old_ids(char *line, size_t *len, struct id_lookup *l, struct jrn_entry *tmp,
			  char *msg, size_t msglen)
{
	static const char key[] = "\"cases\":[";
	char *open, *q, *end = line + *len, *id = NULL;
	size_t cap = 0, idcap = 0, k;

	memset(tmp, 0, sizeof(*tmp));
	if (*len < STREAM_IDS_MIN || memmem(line, *len, "\"case_ranges\"", 13) ||
	    !(open = memmem(line, *len, key, sizeof(key) - 1)))
		return 1;
	open += sizeof(key) - 2; /* at '[' */
	q = open + 1;
	for (;;) {
		char *s, *close;
		bool escaped = false;
		size_t n;

		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q < end && *q == ']' && !tmp->ncases)
			break;
		if (q >= end || *q != '"')
			goto other;
		for (close = q + 1; close < end && *close != '"'; close++)
			if (*close == '\\') {
				escaped = true;
				close++;
			}
		if (close >= end)
			goto other;
		if (escaped) {
			cJSON *v = cJSON_ParseWithLength(q, (size_t)(close - q + 1));

			if (!cJSON_IsString(v)) {
				cJSON_Delete(v);
				goto other;
			}
			free(id);
			id = xstrdup(v->valuestring);
			idcap = strlen(id) + 1;
			cJSON_Delete(v);
		} else {
			s = q + 1;
			n = (size_t)(close - s);
			if (n + 1 > idcap)
				id = xrealloc(id, idcap = n + 1);
			memcpy(id, s, n);
			id[n] = '\0';
		}
		if (!find_index(l, id, &k)) {
			cb_set_err(msg, msglen, "case \"%s\" is not in the dataset", id);
			free(id);
			free(tmp->ranges);
			return -1;
		}
		push_range(tmp, &cap, k);
		tmp->ncases++;
		q = close + 1;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q < end && *q == ',') {
			q++;
			continue;
		}
		if (q < end && *q == ']')
			break;
		goto other;
	}
	free(id);
	if (!tmp->ranges)
		tmp->ranges = xmalloc(sizeof(*tmp->ranges));
	/* keep '[' and from ']' on */
	memmove(open + 1, q, (size_t)(end - q));
	*len -= (size_t)(q - open - 1);
	line[*len] = '\0';
	return 0;
other:
	free(id);
	free(tmp->ranges);
	memset(tmp, 0, sizeof(*tmp));
	return 1;
}

static void push_entry(struct jrn_entry **v, size_t *n, size_t *cap, const struct jrn_entry *e)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;

		if (ncap > SIZE_MAX / sizeof(**v))
			die("out of memory: %zu journal entries", ncap);
		*v = xrealloc(*v, ncap * sizeof(**v));
		*cap = ncap;
	}
	(*v)[(*n)++] = *e;
}

int jrn_replay(const char *workdir, const struct jrn_names *names, struct jrn_entry **entries,
	       size_t *n, char *warning, size_t warnlen, char *err, size_t errlen)
{
	struct id_lookup lookup = { names, NULL };
	struct jrn_entry ids;
	int streamed;
	char *path = cb_path_join(workdir, JOURNAL_NAME);
	struct jrn_entry *v = NULL, e;
	size_t nv = 0, cap = 0, cap_line = 0;
	uintmax_t lineno = 0;
	char *line = NULL, msg[160];
	ssize_t len;
	FILE *f = NULL;
	int fd, ret = -1;

	*entries = NULL;
	*n = 0;
	if (warning && warnlen)
		warning[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		ret = 0;
		goto out;
	}
	if (fd < 0 && errno == ELOOP) {
		cb_set_err(err, errlen, "%s: is a symbolic link: not reading through it", path);
		goto out;
	}
	if (fd < 0 || !(f = fdopen(fd, "r"))) {
		cb_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	while ((len = getline(&line, &cap_line, f)) >= 0) {
		cJSON *o;
		int c;

		lineno++;
		if (len == 0 || line[len - 1] != '\n') {
			/* getline stops early only at the end of the file. */
			cb_set_err(warning, warnlen, "%s: line %ju is torn (a crash mid-write?): dropped",
				path, lineno);
			break;
		}
		streamed = 1;
		if (names) {
			size_t ulen = (size_t)len;

			streamed = stream_old_ids(line, &ulen, &lookup, &ids, msg, sizeof(msg));
			if (streamed < 0) {
				cb_set_err(err, errlen, "%s: line %ju: %s", path, lineno, msg);
				goto out;
			}
			len = (ssize_t)ulen;
		}
		o = parse_whole(line, (size_t)len - 1);
		if (!o) {
			if (!streamed)
				free(ids.ranges);
			c = getc(f);
			if (c == EOF && ferror(f))
				break; /* reported below */
			if (c == EOF) {
				cb_set_err(warning, warnlen,
					"%s: line %ju is torn (a crash mid-write?): dropped", path,
					lineno);
				break;
			}
			cb_set_err(err, errlen, "%s: line %ju: not valid JSON (the journal is damaged)",
				path, lineno);
			goto out;
		}
		if (entry_from_json(o, &e, msg, sizeof(msg)) < 0) {
			cJSON_Delete(o);
			if (!streamed)
				free(ids.ranges);
			cb_set_err(err, errlen, "%s: line %ju: %s", path, lineno, msg);
			goto out;
		}
		cJSON_Delete(o);
		if (!streamed) {
			assert(!e.ids && !e.ranges);
			e.ranges = ids.ranges;
			e.nranges = ids.nranges;
			e.ncases = ids.ncases;
		}
		if (names && index_entry(&e, &lookup, msg, sizeof(msg)) < 0) {
			jrn_entry_release(&e);
			cb_set_err(err, errlen, "%s: line %ju: %s", path, lineno, msg);
			goto out;
		}
		push_entry(&v, &nv, &cap, &e);
	}
	if (ferror(f)) {
		cb_set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	*entries = v;
	*n = nv;
	v = NULL;
	nv = 0;
	ret = 0;
out:
	if (ret < 0 && warning && warnlen)
		warning[0] = '\0';
	jrn_entries_free(v, nv);
	free(lookup.by_id);
	free(line);
	if (f)
		fclose(f);
	free(path);
	return ret;
}

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
	root = parse_whole(text, len);
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
