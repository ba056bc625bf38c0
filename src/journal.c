/* journal: the trial journal's file (WORKDIR/journal.jsonl): open and lock,
 * append, replay, a torn last line; the contract is in
 * include/casebisect/journal.h. The JSON of an entry is journal_entry.c's,
 * the run's settings (WORKDIR/run.json) journal_run.c's.
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
 * interleaving its trials with ours. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
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
#include "casebisect/util.h"
#include "journal_int.h"

#define JOURNAL_NAME "journal.jsonl"
#define TAIL_CHUNK (64 * 1024)

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
	v = jrn_parse_whole(line, (size_t)(size - 1 - start));
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
	assert(jrn_valid_outcome(e->outcome));
	assert(e->slot >= 0 && e->gpu >= -1);
	assert(isfinite(e->start) && isfinite(e->duration_s));
	if (j->broken) {
		cb_set_err(err, errlen,
			"%s: not appending trial %ju: an earlier write failed and could not be "
			"undone",
			j->path, (uintmax_t)e->trial);
		return CB_EIO;
	}
	line = jrn_entry_line(e, &len);
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
			jrn_push_range(e, &cap, k);
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
		jrn_push_range(tmp, &cap, k);
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
		o = jrn_parse_whole(line, (size_t)len - 1);
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
		if (jrn_entry_from_json(o, &e, msg, sizeof(msg)) < 0) {
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
