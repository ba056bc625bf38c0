/* caplog: capped trial logs; see src/caplog.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "casebisect/util.h"
#include "caplog.h"

static void caplog_write(struct caplog *l, const char *p, size_t n)
{
	if (!l->error && cb_write_all(l->fd, p, n) < 0)
		l->error = errno;
}

int caplog_open(struct caplog *l, const char *path, size_t head, size_t tail)
{
	memset(l, 0, sizeof(*l));
	l->head_cap = head;
	l->tail_cap = tail;
	l->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	return l->fd < 0 ? -1 : 0;
}

void caplog_append(struct caplog *l, const char *p, size_t n)
{
	l->total += n;
	if (l->head < l->head_cap) {
		size_t take = n < l->head_cap - l->head ? n : l->head_cap - l->head;

		caplog_write(l, p, take);
		l->head += take;
		p += take;
		n -= take;
	}
	if (!n || !l->tail_cap)
		return;
	if (!l->ring)
		l->ring = xmalloc(l->tail_cap);
	if (n >= l->tail_cap) {
		memcpy(l->ring, p + n - l->tail_cap, l->tail_cap);
		l->ring_pos = 0;
		l->ring_len = l->tail_cap;
		return;
	}
	while (n) {
		size_t room = l->tail_cap - l->ring_pos, take = n < room ? n : room;

		memcpy(l->ring + l->ring_pos, p, take);
		l->ring_pos = (l->ring_pos + take) % l->tail_cap;
		l->ring_len = l->ring_len + take > l->tail_cap ? l->tail_cap : l->ring_len + take;
		p += take;
		n -= take;
	}
}

/* Writes the tail after a line that says what was cut, and closes. */
int caplog_close(struct caplog *l)
{
	uint64_t cut = l->total - l->head - l->ring_len;
	int err;

	if (l->fd < 0)
		return 0;
	if (l->ring_len) {
		char mark[160];
		size_t start = (l->ring_pos + l->tail_cap - l->ring_len) % l->tail_cap;
		size_t first = l->ring_len < l->tail_cap - start ? l->ring_len : l->tail_cap - start;
		int n = snprintf(mark, sizeof(mark),
				 "\n[casebisect: %llu bytes cut here; the last %zu bytes follow]\n",
				 (unsigned long long)cut, l->ring_len);

		if (cut)
			caplog_write(l, mark, (size_t)n);
		caplog_write(l, l->ring + start, first);
		caplog_write(l, l->ring, l->ring_len - first);
	}
	free(l->ring);
	l->ring = NULL;
	if (close(l->fd) && !l->error)
		l->error = errno;
	err = l->error;
	l->fd = -1;
	return err ? -1 : 0;
}


