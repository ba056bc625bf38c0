/* envcmd: a shell command run for what it prints, with a timeout that kills
 * its whole process group; see include/casebisect/envcmd.h. */
#include <assert.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "casebisect/envcmd.h"
#include "casebisect/proc_capture.h"
#include "casebisect/util.h"

/* The pipe, the loop, the time limit and the group kill are
 * proc_capture's (its design note says why one pipe); what is envcmd's own
 * is the shell, the cut mark and messages that quote the command. */

#define CMD_SHOWN 100 /* bytes of the command quoted in messages */

/* Cuts the output back to a whole UTF-8 character, when the cap split
 * one, and marks the cut. */
static void mark_cut(char **buf, size_t *len)
{
	static const char mark[] = ENVCMD_CUT_MARK "\n";
	char *b = *buf;
	size_t k = *len, n = *len;

	while (k > 0 && n - k < 4 && ((unsigned char)b[k - 1] & 0xc0) == 0x80)
		k--;
	if (k > 0 && (unsigned char)b[k - 1] >= 0xc0 &&
	    !cb_utf8_seq_len((const unsigned char *)b + k - 1, n - (k - 1)))
		n = k - 1;
	b = xrealloc(b, n + 1 + sizeof(mark));
	if (n && b[n - 1] != '\n')
		b[n++] = '\n';
	memcpy(b + n, mark, sizeof(mark));
	*buf = b;
	*len = n + sizeof(mark) - 1;
}

/* The command as messages quote it: cut, on one line. */
static void shown(const char *cmd, char *buf, size_t len)
{
	size_t n = strcspn(cmd, "\n");

	if (n > CMD_SHOWN)
		snprintf(buf, len, "%.*s...", CMD_SHOWN, cmd);
	else if (cmd[n])
		snprintf(buf, len, "%.*s...", (int)n, cmd);
	else
		snprintf(buf, len, "%s", cmd);
}

int envcmd_run(const char *shell_cmd, double timeout_s, char **out, size_t max_bytes,
	       int *status, char *err, size_t errlen)
{
	const char *argv[] = { "sh", "-c", shell_cmd, NULL };
	struct proc_capture pc = PROC_CAPTURE_INIT;
	char what[CMD_SHOWN + 8];
	int r, ret = ENVCMD_OK;

	assert(shell_cmd && out && status);
	assert(timeout_s > 0);
	*status = -1;
	shown(shell_cmd, what, sizeof(what));
	pc.argv = argv;
	pc.file = "/bin/sh";
	pc.timeout_s = timeout_s;
	pc.max_out = max_bytes;
	pc.flags = PROC_MERGE_STDERR;
	r = proc_capture_run(&pc, NULL, 0);
	if (pc.cut)
		mark_cut(&pc.out, &pc.len);
	if (pc.timed_out) {
		cb_set_err(err, errlen, "'%s': did not end within %g s; its process group was killed%s",
			   what, timeout_s,
			   pc.abandoned ? " (and the shell did not exit after SIGKILL)" : "");
		ret = ENVCMD_ERR_TIMEOUT;
	} else if (r && !pc.pid) {
		cb_set_err(err, errlen, "'%s': cannot start /bin/sh: %s", what, uv_strerror(r));
		ret = ENVCMD_ERR_START;
	} else if (r) {
		cb_set_err(err, errlen, "'%s': cannot read its output: %s", what, uv_strerror(r));
		ret = ENVCMD_ERR_START;
	} else {
		*status = pc.status;
	}
	*out = pc.out; /* NUL-terminated; "" when it could not start */
	return ret;
}
