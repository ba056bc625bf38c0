/* envcmd: runs a short shell command that describes the environment
 * (`run --env-cmd "python -c 'import torch; print(torch.__version__,
 * torch.version.cuda)'"`) and captures what it prints, for the report. */
#ifndef CASEBISECT_ENVCMD_H
#define CASEBISECT_ENVCMD_H

#include <stddef.h>

/* What envcmd_run() returns. */
enum envcmd_end {
	ENVCMD_OK = 0,            /* it ran and ended by itself */
	ENVCMD_ERR_START = -1,    /* it could not be started */
	ENVCMD_ERR_TIMEOUT = -2,  /* it ran past the timeout and was killed */
};

/* Appended (on a line of its own) to an output cut at max_bytes. */
#define ENVCMD_CUT_MARK "[... cut]"

/*
 * Runs `/bin/sh -c shell_cmd` and waits for it, on a libuv loop of its own
 * (so it may be called before or outside any other loop):
 *
 *   - stdin is /dev/null; stdout and stderr are one pipe, so their lines
 *     come in the order the command wrote them (as with 2>&1);
 *   - the command gets its own session and process group, and the
 *     environment and working directory of casebisect;
 *   - when it has not ended after timeout_s seconds (> 0), its whole
 *     process group is killed (SIGKILL); when the shell ends, whatever it
 *     left running in its group is killed too, so nothing it started
 *     outlives the call (a process that moved to a session of its own may;
 *     its hold on the pipe is given up a second after the end);
 *   - the first max_bytes bytes of output are kept (cut back to a whole
 *     UTF-8 character); when there was more, the rest is read and dropped
 *     and ENVCMD_CUT_MARK is appended on a line of its own.
 *
 * Returns ENVCMD_OK with *status the exit status (0..255), or 128 + N when
 * signal N ended it, as a shell reports it. Returns ENVCMD_ERR_START or
 * ENVCMD_ERR_TIMEOUT with a message in err (errlen bytes; may be NULL)
 * that names the command ("'sleep 9': did not end within 2 s; its process
 * group was killed"), and *status -1.
 *
 * *out is always set to a NUL-terminated string the caller frees: the
 * output (so far, on a timeout; "" when it could not start). Out of memory
 * dies, as everywhere.
 */
int envcmd_run(const char *shell_cmd, double timeout_s, char **out, size_t max_bytes,
	       int *status, char *err, size_t errlen);

#endif
