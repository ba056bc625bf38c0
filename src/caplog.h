/* caplog: a trial's stdout.log or stderr.log, capped: the head as it
 * comes, then only the tail. Private to the supervisor. */
#ifndef CASEBISECT_CAPLOG_H
#define CASEBISECT_CAPLOG_H

#include <stddef.h>
#include <stdint.h>

/* The first log_head bytes of a stream go to its file as they come; after
 * that only the last log_tail bytes are kept, in a ring, and written after a
 * line that marks the cut when the stream ends. */
struct caplog {
	int fd;
	size_t head_cap, tail_cap;
	size_t head;      /* bytes written to the file */
	uint64_t total;   /* bytes seen */
	char *ring;       /* tail_cap bytes, allocated when the head is full */
	size_t ring_pos;  /* where the next byte goes */
	size_t ring_len;  /* bytes held (<= tail_cap) */
	int error;        /* first write error (errno), 0 when none */
};

/* Creates path (truncated) for l: 0, or -1 with errno. */
int caplog_open(struct caplog *l, const char *path, size_t head, size_t tail);

/* Takes n more bytes of the stream; a write error is kept in l->error. */
void caplog_append(struct caplog *l, const char *p, size_t n);

/* Writes the tail after a line that says what was cut, and closes: 0, or
 * -1 (l->error says why). */
int caplog_close(struct caplog *l);

#endif
