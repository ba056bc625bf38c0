/* error: casebisect's error codes and their messages, from one list (as
 * libuv's UV_ERRNO_MAP), so that a code and its text cannot drift apart.
 *
 * A function that can fail returns 0 or one of these negative codes, and
 * fills the caller's error buffer with a message naming the thing
 * ("WORKDIR/journal.jsonl: line 7: ..."): the code says what kind of
 * failure it was, for a caller that acts on the kind (a full disk asks the
 * user to free space, then resume); the
 * buffer says what failed, for the user. CB_EFAIL (-1) is the code of every
 * failure no caller tells apart, so `return -1` and `if (f() < 0)` keep
 * their meaning. */
#ifndef CASEBISECT_ERROR_H
#define CASEBISECT_ERROR_H

/* XX(NAME, message): CB_E##NAME, in the order of their values (-1, -2, ...).
 * Only kinds that some function returns and some caller tells apart. */
#define CB_ERRNO_MAP(XX)                                                          \
	XX(FAIL, "failed")                                                        \
	XX(NOSPACE, "no space left on the device")                               \
	XX(IO, "input/output error: what was written may be lost")

enum cb_err_index {
#define CB_XX(name, msg) CB_ERR_INDEX_##name,
	CB_ERRNO_MAP(CB_XX)
#undef CB_XX
	CB_ERR_COUNT
};

enum cb_err {
#define CB_XX(name, msg) CB_E##name = -1 - CB_ERR_INDEX_##name,
	CB_ERRNO_MAP(CB_XX)
#undef CB_XX
};

/* The message of code (0: "success"; an unknown code: "unknown error");
 * a static string. */
const char *cb_strerror(int code);

/* The name of code ("ENOSPACE"; 0: "OK"; unknown: "EUNKNOWN"); static. */
const char *cb_err_name(int code);

/* The code of a failed system call's errno: CB_ENOSPACE for ENOSPC and
 * EDQUOT, CB_EIO for EIO, else CB_EFAIL. */
int cb_err_from_errno(int errnum);

#endif
