/* classify_file: a whole log file through the classifier, for `classify`,
 * --target-log and `trial` (contract in include/casebisect/classify.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "casebisect/classify.h"
#include "casebisect/util.h"

#define READ_CHUNK (64 * 1024)

int cls_read_file(const char *path, struct cls_signature *sig)
{
	struct cls *c = NULL;
	char *buf = NULL;
	int fd = -1, ret = -1, saved;
	bool is_stdin = strcmp(path, "-") == 0;

	fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	/* 64 KiB: heap, not stack. */
	buf = xmalloc(READ_CHUNK);
	c = cls_new();
	for (;;) {
		ssize_t n = read(fd, buf, READ_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out; /* a directory fails here, with EISDIR */
		if (n == 0)
			break;
		cls_feed(c, CLS_STDERR, buf, (size_t)n);
	}
	cls_finish(c, NULL);
	cls_result(c, sig);
	ret = 0;
out:
	saved = errno;
	cls_free(c);
	free(buf);
	if (fd >= 0 && !is_stdin)
		close(fd);
	errno = saved;
	return ret;
}
